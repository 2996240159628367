/*
 * remote_sse.c - the response-body parser of the remote backend (remote.c):
 * sniffs SSE from JSON, splits SSE lines and events, parses each chunk's
 * JSON and passes the answer's text on as whole UTF-8 characters. No
 * sockets here: remote.c feeds it from libcurl, fuzz/fuzz_sse.c directly.
 * Interface and use in remote_sse.h; the parsing rules in remote.c.
 */
#include "hybrid/remote_sse.h"
#include "relief/llm.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable byte buffer ---- */

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
int remote_utf8_seq(const unsigned char *s, size_t n)
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

/* ---- parsing ---- */

void remote_sse_fail(remote_sse *x, const char *why)
{
    if (!x->stop) {
        x->stop = STOP_FAIL;
        x->error = why;
    }
}

/* Passes s[0..n) to the callback as whole UTF-8 characters: an incomplete
 * trailing sequence is held back for the next piece, invalid bytes become
 * U+FFFD, NUL bytes are dropped. final: flush what is held as U+FFFD. */
static void remote_emit(remote_sse *x, const char *s, size_t n, bool final)
{
    if (x->stop)
        return;
    x->in.len = 0;
    if (remote_buf_add(&x->in, x->pend, x->npend, REMOTE_JSON_MAX + 4) ||
        remote_buf_add(&x->in, s, n, REMOTE_JSON_MAX + 4)) {
        remote_sse_fail(x, REMOTE_E_OOM);
        return;
    }
    x->npend = 0;
    size_t len = x->in.len;
    if (len == 0)
        return;
    x->out.len = 0;
    if (remote_buf_reserve(&x->out, len * 3, 3 * (REMOTE_JSON_MAX + 4))) {
        remote_sse_fail(x, REMOTE_E_OOM);
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
            memcpy(out + o, REMOTE_FFFD, 3);
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
static void remote_chunk(remote_sse *x, json_t *j)
{
    if (!json_is_object(j)) {
        remote_sse_fail(x, x->mode == MODE_JSON ? REMOTE_E_BADJSON : REMOTE_E_MALFORMED);
        return;
    }
    json_t *err = json_object_get(j, "error");
    if (err && !json_is_null(err)) {
        remote_sse_fail(x, REMOTE_E_SERVER);
        return;
    }
    json_t *usage = json_object_get(j, "usage");
    json_t *pt = json_object_get(usage, "prompt_tokens"), *ct = json_object_get(usage, "completion_tokens");
    if (json_is_integer(pt) && json_integer_value(pt) >= 0)
        x->res->prompt_tokens = (size_t)json_integer_value(pt);
    if (json_is_integer(ct) && json_integer_value(ct) >= 0) {
        x->res->n_tokens = (size_t)json_integer_value(ct); /* the server's token count, not our pieces */
        x->server_counted = true;
    }
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
            if (!x->server_counted)
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
static int remote_parse(remote_sse *x, const char *s, size_t n)
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
static void remote_event(remote_sse *x)
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
    remote_sse_fail(x, x->at_eof ? REMOTE_E_EARLY : REMOTE_E_MALFORMED);
}

/* True when v[0..n) is "[DONE]" (trailing blanks allowed). */
static bool remote_is_done(const char *v, size_t n)
{
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == 6 && !memcmp(v, "[DONE]", 6);
}

/* One SSE line, without its line end. */
static void remote_line(remote_sse *x, const char *l, size_t n)
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
        remote_sse_fail(x, rc == -1 ? REMOTE_E_OOM : REMOTE_E_LONG);
}

/* Feeds body bytes to the SSE line splitter. */
static void remote_sse_lines(remote_sse *x, const char *p, size_t n)
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
            remote_sse_fail(x, rc == -1 ? REMOTE_E_OOM : REMOTE_E_LONG);
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

void remote_sse_feed(remote_sse *x, const char *p, size_t n)
{
    if (x->stop)
        return;
    if (x->mode == MODE_SNIFF) {
        int rc = remote_buf_add(&x->body, p, n, REMOTE_LINE_MAX);
        if (rc) {
            remote_sse_fail(x, rc == -1 ? REMOTE_E_OOM : REMOTE_E_LONG);
            return;
        }
        size_t i = 0;
        while (i < x->body.len && strchr(" \t\r\n", x->body.p[i]))
            i++;
        if (i == x->body.len)
            return; /* only blanks so far */
        if (x->body.p[i] == '{' || x->body.p[i] == '[') {
            x->mode = MODE_JSON;
            return;
        }
        x->mode = MODE_SSE;
        remote_sse_lines(x, x->body.p, x->body.len);
        x->body.len = 0;
        return;
    }
    if (x->mode == MODE_JSON) {
        int rc = remote_buf_add(&x->body, p, n, REMOTE_JSON_MAX);
        if (rc)
            remote_sse_fail(x, rc == -1 ? REMOTE_E_OOM : REMOTE_E_BIG);
        return;
    }
    if (x->mode == MODE_SSE)
        remote_sse_lines(x, p, n);
}

void remote_sse_end(remote_sse *x, bool got_status)
{
    x->at_eof = true;
    if (x->mode == MODE_SSE) {
        if (x->stop == STOP_NONE) {
            if (x->line.len > 0) /* unterminated last line */
                remote_line(x, x->line.p, x->line.len);
            remote_event(x);
        }
        if (!x->stop && x->fin == FIN_NONE)
            remote_sse_fail(x, REMOTE_E_EARLY);
    } else if (x->mode == MODE_JSON) {
        if (remote_parse(x, x->body.p, x->body.len) != 0)
            remote_sse_fail(x, REMOTE_E_BADJSON);
        else if (!x->stop && !x->got_content && x->fin == FIN_NONE)
            remote_sse_fail(x, REMOTE_E_NOANSWER);
    } else if (got_status) {
        remote_sse_fail(x, REMOTE_E_EMPTY);
    } else {
        remote_sse_fail(x, REMOTE_E_FAILED);
    }
    if (x->npend > 0 && (!x->stop || x->stop == STOP_DONE)) {
        int stop = x->stop;
        x->stop = STOP_NONE;
        remote_emit(x, "", 0, true);
        if (!x->stop)
            x->stop = stop;
    }
    if (!x->stop || x->stop == STOP_DONE)
        x->res->complete = x->fin == FIN_STOP || (x->fin == FIN_NONE && (x->done || x->mode == MODE_JSON));
}

void remote_sse_free(remote_sse *x)
{
    free(x->line.p);
    free(x->data.p);
    free(x->body.p);
    free(x->in.p);
    free(x->out.p);
}
