# lib.sh - helpers the shell tests share; sourced as . "$(dirname "$0")/lib.sh".
#
# Counting checks (the caller sets tmp to a scratch directory first):
#   ok; bad WHAT                      count a passed / failed check (bad prints WHAT)
#   expect_rc RC WHAT COMMAND...      run COMMAND, stdout to $tmp/out, stderr to $tmp/err
#   contains FILE PATTERN WHAT        grep -q PATTERN in FILE
# and finish with: [ "$fails" -eq 0 ] (the caller prints its own tally).
#
# A scratch directory and a relief server (the caller sets relief to the binary):
#   use_scratch                       tmp=$(mktemp -d); on exit the server is stopped and tmp removed
#   start_server ARGS...              relief serve --port 0 ARGS... in the background, its output in
#                                     $tmp/srv.out and $tmp/srv.err; sets base (http://HOST:PORT, no
#                                     trailing slash); fails the test when it is not listening in 10 s
#   wait_model [SECONDS]              until the server says its model backend is ready (default 60 s)
#   stop_server
#   fail WHAT                         print FAIL: WHAT and exit 1
#
# Tools a test needs:
#   need_tool TOOL PACKAGE...         when TOOL is missing, install PACKAGE... (as root with
#                                     apt-get), else print SKIP and exit 77 (ctest: skipped)

fails=0 n=0
ok()  { n=$((n+1)); }
bad() { n=$((n+1)); fails=$((fails+1)); echo "FAIL: $*" >&2; }
expect_rc() { # expected-rc description command...
  want=$1; shift; what=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ "$rc" -eq "$want" ]; then ok; else bad "$what: exit $rc, wanted $want: $(head -c 300 "$tmp/err")"; fi
}
contains() { # file pattern description
  if grep -q -- "$2" "$1"; then ok; else bad "$3: '$2' not in $(head -c 400 "$1")"; fi
}

need_tool() { # tool package...
  tool=$1; shift
  if ! command -v "$tool" >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || true
  fi
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is not installed (sh scripts/deps.sh test)"
    exit 77
  fi
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

server_pid=""
stop_server() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  server_pid=""
}
use_scratch() {
  tmp=$(mktemp -d)
  trap 'stop_server; rm -rf "$tmp"' EXIT
}
start_server() { # args...
  : >"$tmp/srv.out"
  "$relief" serve --port 0 "$@" >"$tmp/srv.out" 2>"$tmp/srv.err" &
  server_pid=$!
  i=0
  while ! grep -q "listening on" "$tmp/srv.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && fail "the server did not start: $(cat "$tmp/srv.err")"
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited: $(cat "$tmp/srv.err")"
    sleep 0.1
  done
  base=$(sed -n 's/^relief serve: listening on //p' "$tmp/srv.out")
  base=${base%/}
}
wait_model() { # [seconds]
  i=0
  while ! grep -q "model backend ready" "$tmp/srv.err" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt $((${1:-60} * 10)) ] && fail "the server did not load the model: $(cat "$tmp/srv.err")"
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited: $(cat "$tmp/srv.err")"
    sleep 0.1
  done
}
