#!/bin/sh
# The field's formats on the command line: --format cap (schema-valid with
# xmllint when it is installed; options and their refusals), --cap FILE
# (the flash flood warning plans as a flood with 45 minutes; unreadable,
# hostile and conflicting inputs give the README's exit statuses), and
# --format ics201 / ics201-json.
# usage: test_formats_cli.sh RELIEF_BINARY DATA_DIR
set -u
relief=$1 data=$2
tmp=$(mktemp -d /tmp/relief-formats-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib.sh"
unset RELIEF_CAP_SENDER RELIEF_CAP_WEB RELIEF_CAP_CONTACT
report="Chemical spill on Route 9 near Millbrook, toxic cloud drifting, 20 people with burning eyes"

expect_rc 0 "--format cap" "$relief" --format cap "$report"
contains "$tmp/out" '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' "CAP 1.2 namespace"
contains "$tmp/out" "<status>Draft</status>" "Draft unless asked"
contains "$tmp/out" "<category>CBRNE</category>" "hazmat category"
contains "$tmp/out" "<sender>relief@localhost</sender>" "default sender"
if command -v xmllint >/dev/null 2>&1; then
  if xmllint --noout --schema "$data/CAP-v1.2.xsd" "$tmp/out" 2>"$tmp/lint"; then ok
  else bad "xmllint: $(head -c 400 "$tmp/lint")"; fi
else
  echo "note: xmllint not installed; the schema is checked by test_formats"
fi
if grep -q "Model elaboration" "$tmp/out"; then bad "model text in a CAP alert"; else ok; fi
expect_rc 0 "--cap-status actual" "$relief" --format cap --cap-status actual --cap-sender eoc@county.example.org \
  --cap-web https://county.example.org/alerts --cap-contact "County EOC" "$report"
contains "$tmp/out" "<status>Actual</status>" "--cap-status actual"
contains "$tmp/out" "<sender>eoc@county.example.org</sender>" "--cap-sender"
contains "$tmp/out" "<web>https://county.example.org/alerts</web>" "--cap-web"
contains "$tmp/out" "<contact>County EOC</contact>" "--cap-contact"
RELIEF_CAP_SENDER=env@example.org expect_rc 0 "RELIEF_CAP_SENDER" "$relief" --format cap "$report"
contains "$tmp/out" "<sender>env@example.org</sender>" "sender from the environment"
expect_rc 2 "bad --cap-status" "$relief" --format cap --cap-status urgent "$report"
contains "$tmp/err" "cap-status" "the message names the option"
expect_rc 2 "bad --cap-sender" "$relief" --format cap --cap-sender "two words" "$report"
expect_rc 1 "bad --cap-web" "$relief" --format cap --cap-web "not a uri" "$report"
contains "$tmp/err" "web" "the message names the web address"
expect_rc 2 "unknown format" "$relief" --format pdf "$report"
contains "$tmp/err" "ics201" "the message lists the formats"
expect_rc 1 "CAP to a full disk" sh -c "'$relief' --format cap '$report' >/dev/full"

# CAP in.
expect_rc 0 "--cap warning" "$relief" --format json --cap "$data/flash_flood_warning.xml"
python3 - "$tmp/out" <<'PY' && ok || bad "the flash flood warning does not plan as a flood with 45 minutes"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["hazards"][0]["id"] == "flood", d["hazards"]
assert d["facts"]["time_available_s"]["value"] == 2700, d["facts"]["time_available_s"]
assert d["facts"]["people"]["value"] == 400
PY
expect_rc 0 "--cap from stdin" sh -c "'$relief' --cap - < '$data/flash_flood_warning.xml'"
contains "$tmp/out" "45 min before impact" "time available from onset against sent"
expect_rc 0 "--cap to --format cap" "$relief" --format cap --cap "$data/flash_flood_warning.xml"
contains "$tmp/out" "<urgency>Expected</urgency>" "45 minutes is Expected"
expect_rc 1 "missing CAP file" "$relief" --cap "$tmp/none.xml"
contains "$tmp/err" "cannot read the CAP alert" "missing file named"
printf '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><info><event>&x;</event></info></alert>' >"$tmp/xxe.xml"
expect_rc 1 "external entity" "$relief" --cap "$tmp/xxe.xml"
contains "$tmp/err" "DOCTYPE" "entity refused, with the reason"
if grep -q "root:" "$tmp/out" "$tmp/err"; then bad "a local file leaked into the output"; else ok; fi
printf '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><info><event>Flood' >"$tmp/cut.xml"
expect_rc 1 "truncated alert" "$relief" --cap "$tmp/cut.xml"
contains "$tmp/err" "not well-formed XML (line 1)" "parse error with its line"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$tmp/big.xml"
expect_rc 1 "alert over 1 MiB" "$relief" --cap "$tmp/big.xml"
contains "$tmp/err" "larger than 1024 KiB" "size limit named"
expect_rc 2 "--cap and a report" "$relief" --cap "$data/flash_flood_warning.xml" "flood"
expect_rc 2 "--cap without a file" "$relief" --cap

# ICS 201.
expect_rc 0 "--format ics201" "$relief" --format ics201 --example
contains "$tmp/out" "INCIDENT BRIEFING (ICS 201)" "form title"
contains "$tmp/out" "8. Current and Planned Actions" "actions block"
contains "$tmp/out" "Incident Commander" "organization block"
expect_rc 0 "--format ics201-json" "$relief" --format ics201-json --example
python3 - "$tmp/out" <<'PY' && ok || bad "ICS 201 JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "relief.ics201/1" and d["form"] == "ICS 201"
assert "Flood" in d["incident_name"], d["incident_name"]
assert 1 <= len(d["actions"]) <= 12 and d["actions"][0]["text"]
assert d["map_sketch"] is None and d["prepared_by"]["name"] is None
assert any(r["on_hand"] for r in d["resources"])
PY

echo "formats_cli: $n checks, $fails failed"
[ "$fails" -eq 0 ]
