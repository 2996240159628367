#!/usr/bin/env python3
"""mock_openai.py - a mock OpenAI-compatible chat-completions server for
tests/test_remote.c (standard library only).

Listens on 127.0.0.1 at a free port and prints the port on the first line
of stdout. The first path segment picks the scenario:
POST /SCENARIO/v1/chat/completions. Exits when stdin reaches end of file
(the test went away) or after five minutes.

Scenarios:
  normal     SSE answer in awkward pieces: split inside UTF-8 characters and
             inside "data:", mixed \\r\\n, \\n and \\r line ends, a comment,
             extra fields, a JSON value split over two data lines, a
             reasoning delta, a usage chunk, finish "stop", [DONE]
  length     short answer ending with finish_reason "length"
  sloppy     events separated by single newlines, Content-Type claiming JSON
  nodone     finish "stop" and a clean end, but no [DONE]
  slow       one piece "pN " every 300 ms, 20 pieces
  slowhead   no response at all for 3 s, then a short answer
  auth       401 unless "Authorization: Bearer sekrit", else a short answer
  e500       500 with a text body
  redirect   302 to elsewhere
  json       non-streaming JSON answer
  echo       non-streaming JSON whose content is the request as seen
  malformed  one good piece, then an event that is not JSON, then more
  badfirst   an event that is not JSON first
  errevent   an event carrying {"error": ...}
  drop       one piece, then half an event and the connection is reset
             (chunked encoding: the client sees a truncated body)
  dropraw    one piece, then the connection closes (no length, no chunks)
  longline   a data line of over 1 MiB
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def ev(content=None, finish=None, role=None, extra=None):
    delta = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if extra:
        delta.update(extra)
    obj = {"id": "c1", "object": "chat.completion.chunk", "model": "mock",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return json.dumps(obj, ensure_ascii=False)


def normal_stream():
    split = ev(content=" \u2014 \u65e5\u672c")  # " — 日本"
    half = split.index('"choices":') + len('"choices":')  # between tokens: a newline is legal there
    parts = [
        ": keep-alive comment\n\n",
        "data: " + ev(role="assistant", content="") + "\r\n\r\n",
        "data: " + ev(content="H\u00e9llo") + "\n\n",
        "event: message\nid: 2\nretry: 1000\ndata: " + ev(content=", w\u00f6rld") + "\r\n\r\n",
        "data: " + split[:half] + "\ndata:" + split[half:] + "\n\n",
        "data: " + ev(extra={"reasoning_content": "thinking \u2026"}) + "\n\n",
        "data: " + ev(content="\U0001F692 ready") + "\r\r",
        ":another comment\r\n",
        "data: " + ev(content="!") + "\n\n",
        "data: " + ev(finish="stop") + "\n\n",
        "data: " + json.dumps({"id": "c1", "choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 7}})
        + "\n\n",
        "data: [DONE]\n\n",
    ]
    raw = "".join(parts).encode("utf-8")
    cuts = set()
    for i, b in enumerate(raw):
        if 0x80 <= b <= 0xBF and raw[i - 1] >= 0xC0:
            cuts.add(i)  # just after a UTF-8 lead byte
    pos = raw.find(b"data:")
    while pos >= 0:
        cuts.add(pos + 3)  # inside "data:"
        pos = raw.find(b"data:", pos + 1)
    pos = raw.find(b"\r\n")
    while pos >= 0:
        cuts.add(pos + 1)  # between \r and \n
        pos = raw.find(b"\r\n", pos + 1)
    cuts = sorted(c for c in cuts if 0 < c < len(raw))
    pieces, last = [], 0
    for c in cuts:
        pieces.append(raw[last:c])
        last = c
    pieces.append(raw[last:])
    return pieces


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- helpers --
    def start(self, status=200, ctype="text/event-stream", chunked=True, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data, pause=0.01):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()
        if pause:
            time.sleep(pause)

    def end(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def whole(self, status, body, ctype="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def short_answer(self, text="ok"):
        self.start()
        self.chunk("data: " + ev(content=text) + "\n\n")
        self.chunk("data: " + ev(finish="stop") + "\n\ndata: [DONE]\n\n")
        self.end()

    # -- request --
    def do_POST(self):
        try:
            self.serve()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: expected in deadline tests

    def serve(self):
        parts = self.path.split("/")
        scen = parts[1] if len(parts) > 1 else ""
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        if not self.path.endswith("/v1/chat/completions"):
            self.whole(404, '{"error": {"message": "no such path"}}')
            return
        if scen == "normal":
            self.start()
            for p in normal_stream():
                self.chunk(p, pause=0.005)
            self.end()
        elif scen == "length":
            self.start()
            self.chunk("data: " + ev(content="cut ") + "\n\n")
            self.chunk("data: " + ev(content="short", finish="length") + "\n\n")
            self.chunk("data: [DONE]\n\n")
            self.end()
        elif scen == "sloppy":
            self.start(ctype="application/json")
            self.chunk("\n\ndata: " + ev(content="A") + "\ndata: " + ev(content="B") + "\n")
            self.chunk("data: " + ev(content="C", finish="stop") + "\ndata: [DONE]\n")
            self.end()
        elif scen == "nodone":
            self.start()
            self.chunk("data: " + ev(content="Fine") + "\n\n")
            self.chunk("data: " + ev(finish="stop") + "\n\n")
            self.end()
        elif scen == "slow":
            self.start()
            for i in range(20):
                self.chunk("data: " + ev(content="p%d " % i) + "\n\n", pause=0)
                time.sleep(0.3)
            self.chunk("data: " + ev(finish="stop") + "\n\ndata: [DONE]\n\n")
            self.end()
        elif scen == "slowhead":
            time.sleep(3)
            self.short_answer("late")
        elif scen == "auth":
            if self.headers.get("Authorization") != "Bearer sekrit":
                self.whole(401, '{"error": {"message": "bad token", "type": "invalid_request_error"}}')
            else:
                self.short_answer("ok")
        elif scen == "e500":
            self.whole(500, "internal trouble\n", ctype="text/plain")
        elif scen == "redirect":
            self.whole(302, "", ctype="text/plain", headers=[("Location", "http://127.0.0.1:1/elsewhere")])
        elif scen == "json":
            body = {"id": "c2", "object": "chat.completion", "model": "mock",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Plain answer \u2713"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 3}}
            self.whole(200, json.dumps(body, ensure_ascii=False))
        elif scen == "echo":
            seen = {"path": self.path, "auth": self.headers.get("Authorization"),
                    "ctype": self.headers.get("Content-Type"), "expect": self.headers.get("Expect"),
                    "body": json.loads(raw.decode("utf-8"))}
            body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(seen)},
                                 "finish_reason": "stop"}]}
            self.whole(200, json.dumps(body))
        elif scen == "malformed":
            self.start()
            self.chunk("data: " + ev(content="A") + "\n\n")
            self.chunk("data: {oops\n\n")
            self.chunk("data: " + ev(content="B", finish="stop") + "\n\ndata: [DONE]\n\n")
            self.end()
        elif scen == "badfirst":
            self.start()
            self.chunk("data: not json at all\n\n")
            self.chunk("data: " + ev(content="B", finish="stop") + "\n\ndata: [DONE]\n\n")
            self.end()
        elif scen == "errevent":
            self.start()
            self.chunk('data: {"error": {"message": "model overloaded", "code": 503}}\n\n')
            self.end()
        elif scen == "drop":
            self.start()
            self.chunk("data: " + ev(content="Partial") + "\n\n")
            self.chunk('data: {"choi', pause=0.05)
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif scen == "dropraw":
            self.start(chunked=False)
            self.wfile.write(("data: " + ev(content="Partial") + "\n\n").encode())
            self.wfile.flush()
            time.sleep(0.05)
            self.connection.shutdown(socket.SHUT_RDWR)
        elif scen == "longline":
            self.start()
            self.chunk("data: " + ev(content="x") + "\n\ndata: ")
            block = b"y" * 65536
            for _ in range(40):  # 2.5 MiB without a line end
                self.chunk(block, pause=0)
            self.chunk("\n\n")
            self.end()
        else:
            self.whole(404, '{"error": {"message": "no such scenario"}}')


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)

    def watch_stdin():
        try:
            sys.stdin.buffer.read()
        finally:
            os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Timer(300, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
