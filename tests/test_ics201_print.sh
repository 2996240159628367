#!/bin/sh
# The ICS 201 briefing prints on one page: headless Chromium prints
# `relief --format ics201` to PDF at the printer's default size (Letter),
# at A4 and at Letter, for the built-in example and for a report that fills
# every block; each PDF must have exactly one page. The first page of the
# example is saved as OUTDIR/ics201-page.png (pdftoppm, else Chromium's
# screenshot of the HTML) and the PDF as OUTDIR/ics201.pdf, for a person to
# look at. Exits 77 (skipped) when Chromium is not installed.
# usage: test_ics201_print.sh RELIEF_BINARY OUTDIR
set -u
relief=$1
outdir=$2
. "$(dirname "$0")/lib.sh"
need_tool chromium chromium
use_scratch
chrome() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-dev-shm-usage --no-pdf-header-footer \
    --user-data-dir="$(mktemp -d "$tmp/profile.XXXXXX")" "$@" 2>>"$tmp/chrome.err"
}
# Pages of a PDF: pdfinfo when poppler-utils is there, else the page objects.
pages() {
  if command -v pdfinfo >/dev/null 2>&1; then
    pdfinfo "$1" | sed -n 's/^Pages: *//p'
  else
    python3 -c "import re,sys; print(len(re.findall(rb'/Type\s*/Page(?![a-z])', open(sys.argv[1],'rb').read())))" "$1"
  fi
}

"$relief" --format ics201 --example >"$tmp/example.html" || fail "relief --format ics201 --example"
"$relief" --format ics201 "Explosion and fire at the chemical plant on Harbour Road in Port Elena at night, \
toxic smoke drifting over the town, 45 injured, 6 dead, 12 missing, 9 trapped under the collapsed warehouse, \
12,000 residents downwind, hospital and school nearby, power and water cut, roads blocked, the bridge damaged. \
We have 2 fire engines, 3 ambulances, 1 crane and 40 volunteers. The wind will turn toward the camp within 90 minutes." \
  >"$tmp/full.html" || fail "relief --format ics201 (a full report)"
# The web page's "Print ICS 201" button fetches the same form from the
# service: the page has the button, and the service's form prints on one page.
start_server
python3 - "$base" "$tmp/served.html" <<'PY' || fail "the service's ICS 201"
import json, sys, urllib.request
base, out = sys.argv[1], sys.argv[2]
page = urllib.request.urlopen(base + "/").read().decode()
assert 'id="ics201"' in page and "Print ICS 201" in page and "format=ics201" in page, "no Print ICS 201 button"
req = urllib.request.Request(base + "/v1/guidance?format=ics201", method="POST",
                             data=json.dumps({"report": "Wildfire near Pine Ridge, 1,200 residents, 3 injured"}).encode(),
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    assert r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"]
    html = r.read()
assert b"INCIDENT BRIEFING (ICS 201)" in html and b"Wildfire" in html
open(out, "wb").write(html)
PY
stop_server

for doc in example full served; do
  for size in default A4 letter; do
    html="$tmp/$doc-$size.html"
    if [ "$size" = default ]; then cp "$tmp/$doc.html" "$html"
    else sed "s#</style>#@page{size:$size}</style>#" "$tmp/$doc.html" >"$html"; fi
    pdf="$tmp/$doc-$size.pdf"
    chrome --print-to-pdf="$pdf" "file://$html" >/dev/null || fail "chromium --print-to-pdf ($doc, $size): $(tail -3 "$tmp/chrome.err")"
    [ -s "$pdf" ] || fail "no PDF for $doc at $size"
    n=$(pages "$pdf")
    [ "$n" = 1 ] || fail "the ICS 201 of the $doc report prints on $n pages at $size (one expected)"
    echo "ics201: $doc report, $size paper: 1 page"
  done
done
mkdir -p "$outdir"
cp "$tmp/example-default.pdf" "$outdir/ics201.pdf"
rm -f "$outdir/ics201-page.png"
if command -v pdftoppm >/dev/null 2>&1; then
  pdftoppm -png -r 90 -singlefile "$outdir/ics201.pdf" "$outdir/ics201-page" || fail "pdftoppm"
else
  chrome --screenshot="$outdir/ics201-page.png" --window-size=850,1100 "file://$tmp/example.html" >/dev/null
fi
[ -s "$outdir/ics201-page.png" ] || fail "no screenshot of the page"
echo "ics201: page image in $outdir/ics201-page.png"
