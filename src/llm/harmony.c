/*
 * harmony.c - renders conversations in the harmony format to token ids and
 * parses a streamed completion back into messages (see harmony.h; rules in
 * ../shared/docs/harmony.md).
 *
 * Rendering appends special ids directly and tokenizes every text piece
 * separately with special tokens not recognised; the o200k pre-tokenizer
 * splits at those same boundaries, so the ids equal those of the whole
 * rendered text. Parsing is a small state machine over token ids: header
 * bytes are collected up to <|message|> and then split into author,
 * channel, recipient and content type; content goes through the
 * tokenizer's streaming decoder so that no partial UTF-8 is ever emitted.
 */
#include "harmony.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SP_START, SP_END, SP_MESSAGE, SP_CHANNEL, SP_CONSTRAIN, SP_RETURN, SP_CALL, SP_COUNT };

static const char *const SPECIAL_NAMES[SP_COUNT] = {
    "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>", "<|call|>",
};

/* Longest header (bytes between <|start|> and <|message|>) the parser accepts. */
#define HARMONY_MAX_HEADER 1024

struct harmony {
    const relief_tokenizer *tok;
    int32_t sp[SP_COUNT];
    uint8_t *control; /* bitmap over the vocabulary: control tokens ("<|...|>" found by name) */
    size_t n_vocab;
};

harmony *harmony_new(const relief_tokenizer *t, char *err, size_t cap)
{
    if (!t) {
        snprintf(err, cap, "no tokenizer");
        return NULL;
    }
    harmony *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    h->tok = t;
    for (int i = 0; i < SP_COUNT; i++) {
        h->sp[i] = tok_find(t, SPECIAL_NAMES[i]);
        if (h->sp[i] < 0) {
            snprintf(err, cap, "the vocabulary has no %s token", SPECIAL_NAMES[i]);
            free(h);
            return NULL;
        }
    }
    h->n_vocab = tok_vocab_size(t);
    h->control = calloc(h->n_vocab / 8 + 1, 1);
    if (!h->control) {
        snprintf(err, cap, "out of memory");
        free(h);
        return NULL;
    }
    /* A control token: text "<|...|>" that names this very id. (No ordinary
     * o200k token looks like that; an ordinary one that did would be found
     * under its text only if no control token shared it.) */
    char name[256]; /* longer texts are not control tokens of harmony */
    for (size_t id = 0; id < h->n_vocab; id++) {
        size_t l;
        const char *s = tok_bytes(t, (int32_t)id, &l);
        if (!s || l < 5 || l >= sizeof name || s[0] != '<' || s[1] != '|' || s[l - 2] != '|' || s[l - 1] != '>')
            continue;
        memcpy(name, s, l);
        name[l] = '\0';
        if (tok_find(t, name) == (int32_t)id)
            h->control[id / 8] |= (uint8_t)(1u << (id % 8));
    }
    return h;
}

void harmony_free(harmony *h)
{
    if (!h)
        return;
    free(h->control);
    free(h);
}

int32_t harmony_special(const harmony *h, const char *name)
{
    if (!h || !name)
        return -1;
    for (int i = 0; i < SP_COUNT; i++)
        if (!strcmp(name, SPECIAL_NAMES[i]))
            return h->sp[i];
    return -1;
}

static bool is_control(const harmony *h, int32_t id)
{
    return id >= 0 && (size_t)id < h->n_vocab && (h->control[id / 8] >> (id % 8) & 1);
}

/* ---- growing buffers ---- */

typedef struct {
    int32_t *v;
    size_t n, cap;
    bool oom;
} idbuf;

static void ib_add(idbuf *b, const int32_t *ids, size_t n)
{
    if (b->oom || !n)
        return;
    if (n > SIZE_MAX / 8 - b->n) {
        b->oom = true;
        return;
    }
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n)
            nc *= 2;
        int32_t *p = realloc(b->v, nc * sizeof *p);
        if (!p) {
            b->oom = true;
            return;
        }
        b->v = p;
        b->cap = nc;
    }
    memcpy(b->v + b->n, ids, n * sizeof *ids);
    b->n += n;
}

static void ib_id(idbuf *b, int32_t id)
{
    ib_add(b, &id, 1);
}

/* Appends the tokens of text (special tokens not recognised). */
static void ib_text(const harmony *h, idbuf *b, const char *s, size_t n)
{
    if (b->oom || !n)
        return;
    int32_t *ids;
    size_t k;
    if (tok_encode(h->tok, s, n, false, &ids, &k) < 0) {
        b->oom = true;
        return;
    }
    ib_add(b, ids, k);
    free(ids);
}

/* ---- rendering ---- */

char *harmony_system_text(const harmony_system *s)
{
    static const harmony_system defaults = {0};
    if (!s)
        s = &defaults;
    strbuf b = {0};
    strbuf_str(&b, s->identity ? s->identity : "You are ChatGPT, a large language model trained by OpenAI.");
    strbuf_str(&b, "\nKnowledge cutoff: ");
    strbuf_str(&b, s->knowledge_cutoff ? s->knowledge_cutoff : "2024-06");
    if (s->date && *s->date) {
        strbuf_str(&b, "\nCurrent date: ");
        strbuf_str(&b, s->date);
    }
    strbuf_str(&b, "\n\nReasoning: ");
    strbuf_str(&b, s->effort == HARMONY_EFFORT_LOW ? "low" : s->effort == HARMONY_EFFORT_HIGH ? "high" : "medium");
    strbuf_str(&b, "\n\n# Valid channels: analysis, commentary, final. Channel must be included for every message.");
    if (s->function_tools)
        strbuf_str(&b, "\nCalls to these tools must go to the commentary channel: 'functions'.");
    return strbuf_finish(&b);
}

char *harmony_developer_text(const char *instructions, const char *tools)
{
    if (!instructions && !tools)
        return NULL;
    strbuf b = {0};
    if (instructions) {
        strbuf_str(&b, "# Instructions\n\n");
        strbuf_str(&b, instructions);
    }
    if (tools) {
        if (instructions)
            strbuf_str(&b, "\n\n");
        strbuf_str(&b, tools);
    }
    return strbuf_finish(&b);
}

static void render_message(const harmony *h, idbuf *b, const harmony_message *m)
{
    size_t al = strlen(m->author);
    bool rec = m->recipient != NULL;
    bool rec_late = rec && m->recipient_after_channel && m->channel;
    ib_id(b, h->sp[SP_START]);
    /* Header text: "AUTHOR[ to=R]" then "<|channel|>" "CHANNEL[ to=R][ ]" "<|constrain|>" "TYPE". */
    strbuf t = {0};
    strbuf_add(&t, m->author, al);
    if (rec && !rec_late) {
        strbuf_str(&t, " to=");
        strbuf_str(&t, m->recipient);
    }
    if (m->channel) {
        ib_text(h, b, t.p, t.n);
        t.n = 0;
        ib_id(b, h->sp[SP_CHANNEL]);
        strbuf_str(&t, m->channel);
        if (rec_late) {
            strbuf_str(&t, " to=");
            strbuf_str(&t, m->recipient);
        }
    }
    if (m->content_type) {
        strbuf_str(&t, " ");
        ib_text(h, b, t.p, t.n);
        t.n = 0;
        ib_id(b, h->sp[SP_CONSTRAIN]);
        strbuf_str(&t, m->content_type);
    }
    ib_text(h, b, t.p, t.n);
    if (t.failed)
        b->oom = true;
    free(t.p);
    ib_id(b, h->sp[SP_MESSAGE]);
    if (m->content)
        ib_text(h, b, m->content, m->content_len ? m->content_len : strlen(m->content));
    int32_t end = h->sp[SP_END];
    switch (m->term) {
    case HARMONY_TERM_END:
        break;
    case HARMONY_TERM_CALL:
        end = h->sp[SP_CALL];
        break;
    case HARMONY_TERM_RETURN:
        end = h->sp[SP_RETURN];
        break;
    default:
        if (rec && !strcmp(m->author, "assistant"))
            end = h->sp[SP_CALL];
    }
    ib_id(b, end);
}

static void render_text_message(const harmony *h, idbuf *b, const char *author, const char *text)
{
    if (!text) {
        b->oom = true;
        return;
    }
    harmony_message m = {.author = author, .content = text};
    render_message(h, b, &m);
}

int harmony_render(const harmony *h, const harmony_convo *c, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!h || !c || (c->n_messages && !c->messages))
        return -1;
    for (size_t i = 0; i < c->n_messages; i++)
        if (!c->messages[i].author)
            return -1;
    idbuf b = {0};
    if (c->system) {
        char *s = harmony_system_text(c->system);
        render_text_message(h, &b, "system", s);
        free(s);
    }
    if (c->instructions || c->tools) {
        char *s = harmony_developer_text(c->instructions, c->tools);
        render_text_message(h, &b, "developer", s);
        free(s);
    }
    for (size_t i = 0; i < c->n_messages; i++)
        render_message(h, &b, &c->messages[i]);
    if (c->open == HARMONY_OPEN_ASSISTANT || c->open == HARMONY_OPEN_FINAL) {
        ib_id(&b, h->sp[SP_START]);
        ib_text(h, &b, "assistant", 9);
        if (c->open == HARMONY_OPEN_FINAL) {
            ib_id(&b, h->sp[SP_CHANNEL]);
            ib_text(h, &b, "final", 5);
            ib_id(&b, h->sp[SP_MESSAGE]);
        }
    }
    if (b.oom) {
        free(b.v);
        return -1;
    }
    if (!b.v && !(b.v = malloc(sizeof *b.v)))
        return -1;
    *ids = b.v;
    *n = b.n;
    return 0;
}

/* ---- parsing ---- */

enum { P_HEADER, P_CONTENT, P_BETWEEN, P_DONE, P_ERROR };

struct harmony_parser {
    const harmony *h;
    int state;
    bool role_first; /* the header began after <|start|>: its first word is the author */
    strbuf hdr;
    harmony_parsed *msgs;
    size_t *ccap; /* capacity of each message's content */
    size_t n, cap;
    tok_decoder dec;
    char *out; /* text of the current event */
    size_t ocap;
    char err[200];
};

static void parsed_free(harmony_parsed *m)
{
    free(m->author);
    free(m->channel);
    free(m->recipient);
    free(m->content_type);
    free(m->content);
}

void harmony_parser_free(harmony_parser *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        parsed_free(&p->msgs[i]);
    free(p->msgs);
    free(p->ccap);
    free(p->hdr.p);
    free(p->out);
    free(p);
}

/* Enters the error state; the message is what, followed by up to 40 bytes
 * of the offending token text when tok is not NULL. */
static int fail_tok(harmony_parser *p, const char *what, const char *tok, size_t len)
{
    p->state = P_ERROR;
    if (tok)
        snprintf(p->err, sizeof p->err, "%s '%.*s'", what, (int)(len > 40 ? 40 : len), tok);
    else
        snprintf(p->err, sizeof p->err, "%s", what);
    return -1;
}

static int fail(harmony_parser *p, const char *what)
{
    return fail_tok(p, what, NULL, 0);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Appends a message with the given header fields (taking ownership). */
static int push_message(harmony_parser *p, char *author, char *channel, char *recipient, char *ctype)
{
    char *content = calloc(1, 16);
    if (!author || !channel || !content || p->n == SIZE_MAX / sizeof *p->msgs / 2)
        goto oom;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 4;
        harmony_parsed *m = realloc(p->msgs, nc * sizeof *m);
        if (m)
            p->msgs = m;
        size_t *cc = realloc(p->ccap, nc * sizeof *cc);
        if (cc)
            p->ccap = cc;
        if (!m || !cc)
            goto oom;
        p->cap = nc;
    }
    p->msgs[p->n] = (harmony_parsed){author, channel, recipient, ctype, content, 0, HARMONY_STOP_NONE};
    p->ccap[p->n] = 16;
    p->n++;
    return 0;
oom:
    free(author);
    free(channel);
    free(recipient);
    free(ctype);
    free(content);
    return fail(p, "out of memory");
}

harmony_parser *harmony_parser_new(const harmony *h, harmony_open open)
{
    if (!h)
        return NULL;
    harmony_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->h = h;
    if (open == HARMONY_OPEN_FINAL) {
        if (push_message(p, dup_n("assistant", 9), dup_n("final", 5), NULL, NULL) < 0) {
            harmony_parser_free(p);
            return NULL;
        }
        p->state = P_CONTENT;
    } else if (open == HARMONY_OPEN_NONE)
        p->state = P_BETWEEN;
    else
        p->state = P_HEADER;
    return p;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool starts(const char *s, size_t n, const char *pre)
{
    size_t l = strlen(pre);
    return n >= l && !memcmp(s, pre, l);
}

/* Splits the collected header into the fields of a new message. */
static int finish_header(harmony_parser *p)
{
    static const char CH[] = "<|channel|>", CO[] = "<|constrain|>";
    const char *hs = p->hdr.p ? p->hdr.p : "";
    size_t hn = p->hdr.n;
    /* Channel: after <|channel|> up to whitespace or '<'; the rest is re-joined with a space. */
    char *channel = NULL;
    strbuf w = {0};
    const char *c = NULL;
    for (size_t i = 0; i + sizeof CH - 1 <= hn; i++)
        if (!memcmp(hs + i, CH, sizeof CH - 1)) {
            c = hs + i;
            break;
        }
    if (c) {
        const char *a = c + sizeof CH - 1, *e = a;
        while (e < hs + hn && !is_space(*e) && *e != '<')
            e++;
        channel = dup_n(a, (size_t)(e - a));
        strbuf_add(&w, hs, (size_t)(c - hs));
        strbuf_add(&w, " ", 1);
        strbuf_add(&w, e, (size_t)(hs + hn - e));
    } else {
        channel = dup_n("", 0);
        strbuf_add(&w, hs, hn);
    }
    /* Split into parts at whitespace and before each <|constrain|>. */
    char *author = NULL, *recipient = NULL, *ctype = NULL;
    const char *bad = NULL;
    bool first = true, oom = w.failed || !channel;
    size_t i = 0, n = w.n;
    const char *s = w.p ? w.p : "";
    while (!oom && !bad) {
        while (i < n && is_space(s[i]))
            i++;
        if (i >= n)
            break;
        size_t j = i + 1;
        while (j < n && !is_space(s[j]) && !starts(s + j, n - j, CO))
            j++;
        const char *part = s + i;
        size_t pl = j - i;
        i = j;
        bool lead = first;
        first = false;
        if (starts(part, pl, "to=")) {
            if (recipient || pl == 3)
                bad = "a second or empty recipient";
            else
                oom = !(recipient = dup_n(part + 3, pl - 3));
        } else if (lead && p->role_first && !starts(part, pl, "<|"))
            oom = !(author = dup_n(part, pl));
        else if (ctype || (starts(part, pl, "<|") && !starts(part, pl, CO)))
            bad = "unexpected text";
        else
            oom = !(ctype = dup_n(part, pl));
    }
    free(w.p);
    if (bad || oom) {
        free(channel);
        free(author);
        free(recipient);
        free(ctype);
        if (oom)
            return fail(p, "out of memory");
        return fail_tok(p, "malformed message header:", bad, strlen(bad));
    }
    if (!author)
        author = dup_n(p->role_first ? "" : "assistant", p->role_first ? 0 : 9);
    p->hdr.n = 0;
    return push_message(p, author, channel, recipient, ctype);
}

/* Room for the event text of one token of len bytes (+ a flushed character). */
static int reserve_out(harmony_parser *p, size_t len)
{
    if (len > SIZE_MAX / 4 - 16)
        return fail(p, "token too long");
    size_t need = 3 * (len + 4) + 3;
    if (need > p->ocap) {
        char *o = realloc(p->out, need);
        if (!o)
            return fail(p, "out of memory");
        p->out = o;
        p->ocap = need;
    }
    return 0;
}

/* Appends event text to the open message. */
static int append_content(harmony_parser *p, const char *s, size_t n)
{
    harmony_parsed *m = &p->msgs[p->n - 1];
    size_t *cap = &p->ccap[p->n - 1];
    if (n > SIZE_MAX / 2 - m->content_len)
        return fail(p, "content too long");
    if (m->content_len + n + 1 > *cap) {
        size_t nc = *cap;
        while (nc < m->content_len + n + 1)
            nc *= 2;
        char *c = realloc(m->content, nc);
        if (!c)
            return fail(p, "out of memory");
        m->content = c;
        *cap = nc;
    }
    memcpy(m->content + m->content_len, s, n);
    m->content_len += n;
    m->content[m->content_len] = '\0';
    return 0;
}

/* Emits what the decoder holds (as U+FFFD) into the event and the message. */
static int flush_text(harmony_parser *p, harmony_event *ev)
{
    if (reserve_out(p, 0) < 0)
        return -1;
    size_t k = tok_decoder_flush(&p->dec, p->out, p->ocap);
    if (!k)
        return 0;
    ev->text = p->out;
    ev->text_len = k;
    return append_content(p, p->out, k);
}

int harmony_parser_feed(harmony_parser *p, int32_t id, harmony_event *ev)
{
    harmony_event dummy;
    if (!ev)
        ev = &dummy;
    *ev = (harmony_event){0};
    if (!p)
        return -1;
    const harmony *h = p->h;
    size_t blen = 0;
    const char *bytes = tok_bytes(h->tok, id, &blen);
    if (p->state == P_ERROR)
        return -1;
    if (!bytes) {
        char num[24];
        int l = snprintf(num, sizeof num, "%ld", (long)id);
        return fail_tok(p, "token id out of range:", num, l > 0 ? (size_t)l : 0);
    }
    bool ctl = is_control(h, id);
    switch (p->state) {
    case P_DONE:
        return fail(p, "token after the end of the completion");
    case P_BETWEEN:
        if (id != h->sp[SP_START])
            return fail_tok(p, "expected <|start|> after <|end|>, got", bytes, blen);
        p->state = P_HEADER;
        p->role_first = true;
        p->hdr.n = 0;
        return 0;
    case P_HEADER:
        if (id == h->sp[SP_MESSAGE]) {
            if (finish_header(p) < 0)
                return -1;
            p->state = P_CONTENT;
            p->dec = (tok_decoder){0};
            ev->header = true;
            return 0;
        }
        if (ctl && id != h->sp[SP_CHANNEL] && id != h->sp[SP_CONSTRAIN])
            return fail_tok(p, "unexpected special token in a message header:", bytes, blen);
        if (memchr(bytes, '\0', blen))
            return fail(p, "NUL byte in a message header");
        if (blen > HARMONY_MAX_HEADER - p->hdr.n)
            return fail(p, "message header longer than 1024 bytes");
        strbuf_add(&p->hdr, bytes, blen);
        return p->hdr.failed ? fail(p, "out of memory") : 0;
    case P_CONTENT:
        if (id == h->sp[SP_END] || id == h->sp[SP_RETURN] || id == h->sp[SP_CALL]) {
            if (flush_text(p, ev) < 0)
                return -1;
            harmony_stop st = id == h->sp[SP_END] ? HARMONY_STOP_END
                              : id == h->sp[SP_RETURN] ? HARMONY_STOP_RETURN
                                                       : HARMONY_STOP_CALL;
            p->msgs[p->n - 1].stop = st;
            ev->stop = st;
            p->state = st == HARMONY_STOP_END ? P_BETWEEN : P_DONE;
            return st == HARMONY_STOP_END ? 0 : 1;
        }
        if (ctl)
            return fail_tok(p, "unexpected special token in message content:", bytes, blen);
        if (reserve_out(p, blen) < 0)
            return -1;
        size_t k = tok_decode_next(h->tok, &p->dec, id, p->out, p->ocap);
        if (k) {
            ev->text = p->out;
            ev->text_len = k;
            return append_content(p, p->out, k);
        }
        return 0;
    default:
        return -1;
    }
}

int harmony_parser_finish(harmony_parser *p, harmony_event *ev)
{
    harmony_event dummy;
    if (!ev)
        ev = &dummy;
    *ev = (harmony_event){0};
    if (!p || p->state == P_ERROR)
        return -1;
    if (p->state == P_CONTENT)
        return flush_text(p, ev);
    return 0;
}

const harmony_parsed *harmony_parser_messages(const harmony_parser *p, size_t *n)
{
    *n = p ? p->n : 0;
    return p ? p->msgs : NULL;
}

const char *harmony_parser_error(const harmony_parser *p)
{
    return p && p->state == P_ERROR ? p->err : NULL;
}
