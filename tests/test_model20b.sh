#!/bin/sh
# The real gpt-oss-20b layout, without 12 GB of disk: relief-mkmodel writes
# the 20b file's metadata and tensor records with the data section as a hole
# (sparse), and `relief model-info` must read it as the 20b model: 24 layers,
# 32 experts with 4 per token, 459 tensors of the right types; the Ollama
# layout of the same model too.
# usage: test_model20b.sh RELIEF MKMODEL VOCAB_GGUF
set -u
relief=$1 mk=$2 vocab=$3
tmp=$(mktemp -d /tmp/relief-20b-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$mk" --preset 20b --header-only --vocab "$vocab" "$tmp/20b.gguf" >/dev/null || fail "generate the 20b layout"
"$relief" model-info "$tmp/20b.gguf" >"$tmp/info" || fail "model-info on the 20b layout"
for want in "459 tensors" "F32 x289" "Q8_0 x98" "MXFP4 x72" "architecture: gpt-oss" "layers: 24" \
            "embedding: 2880" "attention heads: 64 (kv heads 8, head size 64)" "experts: 32 (4 per token), expert width 2880" \
            "sliding window: 128" "vocabulary: 201088"; do
  grep -qF "$want" "$tmp/info" || fail "model-info lacks '$want'"
done
"$mk" --preset 20b --layout ollama --header-only --vocab "$vocab" "$tmp/o20b.gguf" >/dev/null || fail "generate the Ollama 20b layout"
"$relief" model-info "$tmp/o20b.gguf" >"$tmp/oinfo" || fail "model-info on the Ollama 20b layout"
for want in "architecture: gptoss" "layers: 24" "experts: 32 (4 per token)" "MXFP4 (Ollama, legacy id 4)"; do
  grep -qF "$want" "$tmp/oinfo" || fail "Ollama model-info lacks '$want'"
done
# A truncated 20b file is refused with the tensor that runs past the end.
truncate -s 6000000000 "$tmp/20b.gguf"
"$relief" model-info "$tmp/20b.gguf" >/dev/null 2>"$tmp/err" && fail "a truncated file was accepted"
grep -q "runs past the end of the file" "$tmp/err" || fail "truncation error does not say what is wrong: $(cat "$tmp/err")"
echo "test_model20b: passed"
