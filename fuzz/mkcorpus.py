#!/usr/bin/env python3
"""mkcorpus.py - regenerates the seed corpora in fuzz/corpus/<target>/.

Seeds are small and generated, never hand-edited:
  gguf       the first 4 KiB of the tiny oracle models, a bare header, a
             vocabulary-only file and a complete minimal gpt-oss model
             (1 layer, width 32, 256 byte tokens, Q8_0/F32) that loads, and
             the oracle's LoRA adapter in GGUF form
  safetensors  u16 config length + adapter_config.json + safetensors: the
             oracle's PEFT adapter, and small hand-made files
  tokenizer  reports from the eval sets, harmony markup, invalid UTF-8
  harmony    completions tokenized with `relief tokenize --special` (mode
             byte 0/2/4 + 16-bit ids), and render round-trip contents
  report     reports from ../shared/eval (English and multilingual)
  kb         "PATH\\n" + an embedded kb file, for a few files
  http       raw HTTP requests for every endpoint (token "fuzz")
  sse        a delivery byte + OpenAI chat-completions response bodies:
             streams (LF, CRLF, CR, comments, other fields, multi-line
             data, no blank lines, usage, length, [DONE] without newline),
             a non-streaming answer, server errors, bad JSON, truncation
             (sse_seeds(); also written alone by `mkcorpus.py --sse`)
  cap        CAP alerts: the test warning (tests/data/cap), alerts relief
             writes for every hazard's example report, several languages,
             CDATA and character references, times with Z and fractions,
             and refused ones (DOCTYPE, entities, depth, wrong root, no
             info) (cap_seeds(); also alone by `mkcorpus.py --cap [RELIEF]`)

usage: fuzz/mkcorpus.py RELIEF SHARED   (the built relief binary, ../shared)
       fuzz/mkcorpus.py --sse           (only the sse seeds, needing neither)
       fuzz/mkcorpus.py --cap [RELIEF]  (only the cap seeds; relief's own alerts need RELIEF)
"""
import json
import os
import random
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- GGUF writer (gguf.md: little-endian, v3) ----

U32, I32, F32, BOOL, STR, ARR, U64 = 4, 5, 6, 7, 8, 9, 10


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gkv(key, typ, val):
    out = gstr(key) + struct.pack("<I", typ)
    if typ == U32:
        out += struct.pack("<I", val)
    elif typ == I32:
        out += struct.pack("<i", val)
    elif typ == F32:
        out += struct.pack("<f", val)
    elif typ == STR:
        out += gstr(val)
    elif typ == ARR:
        et, items = val
        out += struct.pack("<IQ", et, len(items))
        for it in items:
            out += gstr(it) if et == STR else struct.pack("<i", it)
    return out


def byte_alphabet():
    """GPT-2 byte-level alphabet: byte -> printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def q8_0(rows, cols, rng):
    out = b""
    for _ in range(rows):
        for _ in range(cols // 32):
            out += struct.pack("<e", 2.0 ** -7) + bytes(rng.randrange(256) for _ in range(32))
    return out


def f32(n, rng, base=0.0):
    return struct.pack("<%df" % n, *[base + rng.uniform(-0.05, 0.05) for _ in range(n)])


def gguf(kvs, tensors):
    """tensors: list of (name, dims, type, bytes)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    off = 0
    recs = b""
    data = b""
    for name, dims, typ, raw in tensors:
        recs += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        recs += struct.pack("<IQ", typ, off)
        pad = (-len(raw)) % 32
        data += raw + b"\0" * pad
        off += len(raw) + pad
    blob = head + recs
    blob += b"\0" * ((-len(blob)) % 32)
    return blob + data


def vocab_kvs():
    alpha = byte_alphabet()
    toks = [alpha[b] for b in range(256)]
    return [
        gkv("tokenizer.ggml.model", STR, "gpt2"),
        gkv("tokenizer.ggml.pre", STR, "gpt-4o"),
        gkv("tokenizer.ggml.tokens", ARR, (STR, toks)),
        gkv("tokenizer.ggml.token_type", ARR, (I32, [1] * 256)),
        gkv("tokenizer.ggml.merges", ARR, (STR, [alpha[ord("a")] + " " + alpha[ord("b")]])),
    ]


def minimal_model():
    rng = random.Random(7)
    H, NH, NKV, HD, E, I, V = 32, 2, 1, 16, 1, 32, 256
    QD, KD = NH * HD, NKV * HD
    p = "gpt-oss."
    kvs = [
        gkv("general.architecture", STR, "gpt-oss"),
        gkv(p + "block_count", U32, 1),
        gkv(p + "embedding_length", U32, H),
        gkv(p + "context_length", U32, 64),
        gkv(p + "attention.head_count", U32, NH),
        gkv(p + "attention.head_count_kv", U32, NKV),
        gkv(p + "attention.key_length", U32, HD),
        gkv(p + "expert_count", U32, E),
        gkv(p + "expert_used_count", U32, 1),
        gkv(p + "expert_feed_forward_length", U32, I),
        gkv(p + "attention.sliding_window", U32, 8),
        gkv(p + "attention.layer_norm_rms_epsilon", F32, 1e-5),
        gkv(p + "rope.freq_base", F32, 150000.0),
        gkv(p + "rope.scaling.factor", F32, 32.0),
        gkv(p + "rope.scaling.original_context_length", U32, 4096),
    ] + vocab_kvs()
    t = [
        ("token_embd.weight", [H, V], 8, q8_0(V, H, rng)),
        ("output.weight", [H, V], 8, q8_0(V, H, rng)),
        ("output_norm.weight", [H], 0, f32(H, rng, 1.0)),
        ("blk.0.attn_norm.weight", [H], 0, f32(H, rng, 1.0)),
        ("blk.0.post_attention_norm.weight", [H], 0, f32(H, rng, 1.0)),
        ("blk.0.attn_q.weight", [H, QD], 8, q8_0(QD, H, rng)),
        ("blk.0.attn_k.weight", [H, KD], 8, q8_0(KD, H, rng)),
        ("blk.0.attn_v.weight", [H, KD], 8, q8_0(KD, H, rng)),
        ("blk.0.attn_q.bias", [QD], 0, f32(QD, rng)),
        ("blk.0.attn_k.bias", [KD], 0, f32(KD, rng)),
        ("blk.0.attn_v.bias", [KD], 0, f32(KD, rng)),
        ("blk.0.attn_output.weight", [QD, H], 8, q8_0(H, QD, rng)),
        ("blk.0.attn_output.bias", [H], 0, f32(H, rng)),
        ("blk.0.attn_sinks.weight", [NH], 0, f32(NH, rng)),
        ("blk.0.ffn_gate_inp.weight", [H, E], 0, f32(H * E, rng)),
        ("blk.0.ffn_gate_inp.bias", [E], 0, f32(E, rng)),
        ("blk.0.ffn_gate_exps.weight", [H, I, E], 8, q8_0(I * E, H, rng)),
        ("blk.0.ffn_up_exps.weight", [H, I, E], 8, q8_0(I * E, H, rng)),
        ("blk.0.ffn_gate_exps.bias", [I, E], 0, f32(I * E, rng)),
        ("blk.0.ffn_up_exps.bias", [I, E], 0, f32(I * E, rng)),
        ("blk.0.ffn_down_exps.weight", [I, H, E], 8, q8_0(H * E, I, rng)),
        ("blk.0.ffn_down_exps.bias", [H, E], 0, f32(H * E, rng)),
    ]
    return gguf(kvs, t)


def sse_seeds():
    """(name, bytes) pairs for fuzz_sse: byte 0 sets how the body is split
    (pieces of 1..(b & 63)+1 bytes; bit 6: the callback stops at its third
    piece), the rest is a response body."""
    def chunk(content=None, finish=None, role=None, **extra):
        delta = {}
        if role:
            delta["role"] = role
        if content is not None:
            delta["content"] = content
        c = {"index": 0, "delta": delta, "finish_reason": finish}
        d = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1750000000,
             "model": "gpt-oss:20b", "choices": [c]}
        d.update(extra)
        return json.dumps(d, ensure_ascii=False)

    def stream(events, nl="\n", done=True):
        out = "".join("data: %s%s%s" % (e, nl, nl) for e in events)
        if done:
            out += "data: [DONE]" + nl + nl
        return out

    words = ["Move", " to higher", " ground", " now.", " Do not", " walk through", " flood water", "."]
    basic = [chunk("", role="assistant")] + [chunk(w) for w in words] + [chunk(finish="stop")]
    seeds = [
        ("stream-lf", 7, stream(basic)),
        ("stream-crlf-comments", 3, ": keep-alive\r\n\r\nevent: message\r\nid: 1\r\nretry: 500\r\n" +
         stream(basic, nl="\r\n")),
        ("stream-cr", 0, stream(basic, nl="\r")),
        ("stream-bytewise-utf8", 0, stream([chunk("\u00c9vacuez l'\u00e9cole \u2014 "), chunk("\U0001f6a8 "),
                                             chunk("\u0000NUL"), chunk("\u5e73\u5b89"), chunk(finish="stop")])),
        ("stream-multiline-data", 11,
         'data: {"choices":[{"index":0,\ndata: "delta":{"content":"Stay indoors."},\n'
         'data: "finish_reason":null}]}\n\n' + stream([chunk(finish="stop")])),
        ("stream-no-blank-lines", 5, "".join("data: %s\n" % e for e in basic) + "data: [DONE]\n"),
        ("stream-usage", 17, stream(basic[:3] + [chunk(finish="stop")] +
                                    [json.dumps({"id": "chatcmpl-1", "choices": [],
                                                 "usage": {"prompt_tokens": 812, "completion_tokens": 9}})])),
        ("stream-length", 9, stream(basic[:4] + [chunk(finish="length")])),
        ("stream-reasoning", 13, stream([chunk(None, reasoning_content="thinking")] + basic)),
        ("stream-done-no-newline", 2, stream(basic, done=False) + "data: [DONE]"),
        ("stream-bad-json", 6, stream(basic[:3], done=False) + 'data: {"choices":[{"delta":{"content":"cut\n\n' +
         stream(basic[3:])),
        ("stream-not-object", 4, stream(basic[:2] + ['["not", "an object"]'])),
        ("stream-server-error", 8, stream(basic[:2] + [json.dumps({"error": {"message": "model unloaded",
                                                                            "type": "server_error"}})],
                                          done=False)),
        ("stream-truncated", 10, stream(basic[:5], done=False) + 'data: {"choices":[{"delta":{"con'),
        ("stream-callback-stop", 64 | 7, stream(basic)),
        ("json-answer", 31, "\n" + json.dumps({
            "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-oss:20b",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Boil water for one minute."},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127}})),
        ("json-array", 1, "[1, 2, 3]"),
        ("blank-only", 0, " \r\n\t\n"),
    ]
    return [(name, bytes([b]) + body.encode()) for name, b, body in seeds]


def cap_seeds(relief=None):
    """(name, bytes) pairs for fuzz_cap."""
    ns = 'xmlns="urn:oasis:names:tc:emergency:cap:1.2"'
    data = os.path.join(ROOT, "tests", "data", "cap")
    with open(os.path.join(data, "flash_flood_warning.xml"), "rb") as f:
        seeds = [("flash-flood-warning", f.read())]
    def alert(info, head="<sent>2025-06-14T10:00:00+02:00</sent>"):
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<alert %s>%s%s</alert>' % (ns, head, info)).encode()
    seeds += [
        ("multi-lang", alert("<info><language>es-ES</language><event>Inundación</event>"
                             "<expires>2025-06-14T11:30:00+02:00</expires></info>"
                             "<info><language>en</language><event>Flood</event></info>")),
        ("cdata-refs", alert("<info><event><![CDATA[Wildfire & smoke]]></event><description>Fire &amp; "
                             "&#x46;lames &lt;near&gt; 300 people</description><area><areaDesc>Pine Ridge</areaDesc>"
                             "<circle>38.5,-120.2 5</circle></area></info>")),
        ("z-times", alert("<info><event>Tsunami</event><onset>2025-06-14T08:20:00.5Z</onset></info>",
                          "<sent>2025-06-14T08:00:00Z</sent>")),
        ("cap11", b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"><info><event>Tornado</event></info></alert>'),
        ("doctype", b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "x">]><alert ' + ns.encode() +
                    b'><info><event>&a;</event></info></alert>'),
        ("deep", alert("<info><event>Flood</event>" + "<x>" * 40 + "</x>" * 40 + "</info>")),
        ("wrong-root", b"<rss><channel><item>flood</item></channel></rss>"),
        ("no-info", alert("")),
        ("empty-info", alert("<info><urgency>Immediate</urgency></info>")),
    ]
    if relief:
        with open(os.path.join(data, "reports.tsv"), encoding="utf-8") as f:
            for line in f:
                hazard, _, report = line.rstrip("\n").partition("\t")
                if report:
                    out = subprocess.run([relief, "--format", "cap", report], capture_output=True, check=True)
                    seeds.append(("relief-" + hazard, out.stdout))
    return seeds


def main():
    if len(sys.argv) in (2, 3) and sys.argv[1] == "--cap":
        for name, data in cap_seeds(sys.argv[2] if len(sys.argv) == 3 else None):
            put("cap", name, data)
        return
    if len(sys.argv) == 2 and sys.argv[1] == "--sse":
        for name, data in sse_seeds():
            put("sse", name, data)
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    relief, shared = sys.argv[1], sys.argv[2]
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    tiny = os.path.join(shared, "oracle", "tiny")

    # gguf
    for m in ("tiny-q", "tiny-f32"):
        with open(os.path.join(tiny, m + ".gguf"), "rb") as f:
            put("gguf", m + "-head4k", f.read(4096))
    put("gguf", "header-only", b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    put("gguf", "vocab-only", gguf(vocab_kvs(), []))
    with open(os.path.join(tiny, "lora-qkvo.gguf"), "rb") as f:
        put("gguf", "lora-qkvo", f.read())
    model = minimal_model()
    put("gguf", "minimal-model", model)
    path = os.path.join(OUT, "gguf", "minimal-model")
    r = subprocess.run([relief, "model-info", path], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("mkcorpus: the minimal model does not load: " + r.stderr)

    # safetensors (with an adapter_config.json in front; length 0 = the oracle's)
    peft = os.path.join(tiny, "lora-qkvo-peft")
    with open(os.path.join(peft, "adapter_model.safetensors"), "rb") as f:
        put("safetensors", "oracle-peft", struct.pack("<H", 0) + f.read())

    def safetensors(tensors, meta=None):
        head, data = {}, b""
        for name, dtype, shape, raw in tensors:
            head[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
        if meta:
            head["__metadata__"] = meta
        h = json.dumps(head).encode()
        return struct.pack("<Q", len(h)) + h + data

    rng = random.Random(3)
    small = safetensors([("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "F32", [4, 64],
                          f32(256, rng)),
                         ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "BF16", [128, 4],
                          bytes(1024))], {"format": "pt"})
    put("safetensors", "small-default-config", struct.pack("<H", 0) + small)
    cfg = json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 16, "use_rslora": True,
                      "target_modules": ["q_proj"], "rank_pattern": {}, "alpha_pattern": {}}).encode()
    put("safetensors", "small-rslora", struct.pack("<H", len(cfg)) + cfg + small)

    # reports (also tokenizer texts)
    reports = []
    for name, n in (("hazard_messages_dev.jsonl", 8), ("hazard_messages_multilingual_dev.jsonl", 5)):
        with open(os.path.join(shared, "eval", name), encoding="utf-8") as f:
            lines = f.readlines()
        for i in range(n):
            reports.append(json.loads(lines[i * len(lines) // n])["text"])
    reports.append("Flash flood in the valley, 200 families, water rising, bridge out, 3 injured, 2 missing, "
                   "evacuate before tonight. Elderly care home on Main Street has no power.")
    for i, rep in enumerate(reports):
        put("report", "report-%02d" % i, rep)
        put("tokenizer", "text-%02d" % i, rep)
    put("tokenizer", "harmony-markup", "<|start|>user<|message|>Is the bridge safe?<|end|><|start|>assistant")
    put("tokenizer", "invalid-utf8", b"caf\xc3 \xff\xfe \xe2\x82 ok \xf0\x9f\x94\xa5 \xed\xa0\x80")
    put("report", "invalid-utf8", b"fire \xff\xfe in the \xe2\x82 school \xf0\x9f\x94\xa5 50 people")

    # harmony: token streams and round-trip contents
    def ids(text):
        r = subprocess.run([relief, "tokenize", "--model", os.path.join(tiny, "tiny-f32.gguf"), "--special"],
                           input=text.encode(), capture_output=True, check=True)
        return [int(x) for x in r.stdout.split()]

    streams = {
        0: "<|channel|>analysis<|message|>Flood near the school.<|end|><|start|>assistant<|channel|>final"
           "<|message|>Evacuate the school now.<|return|>",
        1: "Move to higher ground. Do not cross the water.<|return|>",
        2: "<|start|>assistant<|channel|>commentary to=functions.find_shelter <|constrain|>json<|message|>"
           "{\"near\": \"school\"}<|call|>",
    }
    for open_mode, text in streams.items():
        put("harmony", "stream-%d" % open_mode,
            bytes([open_mode * 2]) + b"".join(struct.pack("<H", i) for i in ids(text)))
    put("harmony", "roundtrip-text", b"\x01Evacuate now. <|end|> stays text \xe2\x9c\x93")
    put("harmony", "roundtrip-invalid", b"\x01bad \xff bytes")

    # kb
    for rel in ("hazards/flood.kb", "protocols/triage.kb", "detect.kb", "needs.kb", "extract.kb"):
        with open(os.path.join(ROOT, "kb", rel), "rb") as f:
            put("kb", rel.replace("/", "_"), rel.encode() + b"\n" + f.read())

    # http
    def req(method, path, body=None, auth=True, extra=""):
        h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
        if auth:
            h += "Authorization: Bearer fuzz\r\n"
        h += extra
        if body is not None:
            b = body.encode()
            h += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(b)
            return h.encode() + b"\r\n" + b
        return (h + "\r\n").encode()

    put("http", "healthz", req("GET", "/healthz", auth=False))
    put("http", "page", req("GET", "/", auth=False))
    put("http", "metrics", req("GET", "/metrics"))
    put("http", "models", req("GET", "/v1/models"))
    put("http", "noauth", req("GET", "/v1/models", auth=False))
    put("http", "guidance", req("POST", "/v1/guidance", json.dumps({"report": reports[-1], "days": 3})))
    put("http", "guidance-stream", req("POST", "/v1/guidance",
                                       json.dumps({"report": reports[0], "stream": True, "deadline": 1.5})))
    put("http", "guidance-bad", req("POST", "/v1/guidance", '{"report": 5, "days": "x"'))
    put("http", "chat", req("POST", "/v1/chat/completions", json.dumps(
        {"model": "relief", "messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": [{"type": "text", "text": "Flood"}]}],
         "max_tokens": 8, "stream": False})))
    put("http", "chat-stream", req("POST", "/v1/chat/completions", json.dumps(
        {"messages": [{"role": "user", "content": "Fire"}], "stream": True,
         "stream_options": {"include_usage": True}, "max_tokens": 4})))
    chunk = json.dumps({"report": "earthquake, buildings down"}).encode()
    put("http", "chunked", b"POST /v1/guidance HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fuzz\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" +
        b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
    put("http", "pipelined", req("GET", "/healthz", auth=False, extra="Connection: keep-alive\r\n") +
        req("GET", "/v1/models"))

    # sse
    for name, data in sse_seeds():
        put("sse", name, data)

    # cap
    for name, data in cap_seeds(relief):
        put("cap", name, data)


if __name__ == "__main__":
    main()
