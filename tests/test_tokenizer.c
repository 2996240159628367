/*
 * test_tokenizer.c - the o200k_harmony tokenizer against the oracle: every
 * case of tokenizer_cases.tsv (special tokens not recognised) and
 * tokenizer_special_cases.tsv (recognised) encodes to the reference ids
 * and decodes back; the tiny model's 2090-token vocabulary finds its
 * specials by name and encodes its chat prompt like the reference; the
 * streaming decoder never emits partial UTF-8; invalid UTF-8 and hostile
 * inputs round-trip byte for byte.
 *
 * usage: test_tokenizer SHARED_DIR   (the ../shared folder beside the clone)
 */
#include "check.h"
#include "test_gguf_image.h"
#include "test_util.h"
#include "utf8_check.h"
#include "llm/gguf.h"
#include "llm/tokenizer.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *shared;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


/* Concatenated bytes of ids (malloc'd). */
static char *join_bytes(const relief_tokenizer *t, const int32_t *ids, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        if (tok_bytes(t, ids[i], &l))
            total += l;
    }
    char *s = malloc(total + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *b = tok_bytes(t, ids[i], &l);
        if (b) {
            memcpy(s + o, b, l);
            o += l;
        }
    }
    s[o] = '\0';
    *len = o;
    return s;
}

/* Streams ids through the decoder; checks every chunk is whole UTF-8 and
 * returns the concatenation (malloc'd). */
static char *stream_decode(const relief_tokenizer *t, const int32_t *ids, size_t n, size_t *len, int *partial_tokens)
{
    tok_decoder d = {0};
    size_t cap = 64, o = 0;
    char *s = malloc(cap);
    char out[512];
    for (size_t i = 0; s && i <= n; i++) {
        size_t k = i < n ? tok_decode_next(t, &d, ids[i], out, sizeof out) : tok_decoder_flush(&d, out, sizeof out);
        CHECK_MSG(valid_utf8((unsigned char *)out, k), "token %zu gave a partial UTF-8 chunk", i);
        if (i < n && partial_tokens) {
            size_t bl;
            const char *b = tok_bytes(t, ids[i], &bl);
            if (b && !valid_utf8((const unsigned char *)b, bl))
                (*partial_tokens)++;
        }
        while (o + k + 1 > cap) {
            cap *= 2;
            char *p = realloc(s, cap);
            if (!p) {
                free(s);
                return NULL;
            }
            s = p;
        }
        memcpy(s + o, out, k);
        o += k;
    }
    if (s)
        s[o] = '\0';
    *len = o;
    return s;
}

static int parse_ids(const char *s, int32_t **ids, size_t *n)
{
    size_t cap = 16;
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    if (!*ids)
        return -1;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        if (*n == cap) {
            cap *= 2;
            int32_t *p = realloc(*ids, cap * sizeof *p);
            if (!p)
                return -1;
            *ids = p;
        }
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
        while (*s == ' ' || *s == '\n' || *s == '\r')
            s++;
    }
    return 0;
}

/* Runs every case of a TSV file; returns the number of cases. */
static size_t run_cases(const relief_tokenizer *t, const char *file, bool special, double *max_ms, size_t *max_len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/oracle/%s", shared, file);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f)
        return 0;
    char *line = NULL;
    size_t lcap = 0, cases = 0, ok = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        char *tab1 = strchr(line, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        CHECK_MSG(tab2 != NULL, "%s: malformed line", file);
        if (!tab2)
            continue;
        json_error_t jerr;
        json_t *js = json_loadb(tab1 + 1, (size_t)(tab2 - tab1 - 1), JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        CHECK_MSG(js && json_is_string(js), "%s: bad JSON string: %s", file, jerr.text);
        if (!js || !json_is_string(js)) {
            json_decref(js);
            continue;
        }
        const char *text = json_string_value(js);
        size_t tlen = json_string_length(js);
        int32_t *want = NULL, *got = NULL;
        size_t nwant = 0, ngot = 0;
        CHECK(parse_ids(tab2 + 1, &want, &nwant) == 0);
        double t0 = now_ms();
        int rc = tok_encode(t, text, tlen, special, &got, &ngot);
        double dt = now_ms() - t0;
        if (tlen > *max_len) {
            *max_len = tlen;
            *max_ms = dt;
        }
        cases++;
        bool same = rc == 0 && ngot == nwant && (nwant == 0 || !memcmp(got, want, nwant * sizeof *got));
        if (!same) {
            check_count++;
            check_failures++;
            fprintf(stderr, "%s case %.*s: ids differ (%zu vs %zu expected)\n  text: %.200s\n  got: ", file,
                    (int)(tab1 - line), line, ngot, nwant, text);
            for (size_t i = 0; i < ngot && i < 40; i++)
                fprintf(stderr, "%d ", got[i]);
            fprintf(stderr, "\n  want:");
            for (size_t i = 0; i < nwant && i < 40; i++)
                fprintf(stderr, " %d", want[i]);
            fputc('\n', stderr);
        } else
            ok++;
        if (rc == 0) {
            /* Decoding gives the text back, except where the text used a
             * second name of a token ("<|reserved_200018|>" is also
             * "<|endofprompt|>"): then the decoded text must encode the same. */
            size_t dl, nre = 0;
            int32_t *re = NULL;
            char *back = join_bytes(t, got, ngot, &dl);
            bool same_text = back && dl == tlen && !memcmp(back, text, tlen);
            if (!same_text && back && tok_encode(t, back, dl, special, &re, &nre) == 0)
                same_text = nre == ngot && !memcmp(re, got, ngot * sizeof *got);
            free(re);
            CHECK_MSG(same_text, "%s case %.*s: decode differs", file, (int)(tab1 - line), line);
            /* Streaming gives the same text (all cases are valid UTF-8). */
            size_t sl;
            char *streamed = stream_decode(t, got, ngot, &sl, NULL);
            CHECK_MSG(back && streamed && sl == dl && !memcmp(streamed, back, dl),
                      "%s case %.*s: streaming decode differs", file, (int)(tab1 - line), line);
            free(streamed);
            free(back);
        }
        free(want);
        free(got);
        json_decref(js);
    }
    free(line);
    fclose(f);
    printf("%s: %zu/%zu cases encode to the reference ids\n", file, ok, cases);
    return cases;
}

static void test_oracle(void)
{
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/oracle/o200k_harmony.vocab.gguf", shared);
    gguf_file *g = gguf_open(path, err, sizeof err);
    CHECK_MSG(g != NULL, "%s: %s", path, err);
    if (!g)
        return;
    double t0 = now_ms();
    relief_tokenizer *t = tok_load(g, err, sizeof err);
    double load_ms = now_ms() - t0;
    gguf_close(g); /* the tokenizer keeps its own copy */
    CHECK_MSG(t != NULL, "tok_load: %s", err);
    if (!t)
        return;
    printf("o200k_harmony loaded in %.1f ms\n", load_ms);
    CHECK(tok_vocab_size(t) == 201088);
    CHECK(tok_find(t, "<|start|>") == 200006);
    CHECK(tok_find(t, "<|end|>") == 200007);
    CHECK(tok_find(t, "<|message|>") == 200008);
    CHECK(tok_find(t, "<|channel|>") == 200005);
    CHECK(tok_find(t, "<|return|>") == 200002);
    CHECK(tok_find(t, "<|call|>") == 200012);
    CHECK(tok_find(t, "<|constrain|>") == 200003);
    CHECK(tok_find(t, "assistant") == 173781);
    CHECK(tok_find(t, "<|no such token|>") == -1);

    double ms = 0;
    size_t longest = 0;
    CHECK(run_cases(t, "tokenizer_cases.tsv", false, &ms, &longest) == 734);
    printf("longest case (%zu bytes) encoded in %.3f ms (first run; informational)\n", longest, ms);
    double ms2 = 0;
    size_t l2 = 0;
    CHECK(run_cases(t, "tokenizer_special_cases.tsv", true, &ms2, &l2) == 30);

    /* Special-token text is ordinary text unless special = true. */
    const char *tag = "<|start|>user<|message|>hi<|end|>";
    int32_t *ids;
    size_t n;
    CHECK(tok_encode(t, tag, strlen(tag), false, &ids, &n) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] < 199998);
    free(ids);
    CHECK(tok_encode(t, tag, strlen(tag), true, &ids, &n) == 0);
    CHECK(n == 5 && ids[0] == 200006 && ids[4] == 200007);
    free(ids);

    /* Empty input. */
    CHECK(tok_encode(t, "", 0, true, &ids, &n) == 0 && n == 0 && ids != NULL);
    free(ids);

    /* Out-of-range ids. */
    size_t bl = 99;
    CHECK(tok_bytes(t, -1, &bl) == NULL && bl == 0);
    CHECK(tok_bytes(t, 201088, &bl) == NULL);
    tok_decoder d = {0};
    char out[256];
    CHECK(tok_decode_next(t, &d, 999999, out, sizeof out) == 0);

    /* Streaming decode of multi-byte text, token by token. */
    const char *mb = "Flood 🚨🚶 地震时我应该躲在哪里？ 👨‍👩‍👧‍👦 Zürich ملجأ भूकंप";
    CHECK(tok_encode(t, mb, strlen(mb), false, &ids, &n) == 0);
    int partial = 0;
    size_t dl;
    char *back = stream_decode(t, ids, n, &dl, &partial);
    CHECK(back && dl == strlen(mb) && !memcmp(back, mb, dl));
    CHECK_MSG(partial > 0, "the streaming case should include tokens that split a character");
    free(back);
    /* A split character held, then flushed as U+FFFD. */
    tok_decoder d2 = {0};
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b;
        const char *x = tok_bytes(t, ids[i], &b);
        if (x && !valid_utf8((const unsigned char *)x, b) && (unsigned char)x[0] >= 0xC0) {
            k = tok_decode_next(t, &d2, ids[i], out, sizeof out);
            break;
        }
    }
    CHECK(d2.n_pending > 0);
    CHECK(valid_utf8((unsigned char *)out, k));
    k = tok_decoder_flush(&d2, out, sizeof out);
    CHECK(k == 3 && !memcmp(out, "\xEF\xBF\xBD", 3) && d2.n_pending == 0);
    free(ids);

    /* Invalid UTF-8: encoded byte by byte where invalid, round-trips exactly;
     * the decoder turns the invalid bytes into U+FFFD. */
    static const char bad[] = "abc\xff\xfe def \xe2\x82 x \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 ok\x80\0nul \xe2\x82";
    size_t blen = sizeof bad - 1;
    CHECK(tok_encode(t, bad, blen, true, &ids, &n) == 0);
    back = join_bytes(t, ids, n, &dl);
    CHECK(back && dl == blen && !memcmp(back, bad, blen));
    free(back);
    back = stream_decode(t, ids, n, &dl, NULL);
    CHECK(back && valid_utf8((unsigned char *)back, dl));
    CHECK(back && strstr(back, "abc\xEF\xBF\xBD\xEF\xBF\xBD def \xEF\xBF\xBD x ") == back);
    free(back);
    free(ids);

    /* Hostile sizes and pseudo-random bytes round-trip. */
    size_t big = 200000;
    char *buf = malloc(big);
    CHECK(buf != NULL);
    if (buf) {
        const char *fills[] = {"a", " ", "7", "\n", "A", "\xc3\xa9", "\xe0\xa4\x95\xe0\xa5\x8d", "!", " \t", "<|"};
        for (size_t fi = 0; fi < sizeof fills / sizeof fills[0]; fi++) {
            size_t fl = strlen(fills[fi]);
            for (size_t i = 0; i < big; i++)
                buf[i] = fills[fi][i % fl];
            size_t len = big - big % fl;
            t0 = now_ms();
            int rc = tok_encode(t, buf, len, true, &ids, &n);
            double dt = now_ms() - t0;
            CHECK(rc == 0);
            if (rc == 0) {
                back = join_bytes(t, ids, n, &dl);
                CHECK_MSG(back && dl == len && !memcmp(back, buf, len), "fill %zu does not round-trip", fi);
                free(back);
                free(ids);
            }
            if (dt > 2000)
                printf("note: %zu bytes of fill %zu took %.0f ms\n", len, fi, dt);
        }
        uint64_t x = 88172645463325252ull;
        for (int round = 0; round < 200; round++) {
            size_t len = (size_t)(x % 2000);
            for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                /* biased towards ASCII, '<|', and UTF-8 lead/continuation bytes */
                unsigned r = (unsigned)(x >> 24) & 0xff;
                buf[i] = (char)(r < 96 ? 0x20 + r % 95 : r < 110 ? (unsigned)"<|>"[r % 3] : r);
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (tok_encode(t, buf, len, round & 1, &ids, &n) == 0) {
                back = join_bytes(t, ids, n, &dl);
                CHECK_MSG(back && dl == len && !memcmp(back, buf, len), "random round %d does not round-trip", round);
                free(back);
                free(ids);
            } else
                CHECK(0);
        }
        free(buf);
    }
    tok_free(t);
}

static void test_tiny(void)
{
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/oracle/tiny/tiny-f32.gguf", shared);
    gguf_file *g = gguf_open(path, err, sizeof err);
    CHECK_MSG(g != NULL, "%s: %s", path, err);
    if (!g)
        return;
    relief_tokenizer *t = tok_load(g, err, sizeof err);
    gguf_close(g);
    CHECK_MSG(t != NULL, "tok_load(tiny): %s", err);
    if (!t)
        return;
    CHECK(tok_vocab_size(t) == 2090);
    CHECK(tok_find(t, "<|start|>") == 1008);
    CHECK(tok_find(t, "<|message|>") == 1010);
    CHECK(tok_find(t, "<|end|>") == 1009);
    CHECK(tok_find(t, "<|return|>") == 1004);
    CHECK(tok_find(t, "<|channel|>") == 1007);
    CHECK(tok_find(t, "<|call|>") == 1014);
    CHECK(tok_find(t, "<|constrain|>") == 1005);

    /* The chat prompt of the tiny references (text in build_info.json, ids in prompts/chat.txt). */
    snprintf(path, sizeof path, "%s/oracle/tiny/build_info.json", shared);
    json_error_t jerr;
    json_t *info = json_load_file(path, 0, &jerr);
    CHECK_MSG(info != NULL, "%s: %s", path, jerr.text);
    json_t *chat = info ? json_object_get(info, "chat_text") : NULL;
    snprintf(path, sizeof path, "%s/oracle/tiny/prompts/chat.txt", shared);
    size_t clen;
    char *want_txt = test_read_file(path, &clen);
    CHECK_MSG(chat && json_is_string(chat) && want_txt, "tiny chat prompt missing");
    if (chat && json_is_string(chat) && want_txt) {
        int32_t *want, *got;
        size_t nw, ng;
        CHECK(parse_ids(want_txt, &want, &nw) == 0);
        CHECK(tok_encode(t, json_string_value(chat), json_string_length(chat), true, &got, &ng) == 0);
        CHECK_MSG(ng == nw && !memcmp(got, want, nw * sizeof *got), "tiny chat prompt: %zu ids vs %zu", ng, nw);
        free(want);
        free(got);
    }
    free(want_txt);
    json_decref(info);

    /* Any text encodes (the small vocabulary falls back to short tokens) and round-trips. */
    const char *txt = "Evacuate now: water rising 2 m/h! 避难所 🚨";
    int32_t *ids;
    size_t n, dl;
    CHECK(tok_encode(t, txt, strlen(txt), false, &ids, &n) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] >= 0 && ids[i] < 1000);
    char *back = join_bytes(t, ids, n, &dl);
    CHECK(back && dl == strlen(txt) && !memcmp(back, txt, dl));
    free(back);
    free(ids);
    tok_free(t);
}

/* The GPT-2 byte-level spelling of byte b (UTF-8, NUL-terminated in out[3]). */
static void byte_level(int b, char out[3])
{
    int cp = b, extra = 0;
    for (int x = 0; x < 256; x++) {
        bool printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
        if (!printable) {
            if (x == b)
                cp = 256 + extra;
            extra++;
        }
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = '\0';
    } else {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = '\0';
    }
}

/* Builds a vocabulary of the 256 bytes (minus `skip`, if >= 0), "ab",
 * "abab" and "<|end|>", with the given merges; loads it. */
static relief_tokenizer *synthetic(const char *pre, int skip, char **merges, size_t n_merges, char *err, size_t cap)
{
    char *toks[259], bytes[256][3];
    size_t n = 0;
    for (int b = 0; b < 256; b++) {
        byte_level(b, bytes[b]);
        if (b != skip)
            toks[n++] = bytes[b];
    }
    toks[n++] = "ab";
    toks[n++] = "abab";
    toks[n++] = "<|end|>";
    gguf_image im = {0};
    gi_bytes(&im, "GGUF", 4);
    gi_u32(&im, 3);
    gi_u64(&im, 0);
    gi_u64(&im, pre ? 4 : 3);
    gi_kv_str(&im, "tokenizer.ggml.model", "gpt2");
    if (pre)
        gi_kv_str(&im, "tokenizer.ggml.pre", pre);
    gi_kv_strs(&im, "tokenizer.ggml.tokens", toks, n);
    gi_kv_strs(&im, "tokenizer.ggml.merges", merges, n_merges);
    relief_tokenizer *t = NULL;
    gguf_file *g = gguf_open_memory(im.b, im.n, err, cap);
    CHECK_MSG(g != NULL, "%s", err);
    if (g) {
        t = tok_load(g, err, cap);
        gguf_close(g);
    }
    gi_free(&im);
    return t;
}

/* Malformed tokenizer metadata is refused with a message naming the key; a
 * small synthetic vocabulary merges by rank. */
static void test_synthetic(void)
{
    char err[256] = "";
    gguf_image im = {0};
    gi_bytes(&im, "GGUF", 4);
    gi_u32(&im, 3);
    gi_u64(&im, 0);
    gi_u64(&im, 1);
    gi_kv_str(&im, "tokenizer.ggml.model", "llama");
    gguf_file *g = gguf_open_memory(im.b, im.n, err, sizeof err);
    CHECK_MSG(g != NULL, "%s", err);
    if (g) {
        CHECK(tok_load(g, err, sizeof err) == NULL);
        CHECK(strstr(err, "tokenizer.ggml.model") != NULL);
        gguf_close(g);
    }
    gi_free(&im);

    char *merges[] = {"a b", "ab ab"};
    relief_tokenizer *t = synthetic("llama-bpe", -1, merges, 2, err, sizeof err);
    CHECK(t == NULL && strstr(err, "tokenizer.ggml.pre"));
    tok_free(t);
    t = synthetic(NULL, 0, merges, 2, err, sizeof err);
    CHECK(t == NULL && strstr(err, "byte 0x00"));
    tok_free(t);
    char *nospace[] = {"ab"};
    t = synthetic(NULL, -1, nospace, 1, err, sizeof err);
    CHECK(t == NULL && strstr(err, "tokenizer.ggml.merges[0]"));
    tok_free(t);

    t = synthetic("gpt-4o", -1, merges, 2, err, sizeof err);
    CHECK_MSG(t != NULL, "%s", err);
    if (t) {
        CHECK(tok_vocab_size(t) == 259);
        int32_t ab = tok_find(t, "ab"), abab = tok_find(t, "abab"), end = tok_find(t, "<|end|>");
        CHECK(ab == 256 && abab == 257 && end == 258);
        int32_t *ids;
        size_t n;
        /* "ababab" is one piece: a+b twice (rank 0, leftmost first) then ab+ab. */
        CHECK(tok_encode(t, "ababab<|end|>", 13, true, &ids, &n) == 0);
        CHECK(n == 3 && ids[0] == abab && ids[1] == ab && ids[2] == end);
        free(ids);
        CHECK(tok_encode(t, "<|end|>", 7, false, &ids, &n) == 0);
        CHECK(n == 7);
        free(ids);
        tok_free(t);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SHARED_DIR\n", argv[0]);
        return 2;
    }
    shared = argv[1];
    test_oracle();
    test_tiny();
    test_synthetic();
    return check_summary("tokenizer");
}
