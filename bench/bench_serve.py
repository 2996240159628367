#!/usr/bin/env python3
"""Service latency benchmark (issue 5): starts `relief serve` with a model and a
deadline, sends streamed guidance requests, and prints for each the time to the
plan event, to the first model token and to the end, against the deadline.

usage: bench_serve.py RELIEF MODEL.gguf [DEADLINE_S] [REQUESTS]
(e.g. the synthetic 20b file: build/relief-mkmodel --preset 20b FILE)
"""
import http.client, json, os, statistics, subprocess, sys, tempfile, time

relief, model = sys.argv[1], sys.argv[2]
deadline = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
n = int(sys.argv[4]) if len(sys.argv) > 4 else 5
cache = tempfile.mkdtemp(prefix="relief-bench-cache-")
srv = subprocess.Popen([relief, "serve", "--port", "0", "--model", model, "--deadline", str(deadline),
                        "--cache-dir", cache], stdout=subprocess.PIPE, text=True)
line = srv.stdout.readline()
port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
report = ("River rising in Riverside, about 3,000 residents. The levee may fail within 2 hours. "
          "Nursing home on Elm St with 40 elderly residents, power is out on the east side.")
plans, firsts, totals = [], [], []
try:
    for i in range(n + 1):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"report": report, "stream": True})
        t0 = time.monotonic()
        conn.request("POST", "/v1/guidance", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        plan_at = first_at = None
        event = None
        for raw in resp:
            l = raw.decode("utf-8", "replace").rstrip("\r\n")
            if l.startswith("event:"):
                event = l[6:].strip()
            elif l.startswith("data:") and event:
                now = time.monotonic() - t0
                if event == "plan" and plan_at is None:
                    plan_at = now
                elif event == "token" and first_at is None:
                    first_at = now
                elif event == "done":
                    break
        total = time.monotonic() - t0
        conn.close()
        tag = "warm-up" if i == 0 else f"request {i}"
        print(f"{tag}: plan {plan_at * 1e3:.1f} ms, first model text "
              f"{'-' if first_at is None else f'{first_at * 1e3:.0f} ms'}, total {total * 1e3:.0f} ms "
              f"(deadline {deadline * 1e3:.0f} ms)")
        if i:
            plans.append(plan_at * 1e3)
            totals.append(total * 1e3)
finally:
    srv.terminate()
    srv.wait()
print(f"plan: median {statistics.median(plans):.1f} ms, max {max(plans):.1f} ms (bound 10 ms)")
print(f"total: median {statistics.median(totals):.0f} ms, max {max(totals):.0f} ms "
      f"(bound deadline + 100 = {deadline * 1e3 + 100:.0f} ms)")
