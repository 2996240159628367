#!/bin/sh
# CLI behaviour: formats, exit codes, stdin, --kb override, JSON schema,
# eval scoring, and a leak check under valgrind.
# usage: test_cli.sh RELIEF_BINARY SOURCE_DIR SHARED_DIR
set -u
relief=$1 src=$2 shared=$3
tmp=$(mktemp -d /tmp/relief-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/lib.sh"

expect_rc 0 "example" "$relief" --example
contains "$tmp/out" "DO NOW (first 30 minutes)" "example shows the brief"
contains "$tmp/out" "flood" "example detects flood"
if grep -q "$(printf '\033')" "$tmp/out"; then bad "colour codes when stdout is not a TTY"; else ok; fi
# The brief: 1 to 8 numbered actions, each on one line, all on the first
# screen (24 rows of an 80-column terminal, counting wrapped lines) with the
# hazard line and the key facts.
n_brief=$(awk '/^DO NOW/{on=1; next} on && /^ *[0-9]+\. /{n++} on && /^$/{exit} END{print n+0}' "$tmp/out")
[ "$n_brief" -ge 1 ] && [ "$n_brief" -le 8 ] && ok || bad "example brief has $n_brief actions (1..8 expected)"
rows=$(awk '{r += (length($0) > 80 ? int((length($0) + 79) / 80) : 1)} /^DO NOW/{on=1} on && /^$/{print r; exit}' "$tmp/out")
[ -n "$rows" ] && [ "$rows" -le 24 ] && ok || bad "hazards, facts and brief take $rows rows (24 at most)"
head -3 "$tmp/out" | grep -q "^Hazards: " && ok || bad "hazard line not at the top"
head -4 "$tmp/out" | grep -q "^Facts: " && ok || bad "key facts not at the top"
contains "$tmp/out" "relief --full" "the brief points to the full plan"
expect_rc 0 "example --full" "$relief" --example --full
contains "$tmp/out" "Source:" "full plan cites sources"
contains "$tmp/out" "First 30 minutes" "full plan has phases"
contains "$tmp/out" "Recovery" "full plan reaches recovery"

echo "Chemical spill on the highway, 20 people injured" | "$relief" --format md >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] && ok || bad "report on stdin"
contains "$tmp/out" "hazmat" "stdin report detects hazmat"
contains "$tmp/out" "## Do now (first 30 minutes)" "markdown brief heading"
echo "Chemical spill on the highway, 20 people injured" | "$relief" --format md --full >"$tmp/out" 2>"$tmp/err"
contains "$tmp/out" "## First 30 minutes" "markdown --full phase headings"

expect_rc 0 "json" "$relief" --format json --days 7 "Earthquake in Lima, 3,000 people, 12 trapped near the coast"
cp "$tmp/out" "$tmp/plan.json"
/usr/bin/python3 - "$src/docs/plan.schema.json" "$tmp/plan.json" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))
jsonschema.validate(doc, schema)
assert doc["needs"]["days"] == 7 and doc["needs"]["people"] == 3000, doc["needs"]
assert any(h["id"] == "earthquake" for h in doc["hazards"])
assert all(s["source"] for s in doc["steps"])
PY
[ $? -eq 0 ] && ok || bad "JSON output validates against docs/plan.schema.json"
# The schema itself rejects a broken document (the check can fail).
/usr/bin/python3 - "$src/docs/plan.schema.json" "$tmp/plan.json" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))
del doc["steps"][0]["source"]
try:
    jsonschema.validate(doc, schema); sys.exit(1)
except jsonschema.ValidationError:
    sys.exit(0)
PY
[ $? -eq 0 ] && ok || bad "schema rejects a step without a source"

printf 'flood in the valley\n\nquit\nnot reached\n' | "$relief" -i >"$tmp/out" 2>&1
[ $? -eq 0 ] && ok || bad "interactive mode"
[ "$(grep -c 'RELIEF ACTION PLAN' "$tmp/out")" -eq 1 ] && ok || bad "interactive: one plan before quit"

expect_rc 2 "unknown option" "$relief" --bogus
expect_rc 2 "bad format" "$relief" --format xml x
expect_rc 2 "bad days" "$relief" --days 0 x
expect_rc 1 "missing kb dir" "$relief" --kb "$tmp/nokb" x
contains "$tmp/err" "nokb/hazards" "kb error names the directory"
expect_rc 0 "kb override" "$relief" --kb "$src/kb" kb-check
contains "$tmp/out" "knowledge base OK" "kb-check"
expect_rc 1 "eval missing file" "$relief" eval "$tmp/none.jsonl"
printf '{"text": "x", "hazards": ["lava"]}\n' >"$tmp/bad.jsonl"
expect_rc 1 "eval bad label" "$relief" eval "$tmp/bad.jsonl"
contains "$tmp/err" "bad.jsonl:1" "eval error names the line"

# Eval scoring against hand-computed figures.
cat >"$tmp/mini.jsonl" <<'J'
{"text": "Flooding in the valley", "hazards": ["flood"]}
{"text": "Earthquake and flooding", "hazards": ["earthquake"], "hazards_also_ok": ["flood"]}
{"text": "Nice weather today", "hazards": ["none"]}
{"text": "Flood waters rising", "hazards": ["none"]}
{"text": "Donate to the Red Cross", "hazards": ["earthquake"]}
{"text": "skipped line", "hazards": []}
J
expect_rc 0 "eval mini" "$relief" eval "$tmp/mini.jsonl"
# flood: tp1 fp1 fn0 -> f1 .667; earthquake: tp1 fn1 -> f1 .667; none: tp1 fp1 fn1 -> .5; macro .611
contains "$tmp/out" "macro-F1: 0.611" "eval macro-F1 arithmetic"
contains "$tmp/out" "skipped 1" "eval skips empty labels"

# Exit statuses (README table; --help and the man page say the same).
expect_rc 1 "empty report" "$relief" ""
contains "$tmp/err" "the report is empty" "empty report: one-line error"
if [ -s "$tmp/out" ]; then bad "empty report printed a plan"; else ok; fi
printf '  \n\t\n' | "$relief" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && ok || bad "blank stdin report: exit $rc"
if [ -w /dev/full ]; then
  expect_rc 1 "write to /dev/full" sh -c '"$0" "flood in the town" >/dev/full' "$relief"
  contains "$tmp/err" "cannot write the output" "failed write: one-line error"
  expect_rc 1 "json to /dev/full" sh -c '"$0" --format json "flood in the town" >/dev/full' "$relief"
  expect_rc 1 "help to /dev/full" sh -c '"$0" --help >/dev/full' "$relief"
fi
expect_rc 3 "missing model file" "$relief" --model "$tmp/none.gguf" "flood in the town"
contains "$tmp/out" "DO NOW" "missing model: the plan is still written"
contains "$tmp/err" "none.gguf: cannot open" "missing model: error names the file"
printf 'not a gguf file at all, just text' >"$tmp/bad.gguf"
expect_rc 3 "unreadable model file" "$relief" --model "$tmp/bad.gguf" "flood in the town"
contains "$tmp/out" "DO NOW" "bad model: the plan is still written"
if mkfifo "$tmp/fifo.gguf" 2>/dev/null; then
  # A FIFO never has a writer here: opening it must not block the plan or the exit.
  expect_rc 3 "FIFO as the model" timeout 10 "$relief" --model "$tmp/fifo.gguf" "flood in the town"
  contains "$tmp/err" "not a regular file" "FIFO model: error says why"
  contains "$tmp/out" "DO NOW" "FIFO model: the plan is written"
fi
expect_rc 2 "model and backend together" "$relief" --model a.gguf --backend http://127.0.0.1:9 x
expect_rc 2 "option without its value" "$relief" --days
expect_rc 2 "bad deadline" "$relief" --deadline 0 x

# The prefix cache directory: RELIEF_CACHE_DIR, else XDG_CACHE_HOME/relief, else ~/.cache/relief.
mkdir -p "$tmp/cache"
: >"$tmp/cache/m.gguf.relief-prefix-0123456789abcdef.bin"
: >"$tmp/cache/m.gguf.relief-prefix-0123456789abcdef.bin.tmp.42"
: >"$tmp/cache/keep-me.txt"
RELIEF_CACHE_DIR="$tmp/cache" "$relief" cache ls >"$tmp/out" 2>&1
contains "$tmp/out" "2 files" "cache ls counts finished and unfinished files"
contains "$tmp/out" "(unfinished)" "cache ls marks a killed writer's file"
env -u RELIEF_CACHE_DIR XDG_CACHE_HOME="$tmp/xdg" "$relief" cache ls >"$tmp/out" 2>&1
contains "$tmp/out" "^$tmp/xdg/relief: 0 files" "cache dir from XDG_CACHE_HOME"
env -u RELIEF_CACHE_DIR -u XDG_CACHE_HOME HOME="$tmp/home" "$relief" cache ls >"$tmp/out" 2>&1
contains "$tmp/out" "^$tmp/home/.cache/relief: 0 files" "cache dir from HOME"
expect_rc 0 "cache clear" "$relief" cache clear --cache-dir "$tmp/cache"
[ -f "$tmp/cache/keep-me.txt" ] && [ ! -f "$tmp/cache/m.gguf.relief-prefix-0123456789abcdef.bin" ] \
  && [ ! -f "$tmp/cache/m.gguf.relief-prefix-0123456789abcdef.bin.tmp.42" ] && ok || bad "cache clear removed the wrong files"
expect_rc 2 "cache without a verb" "$relief" cache
# An unfinished cache file of a writer that is gone is removed when a model opens its cache.
: >"$tmp/cache/tiny-q.gguf.relief-prefix-00000000000000aa.bin.tmp.999999"
RELIEF_CACHE_DIR="$tmp/cache" "$relief" chat --model "$src/tests/data/oracle/tiny/tiny-q.gguf" --max-tokens 1 hi >/dev/null 2>&1
"$relief" --model "$src/tests/data/oracle/tiny/tiny-q.gguf" --cache-dir "$tmp/cache" --deadline 1 "flood" >/dev/null 2>&1
[ ! -f "$tmp/cache/tiny-q.gguf.relief-prefix-00000000000000aa.bin.tmp.999999" ] && ok || bad "stale unfinished cache file kept"
# A FIFO where the prefix cache file should be: never opened for reading, the answer still comes.
rm -rf "$tmp/cache2" && mkdir -p "$tmp/cache2"
"$relief" --model "$src/tests/data/oracle/tiny/tiny-q.gguf" --cache-dir "$tmp/cache2" --deadline 1 "flood" >/dev/null 2>&1
f=$(ls "$tmp/cache2"/*.relief-prefix-*.bin 2>/dev/null | head -1)
if [ -n "$f" ] && rm -f "$f" && mkfifo "$f"; then
  expect_rc 0 "FIFO at the cache path" timeout 20 "$relief" --model "$src/tests/data/oracle/tiny/tiny-q.gguf" \
    --cache-dir "$tmp/cache2" --deadline 1 "flood in the valley"
  contains "$tmp/out" "DO NOW" "FIFO cache: the plan is written"
else
  bad "no prefix cache file was written to replace with a FIFO"
fi
# relief warm: every hazard's prefix computed, then all found cached.
expect_rc 0 "warm" "$relief" warm --model "$src/tests/data/oracle/tiny/tiny-q.gguf" --cache-dir "$tmp/warm"
contains "$tmp/out" "^22 prefixes computed, 0 already cached" "warm computes 22 prefixes"
expect_rc 0 "warm again" "$relief" warm --model "$src/tests/data/oracle/tiny/tiny-q.gguf" --cache-dir "$tmp/warm"
contains "$tmp/out" "^0 prefixes computed, 22 already cached" "a second warm finds them all"
expect_rc 2 "warm without a model" "$relief" warm --cache-dir "$tmp/warm"
# bench --ttft: the cold run reads the whole prompt, the warm runs only the report's part.
expect_rc 0 "bench --ttft" "$relief" bench --ttft --model "$src/tests/data/oracle/tiny/tiny-q.gguf" --max-tokens 8 \
  "River flooding in Riverside, 3000 residents, levee may fail in 2 hours"
if tail -1 "$tmp/out" | python3 -c '
import json, sys
j = json.loads(sys.stdin.read())
c, m, d = j["cold"], j["memory"], j["disk"]
assert c["cached_tokens"] == 0 and c["fresh_tokens"] == c["prompt_tokens"] > 0, c
for r in (m, d):
    assert r["cached_tokens"] > 0 and r["fresh_tokens"] + r["cached_tokens"] == r["prompt_tokens"], r
    assert 0 < r["fresh_tokens"] < c["fresh_tokens"] and r["ttft_s"] > 0, r
'; then ok; else bad "bench --ttft JSON: $(tail -1 "$tmp/out")"; fi
expect_rc 2 "bench --ttft without a report" "$relief" bench --ttft --model "$src/tests/data/oracle/tiny/tiny-q.gguf"
# A LoRA scale out of range is refused, not applied.
expect_rc 2 "LoRA scale 1e30" "$relief" chat --model "$src/tests/data/oracle/tiny/tiny-q.gguf" \
  --lora "$src/tests/data/oracle/tiny/lora-qkvo.gguf:1e30" hi
contains "$tmp/err" "SCALE within" "LoRA scale error names the range"
# flood: tp1 fp1 fn0 -> f1 .667; earthquake: tp1 fn1 -> f1 .667; none: tp1 fp1 fn1 -> .5; macro .611
expect_rc 2 "eval without a file" "$relief" eval

if [ -z "${RELIEF_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null 2>&1; then
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
    "$relief" --format json --explain "Tornado hit Moore, 24 dead, school collapsed, 200 families homeless" \
    >/dev/null 2>"$tmp/vg"
  [ $? -eq 0 ] && ok || bad "valgrind: $(head -c 500 "$tmp/vg")"
fi

echo "test_cli: $n checks, $fails failed"
[ "$fails" -eq 0 ]
