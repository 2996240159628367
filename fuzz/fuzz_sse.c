/*
 * fuzz_sse.c - libFuzzer target: the remote backend's response-body parser
 * (src/hybrid/remote_sse.c: sniffing, SSE lines and events, JSON chunks,
 * UTF-8 assembly) on arbitrary bytes, without a socket.
 *
 * Input: byte 0 is the delivery parameter, the rest is a 200 response's
 * body. The body is parsed twice, as remote.c would after curl: once in
 * one piece and once split into pieces of 1 to (byte 0 & 63) + 1 bytes
 * (lengths from a generator seeded by byte 0), fed while the parser has
 * not stopped, then ended. With bit 6 of byte 0 the text callback asks to
 * stop at its third piece. Checked besides the sanitizers:
 *  - the text passed on is valid UTF-8 with no NUL byte;
 *  - the outcome does not depend on how the body was split: same text
 *    (and the same pieces), stop reason, finish reason, error, token and
 *    prompt counts, completeness;
 *  - a failure has one of the parser's messages; a complete answer has
 *    none; a stop asked by the callback came on its third piece.
 */
#include "hybrid/remote_sse.h"
#include "utf8_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *text;        /* every piece, each followed by a 0x01 separator */
    size_t len, cap;
    int pieces;
    int stop_at;       /* piece number at which to ask to stop; 0 never */
} sink;

static int on_text(const char *s, size_t n, void *user)
{
    sink *k = user;
    if (n == 0 || !valid_utf8((const unsigned char *)s, n) || memchr(s, '\0', n)) {
        fprintf(stderr, "text piece of %zu bytes is empty, not UTF-8, or has a NUL\n", n);
        abort();
    }
    if (k->len + n + 1 > k->cap) {
        size_t cap = (k->len + n + 1) * 2;
        char *p = realloc(k->text, cap);
        if (!p)
            abort();
        k->text = p;
        k->cap = cap;
    }
    memcpy(k->text + k->len, s, n);
    k->len += n;
    k->text[k->len++] = 1;
    k->pieces++;
    return k->stop_at && k->pieces == k->stop_at;
}

typedef struct {
    sink text;
    backend_result res;
    int stop, fin;
    const char *error;
    bool emitted;
} outcome;

static uint32_t next(uint32_t *r)
{
    *r ^= *r << 13;
    *r ^= *r >> 17;
    *r ^= *r << 5;
    return *r;
}

/* Parses body in pieces of at most maxpiece bytes (0: in one piece). */
static void run(const char *body, size_t n, uint8_t param, size_t maxpiece, outcome *o)
{
    memset(o, 0, sizeof *o);
    o->text.stop_at = param & 64 ? 3 : 0;
    o->res.ttft = -1;
    remote_sse s = {.fn = on_text, .user = &o->text, .res = &o->res, .t0 = 0};
    uint32_t r = 0x9e3779b9u ^ param ^ (uint32_t)n << 8;
    size_t i = 0;
    while (i < n && !s.stop) {
        size_t k = maxpiece ? 1 + next(&r) % maxpiece : n;
        if (k > n - i)
            k = n - i;
        remote_sse_feed(&s, body + i, k);
        i += k;
    }
    if (!s.stop || s.stop == STOP_DONE)
        remote_sse_end(&s, true);
    o->stop = s.stop;
    o->fin = s.fin;
    o->error = s.error;
    o->emitted = s.emitted;
    remote_sse_free(&s);
}

static bool known_error(const char *e)
{
    static const char *const all[] = {REMOTE_E_OOM,   REMOTE_E_MALFORMED, REMOTE_E_BADJSON, REMOTE_E_LONG,
                                      REMOTE_E_BIG,   REMOTE_E_EARLY,     REMOTE_E_EMPTY,   REMOTE_E_NOANSWER,
                                      REMOTE_E_SERVER};
    for (size_t i = 0; e && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(e, all[i])) /* the same text: literals need not share an address across files */
            return true;
    return false;
}

static void check(const outcome *o, const char *how)
{
    if (o->stop == STOP_FAIL ? !known_error(o->error) : o->error != NULL) {
        fprintf(stderr, "%s: stop %d with error %s\n", how, o->stop, o->error ? o->error : "(none)");
        abort();
    }
    if (o->res.complete && (o->stop != STOP_NONE && o->stop != STOP_DONE)) {
        fprintf(stderr, "%s: complete, yet stopped (%d)\n", how, o->stop);
        abort();
    }
    if (o->stop == STOP_USER && (!o->text.stop_at || o->text.pieces != o->text.stop_at)) {
        fprintf(stderr, "%s: a user stop after %d pieces (asked at %d)\n", how, o->text.pieces, o->text.stop_at);
        abort();
    }
    if (o->emitted != (o->text.pieces > 0) || (o->res.ttft >= 0) != o->emitted) {
        fprintf(stderr, "%s: emitted %d with %d pieces, ttft %g\n", how, o->emitted, o->text.pieces, o->res.ttft);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t param = data[0];
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    outcome whole, split;
    run(body, n, param, 0, &whole);
    run(body, n, param, (size_t)(param & 63) + 1, &split);
    check(&whole, "in one piece");
    check(&split, "split");
    if (whole.stop != split.stop || whole.fin != split.fin || (whole.error != split.error && (!whole.error || !split.error || strcmp(whole.error, split.error))) ||
        whole.res.complete != split.res.complete || whole.res.n_tokens != split.res.n_tokens ||
        whole.res.prompt_tokens != split.res.prompt_tokens || whole.text.len != split.text.len ||
        (whole.text.len && memcmp(whole.text.text, split.text.text, whole.text.len))) {
        fprintf(stderr,
                "split delivery changed the outcome: stop %d/%d fin %d/%d error %s/%s complete %d/%d "
                "tokens %zu/%zu prompt %zu/%zu text %zu/%zu bytes\n",
                whole.stop, split.stop, whole.fin, split.fin, whole.error ? whole.error : "-",
                split.error ? split.error : "-", whole.res.complete, split.res.complete, whole.res.n_tokens,
                split.res.n_tokens, whole.res.prompt_tokens, split.res.prompt_tokens, whole.text.len,
                split.text.len);
        abort();
    }
    free(whole.text.text);
    free(split.text.text);
    return 0;
}
