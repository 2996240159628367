#!/usr/bin/env python3
"""Connection fairness of `relief serve`: one address (127.0.0.2) keeps up to
SLOW connections open that send a request line and then nothing, reconnecting
whenever the server drops one; meanwhile another address (127.0.0.3) sends
NORMAL guidance requests one after another. Prints the share of the normal
requests answered 200 within the deadline + 100 ms, and their latencies.

usage: bench/bench_serve_fairness.py RELIEF_BINARY [SLOW=600] [NORMAL=200]
"""
import socket
import subprocess
import sys
import threading
import time

relief = sys.argv[1]
n_slow = int(sys.argv[2]) if len(sys.argv) > 2 else 600
n_normal = int(sys.argv[3]) if len(sys.argv) > 3 else 200
deadline = 5.0

p = subprocess.Popen([relief, "serve", "--port", "0", "--deadline", str(deadline)], stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
line = p.stdout.readline().decode()
port = int(line.rsplit(":", 1)[1])
stop = threading.Event()
opened = [0]


def hog():
    socks = []
    while not stop.is_set():
        while len(socks) < n_slow and not stop.is_set():
            try:
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                s.settimeout(1)
                s.connect(("127.0.0.1", port))
                s.sendall(b"POST /v1/guidance HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                socks.append(s)
                opened[0] += 1
            except OSError:
                break
        # Reconnect whatever the server closed.
        alive = []
        for s in socks:
            try:
                s.setblocking(False)
                if s.recv(1) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            alive.append(s)
        socks = alive
        time.sleep(0.05)
    for s in socks:
        s.close()


t = threading.Thread(target=hog)
t.start()
time.sleep(1.0)
body = b'{"report": "flood in the valley, 300 people"}'
req = (b"POST /v1/guidance HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
       b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
lat, ok = [], 0
for _ in range(n_normal):
    t0 = time.monotonic()
    try:
        c = socket.socket()
        c.bind(("127.0.0.3", 0))
        c.settimeout(deadline + 1)
        c.connect(("127.0.0.1", port))
        c.sendall(req)
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        c.close()
        dt = time.monotonic() - t0
        lat.append(dt)
        ok += data.startswith(b"HTTP/1.1 200") and dt <= deadline + 0.1
    except OSError:
        lat.append(float("inf"))
stop.set()
t.join()
p.terminate()
p.wait()
lat.sort()
print(f"slow connections opened from 127.0.0.2: {opened[0]} (target {n_slow} open at a time)")
print(f"normal requests from 127.0.0.3 answered 200 within deadline + 100 ms: {ok}/{n_normal} "
      f"({100.0 * ok / n_normal:.1f} %); latency median {lat[len(lat) // 2] * 1e3:.1f} ms, "
      f"p99 {lat[len(lat) * 99 // 100] * 1e3:.1f} ms")
