#!/bin/sh
# relief-mkmodel: generates tiny gpt-oss files in both layouts and checks
# them three ways: the generator's own self-check (the project's reader plus
# a byte-for-byte regeneration), `--compare` (both layouts hold the same
# values), and an independent Python parser written from
# ../shared/docs/gguf.md and gpt-oss.md (header, offsets, types, shapes,
# value ranges, Ollama nibble order and gate/up interleave). Also exit codes
# on bad input and a full disk. Never generates the 20b file.
# usage: test_mkmodel.sh MKMODEL_BINARY SHARED_DIR
set -u
mk=$1 shared=$2
tmp=$(mktemp -d /tmp/relief-mkmodel-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/lib.sh"

vocab="$shared/oracle/tiny/tiny-f32.gguf"

expect_rc 0 "tiny ggml" "$mk" --preset tiny --seed 7 --vocab "$vocab" "$tmp/g.gguf"
contains "$tmp/out" "79 tensors (49 F32, 18 Q8_0, 12 MXFP4" "tiny ggml tensor counts"
contains "$tmp/out" "self-check passed" "tiny ggml self-check"
expect_rc 0 "tiny ollama" "$mk" --preset tiny --layout ollama --seed 7 "$tmp/o.gguf"
contains "$tmp/out" "71 tensors (37 F32, 0 Q8_0, 0 MXFP4, 26 BF16, 8 MXFP4-id4)" "tiny ollama tensor counts"
contains "$tmp/out" "self-check passed" "tiny ollama self-check"
[ -e "$tmp/g.gguf.partial" ] && bad "temporary file left behind" || ok

expect_rc 0 "same seed, same bytes" "$mk" --preset tiny --seed 7 "$tmp/g2.gguf"
cmp -s "$tmp/g.gguf" "$tmp/g2.gguf" && ok || bad "same seed gave different files"
expect_rc 0 "ggml and ollama hold the same values" "$mk" --compare "$tmp/g.gguf" "$tmp/o.gguf"
contains "$tmp/out" "same model: 79 logical tensors" "compare counts logical tensors"
expect_rc 0 "compare is symmetric" "$mk" --compare "$tmp/o.gguf" "$tmp/g.gguf"
expect_rc 0 "other seed" "$mk" --preset tiny --seed 8 "$tmp/g8.gguf"
expect_rc 1 "different seeds differ" "$mk" --compare "$tmp/g.gguf" "$tmp/g8.gguf"
contains "$tmp/err" "differ\|has " "compare names the difference"

# Errors: exit 1 with a message.
expect_rc 1 "unknown preset" "$mk" --preset huge "$tmp/x.gguf"
contains "$tmp/err" "unknown preset" "unknown preset message"
expect_rc 1 "unknown layout" "$mk" --preset tiny --layout vllm "$tmp/x.gguf"
expect_rc 1 "bad seed" "$mk" --preset tiny --seed -3 "$tmp/x.gguf"
expect_rc 1 "no output" "$mk" --preset tiny
expect_rc 1 "missing vocab" "$mk" --preset tiny --vocab "$tmp/none.gguf" "$tmp/x.gguf"
contains "$tmp/err" "none.gguf" "missing vocab message names the file"
printf 'not a gguf file at all, just text\n' >"$tmp/bad.gguf"
expect_rc 1 "vocab not GGUF" "$mk" --preset tiny --vocab "$tmp/bad.gguf" "$tmp/x.gguf"
expect_rc 1 "vocab without tokens" "$mk" --preset tiny --vocab "$shared/oracle/tiny/lora-qkvo.gguf" "$tmp/x.gguf"
contains "$tmp/err" "tokenizer.ggml.tokens" "vocab without tokens message"
expect_rc 1 "output directory missing" "$mk" --preset tiny "$tmp/no/such/dir/x.gguf"
contains "$tmp/err" "cannot create" "unwritable output message"
if [ -w /dev/full ]; then
  expect_rc 1 "disk full" "$mk" --preset tiny /dev/full
  contains "$tmp/err" "No space left" "disk full message"
fi
# A write failing midway (file size limit, SIGXFSZ ignored): exit 1, no partial file.
expect_rc 1 "write fails midway" sh -c "trap '' XFSZ; ulimit -f 200; exec \"\$0\" --preset tiny \"\$1\"" "$mk" "$tmp/x.gguf"
contains "$tmp/err" "File too large" "midway write error message"
contains "$tmp/err" "removed the incomplete" "partial file removal message"
[ -e "$tmp/x.gguf" ] || [ -e "$tmp/x.gguf.partial" ] && bad "failed runs left an output file" || ok

# Independent parser (Python, from the docs).
/usr/bin/python3 - "$tmp/g.gguf" "$tmp/o.gguf" >"$tmp/py" 2>&1 <<'PY'
import struct, sys, math

def parse(path):
    b = open(path, 'rb').read()
    pos = 0
    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from('<' + fmt, b, pos)
        pos += struct.calcsize('<' + fmt)
        return v
    def rs():
        (n,) = rd('Q')
        nonlocal pos
        s = b[pos:pos + n].decode('utf-8')
        pos += n
        return s
    SC = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}
    def rv(t):
        if t == 8:
            return rs()
        if t == 9:
            et, n = rd('IQ')
            return [rv(et) for _ in range(n)]
        return rd(SC[t])[0]
    magic, ver, nt, nkv = rd('4sIQQ')
    assert magic == b'GGUF' and ver == 3, (magic, ver)
    kv = {}
    for _ in range(nkv):
        k = rs()
        (t,) = rd('I')
        kv[k] = rv(t)
    ts = []
    for _ in range(nt):
        name = rs()
        (nd,) = rd('I')
        ne = list(rd('Q' * nd))
        ty, off = rd('IQ')
        ts.append((name, ne, ty, off))
    data = (pos + 31) // 32 * 32
    assert all(x == 0 for x in b[pos:data]), 'padding before data is not zero'
    BLK = {0: (1, 4), 30: (1, 2), 8: (32, 34), 39: (32, 17), 4: (32, 17)}
    expect, out = 0, {}
    for name, ne, ty, off in ts:
        blk, sz = BLK[ty]
        nbytes = ne[0] // blk * sz
        for d in ne[1:]:
            nbytes *= d
        assert off == expect, (name, off, expect)
        assert all(x == 0 for x in b[data + off + nbytes:data + off + (nbytes + 31) // 32 * 32]), name
        expect = off + (nbytes + 31) // 32 * 32
        out[name] = (ne, ty, b[data + off:data + off + nbytes])
    assert data + expect == len(b), ('file size', data + expect, len(b))
    return kv, out

E2M1 = [0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6]
def half(h):
    s, e, m = h >> 15, (h >> 10) & 31, h & 1023
    v = m * 2.0 ** -24 if e == 0 else (1 + m / 1024) * 2.0 ** (e - 15)
    return -v if s else v
def values(ne, ty, raw):
    if ty == 0:
        return list(struct.unpack('<%df' % (len(raw) // 4), raw))
    if ty == 30:
        return [struct.unpack('<f', struct.pack('<I', h << 16))[0] for h in struct.unpack('<%dH' % (len(raw) // 2), raw)]
    v = []
    if ty == 8:
        for i in range(0, len(raw), 34):
            d = half(raw[i] | raw[i + 1] << 8)
            v += [q * d for q in struct.unpack('32b', raw[i + 2:i + 34])]
        return v
    for i in range(0, len(raw), 17):
        s = 2.0 ** (raw[i] - 127)
        blk = [0.0] * 32
        for j in range(16):
            lo, hi = raw[i + 1 + j] & 15, raw[i + 1 + j] >> 4
            if ty == 39:   # ggml: low nibble = element j, high = j + 16
                blk[j], blk[j + 16] = E2M1[lo] * s, E2M1[hi] * s
            else:          # Ollama id 4, checkpoint order: low = 2j, high = 2j + 1
                blk[2 * j], blk[2 * j + 1] = E2M1[lo] * s, E2M1[hi] * s
        v += blk
    return v
def stats(v):
    m = sum(v) / len(v)
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / len(v))

gkv, g = parse(sys.argv[1])
okv, o = parse(sys.argv[2])
assert len(gkv) == 35 and len(g) == 79 and len(okv) == 38 and len(o) == 71
assert gkv['general.architecture'] == 'gpt-oss' and gkv['general.file_type'] == 38
assert okv['general.architecture'] == 'gptoss' and okv['general.file_type'] == 4
assert okv['gptoss.block_count'] == 4 and okv['gptoss.attention.sliding_window'] == 16
assert okv['tokenizer.ggml.eos_token_id'] == 1001 and okv['tokenizer.ggml.eos_token_ids'] == [1001, 1004, 1014]
assert okv['tokenizer.ggml.add_bos_token'] is False and okv['tokenizer.ggml.add_eos_token'] is False
assert len(gkv['tokenizer.ggml.tokens']) == 2090 == g['token_embd.weight'][0][1]
counts = {}
for ne, ty, raw in g.values():
    counts[ty] = counts.get(ty, 0) + 1
assert counts == {0: 49, 8: 18, 39: 12}, counts
assert g['blk.0.ffn_gate_exps.weight'][0] == [64, 64, 8] and o['blk.0.ffn_gate_up_exps.weight'][0] == [64, 128, 8]
assert o['blk.0.ffn_gate_up_exps.weight'][1] == 4 and o['blk.0.attn_q.weight'][1] == 30
assert 'blk.3.attn_out.weight' in o and 'blk.3.ffn_norm.weight' in o and 'blk.3.attn_sinks' in o

# Value ranges (sane for a forward pass).
for name, lo_sd, hi_sd, lo_m, hi_m in [('token_embd.weight', .015, .025, -.002, .002),
                                       ('blk.1.attn_q.weight', .015, .025, -.003, .003),
                                       ('blk.1.ffn_gate_inp.weight', .015, .025, -.003, .003),
                                       ('blk.1.attn_norm.weight', .005, .04, .99, 1.01),
                                       ('blk.1.attn_q.bias', .004, .02, -.004, .004),
                                       ('blk.1.ffn_down_exps.weight', .02, .09, -.005, .005)]:
    m, sd = stats(values(*g[name]))
    assert lo_sd <= sd <= hi_sd and lo_m <= m <= hi_m, (name, m, sd)
sinks = values(*g['blk.0.attn_sinks.weight'])
assert max(abs(x) for x in sinks) < 0.5, sinks

# Ollama: same numbers, renamed, nibble order of the checkpoint, gate/up interleaved.
def rows(t):
    ne, ty, raw = t
    v = values(ne, ty, raw)
    return [v[i:i + ne[0]] for i in range(0, len(v), ne[0])]
assert values(*g['blk.2.ffn_down_exps.weight']) == values(*o['blk.2.ffn_down_exps.weight'])
gate, up, fused = rows(g['blk.2.ffn_gate_exps.weight']), rows(g['blk.2.ffn_up_exps.weight']), rows(o['blk.2.ffn_gate_up_exps.weight'])
assert fused[0::2] == gate and fused[1::2] == up
gb, ub, fb = rows(g['blk.2.ffn_gate_exps.bias']), rows(g['blk.2.ffn_up_exps.bias']), rows(o['blk.2.ffn_gate_up_exps.bias'])
assert [r[0::2] for r in fb] == gb and [r[1::2] for r in fb] == ub
assert values(*g['blk.2.attn_output.weight']) == values(*o['blk.2.attn_out.weight'])
assert values(*g['blk.2.attn_sinks.weight']) == values(*o['blk.2.attn_sinks'])
assert values(*g['output.weight']) == values(*o['output.weight'])
print('python check ok')
PY
[ $? -eq 0 ] && ok || bad "independent Python check: $(tail -5 "$tmp/py")"

echo "mkmodel: $((n-fails))/$n checks passed"
[ "$fails" -eq 0 ]
