#!/usr/bin/env python3
"""Drives `relief logits` and `relief tokenize` the way another implementation's
harness would, and compares their output with the shared references.

usage: test_llm_cli.py RELIEF_BINARY SHARED_DIR
"""
import array, json, math, os, subprocess, sys, tempfile

relief, shared = sys.argv[1], sys.argv[2]
tiny = os.path.join(shared, "oracle", "tiny")
fails = checks = 0

def check(ok, what):
    global fails, checks
    checks += 1
    if not ok:
        fails += 1
        print("FAIL:", what, file=sys.stderr)

with tempfile.TemporaryDirectory() as tmp:
    for line in open(os.path.join(tiny, "manifest.txt")):
        if line.startswith("#") or not line.strip():
            continue
        model, adapter, prompt, ref, n_tok, n_vocab, greedy, tol = line.split()
        # Adapter cases: the GGUF adapter as listed, and on p40 also the PEFT form.
        loras = [[]] if adapter == "-" else [["--lora", os.path.join(tiny, adapter)]]
        if adapter != "-" and "p40" in prompt:
            loras.append(["--lora", os.path.join(tiny, "lora-qkvo-peft") + ":1"])
        for lora in loras:
            out = os.path.join(tmp, "out.f32")
            r = subprocess.run([relief, "logits", "--model", os.path.join(tiny, model)] + lora + ["--tokens-file",
                                os.path.join(tiny, prompt), "--out", out], capture_output=True, text=True)
            check(r.returncode == 0, f"relief logits {model} {lora} {prompt}: {r.stderr.strip()}")
            if r.returncode:
                continue
            got, want = array.array("f"), array.array("f")
            got.frombytes(open(out, "rb").read())
            want.frombytes(open(os.path.join(tiny, ref), "rb").read())
            n_tok, n_vocab = int(n_tok), int(n_vocab)
            check(len(got) == n_tok * n_vocab, f"{model} {prompt}: {len(got)} floats, want {n_tok * n_vocab}")
            worst = 0.0
            for i in range(n_tok):
                row_w = want[i * n_vocab:(i + 1) * n_vocab]
                row_g = got[i * n_vocab:(i + 1) * n_vocab]
                mean = sum(row_w) / n_vocab
                sd = math.sqrt(sum((v - mean) ** 2 for v in row_w) / n_vocab)
                worst = max(worst, max(abs(a - b) for a, b in zip(row_g, row_w)) / sd)
            check(worst <= float(tol), f"{model} {prompt}: rel err {worst:.3g} > {tol}")
            print(f"logits {model} {' '.join(lora)} {prompt}: rel err {worst:.2e}")

    vocab = os.path.join(shared, "oracle", "o200k_harmony.vocab.gguf")
    def cases(name, step):
        for i, line in enumerate(open(os.path.join(shared, "oracle", name), encoding="utf-8")):
            if i % step:
                continue
            idx, text, ids = line.rstrip("\n").split("\t")
            yield json.loads(text), ids.split()
    for name, step, special in (("tokenizer_cases.tsv", 12, False), ("tokenizer_special_cases.tsv", 1, True)):
        n = 0
        for text, ids in cases(name, step):
            cmd = [relief, "tokenize", "--model", vocab] + (["--special"] if special else [])
            r = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True)
            got = r.stdout.decode().split()
            check(r.returncode == 0 and got == ids, f"tokenize {name} {text[:40]!r}: {got[:8]} vs {ids[:8]}")
            n += 1
        print(f"tokenize {name}: {n} cases")
    r = subprocess.run([relief, "tokenize", "--model", os.path.join(tmp, "missing.gguf")], input=b"x",
                       capture_output=True)
    check(r.returncode == 1 and b"missing.gguf" in r.stderr, "tokenize on a missing file fails with its name")
    r = subprocess.run([relief, "model-info", os.path.join(tiny, "README.md")], capture_output=True)
    check(r.returncode == 1 and b"not a GGUF file" in r.stderr, "model-info rejects a non-GGUF file")

print(f"test_llm_cli: {checks} checks, {fails} failed")
sys.exit(1 if fails else 0)
