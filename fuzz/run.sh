#!/bin/sh
# Runs every libFuzzer target built in BUILD (default build-fuzz) for
# SECONDS each (default 60), one after the other, from the repository root.
# Seeds come from fuzz/corpus/<target>/ (read only); new inputs go to
# BUILD/corpus/<target>/, crash/leak/timeout inputs to BUILD/artifacts/
# and each target's output to BUILD/logs/<target>.log.
# Exit status: 0 when every target ran clean, 1 when any found something
# (its log's tail is printed). Targets can be named after SECONDS.
# usage: fuzz/run.sh [BUILD] [SECONDS] [TARGET...]
set -u
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
secs=${2:-60}
[ $# -ge 2 ] && shift 2 || shift $#
targets="$*"
if [ -z "$targets" ]; then
  for f in "$build"/fuzz_*; do
    [ -x "$f" ] && targets="$targets ${f##*/fuzz_}"
  done
fi
[ -n "$targets" ] || { echo "fuzz/run.sh: no fuzz targets in $build (make fuzz builds them)" >&2; exit 1; }
: "${RELIEF_FUZZ_VOCAB:=tests/data/oracle/tiny/tiny-f32.gguf}"
export RELIEF_FUZZ_VOCAB
mkdir -p "$build/artifacts" "$build/logs"
status=0
for t in $targets; do
  mkdir -p "$build/corpus/$t"
  # Per-target limits: the HTTP target waits on a real server (its idle
  # and read timeouts are seconds), so its hang threshold is longer.
  timeout=10
  [ "$t" = http ] && timeout=30
  log="$build/logs/$t.log"
  echo "fuzz_$t: ${secs}s" >&2
  # The server's own log line for every malformed request is dropped.
  { "$build/fuzz_$t" -max_total_time="$secs" -timeout=$timeout -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
      "$build/corpus/$t" "fuzz/corpus/$t" 2>&1; echo $? >"$build/logs/$t.rc"; } |
    grep -v '^relief serve: ' >"$log"
  rc=$(cat "$build/logs/$t.rc")
  grep -E '^(stat::number_of_executed_units|stat::new_units_added)|cov: ' "$log" | tail -n 3 >&2
  if [ $rc -ne 0 ]; then
    echo "fuzz_$t FAILED (exit $rc); end of $log:" >&2
    tail -n 60 "$log" >&2
    status=1
  fi
done
exit $status
