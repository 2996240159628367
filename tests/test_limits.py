#!/usr/bin/env python3
"""Resource bounds of relief on hostile or huge input: each case must end
within a time bound, within a memory bound (peak RSS of the child, from
wait4), and with a clear error where one is due.

usage: test_limits.py RELIEF_BINARY SOURCE_DIR SHARED_DIR

  report   a 10 MB report through the CLI (JSON and --explain text)
  kb       100k-line knowledge-base files: one value continued over 100k
           lines, 100k cue phrases in one list, 20k step sections (all
           load), 100k lines in one section (refused, naming file:line)
  gguf     a header claiming 2^40 tensors (model-info refuses it; as --model
           it leaves the plan intact), and files with 200k metadata keys or
           200k tensor records (refused at once: the duplicate checks are
           hashed, no longer quadratic)
  context  relief chat asking for more tokens than the model's context
           (tiny model with its context patched to 200: stops cleanly with
           "context full"; patched to 96, below the prompt: refused)
  serve    1,000 concurrent connections to `relief serve --port 0`, each
           with a guidance request: the server stays up, answers every
           admitted request, stays within its memory bound, and answers
           normally afterwards. (Slow clients, one byte a second, are
           tested in test_serve.py: test_slow_clients.)

With RELIEF_LIMITS_SANITIZED=1 (the ASan build) time bounds are 10x and
memory bounds are not checked (shadow memory). Peak RSS comes from wait4;
Linux keeps a process's peak across execve, so it is never below the
Python parent's size at fork (about 50 MB): an upper bound, which is what
the checks need.

Exit status: 1 when a check failed; 77 (ctest: skipped) when nothing failed
but a part could not run here (too few file descriptors for serve); else 0.
"""
import json, os, resource, select, shutil, socket, struct, subprocess, sys, tempfile, time

relief, src, shared = sys.argv[1], sys.argv[2], sys.argv[3]
SAN = os.environ.get("RELIEF_LIMITS_SANITIZED") == "1"
SLOW = 10 if SAN else 1
tmp = tempfile.mkdtemp(prefix="relief-limits-")
fails = checks = 0
skipped = []  # parts that could not run here (the test then exits 77)


def check(ok, what):
    global fails, checks
    checks += 1
    if not ok:
        fails += 1
        print("FAIL:", what, file=sys.stderr, flush=True)
    return ok


def run(args, stdin=None, limit_s=60):
    """Runs relief; returns (exit code, stdout, stderr, seconds, peak RSS MB)."""
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
    out = tempfile.TemporaryFile(dir=tmp)
    err = tempfile.TemporaryFile(dir=tmp)
    t0 = time.monotonic()
    p = subprocess.Popen([relief, *args], stdin=fin, stdout=out, stderr=err)
    deadline = t0 + limit_s * SLOW + 30
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.01)
    took = time.monotonic() - t0
    if stdin:
        fin.close()
    out.seek(0)
    err.seek(0)
    code = os.waitstatus_to_exitcode(status)
    return code, out.read(), err.read().decode(errors="replace"), took, ru.ru_maxrss / 1024


def bounded(label, took, rss, max_s, max_mb):
    print(f"{label}: {took:.2f} s, peak RSS {rss:.0f} MB")
    check(took <= max_s * SLOW, f"{label}: {took:.2f} s > {max_s * SLOW} s")
    if not SAN:
        check(rss <= max_mb, f"{label}: peak RSS {rss:.0f} MB > {max_mb} MB")


# ---------------------------------------------------------------- report

def test_report():
    words = ("flood fire water rising bridge 200 families 3 injured missing evacuate tonight school hospital "
             "power out earthquake collapse near Main Street #floodwater no fire drill last year").split()
    path = os.path.join(tmp, "report.txt")
    with open(path, "w") as f:
        n, i = 0, 0
        while n < 10 * 1024 * 1024:
            w = words[(i * 7919) % len(words)] + (". " if i % 17 == 0 else " ")
            f.write(w)
            n += len(w)
            i += 1
    code, out, err, took, rss = run(["--format", "json"], stdin=path)
    check(code == 0, f"10 MB report: exit {code}: {err[-300:]}")
    try:
        j = json.loads(out)
        check(j["hazards"] and j["steps"], "10 MB report: a plan with hazards and steps")
    except (ValueError, KeyError) as e:
        check(False, f"10 MB report: JSON output: {e}")
    bounded("10 MB report (json)", took, rss, 10, 512)
    code, out, err, took, rss = run(["--explain", "--no-color"], stdin=path)
    check(code == 0 and b"DO NOW" in out, f"10 MB report (text): exit {code}")
    bounded("10 MB report (text, --explain)", took, rss, 10, 512)
    # Over the CLI's 16 MiB limit: refused with a message, quickly.
    big = os.path.join(tmp, "report17.txt")
    with open(big, "wb") as f:
        f.write(b"flood " * (17 * 1024 * 1024 // 6 + 1))
    code, out, err, took, rss = run([], stdin=big)
    check(code == 1 and "16 MiB" in err, f"17 MiB report refused: exit {code}: {err[-200:]}")
    bounded("17 MiB report (refused)", took, rss, 5, 128)


# ---------------------------------------------------------------- kb

def kb_copy(name, edit):
    d = os.path.join(tmp, name)
    shutil.copytree(os.path.join(src, "kb"), d)
    p = os.path.join(d, "hazards", "flood.kb")
    with open(p) as f:
        lines = f.read().split("\n")
    with open(p, "w") as f:
        f.write("\n".join(edit(lines)))
    return d


# The repo's kb declares plans complete in es, fr and pt, so every generated
# step carries those translations or kb-check (rightly) refuses it.
TR = ["do.es: Empiece", "do.fr: Commencez", "do.pt: Comece"]
TR_STEP = (("es", "Paso"), ("fr", "Étape"), ("pt", "Passo"))


def test_kb():
    step = ["", "[step]", "id: big", "phase: 24h", "role: logistics", "priority: 3", "do: Start"]
    cont = kb_copy("kb-cont", lambda L: L + step + ["  more words of the step, one more line"
                                                    for i in range(100000)] + ["source: test"] + TR)

    def cues(L):
        i = L.index("[cues]")
        return L[:i + 1] + ["en 1: first,"] + ["  cue%d word%d," % (k, k) for k in range(100000)] + \
            ["  last"] + L[i + 1:]
    phrases = kb_copy("kb-phrases", cues)
    steps = kb_copy("kb-steps", lambda L: L + sum(
        (["", "[step]", "id: s%d" % k, "phase: 24h", "role: logistics", "priority: 3",
          "do: Step number %d." % k, "source: test"] +
         ["do.%s: %s %d." % (lang, word, k) for lang, word in TR_STEP] for k in range(20000)), []))

    def section(L):
        return L + ["", "[cues]"] + ["en 1: cueword%d" % k for k in range(100000)]
    lines = kb_copy("kb-lines", section)
    for name, d in (("one value over 100k lines", cont), ("100k cue phrases", phrases),
                    ("20k step sections", steps)):
        code, out, err, took, rss = run(["kb-check", "--kb", d])
        check(code == 0 and b"knowledge base OK" in out, f"kb {name}: exit {code}: {err[-300:]}")
        bounded(f"kb {name}", took, rss, 5, 256)
    code, out, err, took, rss = run(["--kb", phrases, "--format", "json"],
                                    stdin=write("kbreport", b"cue77 word77 and flood waters rising, 40 families"))
    check(code == 0 and "flood" in [h["id"] for h in json.loads(out)["hazards"]],
          f"plan with 100k cue phrases: exit {code}")
    bounded("plan with 100k cue phrases", took, rss, 5, 256)
    code, out, err, took, rss = run(["kb-check", "--kb", lines])
    check(code == 1 and "hazards/flood.kb:" in err and "too many lines in one section" in err,
          f"kb 100k lines in one section: exit {code}: {err[-300:]}")
    bounded("kb 100k lines in one section (refused)", took, rss, 5, 256)


def write(name, data):
    p = os.path.join(tmp, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


# ---------------------------------------------------------------- gguf

def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def test_gguf():
    p = write("huge-count.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 1) + gstr("general.architecture") +
              struct.pack("<I", 8) + gstr("gpt-oss") + b"\0" * 64)
    code, out, err, took, rss = run(["model-info", p])
    check(code == 1 and "tensor count 1099511627776 is impossible" in err,
          f"2^40 tensors: exit {code}: {err[-300:]}")
    bounded("GGUF claiming 2^40 tensors", took, rss, 2, 64)
    # The protocol answer does not depend on the model: a bad model file
    # leaves a plan, exit 3 (plan written, model unavailable) and a message.
    code, out, err, took, rss = run(["--model", p, "--format", "json"],
                                    stdin=write("badmodel-report", b"Flood at the school, 30 children"))
    check(code == 3 and "model backend unavailable" in err and json.loads(out)["steps"],
          f"plan with a bad --model: exit {code}: {err[-300:]}")
    n = 200000
    kv = b"".join(gstr("k%07d" % i) + struct.pack("<IB", 0, 1) for i in range(n))
    p = write("many-keys.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, n) + kv)
    code, out, err, took, rss = run(["model-info", p])
    check(code == 1 and "general.architecture" in err, f"200k keys: exit {code}: {err[-300:]}")
    bounded("GGUF with 200k metadata keys", took, rss, 3, 256)
    t = b"".join(gstr("t%07d" % i) + struct.pack("<IQIQ", 1, 32, 0, 0) for i in range(n))
    p = write("many-tensors.gguf", b"GGUF" + struct.pack("<IQQ", 3, n, 0) + t + b"\0" * 64)
    code, out, err, took, rss = run(["model-info", p])
    check(code == 1, f"200k tensor records: exit {code}: {err[-300:]}")
    bounded("GGUF with 200k tensor records", took, rss, 3, 256)
    dup = gstr("k0000001") + struct.pack("<IB", 0, 1)
    p = write("dup-key.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 3) + kv[:2 * len(dup)] + dup)
    code, out, err, took, rss = run(["model-info", p])
    check(code == 1 and "duplicate metadata key 'k0000001'" in err, f"duplicate key: exit {code}: {err[-300:]}")


# ---------------------------------------------------------------- context

def patched_model(ctx):
    with open(os.path.join(shared, "oracle", "tiny", "tiny-q.gguf"), "rb") as f:
        d = bytearray(f.read())
    k = b"gpt-oss.context_length"
    i = d.index(k) + len(k)
    assert struct.unpack_from("<I", d, i)[0] == 4  # UINT32
    struct.pack_into("<I", d, i + 4, ctx)
    return write("ctx%d.gguf" % ctx, bytes(d))


def test_context():
    tiny = os.path.join(shared, "oracle", "tiny", "tiny-q.gguf")
    if not os.path.exists(tiny):
        check(False, "context: needs " + tiny + " (tests/data in the repository)")
        return
    m = patched_model(200)
    # --ignore-eos and a fixed --date: the tiny model's greedy answer would
    # otherwise end on its own on some days (the date is in the prompt), and
    # the test is about the context bound, so only a full context may stop it.
    code, out, err, took, rss = run(["chat", "--model", m, "--max-tokens", "500", "--temperature", "0",
                                     "--threads", "1", "--ignore-eos", "--date", "2026-01-01", "Flood at the school"])
    check(code == 0 and "does not fit the model's context of 200 tokens" in err and "stop: context full" in err,
          f"chat past the context: exit {code}: {err[-400:]}")
    bounded("chat asking for more than the context", took, rss, 10, 256)
    m = patched_model(96)
    code, out, err, took, rss = run(["chat", "--model", m, "--max-tokens", "5", "Flood at the school"])
    check(code == 1 and "does not fit the model's context of 96 tokens" in err,
          f"prompt longer than the context: exit {code}: {err[-300:]}")
    # Expected: exit 0 and "stop: context full": the huge --max-tokens is cut
    # to the 200-token context, and with no end token allowed the answer can
    # only stop there (never a timeout, never a crash).
    code, out, err, took, rss = run(["chat", "--model", patched_model(200), "--max-tokens", "1000000",
                                     "--threads", "1", "--temperature", "0", "--ignore-eos", "--date", "2026-01-01",
                                     "Flood"])
    check(code == 0 and "stop: context full" in err, f"--max-tokens 1000000: exit {code}: {err[-300:]}")
    bounded("chat --max-tokens 1000000", took, rss, 10, 256)


# ---------------------------------------------------------------- serve

def test_serve():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 1100:
        # Not a defect of relief: the environment's hard limit. The other
        # parts still run; the test then exits 77 (skipped), not 0.
        skipped.append(f"serve: 1,000 connections need 1,100 file descriptors, the hard limit is {want} "
                       "(raise it: ulimit -Hn, or LimitNOFILE= for a service)")
        return
    # --per-ip past the 1,000 connections this test opens from one address.
    p = subprocess.Popen([relief, "serve", "--port", "0", "--bind", "127.0.0.1", "--per-ip", "1100"], stdout=subprocess.PIPE,
                         stderr=open(os.path.join(tmp, "serve.log"), "wb"))
    line = p.stdout.readline().decode()
    if not check(line.startswith("relief serve: listening on http://"), f"serve started: {line!r}"):
        p.kill()
        return
    port = int(line.rsplit(":", 1)[1])
    body = json.dumps({"report": "Flood in Riverside, 300 families, bridge out, 2 injured"}).encode()
    req = (b"POST /v1/guidance HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    N = 1000
    t0 = time.monotonic()
    socks = []
    for _ in range(N):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    # All connections are open (or queued by the kernel) before any request is sent.
    pending = {s.fileno(): [s, req, b""] for s in socks}
    done = {}
    deadline = t0 + 60 * SLOW
    while pending and time.monotonic() < deadline:
        rl = [fd for fd, st in pending.items() if not st[1]]
        wl = [fd for fd, st in pending.items() if st[1]]
        r, w, _ = select.select(rl, wl, [], 1.0) if len(rl) + len(wl) < 1000 else poll_sets(rl, wl)
        for fd in w:
            st = pending[fd]
            try:
                n = st[0].send(st[1])
                st[1] = st[1][n:]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                done[fd] = ("error", str(e))
                pending.pop(fd).__getitem__(0).close()
        for fd in r:
            if fd not in pending:
                continue
            st = pending[fd]
            try:
                b = st[0].recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                b = b""
                st.append(str(e))
            if b:
                st[2] += b
            else:
                done[fd] = ("closed", st[2])
                pending.pop(fd)[0].close()
    took = time.monotonic() - t0
    for st in pending.values():
        st[0].close()
    codes = {}
    for kind, data in done.values():
        code = data[9:12].decode() if kind == "closed" and data.startswith(b"HTTP/1.1 ") else kind
        codes[code] = codes.get(code, 0) + 1
    print(f"1,000 concurrent connections: {took:.1f} s; answers {codes}; {len(pending)} unanswered")
    check(not pending, f"1,000 connections: {len(pending)} got no answer within {60 * SLOW} s")
    check(codes.get("200", 0) >= 500, f"1,000 connections: only {codes.get('200', 0)} answered 200")
    check(set(codes) <= {"200", "503", "429", "closed"}, f"1,000 connections: unexpected outcomes {codes}")
    with open(f"/proc/{p.pid}/status") as f:
        hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0] / 1024
    print(f"serve peak RSS after 1,000 connections: {hwm:.0f} MB")
    if not SAN:
        check(hwm <= 1024, f"serve peak RSS {hwm:.0f} MB > 1024 MB")
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    got = b""
    while True:
        b = c.recv(4096)
        if not b:
            break
        got += b
    c.close()
    check(got.startswith(b"HTTP/1.1 200"), f"healthz after the storm: {got[:40]!r}")
    p.send_signal(2)
    try:
        check(p.wait(timeout=30 * SLOW) == 0, "serve exits 0 after SIGINT")
    except subprocess.TimeoutExpired:
        p.kill()
        check(False, "serve did not stop after SIGINT")


def poll_sets(rl, wl):
    """select() cannot take descriptors >= 1024: poll instead."""
    po = select.poll()
    for fd in rl:
        po.register(fd, select.POLLIN)
    for fd in wl:
        po.register(fd, select.POLLOUT)
    r, w = [], []
    for fd, ev in po.poll(1000):
        if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
            (r if fd in rl else w).append(fd)
        elif ev & select.POLLOUT:
            w.append(fd)
    return r, w, []


try:
    for t in (test_report, test_kb, test_gguf, test_context, test_serve):
        t()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print(f"test_limits: {checks} checks, {fails} failed")
for why in skipped:
    print("SKIP:", why)
sys.exit(1 if fails else 77 if skipped else 0)
