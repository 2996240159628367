#!/usr/bin/env python3
"""test_stream_cli.py - the CLI's model text on a terminal and off it.

On a terminal (a pseudo-terminal here) the model's text streams for the
budget (--budget, default 90 s), not the 5 s deadline; Ctrl-C ends the model
and not relief; a "reading the report" line shows while the built-in engine
reads its prompt. Off a terminal (a pipe) the deadline stays hard.

The slow model is tests/mock_openai.py's "slow" scenario: one piece every
300 ms, 20 pieces (6 s), "p0 " to "p19 ".

usage: test_stream_cli.py RELIEF_BINARY MOCK_OPENAI.py TINY_MODEL.gguf
"""
import json
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import time

relief, mock, tiny = sys.argv[1:4]
fails = checks = 0


def check(ok, what):
    global fails, checks
    checks += 1
    if not ok:
        fails += 1
        print("FAIL:", what, file=sys.stderr)


def on_tty(args, interrupt_after=None, limit=30):
    """Runs relief with stdin, stdout and stderr on a pseudo-terminal; sends
    SIGINT once interrupt_after (bytes) has appeared. Returns (exit status,
    everything the terminal showed, seconds from SIGINT to exit or None)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([relief] + args, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen, sent_at, end = b"", None, time.monotonic() + limit
    while time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.05)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side closed: relief is done
                break
            if not chunk:
                break
            seen += chunk
        if interrupt_after and sent_at is None and interrupt_after in seen:
            p.send_signal(signal.SIGINT)
            sent_at = time.monotonic()
        if p.poll() is not None and not r:
            break
    rc = p.wait(timeout=max(1, end - time.monotonic()))
    took = time.monotonic() - sent_at if sent_at else None
    os.close(master)
    return rc, seen.decode("utf-8", "replace"), took


srv = subprocess.Popen([sys.executable, mock], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
try:
    port = int(srv.stdout.readline())
    slow = ["--backend", f"http://127.0.0.1:{port}/slow"]
    report = "flood in the valley, 300 people, water rising"

    # A terminal: past the 5 s deadline to the end of the answer.
    t0 = time.monotonic()
    rc, out, _ = on_tty(slow + [report])
    took = time.monotonic() - t0
    check(rc == 0 and "p19" in out and "model complete" in out,
          f"terminal: the whole slow answer (6 s) streamed: exit {rc}, {took:.1f} s, tail {out[-300:]!r}")
    check("DO NOW" in out and out.index("DO NOW") < out.find("p0 "), "terminal: the plan came first")

    # A pipe: the deadline is hard.
    t0 = time.monotonic()
    r = subprocess.run([relief] + slow + ["--deadline", "1", report], capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    check(r.returncode == 0 and "p19" not in r.stdout and "cut at the deadline" in r.stdout and took < 3,
          f"pipe: cut at the 1 s deadline: exit {r.returncode}, {took:.1f} s, tail {r.stdout[-200:]!r}")
    # ... and a budget does not apply there (the default 5 s deadline does).
    t0 = time.monotonic()
    r = subprocess.run([relief] + slow + ["--budget", "60", report], capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    check(r.returncode == 0 and "cut at the deadline" in r.stdout and "p19" not in r.stdout and took < 7,
          f"pipe: --budget ignored, default deadline 5 s: exit {r.returncode}, {took:.1f} s")

    # A terminal with a short budget: cut at the budget, and said so.
    rc, out, _ = on_tty(slow + ["--budget", "1", report])
    check(rc == 0 and "cut at the budget" in out and "p19" not in out,
          f"terminal --budget 1: exit {rc}, tail {out[-200:]!r}")
    # An explicit --deadline wins on a terminal too.
    rc, out, _ = on_tty(slow + ["--deadline", "1", report])
    check(rc == 0 and "cut at the deadline" in out, f"terminal --deadline 1: exit {rc}, tail {out[-200:]!r}")

    # Ctrl-C ends the model's text, not relief: the footer says so at once.
    rc, out, took = on_tty(slow + [report], interrupt_after=b"p2 ")
    check(rc == 0 and "stopped by Ctrl-C" in out and "p19" not in out,
          f"Ctrl-C: exit {rc}, tail {out[-200:]!r}")
    check(took is not None and took < 1.0, f"Ctrl-C: relief ended {took} s after the signal")

    # Bad values are refused.
    for bad in ("0", "-1", "x", "4000"):
        r = subprocess.run([relief, "--budget", bad, report], capture_output=True, text=True)
        check(r.returncode == 2 and "--budget" in r.stderr, f"--budget {bad}: exit {r.returncode}")
finally:
    srv.stdin.close()
    srv.wait(timeout=10)

# The built-in engine shows how far it has read, then erases the line.
with tempfile.TemporaryDirectory() as cache:
    rc, out, _ = on_tty(["--model", tiny, "--cache-dir", cache, report])
    check(rc == 0 and "The model is reading the report… " in out and "100 %" in out,
          f"reading progress on the terminal: exit {rc}, {out[-300:]!r}")
    check("\r\x1b[K" in out, "the progress line is erased before the model's text")
    r = subprocess.run([relief, "--model", tiny, "--cache-dir", cache, report], capture_output=True, text=True)
    check(r.returncode == 0 and "reading the report" not in r.stdout + r.stderr,
          "no progress line off a terminal")
    # --format json: the plan, then one line with the model part, written
    # by the same function as the server's guidance answer.
    r = subprocess.run([relief, "--model", tiny, "--cache-dir", cache, "--format", "json", report],
                       capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    try:
        plan, last = json.loads(r.stdout[:r.stdout.rindex("\n{")]), json.loads(lines[-1])
    except ValueError as e:
        plan, last = None, {}
        check(False, f"--format json with a model: output does not parse: {e}: {r.stdout[-300:]!r}")
    m, t = last.get("model", {}), last.get("timings", {})
    check(r.returncode == 0 and plan and plan.get("steps") and m.get("backend", "").startswith("builtin:"),
          f"--format json with a model: plan and model part: exit {r.returncode}, {lines[-1][:200]!r}")
    check(isinstance(m.get("text"), str) and isinstance(m.get("complete"), bool) and "error" in m,
          f"model part has text, complete, error: {sorted(m)}")
    check(all(k in t for k in ("plan_ms", "ttft_ms", "model_ms", "total_ms", "tokens", "prompt_tokens",
                                "tokens_per_s", "prefix_cached")) and t["prefix_cached"] is True,
          f"timings as the server writes them, prefix cached by the runs before: {t}")

print(f"test_stream_cli: {checks} checks, {fails} failed")
sys.exit(1 if fails else 0)
