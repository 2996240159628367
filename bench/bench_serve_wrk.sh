#!/bin/sh
# Service throughput without a model: POST /v1/guidance with wrk (64
# connections, 2 wrk threads, DURATION seconds), for one or more relief
# binaries alternated ROUNDS times in one run, so that their figures are
# comparable on a noisy machine. Prints requests/s and latency percentiles.
# usage: bench/bench_serve_wrk.sh [DURATION] [ROUNDS] RELIEF_BINARY...
set -eu
dur=${1:-20}; rounds=${2:-2}; shift 2
command -v wrk >/dev/null || { echo "wrk is not installed (Debian package wrk)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
r=1
while [ "$r" -le "$rounds" ]; do
  for bin in "$@"; do
    log=$(mktemp)
    extra=""
    "$bin" serve --help 2>/dev/null | grep -q -- "--per-ip" && extra="--per-ip 1000" # older builds lack it
    "$bin" serve --port 0 $extra >"$log.out" 2>"$log" &
    pid=$!
    i=0
    while ! grep -q "listening on" "$log.out" 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.1; done
    url=$(sed -n 's/^relief serve: listening on //p' "$log.out")
    out=$(wrk -t2 -c64 -d"${dur}s" --latency -s "$here/guidance.lua" "$url/v1/guidance")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rps=$(echo "$out" | sed -n 's/^Requests\/sec: *//p')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}'); p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    non2xx=$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *//p')
    size=$(echo "$out" | sed -n 's/.*requests in .*, \(.*\) read/\1/p')
    echo "round $r  $bin: $rps req/s, p50 $p50, p99 $p99, non-2xx ${non2xx:-0}, read $size"
    rm -f "$log" "$log.out"
  done
  r=$((r+1))
done
