/*
 * fuzz_tokenizer.c - libFuzzer target: tokenizer encode and streaming
 * decode on arbitrary bytes, with the tiny test vocabulary (1000 o200k base
 * tokens + the harmony specials; see fuzz_common.h for its path).
 *
 * Each input is
 *  1. encoded with special tokens off and on; the ids must lie inside the
 *     vocabulary and their bytes (tok_bytes) must concatenate back to the
 *     input exactly (byte-level BPE loses nothing, invalid UTF-8 included),
 *     except that a "<|reserved_N|>" alias of a control token comes back
 *     as that token's own name;
 *  2. read as a sequence of 16-bit token ids (0xFFFF stands for -1, so
 *     negative and out-of-range ids occur) and decoded one id at a time
 *     with the streaming decoder into a 256-byte buffer, then flushed; all
 *     output must be valid UTF-8.
 * A violated property aborts (a finding), as does any sanitizer report.
 */
#include "fuzz_common.h"
#include "utf8_check.h"

#include <stdbool.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_vocab();
    return 0;
}

/* The length of "<|reserved_N|>" at p when that name is an alias of
 * control token id (a second name the tokenizer accepts, see
 * add_reserved_aliases in src/llm/tokenizer.c), else 0. */
static size_t alias_len(const relief_tokenizer *t, int32_t id, const uint8_t *p, size_t n)
{
    if (n < 14 || memcmp(p, "<|reserved_", 11))
        return 0;
    const uint8_t *end = memchr(p + 11, '|', n - 11 < 24 ? n - 11 : 24);
    if (!end || (size_t)(end - p) + 2 > n || end[1] != '>')
        return 0;
    char name[40];
    size_t l = (size_t)(end - p) + 2;
    memcpy(name, p, l);
    name[l] = '\0';
    return tok_find(t, name) == id ? l : 0;
}

static void encode_roundtrip(const relief_tokenizer *t, const uint8_t *data, size_t size, bool special)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (tok_encode(t, (const char *)data, size, special, &ids, &n) < 0)
        return; /* out of memory */
    size_t V = tok_vocab_size(t), off = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= V) {
            fprintf(stderr, "id %d out of range (vocabulary %zu)\n", ids[i], V);
            abort();
        }
        size_t len;
        const char *b = tok_bytes(t, ids[i], &len);
        size_t alias = special ? alias_len(t, ids[i], data + off, size - off) : 0;
        if (alias) {
            off += alias;
            continue;
        }
        if (!b || len > size - off || memcmp(b, data + off, len)) {
            fprintf(stderr, "encode (special %d) does not round-trip at token %zu (byte %zu)\n", special, i, off);
            abort();
        }
        off += len;
    }
    if (off != size) {
        fprintf(stderr, "encode (special %d) lost bytes: %zu of %zu\n", special, off, size);
        abort();
    }
    free(ids);
}

static void check_out(const char *out, size_t n, size_t cap)
{
    if (n > cap || !valid_utf8((const unsigned char *)out, n)) {
        fprintf(stderr, "decoder wrote %zu bytes (cap %zu), valid UTF-8: %d\n", n, cap,
                n <= cap && valid_utf8((const unsigned char *)out, n));
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const relief_tokenizer *t = fuzz_vocab();
    encode_roundtrip(t, data, size, false);
    encode_roundtrip(t, data, size, true);
    char text[40];
    size_t tl = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, tl);
    text[tl] = '\0';
    int32_t id = tok_find(t, text);
    if (id >= 0) {
        size_t len;
        const char *b = tok_bytes(t, id, &len);
        bool same = b && len == strlen(text) && !memcmp(b, text, len);
        if (!same && alias_len(t, id, (const uint8_t *)text, strlen(text)) != strlen(text))
            abort(); /* tok_find and tok_bytes must agree (up to a reserved alias) */
    }

    tok_decoder d = {0};
    char out[256];
    fuzz_cursor c = {data, size};
    while (c.n >= 2) {
        uint16_t v = fuzz_u16(&c);
        int32_t id = v == 0xFFFF ? -1 : (int32_t)v;
        size_t n = tok_decode_next(t, &d, id, out, sizeof out);
        check_out(out, n, sizeof out);
    }
    size_t n = tok_decoder_flush(&d, out, sizeof out);
    check_out(out, n, sizeof out);
    return 0;
}
