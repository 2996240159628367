#!/bin/sh
# Detection quality on the development sets that live beside the clone
# (../shared/eval, not in the repository): macro-F1 must not fall below the
# floors recorded here. Exits 77 (reported as skipped by ctest) when the
# sets are absent, e.g. in a fresh clone on a user's machine.
# usage: test_eval_dev.sh RELIEF_BINARY EVAL_DIR
set -u
relief=$1 dir=$2
[ -f "$dir/hazard_messages_dev.jsonl" ] || { echo "SKIP: $dir/hazard_messages_dev.jsonl not present"; exit 77; }
fails=0
check() { # file floor
  [ -f "$dir/$1" ] || return 0
  "$relief" eval "$dir/$1" >/tmp/relief-eval-$$.out 2>&1 || { echo "FAIL: relief eval $1 exited $?"; fails=$((fails+1)); return; }
  f1=$(sed -n 's/^macro-F1: //p' /tmp/relief-eval-$$.out)
  echo "$1 macro-F1: $f1 (floor $2)"
  awk -v f="$f1" -v m="$2" 'BEGIN{exit !(f >= m)}' || { echo "FAIL: $1 macro-F1 $f1 < $2"; fails=$((fails+1)); }
}
check hazard_messages_dev.jsonl 0.91
check hazard_messages_multilingual_dev.jsonl 0.77
rm -f /tmp/relief-eval-$$.out
[ "$fails" -eq 0 ]
