#!/usr/bin/env python3
"""Drives `relief serve` over HTTP the way its clients do (curl, browsers,
OpenAI-compatible clients), with the standard library only.

usage: test_serve.py RELIEF_BINARY SHARED_DIR

Part 1 runs a plan-only server (no model) and exercises every endpoint,
validation, limits (413, slow clients, 100 concurrent connections), the
bearer token and graceful shutdown. Part 2 runs when the tiny oracle model
exists: chat completions (streamed and not), guidance under a 0.5 s
deadline (whole answer within deadline + 100 ms, plan within 10 ms), a full
queue (429), and a second server using the first as its remote backend.
Times are measured on the client side over loopback.
"""
import http.client, json, os, select, shutil, signal, socket, subprocess, sys, tempfile, threading, time

relief, shared = sys.argv[1], sys.argv[2]
TINY = os.path.join(shared, "oracle", "tiny", "tiny-q.gguf")
REPORT = ("River rising fast in Riverside, about 3,000 residents. The levee may fail within 2 hours. "
          "Nursing home on Elm St with 40 elderly residents, 2 people trapped in a car. We have 3 boats.")
fails = checks = 0
lock = threading.Lock()


def check(ok, what):
    global fails, checks
    with lock:
        checks += 1
        if not ok:
            fails += 1
            print("FAIL:", what, file=sys.stderr, flush=True)
    return ok


class Server:
    """A `relief serve --port 0` child; .port once it printed its line."""

    def __init__(self, *args, env=None, wait=60):
        self.log = tempfile.TemporaryFile()
        e = dict(os.environ)
        e.pop("RELIEF_TOKEN", None)
        e.update(env or {})
        self.p = subprocess.Popen([relief, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                  stderr=self.log, env=e)
        line = b""
        end = time.monotonic() + wait
        while not line.endswith(b"\n") and time.monotonic() < end:
            r, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if r:
                b = os.read(self.p.stdout.fileno(), 1)
                if not b:
                    break
                line += b
        text = line.decode()
        self.wait_ready = wait
        if not text.startswith("relief serve: listening on http://"):
            self.stop()
            raise RuntimeError(f"no listening line (got {text!r}); log: {self.stderr()}")
        self.url = text.split("listening on ")[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        # The model loads in the background: wait until /healthz says it is
        # ready (or failed) before the tests that need it.
        if "--model" in args or "--backend" in args:
            end = time.monotonic() + self.wait_ready
            while time.monotonic() < end:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    c.request("GET", "/healthz")
                    state = json.loads(c.getresponse().read()).get("model_state")
                    c.close()
                    if state in ("ready", "failed"):
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def request(port, method, path, body=None, headers=None, raw=None, timeout=30):
    """Returns (status, headers dict lower-case, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = r.read()
    hdr = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdr, out


def jrequest(port, method, path, body=None, **kw):
    st, h, b = request(port, method, path, body, **kw)
    try:
        j = json.loads(b) if b else None
    except ValueError:
        j = None
    return st, h, j


def sse(port, path, body, headers=None):
    """POSTs body and reads Server-Sent Events as they come. Returns
    (status, [(name, data, seconds since the request was sent)])."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    h.update(headers or {})
    t0 = time.monotonic()
    c.request("POST", path, body=json.dumps(body).encode(), headers=h)
    r = c.getresponse()
    events, name, data = [], "message", []
    if r.status != 200:
        r.read()
        return r.status, events
    check(r.getheader("Content-Type", "").startswith("text/event-stream"), f"{path}: SSE content type")
    while True:
        line = r.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if line == "":
            if data:
                events.append((name, "\n".join(data), time.monotonic() - t0))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])
    c.close()
    return r.status, events


NO_TIMING = os.environ.get("RELIEF_SERVE_NO_TIMING") == "1"


def check_time(ok, what):
    """A latency bound: asserted, or only reported under sanitizers."""
    if NO_TIMING:
        print("timing (not asserted):", what)
        return ok
    return check(ok, what)


def error_field(j):
    return (j or {}).get("error", {}).get("field")


# ---------------------------------------------------------------- part 1

def test_plan_only():
    # --per-ip above the 100 concurrent connections this part opens from one address.
    s = Server("--per-ip", "200")
    port = s.port
    try:
        st, h, j = jrequest(port, "GET", "/healthz")
        check(st == 200 and j and j.get("status") == "ok", f"/healthz: {st} {j}")

        st, h, b = request(port, "GET", "/")
        page = b.decode()
        check(st == 200 and h.get("content-type", "").startswith("text/html"), f"GET /: {st} {h}")
        check("Protocol plan" in page and "Model elaboration" in page and "AI-generated, may be wrong" in page,
              "page labels the protocol plan and the AI elaboration")
        check("<label for=\"report\"" in page and "http://" not in page.replace("http://www.w3.org", ""),
              "page has a labelled report box and no external resources")
        st, h, b = request(port, "HEAD", "/")
        check(st == 200 and b == b"", f"HEAD /: {st}")

        # The field formats follow the plan's language: the body's lang, else Accept-Language.
        fl = "Flood in Lyon, 300 people, water rising"
        st, h, j = jrequest(port, "POST", "/v1/guidance?format=ics201-json", {"report": fl, "lang": "fr"})
        check(st == 200 and j["incident_name"].startswith("Inondation"), f"ICS 201 with lang fr: {st} {j and j.get('incident_name')}")
        st, h, j = jrequest(port, "POST", "/v1/guidance?format=ics201-json", {"report": fl},
                            headers={"Accept-Language": "es-MX,es;q=0.9"})
        check(st == 200 and j["incident_name"].startswith("Inundaci"), f"ICS 201 by Accept-Language es: {j and j.get('incident_name')}")
        st, h, j = jrequest(port, "POST", "/v1/guidance?format=ics201-json", {"report": fl})
        check(st == 200 and j["incident_name"].startswith("Flood"), f"ICS 201 in English by default: {j and j.get('incident_name')}")
        st, h, j = jrequest(port, "POST", "/v1/guidance?format=ics201-json", {"report": fl, "lang": "de"})
        check(st == 400 and j["error"]["param"] == "lang", f"ICS 201 with lang de: {st}")

        # Non-streamed guidance.
        st, h, j = jrequest(port, "POST", "/v1/guidance", {"report": REPORT, "days": 2, "unknown": [1, 2]})
        ok = check(st == 200 and j is not None, f"guidance: {st}")
        if ok:
            plan = j.get("plan", {})
            check(plan.get("schema") == "relief.plan/2" and plan.get("report") == REPORT, "guidance: plan object")
            check(any(hz["id"] == "flood" for hz in plan.get("hazards", [])), "guidance: flood detected")
            check(len(plan.get("steps", [])) > 5 and plan["needs"]["days"] == 2, "guidance: steps and days")
            m = j.get("model", {})
            check(m.get("backend") == "none" and m.get("text") is None and m.get("complete") is False
                  and m.get("cut") is False and isinstance(m.get("error"), str), f"guidance: model part {m}")
            t = j.get("timings", {})
            for k in ("plan_ms", "ttft_ms", "model_ms", "total_ms", "tokens", "tokens_per_s", "prefix_cached"):
                check(k in t, f"guidance timings has {k}")
            check_time(t.get("plan_ms", 1e9) < 50, f"plan_ms {t.get('plan_ms')}")

        # Hostile report text: NUL bytes and any Unicode, up to the body limit.
        st, h, j = jrequest(port, "POST", "/v1/guidance", {"report": "fire\u0000 \u202e\U0001F525 " * 500})
        check(st == 200 and j and "plan" in j, f"guidance with NUL and odd Unicode: {st}")

        # Streamed guidance: the plan event comes first, then done.
        st, ev = sse(port, "/v1/guidance", {"report": REPORT, "stream": True})
        names = [e[0] for e in ev]
        check(st == 200 and names and names[0] == "plan" and names[-1] == "done", f"stream events {names}")
        if names and names[0] == "plan":
            check(json.loads(ev[0][1]).get("schema") == "relief.plan/2", "stream: plan event is the plan")
            d = json.loads(ev[-1][1])
            check("timings" in d and d.get("model", {}).get("backend") == "none", f"stream: done event {d}")

        # Validation errors name the field.
        bad = [({"days": 3}, "report"), ({"report": 5}, "report"), ({"report": ""}, "report"),
               ({"report": None}, "report"), ({"report": "x", "deadline": "soon"}, "deadline"),
               ({"report": "x", "deadline": 0}, "deadline"), ({"report": "x", "deadline": -1}, "deadline"),
               ({"report": "x", "deadline": 1e9}, "deadline"), ({"report": "x", "days": 0}, "days"),
               ({"report": "x", "days": 366}, "days"), ({"report": "x", "days": 1.5}, "days"),
               ({"report": "x", "days": "3"}, "days"), ({"report": "x", "stream": "yes"}, "stream")]
        for body, field in bad:
            st, h, j = jrequest(port, "POST", "/v1/guidance", body)
            check(st == 400 and error_field(j) == field and field in j["error"]["message"],
                  f"{body}: want 400 naming {field}, got {st} {j}")
        for raw, why in [(b'{"report": "x"', "truncated"), (b"not json", "garbage"), (b"", "empty"),
                         (b"[" * 5000 + b"]" * 5000, "deep nesting"), (b'["report"]', "array")]:
            st, h, j = jrequest(port, "POST", "/v1/guidance", raw=raw)
            check(st == 400 and j and j.get("error", {}).get("message"), f"{why} body: {st} {j}")
        # Any bytes get a plan: invalid UTF-8 and lone surrogate escapes become U+FFFD.
        for raw, why in [(b'{"report": "flood \xff\xfe in town"}', "invalid UTF-8"),
                         (b'{"report": "flood \\ud800 in town"}', "lone surrogate escape"),
                         (b'{"report": "flood \\udc00\\ud800 in town"}', "reversed surrogates")]:
            st, h, j = jrequest(port, "POST", "/v1/guidance", raw=raw)
            check(st == 200 and j["plan"]["hazards"] and "\ufffd" in j["plan"]["report"],
                  f"{why}: a plan with U+FFFD, got {st} {str(j)[:200]}")
        st, h, j = jrequest(port, "POST", "/v1/guidance", raw=b'{"report": "flood \\ud83c\\udf0a wave"}')
        check(st == 200 and "\U0001f30a" in j["plan"]["report"], f"a surrogate pair is kept: {st}")
        st, h, j = jrequest(port, "POST", "/v1/guidance", raw=b'{"report": ')
        check(st == 400 and "JSON" in j["error"]["message"], f"malformed JSON message: {j}")

        # 413 with Content-Length, and for a chunked body past the limit.
        big = json.dumps({"report": "a" * (70 << 10)}).encode()
        st, h, j = jrequest(port, "POST", "/v1/guidance", raw=big)
        check(st == 413 and j and "error" in j, f"70 KiB body: {st}")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/v1/guidance", body=iter([b'{"report": "', b"a" * 40000, b"a" * 40000, b'"}']),
                  headers={"Content-Type": "application/json"}, encode_chunked=True)
        r = c.getresponse()
        check(r.status == 413 and json.loads(r.read()).get("error"), f"chunked 80 KB body: {r.status}")
        c.close()

        # 404, 405 (with Allow), chat 503, models, keep-alive.
        st, h, j = jrequest(port, "GET", "/nope/" + "x" * 5000)
        check(st == 404 and j and "error" in j and len(j["error"]["message"]) < 400, f"404: {st}")
        for method, path, allow in [("GET", "/v1/guidance", "POST"), ("POST", "/healthz", "GET, HEAD"),
                                    ("DELETE", "/", "GET, HEAD"), ("PUT", "/v1/chat/completions", "POST")]:
            st, h, j = jrequest(port, method, path, {} if method in ("POST", "PUT") else None)
            check(st == 405 and h.get("allow") == allow and j and "error" in j, f"{method} {path}: {st} {h}")
        st, h, j = jrequest(port, "POST", "/v1/chat/completions",
                            {"model": "gpt-oss", "messages": [{"role": "user", "content": "hi"}]})
        check(st == 503 and j and "error" in j, f"chat without backend: {st} {j}")
        st, h, j = jrequest(port, "GET", "/v1/models")
        check(st == 200 and j == {"object": "list", "data": []}, f"models without backend: {j}")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(3):
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            check(r.status == 200 and r.getheader("Connection", "") != "close", "keep-alive healthz")
        c.close()

        # 100 concurrent connections, all open before any request is sent.
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(100)]
        for c in conns:
            c.connect()
        results = []
        gate = threading.Barrier(100)

        def one(c, i):
            gate.wait()
            try:
                if i % 2:
                    c.request("POST", "/v1/guidance", body=json.dumps({"report": f"flood {i}"}),
                              headers={"Content-Type": "application/json"})
                else:
                    c.request("GET", "/healthz")
                r = c.getresponse()
                b = r.read()
                results.append(r.status == 200 and json.loads(b) is not None)
            except Exception as e:  # noqa: BLE001 - any failure is a test failure
                results.append(False)
                print("concurrent request failed:", e, file=sys.stderr)
            finally:
                c.close()

        ts = [threading.Thread(target=one, args=(c, i)) for i, c in enumerate(conns)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check(len(results) == 100 and all(results), f"100 concurrent: {sum(results)} of 100 answered 200")

        # Metrics.
        st, h, b = request(port, "GET", "/metrics")
        m = b.decode()
        check(st == 200 and h.get("content-type", "").startswith("text/plain"), f"/metrics: {st}")
        for want in ['relief_http_requests_total{endpoint="guidance",code="200"}',
                     'relief_http_requests_total{endpoint="guidance",code="400"}',
                     'relief_http_requests_total{endpoint="guidance",code="413"}',
                     'relief_http_requests_total{endpoint="not_found",code="404"}',
                     'relief_http_requests_total{endpoint="chat_completions",code="503"}',
                     'relief_http_request_duration_seconds_bucket{endpoint="guidance",le="+Inf"}',
                     "relief_http_request_duration_seconds_count", "relief_model_tokens_per_second",
                     "relief_model_deadline_cuts_total", "relief_queue_depth 0", "relief_generations_in_flight 0",
                     "relief_plans_total", "# TYPE relief_http_requests_total counter"]:
            check(want in m, f"/metrics has {want}")
        for line in m.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    float(value)
                except ValueError:
                    check(False, f"/metrics line {line!r}")
        check(s.stop() == 0, "SIGTERM: clean exit 0")
    finally:
        s.stop()


def test_token():
    for how in ("flag", "env"):
        s = Server(*(["--token", "s3cret"] if how == "flag" else []),
                   env={"RELIEF_TOKEN": "s3cret"} if how == "env" else None)
        try:
            port = s.port
            check(jrequest(port, "GET", "/healthz")[0] == 200, f"{how}: /healthz is public")
            check(request(port, "GET", "/")[0] == 200, f"{how}: / is public")
            for path, method, body in [("/v1/guidance", "POST", {"report": "flood"}), ("/metrics", "GET", None),
                                       ("/v1/models", "GET", None),
                                       ("/v1/chat/completions", "POST", {"messages": []})]:
                st, h, j = jrequest(port, method, path, body)
                check(st == 401 and j and "error" in j and "bearer" in h.get("www-authenticate", "").lower(),
                      f"{how}: {path} without token: {st}")
                st, h, j = jrequest(port, method, path, body, headers={"Authorization": "Bearer wrong"})
                check(st == 401, f"{how}: {path} with a wrong token: {st}")
                st, h, j = jrequest(port, method, path, body, headers={"Authorization": "Bearer s3cret0"})
                check(st == 401, f"{how}: {path} with a longer token: {st}")
            st, h, j = jrequest(port, "POST", "/v1/guidance", {"report": "flood"},
                                headers={"Authorization": "Bearer s3cret"})
            check(st == 200 and "plan" in j, f"{how}: guidance with the token: {st}")
            st, h, b = request(port, "GET", "/metrics", headers={"Authorization": "bearer s3cret"})
            check(st == 200, f"{how}: metrics with the token: {st}")
        finally:
            s.stop()


def raw_http(port, data, timeout=5):
    """Sends raw bytes, returns (status, headers+body text)."""
    sk = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sk.sendall(data)
    out = b""
    try:
        while True:
            b = sk.recv(65536)
            if not b:
                break
            out += b
            if b"\r\n\r\n" in out and (b"Content-Length: 0" in out or out.endswith(b"}")):
                break
    except socket.timeout:
        pass
    sk.close()
    text = out.decode(errors="replace")
    try:
        return int(text.split(" ", 2)[1]), text
    except (IndexError, ValueError):
        return 0, text


def test_browser_safety():
    """What a web page in the user's browser can and cannot do to a local server."""
    s = Server("--allow-host", "relief.lan", "--cors", "https://ops.example.org")
    port = s.port
    body = b'{"report": "flood"}'

    def post(host, ctype="application/json", origin=None, extra=b""):
        h = b"POST /v1/guidance HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n"
        if ctype:
            h += b"Content-Type: " + ctype.encode() + b"\r\n"
        if origin:
            h += b"Origin: " + origin.encode() + b"\r\n"
        return raw_http(port, h + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    try:
        st, t = post(f"127.0.0.1:{port}")
        check(st == 200, f"own address: {st}")
        st, t = post(f"localhost:{port}")
        check(st == 200, f"localhost: {st}")
        st, t = post("relief.lan")
        check(st == 200, f"--allow-host name: {st}")
        # DNS rebinding: a page of attacker.com resolving to 127.0.0.1.
        st, t = post("attacker.com", "text/plain", "http://attacker.com")
        check(st == 403 and "host_not_allowed" in t, f"Host attacker.com refused: {st} {t[-200:]}")
        st, t = raw_http(port, b"GET /healthz HTTP/1.1\r\nHost: attacker.com\r\nConnection: close\r\n\r\n")
        check(st == 403, f"healthz with a foreign Host refused: {st}")
        st, t = raw_http(port, b"GET /metrics HTTP/1.1\r\nHost: rebind.attacker.com:80\r\nConnection: close\r\n\r\n")
        check(st == 403, f"metrics with a foreign Host refused: {st}")
        # A cross-site form or fetch without a preflight: text/plain, other origin.
        st, t = post(f"127.0.0.1:{port}", "text/plain", "http://attacker.com")
        check(st == 403 and "origin_not_allowed" in t, f"foreign Origin refused: {st}")
        st, t = post(f"127.0.0.1:{port}", "text/plain")
        check(st == 415, f"text/plain POST refused: {st}")
        st, t = raw_http(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                               b"Content-Type: text/plain\r\nOrigin: http://attacker.com\r\nContent-Length: 2\r\n\r\n{}")
        check(st == 403, f"chat from a foreign origin refused: {st}")
        # Same origin (the page this server serves) and a --cors origin are answered.
        st, t = post(f"127.0.0.1:{port}", origin=f"http://127.0.0.1:{port}")
        check(st == 200, f"same-origin page: {st}")
        st, t = post(f"127.0.0.1:{port}", origin="https://ops.example.org")
        check(st == 200 and "Access-Control-Allow-Origin: https://ops.example.org" in t, f"--cors origin: {st}")
        st, t = raw_http(port, b"OPTIONS /v1/guidance HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                               b"Origin: https://ops.example.org\r\nAccess-Control-Request-Method: POST\r\n\r\n")
        check(st == 204 and "Access-Control-Allow-Methods" in t, f"preflight of a --cors origin: {st}")
        st, t = raw_http(port, b"OPTIONS /v1/guidance HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                               b"Origin: http://attacker.com\r\nAccess-Control-Request-Method: POST\r\n\r\n")
        check(st == 403, f"preflight of another origin: {st}")
        # Request smuggling: two Content-Length, or Content-Length with Transfer-Encoding.
        st, t = post(f"127.0.0.1:{port}", extra=b"Content-Length: 5\r\n")
        check(st == 400, f"duplicate Content-Length: {st}")
        st, t = raw_http(port, b"POST /v1/guidance HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                               b"Content-Length: 19\r\nTransfer-Encoding: chunked\r\n\r\n13\r\n" + body + b"\r\n0\r\n\r\n")
        check(st == 400 and "Connection: close" in t, f"Content-Length with Transfer-Encoding: {st}")
        # healthz shows no file path.
        st, h, j = jrequest(port, "GET", "/healthz")
        check(st == 200 and "/" not in json.dumps(j), f"healthz without a path: {j}")
    finally:
        s.stop()


def test_fairness():
    """One address holding many connections cannot starve another (per-address limit)."""
    s = Server("--per-ip", "8")
    port = s.port
    hogs = []
    try:
        for _ in range(40):  # a slow client from 127.0.0.2 opens many connections and sends nothing
            try:
                sk = socket.socket()
                sk.bind(("127.0.0.2", 0))
                sk.settimeout(2)
                sk.connect(("127.0.0.1", port))
                sk.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                hogs.append(sk)
            except OSError:
                pass
        ok = 0
        for i in range(30):  # normal requests from 127.0.0.3
            c = socket.socket()
            c.bind(("127.0.0.3", 0))
            c.settimeout(5)
            try:
                c.connect(("127.0.0.1", port))
                c.sendall(b"POST /v1/guidance HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Connection: close\r\nContent-Length: 19\r\n\r\n{\"report\": \"flood\"}")
                data = b""
                while True:
                    b = c.recv(65536)
                    if not b:
                        break
                    data += b
                ok += data.startswith(b"HTTP/1.1 200")
            except OSError:
                pass
            c.close()
        check(ok == 30, f"another address served while one holds {len(hogs)} connections: {ok}/30")
    finally:
        for sk in hogs:
            sk.close()
        s.stop()


def test_broken_model():
    """A model path that is a FIFO (nothing ever writes it): the server starts,
    serves plans, says the model failed, and stops on SIGTERM within a second."""
    d = tempfile.mkdtemp(prefix="relief-fifo-")
    fifo = os.path.join(d, "m.gguf")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    s = Server("--model", fifo, wait=10)
    try:
        check(time.monotonic() - t0 < 5, f"server with a FIFO model started in {time.monotonic() - t0:.1f} s")
        st, h, j = jrequest(s.port, "POST", "/v1/guidance", {"report": "flood in the valley, 300 people"})
        check(st == 200 and j["plan"]["brief"], f"FIFO model: a plan: {st}")
        st, h, j = jrequest(s.port, "GET", "/healthz")
        check(j.get("model_state") == "failed", f"FIFO model: healthz says failed: {j}")
        st, h, j = jrequest(s.port, "GET", "/health")
        check(st == 200, f"/health answers: {st}")
        t1 = time.monotonic()
        rc = s.stop()
        took = time.monotonic() - t1
        check(rc == 0 and took < 1.0, f"SIGTERM: exit {rc} after {took:.2f} s")
        check("not a regular file" in s.stderr(), "the log names why the model failed")
    finally:
        s.stop(signal.SIGKILL)
        os.unlink(fifo)
        os.rmdir(d)


def test_midnight():
    """The cached prompt prefix holds nothing that changes with the clock:
    requests on both sides of a UTC midnight use it (libfaketime moves the
    wall clock; the monotonic clock, which deadlines use, stays real)."""
    if not shutil.which("faketime"):
        check(False, "faketime is not installed (Debian package faketime; scripts/deps.sh test)")
        return
    cache = tempfile.mkdtemp(prefix="relief-midnight-")
    # NO_FAKE_STAT: file times stay real, so the model file's identity in the
    # cache header is the one the CLI (not under faketime) wrote.
    env = dict(os.environ, FAKETIME_DONT_FAKE_MONOTONIC="1", TZ="UTC", NO_FAKE_STAT="1")
    # Under AddressSanitizer libfaketime is preloaded ahead of the ASan runtime: allow it.
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
    log = tempfile.TemporaryFile()
    # Its own process group: faketime runs relief as a child, and both must go.
    # The CLI computes the flood prefix into the cache (whole: it waits);
    # then a server with --no-warm must find it on both sides of midnight.
    r = subprocess.run([relief, "--model", TINY, "--cache-dir", cache, "--deadline", "1", "flood in the valley"],
                       capture_output=True, timeout=300)
    check(r.returncode == 0 and os.listdir(cache), f"the CLI wrote the prefix cache: exit {r.returncode}")
    p = subprocess.Popen(["faketime", "-f", "@2026-01-01 23:59:56", relief, "serve", "--port", "0", "--model", TINY,
                          "--deadline", "1", "--max-tokens", "4", "--cache-dir", cache, "--no-warm"],
                         stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
    started = time.monotonic()
    try:
        line = p.stdout.readline().decode()
        if not line.startswith("relief serve: listening on http://"):
            log.seek(0)
            check(False, f"server under faketime did not start: {line!r} {log.read()[-300:]!r}")
            return
        port = int(line.rsplit(":", 1)[1])
        end = time.monotonic() + 60
        while time.monotonic() < end:
            st, h, j = jrequest(port, "GET", "/healthz")
            if j.get("model_state") in ("ready", "failed"):
                break
            time.sleep(0.05)
        check(j.get("prefixes", {}).get("state") == "off", f"--no-warm: healthz says {j.get('prefixes')}")
        cached = []
        for wake in (None, 5.0):  # before midnight, then after it
            if wake:
                time.sleep(max(0.0, wake - (time.monotonic() - started)))
            st, h, j = jrequest(port, "POST", "/v1/guidance", {"report": "flood in the valley", "deadline": 1})
            cached.append(st == 200 and j["timings"]["prefix_cached"])
            if len(cached) == 1 and time.monotonic() - started > 3.9:
                check(False, "the first request ended past the fake midnight: the test proves nothing")
        check(cached == [True, True], f"prefix cached before and after midnight: {cached}")
        # No thread spins when the clock is faked: an idle second costs next to no CPU.
        def cpu_seconds():
            total = 0.0
            for pid in subprocess.run(["pgrep", "-g", str(p.pid)], capture_output=True, text=True).stdout.split():
                try:
                    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                    total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
                except (OSError, IndexError, ValueError):
                    pass
            return total
        c0 = cpu_seconds()
        time.sleep(1.0)
        used = cpu_seconds() - c0
        check(used < 0.3, f"idle server under a faked clock used {used:.2f} s of CPU in 1 s")
    except (ValueError, OSError, KeyError) as e:
        check(False, f"midnight test: {e}")
    finally:
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
            check(time.monotonic() - t0 < 5, f"SIGTERM under a faked clock: stopped in {time.monotonic() - t0:.1f} s")
        except subprocess.TimeoutExpired:
            check(False, "SIGTERM under a faked clock: still running after 10 s")
        os.killpg(p.pid, signal.SIGKILL) if p.poll() is None else None
        shutil.rmtree(cache, ignore_errors=True)


def test_slow_clients():
    s = Server("--read-timeout", "2")
    port = s.port
    out = {}

    def trickle(key, head, body=b""):
        sk = socket.create_connection(("127.0.0.1", port))
        sk.sendall(head)
        t0 = time.monotonic()
        sent = 0
        try:
            for ch in body:
                sk.sendall(bytes([ch]))
                sent += 1
                r, _, _ = select.select([sk], [], [], 1.0)
                if r and sk.recv(4096) == b"":
                    break
            else:
                pass
        except OSError:
            pass
        out[key] = (time.monotonic() - t0, sent, len(body))
        sk.close()

    try:
        req = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slowloris\r\nAccept: */*\r\n\r\n"
        body = json.dumps({"report": "flood " * 10}).encode()
        head = (b"POST /v1/guidance HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        ts = [threading.Thread(target=trickle, args=("headers", b"", req)),
              threading.Thread(target=trickle, args=("body", head, body))]
        for t in ts:
            t.start()
        # Meanwhile an ordinary client is served at once.
        st, h, j = jrequest(port, "POST", "/v1/guidance", {"report": "flood"})
        check(st == 200, f"normal client beside slow ones: {st}")
        for t in ts:
            t.join()
        for key in ("headers", "body"):
            took, sent, total = out.get(key, (99, 0, 1))
            check(sent < total and (took < 6 or NO_TIMING),
                  f"slow {key}: dropped after {took:.1f} s, {sent} of {total} bytes")
            print(f"slow client ({key}): dropped after {took:.1f} s, {sent} of {total} bytes sent")
        st, h, b = request(port, "GET", "/metrics")
        check("relief_slow_clients_dropped_total 2" in b.decode(), "metrics count the slow clients")
    finally:
        check(s.stop() == 0, "slow-client server exits 0")


# ---------------------------------------------------------------- part 2

def chat_body(stream=False, **kw):
    b = {"model": "gpt-oss", "messages": [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
         "stream": stream, "max_tokens": 16, "temperature": 0.7}
    b.update(kw)
    return b


def model_tokens_total(port):
    st, h, b = request(port, "GET", "/metrics")
    for line in b.decode().splitlines():
        if line.startswith("relief_model_tokens_total "):
            return int(line.split()[1])
    return -1


def check_usage(u, label):
    """usage: the prompt's tokens (> 0), the tokens generated (at most chat_body's max_tokens), their sum."""
    ok = (isinstance(u.get("prompt_tokens"), int) and u["prompt_tokens"] > 0
          and isinstance(u.get("completion_tokens"), int) and 0 <= u["completion_tokens"] <= 16
          and u.get("total_tokens") == u["prompt_tokens"] + u["completion_tokens"])
    check(ok, f"{label} usage {u}")


def check_sampling(port, label):
    """temperature, top_p, seed and stop are used (not only validated)."""
    def answer(**kw):
        st, h, j = jrequest(port, "POST", "/v1/chat/completions", chat_body(**kw))
        ok = st == 200 and j and j.get("choices")
        check(ok, f"{label} chat {kw}: {st} {j}")
        return (j["choices"][0]["message"]["content"], j["choices"][0]["finish_reason"]) if ok else ("", None)
    # The same seed, the same answer, at temperature 1; greedy is greedy.
    a1, _ = answer(temperature=1, top_p=0.9, seed=42)
    a2, _ = answer(temperature=1, top_p=0.9, seed=42)
    check(a1 == a2, f"{label} seed 42 twice: {a1!r} vs {a2!r}")
    g1, f1 = answer(temperature=0)
    g2, _ = answer(temperature=0, seed=7)
    check(g1 == g2 and len(g1) >= 2, f"{label} greedy answers equal whatever the seed: {g1!r} vs {g2!r}")
    # A stop sequence taken from the middle of the greedy answer ends it
    # before its first occurrence, as a complete answer.
    stop = g1[len(g1) // 2:len(g1) // 2 + 2]
    want = g1[:g1.find(stop)]
    got, finish = answer(temperature=0, stop=[stop, "never-in-the-text"])
    check(got == want and finish == "stop", f"{label} stop {stop!r}: {got!r} ({finish}), wanted {want!r}")
    got, finish = answer(temperature=0, stop="never-in-the-text")
    check(got == g1 and finish == f1, f"{label} a stop that never comes changes nothing: {got!r} vs {g1!r}")
    for field, value in [("top_p", 0), ("top_p", 1.5), ("seed", "x"), ("seed", 1.5), ("stop", ""),
                         ("stop", ["a", "b", "c", "d", "e"]), ("stop", [""]), ("stop", 3)]:
        st, h, j = jrequest(port, "POST", "/v1/chat/completions", chat_body(**{field: value}))
        check(st == 400 and error_field(j) == field, f"{label} bad {field} {value!r}: {st} {j}")


def check_chat(port, label):
    """Returns the usage of a plain chat_body() answer (for comparing servers)."""
    # Conventions clients expect: models with a creation time, one model by id,
    # unsupported fields refused by name.
    st, h, j = jrequest(port, "GET", "/v1/models")
    check(st == 200 and j["data"] and j["data"][0]["created"] > 1.6e9, f"{label} models created: {j}")
    mid = j["data"][0]["id"] if st == 200 and j["data"] else "x"
    st, h, j1 = jrequest(port, "GET", "/v1/models/" + mid)
    check(st == 200 and j1.get("id") == mid, f"{label} /v1/models/{{id}}: {st} {j1}")
    st, h, j1 = jrequest(port, "GET", "/v1/models/no-such-model")
    check(st == 404, f"{label} unknown model id: {st}")
    for field, value in [("tools", [{"type": "function", "function": {"name": "f"}}]),
                         ("response_format", {"type": "json_schema"}), ("logprobs", True)]:
        body = chat_body()
        body[field] = value
        st, h, j1 = jrequest(port, "POST", "/v1/chat/completions", body)
        check(st == 400 and error_field(j1) == field, f"{label} unsupported {field}: {st} {j1}")
    body = chat_body()
    body["response_format"] = {"type": "text"}
    st, h, j1 = jrequest(port, "POST", "/v1/chat/completions", body)
    check(st == 200, f"{label} response_format text accepted: {st}")
    tokens_before = model_tokens_total(port)
    st, h, j = jrequest(port, "POST", "/v1/chat/completions", chat_body())
    tokens_after = model_tokens_total(port)
    usage = {}
    ok = check(st == 200 and j and j.get("object") == "chat.completion", f"{label} chat: {st} {j}")
    if ok:
        ch = j["choices"][0]
        check(j["id"].startswith("chatcmpl-") and isinstance(j["created"], int) and j["model"], f"{label} chat ids")
        check(ch["message"]["role"] == "assistant" and isinstance(ch["message"]["content"], str),
              f"{label} chat message")
        check(ch["finish_reason"] in ("stop", "length"), f"{label} finish_reason {ch['finish_reason']}")
        usage = j.get("usage", {})
        check_usage(usage, label)
        # The tokens the server counted as generated (/metrics) are the answer's.
        check(tokens_after - tokens_before == usage.get("completion_tokens"),
              f"{label} completion_tokens {usage.get('completion_tokens')} = metrics' "
              f"{tokens_after - tokens_before}")
    st, ev = sse(port, "/v1/chat/completions", chat_body(True, stream_options={"include_usage": True}))
    datas = [e[1] for e in ev]
    ok = check(st == 200 and datas and datas[-1] == "[DONE]", f"{label} chat stream ends with [DONE]: {st}")
    if ok:
        chunks = [json.loads(d) for d in datas[:-1]]
        check(all(c["object"] == "chat.completion.chunk" for c in chunks), f"{label} chunk objects")
        with_choices = [c for c in chunks if c["choices"]]
        check(with_choices[0]["choices"][0]["delta"].get("role") == "assistant", f"{label} first delta role")
        check(all("content" in c["choices"][0]["delta"] for c in with_choices[:-1]), f"{label} content deltas")
        check(with_choices[-1]["choices"][0]["finish_reason"] in ("stop", "length"), f"{label} final chunk")
        uc = [c for c in chunks if "usage" in c and not c["choices"]]
        if check(len(uc) == 1 and chunks[-1] is uc[0], f"{label} one usage chunk, last"):
            check_usage(uc[0]["usage"], label + " stream")
            # The same messages make the same prompt.
            check(uc[0]["usage"]["prompt_tokens"] == usage.get("prompt_tokens"),
                  f"{label} streamed prompt_tokens {uc[0]['usage']} = {usage}")
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in with_choices)
        check(isinstance(text, str), f"{label} streamed text")
    st, h, j = jrequest(port, "POST", "/v1/chat/completions", {"messages": [{"role": "robot", "content": "x"}]})
    check(st == 400 and error_field(j) == "messages[0].role", f"{label} bad role: {st} {j}")
    st, h, j = jrequest(port, "POST", "/v1/chat/completions", chat_body(max_tokens=0))
    check(st == 400 and error_field(j) == "max_tokens", f"{label} bad max_tokens: {st} {j}")
    return usage


def test_model():
    if not os.path.exists(TINY):
        check(False, "model tests need " + TINY + " (tests/data in the repository)")
        return
    cache = tempfile.mkdtemp(prefix="relief-serve-cache-")
    # --max-tokens past what 0.5 s allows, so that answers are cut at the deadline.
    s = Server("--model", TINY, "--deadline", "0.5", "--budget", "0.5", "--max-tokens", "4000", "--cache-dir", cache,
               wait=300)
    port = s.port
    try:
        st, h, j = jrequest(port, "GET", "/v1/models")
        check(st == 200 and j["object"] == "list" and j["data"] and j["data"][0]["id"] == "tiny-q"
              and j["data"][0]["object"] == "model", f"models: {j}")
        # The background warm-up computes every single hazard's prefix; after
        # it, a one-hazard report's first request finds its prefix ready.
        end = time.monotonic() + 120
        while time.monotonic() < end:
            st, h, j = jrequest(port, "GET", "/healthz")
            if j.get("prefixes", {}).get("state") != "running":
                break
            time.sleep(0.05)
        check(j.get("prefixes") == {"state": "done", "ready": 22, "of": 22, "wanted": 0},
              f"warm-up: healthz {j.get('prefixes')}")
        st, h, j = jrequest(port, "POST", "/v1/guidance", {"report": "warm-up: flood"})
        check(st == 200 and j["timings"]["prefix_cached"], f"first flood report after the warm-up: {j.get('timings')}")
        builtin_usage = check_chat(port, "builtin")
        check_sampling(port, "builtin")

        t0 = time.monotonic()
        st, h, j = jrequest(port, "POST", "/v1/guidance", {"report": REPORT})
        took = time.monotonic() - t0
        check(st == 200 and j["model"]["backend"].startswith("builtin:"), f"model guidance: {st}")
        check_time(took <= 0.6, f"guidance answered within deadline + 100 ms: {took * 1e3:.0f} ms")
        check(isinstance(j["model"]["text"], str) and j["timings"]["tokens"] >= 0, f"model part {j['model']}")
        check(j["model"]["cut"] or j["model"]["complete"] or j["model"]["error"], f"model part says how it ended")
        print("model guidance (not streamed):", {k: v for k, v in j["model"].items() if k != "text"},
              f"{j['timings']['tokens']} tokens in {took * 1e3:.0f} ms")

        best = 1e9
        for _ in range(3):
            t0 = time.monotonic()
            st, ev = sse(port, "/v1/guidance", {"report": REPORT, "stream": True})
            took = time.monotonic() - t0
            names = [e[0] for e in ev]
            check(st == 200 and names[0] == "plan" and names[-1] == "done", f"model stream events {names[:3]}...")
            check_time(took <= 0.6, f"streamed guidance within deadline + 100 ms: {took * 1e3:.0f} ms")
            if names and names[0] == "plan":
                best = min(best, ev[0][2])
            for n, d, _ in ev:
                if n == "token":
                    check(isinstance(json.loads(d).get("text"), str), "token event carries text")
        check_time(best <= 0.010, f"plan event within 10 ms of the request: {best * 1e3:.1f} ms")
        print(f"model guidance: whole answer {took * 1e3:.0f} ms, plan event after {best * 1e3:.2f} ms")

        # A full queue: chat beyond it gets 429 with Retry-After, guidance still gets its plan.
        res = []

        def chat_one():
            res.append(jrequest(port, "POST", "/v1/chat/completions", chat_body(max_tokens=400)))

        ts = [threading.Thread(target=chat_one) for _ in range(14)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        codes = sorted(r[0] for r in res)
        check(200 in codes and 429 in codes, f"queue: codes {codes}")
        print("14 concurrent chats:", codes)
        check(all(r[1].get("retry-after") for r in res if r[0] == 429), "429 carries Retry-After")
        check(all(r[2] and "error" in r[2] for r in res if r[0] == 429), "429 is a JSON error")
        gres = []

        def guide_one():
            gres.append(jrequest(port, "POST", "/v1/guidance", {"report": "flood in the valley"}))

        ts = [threading.Thread(target=guide_one) for _ in range(14)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check(all(r[0] == 200 and r[2]["plan"]["steps"] for r in gres), "every guidance beyond the queue gets a plan")
        check(any(r[2]["model"]["error"] == "busy" for r in gres), "guidance beyond the queue: model busy")
        st, h, b = request(port, "GET", "/metrics")
        m = b.decode()
        check("relief_model_busy_total 0" not in m and "relief_model_generations_total 0" not in m,
              "metrics count generations and busy answers")

        # A client that goes away mid-stream frees its slot; the server carries on.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/v1/guidance", body=json.dumps({"report": REPORT, "stream": True, "deadline": 3}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        first = r.readline()
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        check(first.startswith(b"event: plan"), f"stream starts with the plan: {first[:40]!r}")
        t0 = time.monotonic()
        st, h, j = jrequest(port, "POST", "/v1/chat/completions", chat_body(deadline=5))
        check(st == 200, f"chat after a client left mid-stream: {st}")
        check_time(time.monotonic() - t0 < 2.5, "the departed client's generation stopped early")
        # The departed client's request ends on its own thread: allow it a moment.
        end = time.monotonic() + 3
        while True:
            st, h, b = request(port, "GET", "/metrics")
            idle = "relief_requests_in_progress 1\n" in b.decode() and "relief_generations_in_flight 0" in b.decode()
            if idle or time.monotonic() > end:
                break
            time.sleep(0.05)
        check(idle, "nothing left in progress but the metrics request")

        # A second relief using the first as its remote backend.
        s2 = Server("--backend", f"http://127.0.0.1:{port}", "--deadline", "3")
        try:
            st, h, j = jrequest(s2.port, "POST", "/v1/guidance", {"report": REPORT})
            check(st == 200 and j["model"]["backend"].startswith("remote:") and j["plan"]["steps"],
                  f"remote guidance: {st} {j and j.get('model')}")
            check(j["model"]["error"] is None or "deadline" in str(j["model"]["error"]),
                  f"remote guidance model error: {j['model']['error']}")
            print("remote guidance model part:", {k: v for k, v in j["model"].items() if k != "text"})
            remote_usage = check_chat(s2.port, "remote")
            check_sampling(s2.port, "remote")
            # The remote server's counts pass through: the same messages make the same prompt there.
            check(remote_usage.get("prompt_tokens") == builtin_usage.get("prompt_tokens"),
                  f"remote prompt_tokens {remote_usage} = builtin {builtin_usage}")
        finally:
            check(s2.stop() == 0, "remote server exits 0")
        # SIGTERM with a stream in flight: it finishes (done event), then the server exits 0.
        got = {}

        def streaming():
            got["r"] = sse(port, "/v1/guidance", {"report": REPORT, "stream": True, "deadline": 1.5})

        t = threading.Thread(target=streaming)
        t.start()
        time.sleep(0.3)
        s.p.send_signal(signal.SIGTERM)
        t.join()
        st, ev = got.get("r", (0, []))
        check(st == 200 and ev and ev[-1][0] == "done", f"stream in flight at shutdown ends with done: {st}")
        try:
            rc = s.p.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"graceful shutdown with a stream in flight: exit {rc}")
    finally:
        check(s.stop() == 0, "model server exits 0 on SIGTERM")
        shutil.rmtree(cache, ignore_errors=True)


def test_wanted_prefix():
    """A JSON request whose hard deadline cut its prompt prefix short asks
    for it: the server computes it in the background, and the next report
    of the same hazards finds it."""
    if not os.path.exists(TINY):
        check(False, "model tests need " + TINY)
        return
    cache = tempfile.mkdtemp(prefix="relief-serve-wanted-")
    s = Server("--model", TINY, "--deadline", "0.001", "--max-tokens", "4", "--cache-dir", cache, "--no-warm",
               wait=300)
    two = "Earthquake: the school collapsed and a fire broke out in the ruins, 40 children inside"
    try:
        st, h, j = jrequest(s.port, "POST", "/v1/guidance", {"report": two})
        hz = [x["id"] for x in j["plan"]["hazards"] if not x.get("secondary")] if st == 200 else []
        check(st == 200 and len(hz) >= 2 and not j["timings"]["prefix_cached"],
              f"a two-hazard report under a 1 ms deadline: {hz} {j and j.get('timings')}")
        end = time.monotonic() + 120
        while time.monotonic() < end:
            st, h, p = jrequest(s.port, "GET", "/healthz")
            pf = p.get("prefixes", {})
            if pf.get("wanted") == 0 and pf.get("state") != "running":
                break
            time.sleep(0.05)
        check(pf.get("wanted") == 0 and pf.get("state") == "done", f"the wanted prefix was computed: {pf}")
        st, h, j = jrequest(s.port, "POST", "/v1/guidance", {"report": two + ", more trapped"})
        check(st == 200 and j["timings"]["prefix_cached"], f"the next report of those hazards: {j and j.get('timings')}")
    finally:
        check(s.stop() == 0, "wanted-prefix server exits 0")
        shutil.rmtree(cache, ignore_errors=True)


def test_budget():
    """Streams run for --budget, whole answers stop at --deadline; a stream
    shows the prompt being read ("progress" events) before its first token."""
    if not os.path.exists(TINY):
        check(False, "model tests need " + TINY)
        return
    cache = tempfile.mkdtemp(prefix="relief-serve-budget-")
    # A deadline nothing can meet, a budget everything can.
    s = Server("--model", TINY, "--deadline", "0.001", "--budget", "60", "--max-tokens", "64", "--cache-dir", cache,
               "--no-warm", wait=300)
    try:
        st, h, j = jrequest(s.port, "POST", "/v1/guidance", {"report": REPORT})
        check(st == 200 and not j["model"]["complete"], f"JSON answer: the 1 ms deadline holds: {j.get('model')}")
        st, ev = sse(s.port, "/v1/guidance", {"report": REPORT, "stream": True})
        names = [e[0] for e in ev]
        done = json.loads(ev[-1][1]) if ev and names[-1] == "done" else {}
        check(st == 200 and names[0] == "plan" and "token" in names and done.get("model", {}).get("cut") is False,
              f"stream: runs past the deadline within the budget: {names[:4]}... {done.get('model')}")
        progress = [json.loads(d)["reading"] for n, d, _ in ev if n == "progress"]
        check(len(progress) >= 2 and progress == sorted(progress) and progress[-1] == 1.0 and 0 < progress[0],
              f"stream: progress while the prompt is read: {progress[:3]}...{progress[-2:]}")
        if "progress" in names and "token" in names:
            check(names.index("progress") < names.index("token") and
                  max(i for i, n in enumerate(names) if n == "progress") < names.index("token"),
                  "every progress event comes before the first token")
        # A deadline in the body wins over the budget.
        st, ev = sse(s.port, "/v1/guidance", {"report": REPORT, "stream": True, "deadline": 0.001})
        done = json.loads(ev[-1][1]) if ev and ev[-1][0] == "done" else {}
        check(st == 200 and done.get("model", {}).get("complete") is False, f"stream with deadline 1 ms: {done}")
        # OpenAI chat streams take the budget too; plain chat the deadline.
        st, ev = sse(s.port, "/v1/chat/completions", {"messages": [{"role": "user", "content": "Say hello."}],
                                                      "stream": True, "max_tokens": 16})
        finish = [json.loads(d)["choices"][0].get("finish_reason") for n, d, _ in ev
                  if d.startswith("{") and json.loads(d).get("choices")]
        check(st == 200 and ("length" in finish or "stop" in finish), f"chat stream within the budget: {finish}")
    finally:
        check(s.stop() == 0, "budget server exits 0")
        shutil.rmtree(cache, ignore_errors=True)


test_plan_only()
test_token()
test_slow_clients()
test_browser_safety()
test_fairness()
test_broken_model()
test_midnight()
test_wanted_prefix()
test_budget()
test_model()
print(f"{checks - fails} of {checks} serve checks passed")
sys.exit(1 if fails else 0)
