#!/bin/sh
# Loads the web page of `relief serve` in headless Chromium on a 390 x 844
# phone viewport: the page auto-submits a report (/?report=...&autosubmit=1),
# reads the streamed guidance, and the test asserts that the plan was drawn
# in the DOM, brief first, and that the first action lies inside the
# viewport after submit (the page records its box with &probe=1; this test
# judges it). The screenshot of that screen is OUTDIR/browser-screenshot.png.
# Chromium comes from Debian (scripts/deps.sh test); exits 77 (skipped)
# when it cannot be found or installed.
# usage: test_browser.sh RELIEF_BINARY OUTDIR
set -u
relief=$1
outdir=$2
. "$(dirname "$0")/lib.sh"
need_tool chromium chromium

use_scratch
start_server
report="Flash%20flood%20in%20Riverside%2C%20200%20families%2C%20the%20levee%20may%20fail%20within%202%20hours.%20Nursing%20home%20with%2040%20elderly%20residents."
url="$base/?report=$report&autosubmit=1&probe=1"

chrome() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
    --user-data-dir="$(mktemp -d "$tmp/profile.XXXXXX")" --window-size=390,844 --virtual-time-budget=10000 "$@" \
    2>>"$tmp/chrome.err"
}

chrome --dump-dom "$url" >"$tmp/dom.html" || fail "chromium --dump-dom failed: $(tail -5 "$tmp/chrome.err")"
dom="$tmp/dom.html"
grep -q 'data-state="done"' "$dom" || fail "the page did not finish (state: $(grep -o 'data-state="[a-z]*"' "$dom"))"
grep -q '<section id="plan" aria-labelledby="brief-h">' "$dom" || fail "the plan section is still hidden"
n_brief=$(grep -o '<span class="act">' "$dom" | wc -l)
[ "$n_brief" -ge 1 ] && [ "$n_brief" -le 8 ] || fail "the brief has $n_brief actions (1 to 8 expected)"
top=$(sed -n 's/.*data-first-action-top="\(-\{0,1\}[0-9]*\)".*/\1/p' "$dom" | head -1)
bottom=$(sed -n 's/.*data-first-action-bottom="\(-\{0,1\}[0-9]*\)".*/\1/p' "$dom" | head -1)
vh=$(sed -n 's/.*data-viewport-height="\([0-9]*\)".*/\1/p' "$dom" | head -1)
[ -n "$top" ] && [ -n "$bottom" ] && [ -n "$vh" ] || fail "the page recorded no position for the first action"
[ "$top" -ge 0 ] && [ "$bottom" -le "$vh" ] || fail "the first action ($top..$bottom px) is outside the $vh px viewport"
echo "browser: first action at $top..$bottom px of a $vh px viewport; $n_brief actions in the brief"
grep -q '<details id="full">' "$dom" || fail "the full plan is not folded behind a click"
grep -q 'data-phase="immediate"' "$dom" || fail "no 'First 30 minutes' phase in the DOM"
grep -q 'class="step p1"' "$dom" || fail "no priority-1 step in the DOM"
grep -q 'Source: ' "$dom" || fail "steps carry no source"
grep -q '<strong>Flood</strong>' "$dom" || fail "the flood hazard is not shown"
grep -q 'confidence [0-9]*%' "$dom" || fail "hazard confidence is not shown"
grep -q '<dt>People affected</dt><dd>1,000' "$dom" || fail "key facts are not shown"
grep -q 'Drinking water\|water' "$dom" || fail "the needs table is empty"
[ "$(grep -o '<tr><th scope="row">' "$dom" | wc -l)" -ge 3 ] || fail "the needs table has fewer than 3 rows"
grep -q 'Plan ready in' "$dom" || fail "no status line"

mkdir -p "$outdir"
shot="$outdir/browser-screenshot.png"
rm -f "$shot"
chrome --screenshot="$shot" "$url" >/dev/null || fail "chromium --screenshot failed"
[ -s "$shot" ] || fail "no screenshot written"
echo "browser: plan rendered; screenshot $shot ($(wc -c <"$shot") bytes)"
