# lib.sh - helpers the shell tests share; sourced as . "$(dirname "$0")/lib.sh".
#
# Counting checks (the caller sets tmp to a scratch directory first):
#   ok; bad WHAT                      count a passed / failed check (bad prints WHAT)
#   expect_rc RC WHAT COMMAND...      run COMMAND, stdout to $tmp/out, stderr to $tmp/err
#   contains FILE PATTERN WHAT        grep -q PATTERN in FILE
# and finish with: [ "$fails" -eq 0 ] (the caller prints its own tally).
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
