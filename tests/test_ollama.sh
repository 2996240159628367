#!/bin/sh
# Ollama's gpt-oss layout (architecture gptoss, fused qkv and interleaved
# gate/up experts, BF16 weights, legacy MXFP4 id 4 in checkpoint nibble
# order): the same synthetic model written in both layouts must give the
# same logits, and model-info must describe the Ollama file.
# usage: test_ollama.sh RELIEF MKMODEL VOCAB_GGUF
set -u
relief=$1 mk=$2 vocab=$3
tmp=$(mktemp -d /tmp/relief-ollama-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$mk" --preset tiny --seed 11 --vocab "$vocab" "$tmp/g.gguf" >/dev/null || fail "generate ggml layout"
"$mk" --preset tiny --layout ollama --seed 11 --vocab "$vocab" "$tmp/o.gguf" >/dev/null || fail "generate ollama layout"
"$relief" model-info "$tmp/o.gguf" >"$tmp/info" || fail "model-info on the Ollama file"
grep -q "architecture: gptoss" "$tmp/info" || fail "model-info names the gptoss architecture"
grep -q "MXFP4 (Ollama, legacy id 4)" "$tmp/info" || fail "model-info names the legacy MXFP4 type"
seq 1 40 | tr '\n' ' ' >"$tmp/ids.txt"
"$relief" logits --model "$tmp/g.gguf" --tokens-file "$tmp/ids.txt" --out "$tmp/g.f32" || fail "logits ggml"
"$relief" logits --model "$tmp/o.gguf" --tokens-file "$tmp/ids.txt" --out "$tmp/o.f32" || fail "logits ollama"
/usr/bin/python3 - "$tmp/g.f32" "$tmp/o.f32" <<'PY' || fail "logits differ between layouts"
import array, sys
a, b = array.array("f"), array.array("f")
a.frombytes(open(sys.argv[1], "rb").read()); b.frombytes(open(sys.argv[2], "rb").read())
assert len(a) == len(b) == 40 * 2090, (len(a), len(b))
scale = max(abs(x) for x in a)
err = max(abs(x - y) for x, y in zip(a, b))
print(f"ollama vs ggml layout: max abs diff {err:.2e} (logit scale {scale:.2f})")
sys.exit(0 if err <= 1e-4 * scale else 1)
PY
echo "test_ollama: passed"
