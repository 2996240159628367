/*
 * server.h - `relief serve`: the HTTP service (libmicrohttpd) and its
 * embedded web page.
 *
 *   relief serve [--port N] [--bind ADDR] [--model FILE | --backend URL
 *                [--backend-model NAME]] [--deadline SECONDS] [--token TOKEN]
 *                [--max-body BYTES] [--max-parallel N] [--queue N] [--kb DIR]
 *                [--threads N] [--read-timeout SECONDS] [--max-tokens N]
 *                [--final-only] [--cache-dir DIR]
 *
 * Endpoints (all errors are JSON: {"error": {"message", "type", "field"?}}):
 *   GET  /                     the web page (public)
 *   GET  /healthz              {"status": "ok", ...} (public)
 *   GET  /metrics              Prometheus text format
 *   GET  /v1/models            OpenAI model list
 *   POST /v1/guidance          plan + model elaboration (JSON or SSE)
 *   POST /v1/chat/completions  OpenAI-compatible chat (JSON or SSE)
 * With a token (--token or RELIEF_TOKEN) every endpoint but the public two
 * needs "Authorization: Bearer TOKEN".
 *
 * When ready it prints exactly one line to stdout (flushed):
 *   relief serve: listening on http://ADDR:PORT
 * and runs until SIGINT or SIGTERM, then shuts down gracefully.
 */
#ifndef RELIEF_SERVE_SERVER_H
#define RELIEF_SERVE_SERVER_H

/* Runs the server. argv holds only the options (not "relief" nor "serve").
 * Blocks SIGINT, SIGTERM and SIGPIPE in the calling thread (and so in every
 * thread it starts) and takes SIGINT/SIGTERM with sigwait(); it installs no
 * signal handlers. Returns an exit code: 0 after a clean shutdown, 1 when
 * the server cannot start (address in use, bad kb, out of memory), 2 for a
 * bad command line. Call it from the main thread of a process that has
 * started no other threads. */
int relief_serve_main(int argc, char **argv);

#endif
