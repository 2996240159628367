/*
 * remote.c - the remote model backend: streams a chat answer from any
 * OpenAI-compatible chat-completions server (Ollama, vLLM, llama-server,
 * another relief) over HTTP(S) with libcurl, under the caller's absolute
 * deadline and cancellation flag.
 *
 * Request: POST {base}/v1/chat/completions with a JSON body
 *   {"model", "messages": [{"role", "content"}...], "stream": true,
 *    "max_tokens" (when > 0), "temperature" (when >= 0)}
 * and "Authorization: Bearer TOKEN" when a token is set. Message text that
 * is not valid UTF-8 is sent with each bad byte replaced by U+FFFD.
 *
 * Response: a Server-Sent Events stream ("data: {json}" events carrying
 * choices[0].delta.content, ended by "data: [DONE]"), or, from a server that
 * ignores "stream", one JSON object with choices[0].message.content. The
 * two are told apart by the first non-blank byte of the body ('{' or '['
 * means JSON), not by Content-Type, which some servers get wrong.
 *
 * SSE parsing follows the WHATWG rules where they matter: events may be
 * split across network reads at any byte; lines end in "\r\n", "\n" or
 * "\r"; lines starting with ':' are comments; an event's "data:" lines are
 * joined with '\n' and the event is dispatched at a blank line; fields other
 * than "data" are ignored. Two leniencies for sloppy servers: "data: [DONE]"
 * ends the stream at once even without a blank line, and an event whose
 * joined data is not one JSON value is tried line by line (servers that
 * separate events by a single newline). A line or an event's data longer
 * than REMOTE_LINE_MAX fails the request cleanly.
 *
 * A malformed event (not JSON, or not an object) stops the answer with an
 * error rather than being skipped: a gap in guidance text could silently
 * change its meaning ("do not enter" losing "not"), while a stopped answer
 * is flagged incomplete.
 *
 * Outcomes of chat (res->error is always a static string):
 *   0, complete          the answer ended normally: finish_reason "stop"
 *                        (or "eos"), or [DONE] with no finish_reason
 *   0, !complete         finish_reason "length" (or another), the callback
 *                        asked to stop, or *cancel was set (error NULL)
 *   0, cut               the deadline passed; the text so far was delivered
 *   0, error set         a failure after some text was delivered: the text
 *                        is kept and the answer is incomplete
 *   -1, error set        a failure before any text: "cannot reach the remote
 *                        server", "remote server returned HTTP 401", ...
 * res->n_tokens counts non-empty content pieces. o->reasoning and
 * o->final_only are not sent (not every server accepts them); reasoning
 * that a server streams separately (delta.reasoning_content) is ignored.
 * Each call opens its own connection; proxies follow libcurl's usual
 * environment variables; redirects are not followed.
 *
 * Timing: the transfer runs on a private curl multi handle polled at least
 * every REMOTE_POLL_MS, and the cancel flag and the deadline are checked
 * between polls, in the write callback and in the progress callback; curl's
 * own timeouts are set from the remaining time as a backstop. So a call
 * returns within about REMOTE_POLL_MS of the deadline or of a cancel.
 *
 * Thread safety: a backend is immutable after backend_remote_new; any number
 * of threads may call chat at once (each call has its own curl handles and
 * its own connection). curl_global_init runs once, under pthread_once.
 */
#include "hybrid/backend.h"
#include "relief/llm.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REMOTE_LINE_MAX ((size_t)1 << 20)     /* longest SSE line, and longest event data */
#define REMOTE_JSON_MAX ((size_t)16 << 20)    /* largest non-streaming JSON body */
#define REMOTE_ERRBODY_MAX ((size_t)64 << 10) /* error body read before the transfer is dropped */
#define REMOTE_POLL_MS 50                     /* longest wait between limit checks */
#define REMOTE_CONNECT_MS 30000L              /* connect timeout when no deadline is set */

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

typedef struct {
    backend base;
    char *name;   /* "remote:" + base URL without user credentials */
    char *url;    /* the chat-completions endpoint */
    char *model;
    char *auth;   /* "Authorization: Bearer TOKEN", or NULL */
} remote_backend;

/* ---- once-only libcurl initialisation ---- */

static pthread_once_t remote_once = PTHREAD_ONCE_INIT;
static CURLcode remote_init_rc = CURLE_FAILED_INIT;

static void remote_global_init(void)
{
    remote_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- growable byte buffer ---- */

typedef struct {
    char *p;
    size_t len, cap;
} remote_buf;

/* Makes room for len + extra + 1 bytes, never beyond max + 1 in all.
 * Returns 0, -1 when out of memory, -2 when the buffer would pass max. */
static int remote_buf_reserve(remote_buf *b, size_t extra, size_t max)
{
    if (b->len > max || extra > max - b->len)
        return -2;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2; /* need <= max + 1 <= 16 MiB + 1: cannot overflow */
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Appends n bytes and keeps a terminating NUL. Returns as remote_buf_reserve. */
static int remote_buf_add(remote_buf *b, const void *s, size_t n, size_t max)
{
    if (n == 0)
        return 0;
    int rc = remote_buf_reserve(b, n, max);
    if (rc)
        return rc;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* ---- UTF-8 ---- */

/* The UTF-8 sequence at s[0..n): its length when whole and valid; 0 when
 * valid so far but cut short by n; -1 when invalid (the first byte is then
 * to be replaced). Rejects overlong forms, surrogates and code points past
 * U+10FFFF. */
static int remote_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c == 0xE0)
        len = 3, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        len = 3;
    else if (c == 0xED)
        len = 3, hi = 0x9F;
    else if (c == 0xF0)
        len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
        len = 4;
    else if (c == 0xF4)
        len = 4, hi = 0x8F;
    else
        return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return -1;
    }
    return len;
}

static const char remote_fffd[3] = {'\xEF', '\xBF', '\xBD'};

/* A JSON string of s (NULL: ""), with each byte of an invalid or cut-short
 * UTF-8 sequence replaced by U+FFFD. NULL when out of memory. */
static json_t *remote_jstring(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int k = remote_utf8_seq(u + i, n - i);
        if (k <= 0)
            break;
        i += (size_t)k;
    }
    if (i == n)
        return json_stringn(s, n);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *clean = malloc(n * 3 + 1);
    if (!clean)
        return NULL;
    size_t o = 0;
    for (i = 0; i < n;) {
        int k = remote_utf8_seq(u + i, n - i);
        if (k > 0) {
            memcpy(clean + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(clean + o, remote_fffd, 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(clean, o);
    free(clean);
    return j;
}

/* ---- one transfer ---- */

enum { MODE_SNIFF, MODE_SSE, MODE_JSON, MODE_ERRBODY };
enum { STOP_NONE, STOP_DONE, STOP_USER, STOP_CANCEL, STOP_DEADLINE, STOP_FAIL };
enum { FIN_NONE, FIN_STOP, FIN_LENGTH, FIN_OTHER };

typedef struct {
    CURL *easy;
    const backend_opts *o;
    backend_text_fn fn;
    void *user;
    backend_result *res;
    double t0;
    int mode;
    int stop;                  /* why the transfer was stopped early (STOP_*) */
    int fin;                   /* finish_reason seen (FIN_*) */
    const char *error;         /* with STOP_FAIL */
    bool done;                 /* "data: [DONE]" seen */
    bool at_eof;               /* parsing what was left when the body ended */
    bool cr;                   /* the previous line ended with '\r' */
    bool emitted;              /* text was passed to fn */
    bool got_content;          /* a content string was seen (even empty) */
    remote_buf line;           /* SSE: the line being read */
    remote_buf data;           /* SSE: the event's data lines joined by '\n' */
    remote_buf body;           /* sniffing, then the JSON body */
    remote_buf in, out;        /* UTF-8 assembly scratch */
    size_t errbody;            /* bytes of a non-2xx body read */
    unsigned char pend[4];     /* incomplete UTF-8 sequence held back */
    size_t npend;
} remote_xfer;

static void remote_fail(remote_xfer *x, const char *why)
{
    if (!x->stop) {
        x->stop = STOP_FAIL;
        x->error = why;
    }
}

/* True when the transfer must stop: already stopped, cancelled, or past
 * the deadline (recorded in x->stop). */
static bool remote_limits(remote_xfer *x)
{
    if (x->stop)
        return true;
    if (x->o->cancel && atomic_load(x->o->cancel)) {
        x->stop = STOP_CANCEL;
        return true;
    }
    if (x->o->deadline > 0 && relief_llm_now() >= x->o->deadline) {
        x->stop = STOP_DEADLINE;
        return true;
    }
    return false;
}

/* Passes s[0..n) to the callback as whole UTF-8 characters: an incomplete
 * trailing sequence is held back for the next piece, invalid bytes become
 * U+FFFD, NUL bytes are dropped. final: flush what is held as U+FFFD. */
static void remote_emit(remote_xfer *x, const char *s, size_t n, bool final)
{
    if (x->stop)
        return;
    x->in.len = 0;
    if (remote_buf_add(&x->in, x->pend, x->npend, REMOTE_JSON_MAX + 4) ||
        remote_buf_add(&x->in, s, n, REMOTE_JSON_MAX + 4)) {
        remote_fail(x, REMOTE_E_OOM);
        return;
    }
    x->npend = 0;
    size_t len = x->in.len;
    if (len == 0)
        return;
    x->out.len = 0;
    if (remote_buf_reserve(&x->out, len * 3, 3 * (REMOTE_JSON_MAX + 4))) {
        remote_fail(x, REMOTE_E_OOM);
        return;
    }
    const unsigned char *u = (const unsigned char *)x->in.p;
    char *out = x->out.p;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (u[i] == 0) {
            i++;
            continue;
        }
        int k = remote_utf8_seq(u + i, len - i);
        if (k > 0) {
            memcpy(out + o, u + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else if (k == 0 && !final) {
            x->npend = len - i; /* at most 3: a whole sequence would be <= 4 */
            memcpy(x->pend, u + i, x->npend);
            break;
        } else {
            memcpy(out + o, remote_fffd, 3);
            o += 3;
            i++;
        }
    }
    if (o == 0)
        return;
    if (x->res->ttft < 0)
        x->res->ttft = relief_llm_now() - x->t0;
    x->emitted = true;
    if (x->fn && x->fn(out, o, x->user) != 0 && !x->stop)
        x->stop = STOP_USER;
}

/* One parsed chunk (streamed) or the whole answer (non-streaming). */
static void remote_chunk(remote_xfer *x, json_t *j)
{
    if (!json_is_object(j)) {
        remote_fail(x, x->mode == MODE_JSON ? REMOTE_E_BADJSON : REMOTE_E_MALFORMED);
        return;
    }
    json_t *err = json_object_get(j, "error");
    if (err && !json_is_null(err)) {
        remote_fail(x, REMOTE_E_SERVER);
        return;
    }
    json_t *pt = json_object_get(json_object_get(j, "usage"), "prompt_tokens");
    if (json_is_integer(pt) && json_integer_value(pt) >= 0)
        x->res->prompt_tokens = (size_t)json_integer_value(pt);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    if (!c)
        return;
    json_t *msg = json_object_get(c, "delta");
    if (!json_is_object(msg))
        msg = json_object_get(c, "message");
    json_t *content = json_object_get(msg, "content");
    if (json_is_string(content)) {
        x->got_content = true;
        size_t len = json_string_length(content);
        if (len > 0) {
            x->res->n_tokens++;
            remote_emit(x, json_string_value(content), len, false);
        }
    }
    json_t *fr = json_object_get(c, "finish_reason");
    if (json_is_string(fr)) {
        const char *f = json_string_value(fr);
        if (!strcmp(f, "stop") || !strcmp(f, "eos") || !strcmp(f, "eos_token"))
            x->fin = FIN_STOP;
        else if (!strcmp(f, "length"))
            x->fin = FIN_LENGTH;
        else
            x->fin = FIN_OTHER;
    }
}

/* Parses one JSON text and handles it. Returns 0, or -1 when it is not JSON. */
static int remote_parse(remote_xfer *x, const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_ALLOW_NUL, &e);
    if (!j)
        return -1;
    remote_chunk(x, j);
    json_decref(j);
    return 0;
}

/* Dispatches the event gathered in x->data. */
static void remote_event(remote_xfer *x)
{
    size_t n = x->data.len;
    x->data.len = 0;
    if (n == 0 || x->stop)
        return;
    const char *d = x->data.p;
    if (remote_parse(x, d, n) == 0)
        return;
    if (memchr(d, '\n', n)) {
        /* Several values, one per line (no blank lines between events). */
        bool ok = true;
        for (size_t i = 0; i < n && ok && !x->stop;) {
            const char *nl = memchr(d + i, '\n', n - i);
            size_t end = nl ? (size_t)(nl - d) : n;
            if (end > i)
                ok = remote_parse(x, d + i, end - i) == 0;
            i = end + 1;
        }
        if (ok)
            return;
    }
    remote_fail(x, x->at_eof ? REMOTE_E_EARLY : REMOTE_E_MALFORMED);
}

/* True when v[0..n) is "[DONE]" (trailing blanks allowed). */
static bool remote_is_done(const char *v, size_t n)
{
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == 6 && !memcmp(v, "[DONE]", 6);
}

/* One SSE line, without its line end. */
static void remote_line(remote_xfer *x, const char *l, size_t n)
{
    if (n == 0) {
        remote_event(x);
        return;
    }
    if (l[0] == ':')
        return;
    const char *colon = memchr(l, ':', n);
    size_t flen = colon ? (size_t)(colon - l) : n;
    if (flen != 4 || memcmp(l, "data", 4) != 0)
        return; /* event, id, retry and unknown fields */
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen > 0 && *v == ' ')
        v++, vlen--;
    if (remote_is_done(v, vlen)) {
        remote_event(x);
        x->done = true;
        if (!x->stop)
            x->stop = STOP_DONE;
        return;
    }
    int rc = 0;
    if (x->data.len > 0)
        rc = remote_buf_add(&x->data, "\n", 1, REMOTE_LINE_MAX);
    if (!rc)
        rc = remote_buf_add(&x->data, v, vlen, REMOTE_LINE_MAX);
    if (rc)
        remote_fail(x, rc == -1 ? REMOTE_E_OOM : REMOTE_E_LONG);
}

/* Feeds body bytes to the SSE line splitter. */
static void remote_sse(remote_xfer *x, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !x->stop) {
        if (x->cr) {
            x->cr = false;
            if (p[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        int rc = remote_buf_add(&x->line, p + i, j - i, REMOTE_LINE_MAX);
        if (rc) {
            remote_fail(x, rc == -1 ? REMOTE_E_OOM : REMOTE_E_LONG);
            return;
        }
        if (j == n)
            return;
        x->cr = p[j] == '\r';
        remote_line(x, x->line.len ? x->line.p : "", x->line.len);
        x->line.len = 0;
        i = j + 1;
    }
}

/* curl write callback: the response body, as it arrives. Returning less
 * than the size given stops the transfer (CURLE_WRITE_ERROR). */
static size_t remote_write(char *p, size_t size, size_t nmemb, void *ud)
{
    remote_xfer *x = ud;
    size_t n = size * nmemb;
    if (remote_limits(x))
        return 0;
    if (x->mode == MODE_SNIFF) {
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code < 200 || code > 299) {
            x->mode = MODE_ERRBODY;
        } else {
            int rc = remote_buf_add(&x->body, p, n, REMOTE_LINE_MAX);
            if (rc) {
                remote_fail(x, rc == -1 ? REMOTE_E_OOM : REMOTE_E_LONG);
                return 0;
            }
            size_t i = 0;
            while (i < x->body.len && strchr(" \t\r\n", x->body.p[i]))
                i++;
            if (i == x->body.len)
                return n; /* only blanks so far */
            if (x->body.p[i] == '{' || x->body.p[i] == '[') {
                x->mode = MODE_JSON;
                return n;
            }
            x->mode = MODE_SSE;
            remote_sse(x, x->body.p, x->body.len);
            x->body.len = 0;
            return x->stop ? 0 : n;
        }
    }
    switch (x->mode) {
    case MODE_ERRBODY:
        /* Read (and drop) a bounded amount; only the status is reported. */
        x->errbody += n;
        if (x->errbody >= REMOTE_ERRBODY_MAX) {
            x->stop = STOP_DONE;
            return 0;
        }
        return n;
    case MODE_JSON: {
        int rc = remote_buf_add(&x->body, p, n, REMOTE_JSON_MAX);
        if (rc) {
            remote_fail(x, rc == -1 ? REMOTE_E_OOM : REMOTE_E_BIG);
            return 0;
        }
        return n;
    }
    default:
        remote_sse(x, p, n);
        return x->stop ? 0 : n;
    }
}

/* curl progress callback: non-zero aborts (CURLE_ABORTED_BY_CALLBACK). */
static int remote_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return remote_limits(ud) ? 1 : 0;
}

/* The static message for a non-2xx HTTP status. */
static const char *remote_http_error(long code)
{
    switch (code) {
    case 400: return "remote server returned HTTP 400";
    case 401: return "remote server returned HTTP 401";
    case 402: return "remote server returned HTTP 402";
    case 403: return "remote server returned HTTP 403";
    case 404: return "remote server returned HTTP 404";
    case 405: return "remote server returned HTTP 405";
    case 408: return "remote server returned HTTP 408";
    case 409: return "remote server returned HTTP 409";
    case 413: return "remote server returned HTTP 413";
    case 415: return "remote server returned HTTP 415";
    case 422: return "remote server returned HTTP 422";
    case 429: return "remote server returned HTTP 429";
    case 500: return "remote server returned HTTP 500";
    case 501: return "remote server returned HTTP 501";
    case 502: return "remote server returned HTTP 502";
    case 503: return "remote server returned HTTP 503";
    case 504: return "remote server returned HTTP 504";
    default: break;
    }
    if (code >= 300 && code < 400)
        return "remote server returned an HTTP redirect (not followed)";
    if (code >= 400 && code < 500)
        return "remote server returned an HTTP 4xx error";
    if (code >= 500 && code < 600)
        return "remote server returned an HTTP 5xx error";
    return "remote server returned an unexpected HTTP status";
}

/* The static message for a curl failure; got_status: a response began. */
static const char *remote_curl_error(CURLcode c, bool got_status)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return REMOTE_E_REACH;
    case CURLE_OPERATION_TIMEDOUT:
        return got_status ? "remote server stopped responding" : REMOTE_E_REACH;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return "TLS failure with the remote server";
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        return got_status ? REMOTE_E_EARLY : "remote server closed the connection";
    case CURLE_OUT_OF_MEMORY:
        return REMOTE_E_OOM;
    default:
        return REMOTE_E_FAILED;
    }
}

/* The request body (malloc'd JSON text), or NULL when out of memory. */
static char *remote_request(const remote_backend *rb, const relief_chat_message *msgs, size_t n,
                            const backend_opts *o)
{
    json_t *root = json_object();
    json_t *arr = json_array();
    int bad = !root || !arr;
    for (size_t i = 0; !bad && i < n; i++) {
        json_t *m = json_object();
        if (!m || json_object_set_new(m, "role", remote_jstring(msgs[i].role)) ||
            json_object_set_new(m, "content", remote_jstring(msgs[i].content))) {
            json_decref(m);
            bad = 1;
        } else {
            bad = json_array_append_new(arr, m) != 0; /* takes m even on failure */
        }
    }
    if (!bad) {
        bad = json_object_set_new(root, "messages", arr) != 0; /* takes arr even on failure */
        arr = NULL;
    }
    if (!bad)
        bad = json_object_set_new(root, "model", remote_jstring(rb->model)) ||
              json_object_set_new(root, "stream", json_true());
    if (!bad && o->max_tokens > 0)
        bad = json_object_set_new(root, "max_tokens", json_integer(o->max_tokens));
    if (!bad && o->temperature >= 0)
        bad = json_object_set_new(root, "temperature", json_real((double)o->temperature));
    /* Seven significant digits: a float's worth, so 0.7f is written 0.7. */
    char *s = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(arr);
    json_decref(root);
    return s;
}

/* Sets the curl options for one transfer. Returns 0, or -1 when one failed. */
static int remote_setup(remote_backend *rb, remote_xfer *x, const char *body, size_t body_len,
                        struct curl_slist *hdr)
{
    CURL *e = x->easy;
    const backend_opts *o = x->o;
    long connect_ms = REMOTE_CONNECT_MS, total_ms = 0;
    if (o->deadline > 0) {
        double left = o->deadline - relief_llm_now();
        total_ms = left > 0 ? (long)(left * 1000.0) + 1 : 1;
        if (total_ms < connect_ms)
            connect_ms = total_ms;
    }
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, rb->url) != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
#else
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
#endif
#if LIBCURL_VERSION_NUM >= 0x075700
    /* Do not wait for a pending DNS lookup thread when the transfer is dropped. */
    bad |= curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK;
#endif
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "relief") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, remote_write) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, remote_progress) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms) != CURLE_OK;
    return bad ? -1 : 0;
}

/* Runs the transfer until it ends or a limit stops it. Returns the curl
 * result when it ended; sets *ended. */
static CURLcode remote_run(CURLM *m, remote_xfer *x, bool *ended)
{
    *ended = false;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            remote_fail(x, REMOTE_E_FAILED);
            return CURLE_OK;
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == x->easy) {
                *ended = true;
                return msg->data.result;
            }
        if (remote_limits(x))
            return CURLE_OK;
        if (!running) {
            remote_fail(x, REMOTE_E_FAILED);
            return CURLE_OK;
        }
        int wait = REMOTE_POLL_MS;
        if (x->o->deadline > 0) {
            double ms = (x->o->deadline - relief_llm_now()) * 1000.0 + 1;
            if (ms < wait)
                wait = ms < 1 ? 1 : (int)ms;
        }
        if (curl_multi_poll(m, NULL, 0, wait, NULL) != CURLM_OK) {
            remote_fail(x, REMOTE_E_FAILED);
            return CURLE_OK;
        }
    }
}

/* Works out the outcome once the transfer is over. Returns chat's value. */
static int remote_finish(remote_xfer *x, bool ended, CURLcode cres, long code)
{
    backend_result *res = x->res;
    bool http_ok = code >= 200 && code <= 299;
    if (ended && !x->stop && cres != CURLE_OK) {
        if (cres == CURLE_OPERATION_TIMEDOUT && x->o->deadline > 0)
            x->stop = STOP_DEADLINE; /* curl's timeout is the deadline */
        else
            remote_fail(x, remote_curl_error(cres, code != 0));
    }
    if (code != 0 && !http_ok && x->stop != STOP_CANCEL && x->stop != STOP_DEADLINE) {
        res->error = remote_http_error(code);
        return -1;
    }
    if (!x->stop || (x->stop == STOP_DONE && http_ok)) {
        /* The body ended (or [DONE] came): finish what is buffered. */
        x->at_eof = true;
        if (x->mode == MODE_SSE) {
            if (x->stop == STOP_NONE) {
                if (x->line.len > 0) /* unterminated last line */
                    remote_line(x, x->line.p, x->line.len);
                remote_event(x);
            }
            if (!x->stop && x->fin == FIN_NONE)
                remote_fail(x, REMOTE_E_EARLY);
        } else if (x->mode == MODE_JSON) {
            if (remote_parse(x, x->body.p, x->body.len) != 0)
                remote_fail(x, REMOTE_E_BADJSON);
            else if (!x->stop && !x->got_content && x->fin == FIN_NONE)
                remote_fail(x, REMOTE_E_NOANSWER);
        } else if (code != 0) {
            remote_fail(x, REMOTE_E_EMPTY);
        } else {
            remote_fail(x, REMOTE_E_FAILED);
        }
        if (x->npend > 0 && (!x->stop || x->stop == STOP_DONE)) {
            int stop = x->stop;
            x->stop = STOP_NONE;
            remote_emit(x, "", 0, true);
            if (!x->stop)
                x->stop = stop;
        }
        if (!x->stop || x->stop == STOP_DONE)
            res->complete = x->fin == FIN_STOP || (x->fin == FIN_NONE && (x->done || x->mode == MODE_JSON));
    }
    res->cut = x->stop == STOP_DEADLINE;
    if (x->stop == STOP_FAIL) {
        res->error = x->error;
        return x->emitted ? 0 : -1;
    }
    return 0;
}

static int remote_chat(backend *b, const relief_chat_message *msgs, size_t n, const backend_opts *o,
                       backend_text_fn fn, void *user, backend_result *res)
{
    static const backend_opts defaults = {.temperature = -1.0f};
    remote_backend *rb = (remote_backend *)b;
    if (!o)
        o = &defaults;
    memset(res, 0, sizeof *res);
    res->ttft = -1;
    remote_xfer x = {.o = o, .fn = fn, .user = user, .res = res, .t0 = relief_llm_now()};
    if (remote_limits(&x)) {
        res->cut = x.stop == STOP_DEADLINE;
        return 0;
    }
    if (!msgs)
        n = 0;

    int rc = -1;
    char *body = remote_request(rb, msgs, n, o);
    struct curl_slist *hdr = NULL;
    CURLM *m = NULL;
    x.easy = body ? curl_easy_init() : NULL;
    if (x.easy)
        m = curl_multi_init();
    if (!m) {
        res->error = REMOTE_E_OOM;
        goto out;
    }
    const char *lines[] = {"Content-Type: application/json", "Accept: text/event-stream, application/json",
                           "Expect:", rb->auth};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        if (!lines[i])
            continue;
        struct curl_slist *t = curl_slist_append(hdr, lines[i]);
        if (!t) {
            res->error = REMOTE_E_OOM;
            goto out;
        }
        hdr = t;
    }
    if (remote_setup(rb, &x, body, strlen(body), hdr) != 0 || curl_multi_add_handle(m, x.easy) != CURLM_OK) {
        res->error = REMOTE_E_FAILED;
        goto out;
    }
    bool ended;
    CURLcode cres = remote_run(m, &x, &ended);
    long code = 0;
    curl_easy_getinfo(x.easy, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(m, x.easy);
    rc = remote_finish(&x, ended, cres, code);
out:
    curl_multi_cleanup(m);
    curl_easy_cleanup(x.easy);
    curl_slist_free_all(hdr);
    free(body);
    free(x.line.p);
    free(x.data.p);
    free(x.body.p);
    free(x.in.p);
    free(x.out.p);
    return rc;
}

static void remote_destroy(backend *b)
{
    remote_backend *rb = (remote_backend *)b;
    if (!rb)
        return;
    if (rb->auth) {
        explicit_bzero(rb->auth, strlen(rb->auth));
        free(rb->auth);
    }
    free(rb->name);
    free(rb->url);
    free(rb->model);
    free(rb);
}

/* malloc'd concatenation of a[0..na) and b, or NULL. */
static char *remote_concat(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

/* Checks base_url and builds the endpoint and display name. Returns 0, or
 * -1 with a message in err. */
static int remote_parse_url(remote_backend *rb, const char *base_url, char *err, size_t cap)
{
    size_t n = strlen(base_url);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)base_url[i];
        if (c <= 0x20 || c == 0x7f) {
            snprintf(err, cap, "remote URL contains spaces or control characters");
            return -1;
        }
    }
    if (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0) {
        snprintf(err, cap, "remote URL must start with http:// or https://");
        return -1;
    }
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    char *trimmed = remote_concat(base_url, n, "");
    CURLU *u = curl_url();
    char *host = NULL, *path = NULL, *clean = NULL, *extra = NULL;
    int rc = -1;
    if (!trimmed || !u) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, trimmed, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
        snprintf(err, cap, "invalid remote URL '%s'", base_url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &extra, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &extra, 0) == CURLUE_OK) {
        snprintf(err, cap, "remote URL must not have a query or fragment");
        goto out;
    }
    /* A base that already ends in /v1 (as Ollama's documentation writes it) gets only the rest. */
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        snprintf(err, cap, "invalid remote URL '%s'", base_url);
        goto out;
    }
    size_t pl = strlen(path);
    bool has_v1 = pl >= 3 && !strcmp(path + pl - 3, "/v1");
    rb->url = remote_concat(trimmed, n, has_v1 ? "/chat/completions" : "/v1/chat/completions");
    /* The display name leaves out any user:password@. */
    if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &clean, 0) != CURLUE_OK) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    size_t cl = strlen(clean);
    while (cl > 0 && clean[cl - 1] == '/')
        cl--;
    rb->name = malloc(7 + cl + 1);
    if (!rb->url || !rb->name) {
        snprintf(err, cap, "out of memory");
        goto out;
    }
    memcpy(rb->name, "remote:", 7);
    memcpy(rb->name + 7, clean, cl);
    rb->name[7 + cl] = '\0';
    rc = 0;
out:
    curl_free(host);
    curl_free(path);
    curl_free(clean);
    curl_free(extra);
    curl_url_cleanup(u);
    free(trimmed);
    return rc;
}

backend *backend_remote_new(const char *base_url, const char *model, const char *token, char *err, size_t cap)
{
    char dummy[1];
    if (!err || cap == 0)
        err = dummy, cap = sizeof dummy;
    if (!base_url || !*base_url) {
        snprintf(err, cap, "no remote URL given");
        return NULL;
    }
    if (token) {
        for (const char *t = token; *t; t++)
            if ((unsigned char)*t < 0x20 || *t == 0x7f) {
                snprintf(err, cap, "remote token contains control characters");
                return NULL;
            }
    }
    pthread_once(&remote_once, remote_global_init);
    if (remote_init_rc != CURLE_OK) {
        snprintf(err, cap, "cannot initialise libcurl");
        return NULL;
    }
    remote_backend *rb = calloc(1, sizeof *rb);
    if (!rb) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    rb->base.chat = remote_chat;
    rb->base.destroy = remote_destroy;
    if (remote_parse_url(rb, base_url, err, cap) != 0) {
        remote_destroy(&rb->base);
        return NULL;
    }
    rb->model = strdup(model && *model ? model : "gpt-oss");
    if (token && *token)
        rb->auth = remote_concat("Authorization: Bearer ", 22, token);
    if (!rb->model || (token && *token && !rb->auth)) {
        snprintf(err, cap, "out of memory");
        remote_destroy(&rb->base);
        return NULL;
    }
    rb->base.name = rb->name;
    return &rb->base;
}
