/*
 * remote_sse.h - the response-body parser of the remote backend, free of
 * sockets: the bytes of an OpenAI chat-completions response (a Server-Sent
 * Events stream, or one JSON object) in, the answer's text out through a
 * callback, with the outcome in the parser's state. remote.c feeds it from
 * libcurl's write callback; fuzz/fuzz_sse.c feeds it directly. The parsing
 * rules are those of remote.c's header comment.
 *
 * Use: zero a remote_sse, set fn, user, res (res->ttft < 0) and t0; call
 * remote_sse_feed with the body's bytes as they arrive, split anywhere,
 * while stop is STOP_NONE (the transport may set STOP_CANCEL,
 * STOP_DEADLINE, or STOP_DONE on its own); when the body has ended and
 * stop is STOP_NONE or STOP_DONE, call remote_sse_end once; then
 * remote_sse_free. Errors are static strings (REMOTE_E_*) in error, with
 * stop == STOP_FAIL.
 */
#ifndef RELIEF_REMOTE_SSE_H
#define RELIEF_REMOTE_SSE_H

#include "hybrid/backend.h"

#include <stdbool.h>
#include <stddef.h>

#define REMOTE_LINE_MAX ((size_t)1 << 20)     /* longest SSE line, and longest event data */
#define REMOTE_JSON_MAX ((size_t)16 << 20)    /* largest non-streaming JSON body */

/* Static error strings (backend_result.error). */
#define REMOTE_E_REACH "cannot reach the remote server"
#define REMOTE_E_OOM "out of memory"
#define REMOTE_E_MALFORMED "remote server sent a malformed event"
#define REMOTE_E_BADJSON "remote server sent a malformed response"
#define REMOTE_E_LONG "remote server sent an over-long line"
#define REMOTE_E_BIG "remote response too large"
#define REMOTE_E_EARLY "remote stream ended early"
#define REMOTE_E_EMPTY "remote server sent an empty response"
#define REMOTE_E_NOANSWER "remote response had no answer"
#define REMOTE_E_SERVER "remote server reported an error"
#define REMOTE_E_FAILED "remote request failed"

/* U+FFFD, the replacement for each invalid byte. */
#define REMOTE_FFFD "\xEF\xBF\xBD"

/* A growable byte buffer (malloc'd p, NUL-terminated once anything is in it). */
typedef struct {
    char *p;
    size_t len, cap;
} remote_buf;

/* What the body is: not known yet (only blanks so far), an SSE stream, one
 * JSON value, or (set by the transport, never fed) an error page. */
enum { MODE_SNIFF, MODE_SSE, MODE_JSON, MODE_ERRBODY };
/* Why parsing stopped early. CANCEL and DEADLINE are set by the transport. */
enum { STOP_NONE, STOP_DONE, STOP_USER, STOP_CANCEL, STOP_DEADLINE, STOP_FAIL };
enum { FIN_NONE, FIN_STOP, FIN_LENGTH, FIN_OTHER };

typedef struct {
    backend_text_fn fn;        /* gets the answer's text; NULL: dropped */
    void *user;
    backend_result *res;       /* n_tokens, prompt_tokens, ttft, complete are set */
    double t0;                 /* relief_llm_now() at the start (for res->ttft) */
    int mode;
    int stop;                  /* why the transfer was stopped early (STOP_*) */
    int fin;                   /* finish_reason seen (FIN_*) */
    const char *error;         /* with STOP_FAIL */
    bool done;                 /* "data: [DONE]" seen */
    bool at_eof;               /* parsing what was left when the body ended */
    bool cr;                   /* the previous line ended with '\r' */
    bool emitted;              /* text was passed to fn */
    bool got_content;          /* a content string was seen (even empty) */
    bool server_counted;       /* usage.completion_tokens seen: res->n_tokens is the server's count */
    remote_buf line;           /* SSE: the line being read */
    remote_buf data;           /* SSE: the event's data lines joined by '\n' */
    remote_buf body;           /* sniffing, then the JSON body */
    remote_buf in, out;        /* UTF-8 assembly scratch */
    unsigned char pend[4];     /* incomplete UTF-8 sequence held back */
    size_t npend;
} remote_sse;

/* Parses the next n bytes of the body (any split). Does nothing once stop
 * is set; sets stop when the stream ended ([DONE]: STOP_DONE), the
 * callback asked to stop (STOP_USER) or the body is malformed, too long or
 * memory ran out (STOP_FAIL, error). */
void remote_sse_feed(remote_sse *s, const char *p, size_t n);
/* The body has ended: parses what is buffered, flushes held-back bytes,
 * and sets res->complete. got_status: a response status was received (an
 * empty body is then "empty response" rather than "request failed"). */
void remote_sse_end(remote_sse *s, bool got_status);
/* Stops with STOP_FAIL and the static message why, unless already stopped. */
void remote_sse_fail(remote_sse *s, const char *why);
/* Frees the buffers; the state is not to be used again. */
void remote_sse_free(remote_sse *s);

/* The UTF-8 sequence at s[0..n): its length when whole and valid; 0 when
 * valid so far but cut short by n; -1 when invalid (the first byte is then
 * to be replaced). Rejects overlong forms, surrogates and code points past
 * U+10FFFF. */
int remote_utf8_seq(const unsigned char *s, size_t n);

#endif
