/*
 * tokenizer.c - byte-level BPE tokenizer of gpt-oss (o200k_harmony), built
 * from the tokenizer metadata of a GGUF file.
 *
 * Encoding: (1) with special = true, control-token text ("<|start|>") is
 * split out first; (2) each remaining segment is cut into maximal runs of
 * valid UTF-8, and bytes outside such runs become single-byte tokens; (3)
 * each run is split by the o200k pre-tokenizer pattern (PCRE2, UTF + UCP,
 * JIT when available); (4) a piece that is itself a token is emitted
 * whole, otherwise it is merged byte-pair by byte-pair, always taking the
 * adjacent pair with the lowest merge rank (leftmost on ties), with a heap
 * so that long pieces stay O(n log n).
 *
 * Token text in the GGUF uses the GPT-2 byte-level alphabet (each byte is
 * one code point); it is mapped back to raw bytes at load time, and every
 * lookup (text -> id, pair of ids -> merge rank) uses an open-addressing
 * hash table over those raw bytes. Facts: ../shared/docs/gguf.md section 12.
 */
#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <assert.h>
#include <pcre2.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GGUF token types (gguf.md section 12). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* The o200k split pattern, as given in tokenizer.json / tiktoken (the
 * "original" form, with the Unicode case classes). */
static const char O200K_PATTERN[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*"
    "|\\s*[\\r\\n]+"
    "|\\s+(?!\\S)"
    "|\\s+";

typedef struct {
    uint64_t key;  /* (left id << 32) | right id; UINT64_MAX = empty slot */
    uint32_t rank; /* position in tokenizer.ggml.merges */
    int32_t id;    /* token the pair merges into */
} merge_slot;

struct relief_tokenizer {
    size_t n_vocab;
    size_t n_entries;    /* n_vocab tokens, then aliases of special tokens */
    char *blob;          /* raw bytes of every entry, back to back */
    size_t *off;         /* n_entries + 1 offsets into blob */
    int32_t *alias_of;   /* per alias (entry - n_vocab): the token it names */
    uint8_t *special;    /* per id: 1 = control / user-defined token */
    int32_t *tmap;       /* ordinary token bytes -> id; -1 = empty */
    size_t tmask;
    int32_t *smap;       /* special token or alias text -> entry; -1 = empty */
    size_t smask;
    uint8_t sfirst[256]; /* bytes a special token text can start with */
    size_t slens[64];    /* distinct special text lengths, longest first */
    size_t n_slens;
    merge_slot *mmap;
    size_t mmask;
    int32_t byte_id[256]; /* the token of each single byte */
    pcre2_code *re;
};

/* ---- hashing ---- */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Smallest power of two >= 2 * n (at least 16); 0 on overflow. */
static size_t table_size(size_t n)
{
    size_t s = 16;
    while (s < n * 2) {
        if (s > SIZE_MAX / 4)
            return 0;
        s <<= 1;
    }
    return s;
}

/* Text of an entry: a token id, or n_vocab + i for alias i. */
static const char *tok_text(const relief_tokenizer *t, int32_t id, size_t *len)
{
    *len = t->off[id + 1] - t->off[id];
    return t->blob + t->off[id];
}

/* Looks s[0..n) up in a text table; returns the entry or -1. */
static int32_t text_find(const relief_tokenizer *t, const int32_t *map, size_t mask, const char *s, size_t n)
{
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = map[i];
        if (id < 0)
            return -1;
        size_t l;
        const char *x = tok_text(t, id, &l);
        if (l == n && !memcmp(x, s, n))
            return id;
    }
}

/* Inserts id under its own text unless that text is present (first id wins). */
static void text_insert(const relief_tokenizer *t, int32_t *map, size_t mask, int32_t id)
{
    size_t n;
    const char *s = tok_text(t, id, &n);
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        if (map[i] < 0) {
            map[i] = id;
            return;
        }
        size_t l;
        const char *x = tok_text(t, map[i], &l);
        if (l == n && !memcmp(x, s, n))
            return;
    }
}

static const merge_slot *merge_find(const relief_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = hash_u64(key) & t->mmask;; i = (i + 1) & t->mmask) {
        const merge_slot *m = &t->mmap[i];
        if (m->key == key)
            return m;
        if (m->key == UINT64_MAX)
            return NULL;
    }
}

/* ---- UTF-8 ---- */

/* Classifies the bytes at s[0..n), n >= 1: > 0 is the length of a complete,
 * valid character (RFC 3629: no overlongs, surrogates or values above
 * U+10FFFF); 0 means a valid but truncated prefix; < 0 is minus the length
 * of the maximal invalid subpart (to be replaced by one U+FFFD). */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    int len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        if (s[i] < lo || s[i] > hi)
            return -i;
        lo = 0x80;
        hi = 0xBF;
    }
    return len;
}

/* Decodes one code point of valid UTF-8 text (s[0..n)); returns its length
 * or 0 when the text there is not valid UTF-8. */
static int utf8_cp(const unsigned char *s, size_t n, uint32_t *cp)
{
    int l = utf8_seq(s, n);
    if (l <= 0)
        return 0;
    static const unsigned char mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t v = s[0] & mask[l];
    for (int i = 1; i < l; i++)
        v = v << 6 | (s[i] & 0x3F);
    *cp = v;
    return l;
}

/* ---- GPT-2 byte-level alphabet ----
 * Printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves;
 * the other 68 bytes, in increasing order, are U+0100, U+0101, ... */

static void byte_alphabet(int16_t unmap[324])
{
    for (int i = 0; i < 324; i++)
        unmap[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        if (printable)
            unmap[b] = (int16_t)b;
        else
            unmap[256 + extra++] = (int16_t)b;
    }
}

/* Maps byte-level text s[0..n) to raw bytes in out (at least n bytes).
 * Returns the byte count, or -1 when s is not in the alphabet. */
static long from_byte_level(const int16_t unmap[324], const char *s, size_t n, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        int l = utf8_cp(u + i, n - i, &cp);
        if (!l || cp >= 324 || unmap[cp] < 0)
            return -1;
        out[o++] = (char)unmap[cp];
        i += (size_t)l;
    }
    return (long)o;
}

/* ---- loading ---- */

void tok_free(relief_tokenizer *t)
{
    if (!t)
        return;
    free(t->blob);
    free(t->off);
    free(t->alias_of);
    free(t->special);
    free(t->tmap);
    free(t->smap);
    free(t->mmap);
    if (t->re)
        pcre2_code_free(t->re);
    free(t);
}

size_t tok_vocab_size(const relief_tokenizer *t)
{
    return t ? t->n_vocab : 0;
}

static bool looks_special(const char *s, size_t n)
{
    return n >= 5 && s[0] == '<' && s[1] == '|' && s[n - 2] == '|' && s[n - 1] == '>';
}

/* Builds blob/off/special from the token strings. */
static int load_tokens(relief_tokenizer *t, const gguf_kv *toks, const gguf_kv *types, char *err, size_t cap)
{
    int16_t unmap[324];
    byte_alphabet(unmap);
    size_t n = (size_t)toks->arr_n;
    /* Raw bytes are never longer than the byte-level text: one pass to size. */
    size_t total = 0;
    uint64_t pos = 0;
    const uint8_t *cur = NULL;
    const char *s;
    uint64_t len;
    while (gguf_arr_next_str(toks, &pos, &cur, &s, &len)) {
        if (len > SIZE_MAX - total) {
            snprintf(err, cap, "tokenizer.ggml.tokens: too large");
            return -1;
        }
        total += (size_t)len;
    }
    t->blob = malloc(total ? total : 1);
    t->off = malloc((n + 1) * sizeof *t->off);
    t->special = calloc(n ? n : 1, 1);
    if (!t->blob || !t->off || !t->special) {
        snprintf(err, cap, "out of memory loading %zu tokens", n);
        return -1;
    }
    size_t o = 0;
    pos = 0;
    for (size_t id = 0; gguf_arr_next_str(toks, &pos, &cur, &s, &len); id++) {
        int64_t type = types ? gguf_arr_int(types, id) : TT_NORMAL;
        t->off[id] = o;
        bool spec = type == TT_CONTROL || type == TT_USER || looks_special(s, (size_t)len);
        long raw = spec ? -1 : from_byte_level(unmap, s, (size_t)len, t->blob + o);
        if (raw < 0) { /* control text, or text outside the alphabet: kept verbatim */
            memcpy(t->blob + o, s, (size_t)len);
            raw = (long)len;
        }
        o += (size_t)raw;
        t->special[id] = spec ? 1 : (type == TT_NORMAL || type == TT_BYTE) ? 0 : 2; /* 2: not encodable */
    }
    t->off[n] = o;
    return 0;
}

/* N when s[0..n) is "<|reserved_N|>", else -1. */
static long long reserved_number(const char *s, size_t n)
{
    static const char pre[] = "<|reserved_";
    size_t pl = sizeof pre - 1;
    if (n < pl + 3 || n > pl + 2 + 18 || memcmp(s, pre, pl) || memcmp(s + n - 2, "|>", 2))
        return -1;
    long long v = 0;
    for (size_t i = pl; i < n - 2; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* tiktoken's o200k_harmony names every slot after <|call|> "<|reserved_N|>",
 * even the slot that o200k_base had already named <|endofprompt|>, which so
 * answers to both names; the GGUF stores only one text per id. So each
 * control token after <|call|> (found by name) that lacks a reserved name
 * gets its slot's name as an alias, N following the numbering of the other
 * reserved names there (N = id for o200k_harmony; the tiny test vocabulary
 * keeps o200k's numbers for renumbered ids). Nothing is added when there is
 * no <|call|> or the numbering is not consistent. */
static int add_reserved_aliases(relief_tokenizer *t, char *err, size_t cap)
{
    t->n_entries = t->n_vocab;
    size_t call = t->n_vocab;
    for (size_t i = 0; i < t->n_vocab && call == t->n_vocab; i++) {
        size_t l;
        const char *x = tok_text(t, (int32_t)i, &l);
        if (t->special[i] == 1 && l == 8 && !memcmp(x, "<|call|>", 8))
            call = i;
    }
    if (call == t->n_vocab)
        return 0;
    long long shift = 0;
    bool have_shift = false;
    size_t missing = 0;
    for (size_t i = call + 1; i < t->n_vocab; i++) {
        if (t->special[i] != 1)
            return 0;
        size_t l;
        const char *x = tok_text(t, (int32_t)i, &l);
        long long v = reserved_number(x, l);
        if (v < 0) {
            missing++;
            continue;
        }
        if (have_shift && v - (long long)i != shift)
            return 0;
        shift = v - (long long)i;
        have_shift = true;
    }
    if (!missing || !have_shift)
        return 0;
    size_t extra = missing * 32;
    char *blob = realloc(t->blob, t->off[t->n_vocab] + extra);
    if (blob)
        t->blob = blob;
    size_t *off = realloc(t->off, (t->n_vocab + missing + 1) * sizeof *off);
    if (off)
        t->off = off;
    t->alias_of = malloc(missing * sizeof *t->alias_of);
    if (!blob || !off || !t->alias_of) {
        snprintf(err, cap, "out of memory adding reserved token names");
        return -1;
    }
    size_t e = t->n_vocab;
    for (size_t i = call + 1; i < t->n_vocab; i++) {
        size_t l;
        const char *x = tok_text(t, (int32_t)i, &l);
        if (reserved_number(x, l) >= 0)
            continue;
        int w = snprintf(t->blob + t->off[e], 32, "<|reserved_%lld|>", (long long)i + shift);
        if (w < 0 || w >= 32)
            return 0;
        t->alias_of[e - t->n_vocab] = (int32_t)i;
        t->off[e + 1] = t->off[e] + (size_t)w;
        e++;
    }
    t->n_entries = e;
    return 0;
}

/* Entry of a text table -> token id. */
static int32_t entry_id(const relief_tokenizer *t, int32_t e)
{
    return e < 0 || (size_t)e < t->n_vocab ? e : t->alias_of[(size_t)e - t->n_vocab];
}

static int build_text_maps(relief_tokenizer *t, char *err, size_t cap)
{
    size_t n_spec = t->n_entries - t->n_vocab;
    for (size_t i = 0; i < t->n_vocab; i++)
        n_spec += t->special[i] == 1;
    size_t ts = table_size(t->n_vocab), ss = table_size(n_spec);
    if (!ts || !ss) {
        snprintf(err, cap, "tokenizer.ggml.tokens: too many tokens");
        return -1;
    }
    t->tmap = malloc(ts * sizeof *t->tmap);
    t->smap = malloc(ss * sizeof *t->smap);
    if (!t->tmap || !t->smap) {
        snprintf(err, cap, "out of memory building the token table");
        return -1;
    }
    memset(t->tmap, 0xff, ts * sizeof *t->tmap);
    memset(t->smap, 0xff, ss * sizeof *t->smap);
    t->tmask = ts - 1;
    t->smask = ss - 1;
    for (size_t i = 0; i < t->n_entries; i++) {
        size_t l;
        const char *x = tok_text(t, (int32_t)i, &l);
        bool spec = i >= t->n_vocab || t->special[i] == 1;
        if (i < t->n_vocab && t->special[i] == 0 && l > 0)
            text_insert(t, t->tmap, t->tmask, (int32_t)i);
        else if (spec && l > 0) {
            text_insert(t, t->smap, t->smask, (int32_t)i);
            t->sfirst[(unsigned char)x[0]] = 1;
            size_t k = 0;
            while (k < t->n_slens && t->slens[k] != l)
                k++;
            if (k == t->n_slens) {
                if (t->n_slens == sizeof t->slens / sizeof t->slens[0]) {
                    snprintf(err, cap, "tokenizer.ggml.tokens: special tokens of more than %zu lengths",
                             t->n_slens);
                    return -1;
                }
                t->slens[t->n_slens++] = l;
            }
        }
    }
    /* Longest first, so that the longest special text wins. */
    for (size_t i = 1; i < t->n_slens; i++)
        for (size_t j = i; j > 0 && t->slens[j - 1] < t->slens[j]; j--) {
            size_t x = t->slens[j];
            t->slens[j] = t->slens[j - 1];
            t->slens[j - 1] = x;
        }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = text_find(t, t->tmap, t->tmask, &c, 1);
        if (t->byte_id[b] < 0) {
            snprintf(err, cap, "tokenizer.ggml.tokens: no token for byte 0x%02X", b);
            return -1;
        }
    }
    return 0;
}

static int build_merges(relief_tokenizer *t, const gguf_kv *merges, char *err, size_t cap)
{
    int16_t unmap[324];
    byte_alphabet(unmap);
    size_t n = (size_t)merges->arr_n;
    size_t ms = table_size(n);
    if (!ms || ms > SIZE_MAX / sizeof(merge_slot)) {
        snprintf(err, cap, "tokenizer.ggml.merges: too many merges");
        return -1;
    }
    t->mmap = malloc(ms * sizeof *t->mmap);
    size_t bufcap = 256;
    char *buf = malloc(bufcap);
    if (!t->mmap || !buf) {
        free(buf);
        snprintf(err, cap, "out of memory building the merge table");
        return -1;
    }
    for (size_t i = 0; i < ms; i++)
        t->mmap[i] = (merge_slot){UINT64_MAX, 0, -1};
    t->mmask = ms - 1;
    uint64_t pos = 0;
    const uint8_t *cur = NULL;
    const char *s;
    uint64_t len;
    for (uint32_t rank = 0; gguf_arr_next_str(merges, &pos, &cur, &s, &len); rank++) {
        if (len > bufcap) {
            free(buf);
            bufcap = (size_t)len;
            buf = malloc(bufcap);
            if (!buf) {
                snprintf(err, cap, "out of memory building the merge table");
                return -1;
            }
        }
        const char *sp = len > 1 ? memchr(s + 1, ' ', (size_t)len - 1) : NULL;
        if (!sp) {
            snprintf(err, cap, "tokenizer.ggml.merges[%u]: no space separating the pair", rank);
            free(buf);
            return -1;
        }
        size_t ll = (size_t)(sp - s), rl = (size_t)len - ll - 1;
        long lb = from_byte_level(unmap, s, ll, buf);
        long rb = lb < 0 ? -1 : from_byte_level(unmap, sp + 1, rl, buf + lb);
        if (lb <= 0 || rb <= 0)
            continue; /* not byte-level text: such a pair can never occur */
        int32_t a = text_find(t, t->tmap, t->tmask, buf, (size_t)lb);
        int32_t b = text_find(t, t->tmap, t->tmask, buf + lb, (size_t)rb);
        int32_t m = text_find(t, t->tmap, t->tmask, buf, (size_t)(lb + rb));
        if (a < 0 || b < 0 || m < 0)
            continue; /* names a token the vocabulary lacks: unusable */
        uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        for (size_t i = hash_u64(key) & t->mmask;; i = (i + 1) & t->mmask) {
            if (t->mmap[i].key == key)
                break; /* repeated pair: the first (lowest) rank stands */
            if (t->mmap[i].key == UINT64_MAX) {
                t->mmap[i] = (merge_slot){key, rank, m};
                break;
            }
        }
    }
    free(buf);
    return 0;
}

relief_tokenizer *tok_load(const gguf_file *f, char *err, size_t cap)
{
    const char *s;
    size_t len;
    if (gguf_get_str(f, "tokenizer.ggml.model", true, &s, &len, err, cap) < 0)
        return NULL;
    if (len != 4 || memcmp(s, "gpt2", 4)) {
        snprintf(err, cap, "tokenizer.ggml.model is '%.*s', only 'gpt2' (byte-level BPE) is supported",
                 (int)(len > 64 ? 64 : len), s);
        return NULL;
    }
    int r = gguf_get_str(f, "tokenizer.ggml.pre", false, &s, &len, err, cap);
    if (r < 0)
        return NULL;
    if (r == 0 && !(len == 6 && !memcmp(s, "gpt-4o", 6))) {
        snprintf(err, cap, "tokenizer.ggml.pre is '%.*s', only 'gpt-4o' (o200k) is supported",
                 (int)(len > 64 ? 64 : len), s);
        return NULL;
    }
    const gguf_kv *toks = gguf_find(f, "tokenizer.ggml.tokens");
    if (!toks || toks->type != GGUF_T_ARRAY || toks->arr_type != GGUF_T_STRING) {
        snprintf(err, cap, "tokenizer.ggml.tokens: %s", toks ? "not an array of strings" : "missing");
        return NULL;
    }
    if (toks->arr_n == 0 || toks->arr_n > INT32_MAX / 2) { /* room for aliases in int32 entries */
        snprintf(err, cap, "tokenizer.ggml.tokens: bad vocabulary size %llu", (unsigned long long)toks->arr_n);
        return NULL;
    }
    const gguf_kv *types = gguf_find(f, "tokenizer.ggml.token_type");
    if (types && (types->type != GGUF_T_ARRAY || !gguf_kv_is_int(&(gguf_kv){.type = types->arr_type}) ||
                  types->arr_n != toks->arr_n)) {
        snprintf(err, cap, "tokenizer.ggml.token_type: not an integer array of %llu entries",
                 (unsigned long long)toks->arr_n);
        return NULL;
    }
    const gguf_kv *merges = gguf_find(f, "tokenizer.ggml.merges");
    if (!merges || merges->type != GGUF_T_ARRAY || merges->arr_type != GGUF_T_STRING) {
        snprintf(err, cap, "tokenizer.ggml.merges: %s", merges ? "not an array of strings" : "missing");
        return NULL;
    }
    if (merges->arr_n > UINT32_MAX) {
        snprintf(err, cap, "tokenizer.ggml.merges: too many merges");
        return NULL;
    }

    relief_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    t->n_vocab = (size_t)toks->arr_n;
    if (load_tokens(t, toks, types, err, cap) < 0 || add_reserved_aliases(t, err, cap) < 0 ||
        build_text_maps(t, err, cap) < 0 ||
        build_merges(t, merges, err, cap) < 0) {
        tok_free(t);
        return NULL;
    }
    int ec;
    PCRE2_SIZE eo;
    t->re = pcre2_compile((PCRE2_SPTR)O200K_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, cap, "pre-tokenizer pattern: %s at %zu", (const char *)msg, (size_t)eo);
        tok_free(t);
        return NULL;
    }
    (void)pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter is used */
    return t;
}

int32_t tok_find(const relief_tokenizer *t, const char *text)
{
    if (!t || !text)
        return -1;
    size_t n = strlen(text);
    int32_t e = text_find(t, t->smap, t->smask, text, n);
    return e >= 0 ? entry_id(t, e) : text_find(t, t->tmap, t->tmask, text, n);
}

const char *tok_bytes(const relief_tokenizer *t, int32_t id, size_t *len)
{
    if (!t || id < 0 || (size_t)id >= t->n_vocab) {
        if (len)
            *len = 0;
        return NULL;
    }
    size_t l;
    const char *s = tok_text(t, id, &l);
    if (len)
        *len = l;
    return s;
}

/* ---- encoding ---- */

typedef struct {
    uint32_t rank;
    uint32_t left; /* symbol index (= byte offset in the piece) */
    int32_t a, b;  /* the ids of the pair when it was pushed */
} bpe_cand;

typedef struct {
    int32_t *ids;
    size_t n, cap;
    /* BPE scratch, reused from piece to piece */
    int32_t *sym;    /* id of the symbol starting at each byte, -1 = merged away */
    uint32_t *next;  /* next live symbol; UINT32_MAX = none */
    uint32_t *prev;
    bpe_cand *heap;
    size_t scap, hcap, nheap;
    pcre2_match_data *md;
} enc_state;

static int push_id(enc_state *e, int32_t id)
{
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 64;
        if (nc > SIZE_MAX / sizeof *e->ids)
            return -1;
        int32_t *p = realloc(e->ids, nc * sizeof *p);
        if (!p)
            return -1;
        e->ids = p;
        e->cap = nc;
    }
    e->ids[e->n++] = id;
    return 0;
}

static bool cand_less(const bpe_cand *x, const bpe_cand *y)
{
    return x->rank != y->rank ? x->rank < y->rank : x->left < y->left;
}

static void heap_push(enc_state *e, bpe_cand c)
{
    assert(e->nheap < e->hcap); /* sized for every pair a piece can make (bpe_piece) */
    size_t i = e->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &e->heap[p]))
            break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = c;
}

static bpe_cand heap_pop(enc_state *e)
{
    bpe_cand top = e->heap[0], last = e->heap[--e->nheap];
    size_t i = 0, n = e->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && cand_less(&e->heap[c + 1], &e->heap[c]))
            c++;
        if (!cand_less(&e->heap[c], &last))
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n)
        e->heap[i] = last;
    return top;
}

static void try_pair(const relief_tokenizer *t, enc_state *e, uint32_t left)
{
    uint32_t right = e->next[left];
    if (right == UINT32_MAX)
        return;
    const merge_slot *m = merge_find(t, e->sym[left], e->sym[right]);
    if (m)
        heap_push(e, (bpe_cand){m->rank, left, e->sym[left], e->sym[right]});
}

/* Encodes one pre-tokenized piece. */
static int bpe_piece(const relief_tokenizer *t, enc_state *e, const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    int32_t whole = text_find(t, t->tmap, t->tmask, (const char *)p, n);
    if (whole >= 0)
        return push_id(e, whole);
    if (n == 1)
        return push_id(e, t->byte_id[p[0]]);
    if (n >= UINT32_MAX / 4)
        return -1; /* a 1 GiB piece: refuse rather than overflow the indices */
    if (n > e->scap) {
        size_t nc = n < 256 ? 256 : n;
        int32_t *sym = realloc(e->sym, nc * sizeof *sym);
        if (sym)
            e->sym = sym;
        uint32_t *nx = realloc(e->next, nc * sizeof *nx);
        if (nx)
            e->next = nx;
        uint32_t *pv = realloc(e->prev, nc * sizeof *pv);
        if (pv)
            e->prev = pv;
        if (!sym || !nx || !pv)
            return -1;
        e->scap = nc;
    }
    /* At most n - 1 initial pairs and two new ones per merge (n - 1 merges). */
    if (3 * n > e->hcap) {
        size_t nc = 3 * n < 768 ? 768 : 3 * n;
        bpe_cand *h = realloc(e->heap, nc * sizeof *h);
        if (!h)
            return -1;
        e->heap = h;
        e->hcap = nc;
    }
    for (size_t i = 0; i < n; i++) {
        e->sym[i] = t->byte_id[p[i]];
        e->next[i] = i + 1 < n ? (uint32_t)(i + 1) : UINT32_MAX;
        e->prev[i] = i > 0 ? (uint32_t)(i - 1) : UINT32_MAX;
    }
    e->nheap = 0;
    for (size_t i = 0; i + 1 < n; i++)
        try_pair(t, e, (uint32_t)i);
    while (e->nheap) {
        bpe_cand c = heap_pop(e);
        uint32_t l = c.left, r = e->next[l];
        if (e->sym[l] != c.a || r == UINT32_MAX || e->sym[r] != c.b)
            continue; /* stale: one side has merged since */
        const merge_slot *m = merge_find(t, c.a, c.b);
        assert(m && m->rank == c.rank); /* the pair was pushed because this merge exists */
        e->sym[l] = m->id;
        e->sym[r] = -1;
        e->next[l] = e->next[r];
        if (e->next[r] != UINT32_MAX)
            e->prev[e->next[r]] = l;
        if (e->prev[l] != UINT32_MAX)
            try_pair(t, e, e->prev[l]);
        try_pair(t, e, l);
    }
    for (uint32_t i = 0; i != UINT32_MAX; i = e->next[i])
        if (push_id(e, e->sym[i]) < 0)
            return -1;
    return 0;
}

/* Splits a run of valid UTF-8 with the o200k pattern and encodes the pieces.
 * Should the matcher fail (a resource limit on hostile input), the rest of
 * the run is encoded as one piece: still a lossless encoding. */
static int encode_run(const relief_tokenizer *t, enc_state *e, const unsigned char *s, size_t n)
{
    size_t off = 0;
    while (off < n) {
        int rc = pcre2_match(t->re, s, n, off, PCRE2_NO_UTF_CHECK, e->md, NULL);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
            rc = pcre2_match(t->re, s, n, off, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, e->md, NULL);
        if (rc < 0)
            return bpe_piece(t, e, s + off, n - off);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        size_t ms = ov[0], me = ov[1];
        if (ms < off || me < ms || me > n)
            return bpe_piece(t, e, s + off, n - off);
        if (ms > off && bpe_piece(t, e, s + off, ms - off) < 0) /* text no branch matched */
            return -1;
        if (me == ms) { /* cannot happen with this pattern; step one character */
            int l = utf8_seq(s + ms, n - ms);
            me = ms + (size_t)(l > 0 ? l : 1);
        }
        if (bpe_piece(t, e, s + ms, me - ms) < 0)
            return -1;
        off = me;
    }
    return 0;
}

/* Ordinary text: valid UTF-8 runs go through the pattern, other bytes are
 * single-byte tokens. */
static int encode_ordinary(const relief_tokenizer *t, enc_state *e, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        for (;;) {
            if (j >= n)
                break;
            int l = utf8_seq(s + j, n - j);
            if (l <= 0)
                break;
            j += (size_t)l;
        }
        if (j > i && encode_run(t, e, s + i, j - i) < 0)
            return -1;
        i = j;
        while (i < n && utf8_seq(s + i, n - i) <= 0)
            if (push_id(e, t->byte_id[s[i++]]) < 0)
                return -1;
    }
    return 0;
}

/* Finds the first special-token text in s[from..n); returns its offset
 * (n if none) and sets *id and *len. */
static size_t find_special(const relief_tokenizer *t, const unsigned char *s, size_t from, size_t n, int32_t *id,
                           size_t *len)
{
    for (size_t i = from; i < n; i++) {
        if (!t->sfirst[s[i]])
            continue;
        for (size_t k = 0; k < t->n_slens; k++) {
            size_t l = t->slens[k];
            if (l > n - i)
                continue;
            int32_t x = text_find(t, t->smap, t->smask, (const char *)s + i, l);
            if (x >= 0) {
                *id = entry_id(t, x);
                *len = l;
                return i;
            }
        }
    }
    return n;
}

int tok_encode(const relief_tokenizer *t, const char *text, size_t len, bool special, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len))
        return -1;
    enc_state e = {0};
    e.md = pcre2_match_data_create_from_pattern(t->re, NULL);
    int rc = e.md ? 0 : -1;
    const unsigned char *s = (const unsigned char *)text;
    size_t pos = 0;
    while (rc == 0 && pos < len) {
        int32_t sid = -1;
        size_t slen = 0;
        size_t at = special ? find_special(t, s, pos, len, &sid, &slen) : len;
        rc = encode_ordinary(t, &e, s + pos, at - pos);
        if (rc == 0 && at < len)
            rc = push_id(&e, sid);
        pos = at < len ? at + slen : len;
    }
    if (e.md)
        pcre2_match_data_free(e.md);
    free(e.sym);
    free(e.next);
    free(e.prev);
    free(e.heap);
    if (rc < 0) {
        free(e.ids);
        return -1;
    }
    if (!e.ids) { /* empty text: a valid, empty allocation */
        e.ids = malloc(sizeof *e.ids);
        if (!e.ids)
            return -1;
    }
    *ids = e.ids;
    *n = e.n;
    return 0;
}

/* ---- streaming decode ---- */

static size_t put_bytes(char *out, size_t cap, size_t o, const void *b, size_t n)
{
    if (n > cap - o)
        return o; /* does not fit: dropped (see tok_decode_next) */
    memcpy(out + o, b, n);
    return o + n;
}

/* Complete characters go to out; invalid byte sequences come out as
 * U+FFFD (one per maximal invalid subpart), so the output is always valid
 * UTF-8. One call writes at most 3 * (token length + 3) bytes; with
 * o200k_harmony the most any token can produce (after any held prefix) is
 * 131 bytes, so 256 always suffice there. Should cap still be too small, the
 * characters that do not fit are dropped (never a partial one). */
size_t tok_decode_next(const relief_tokenizer *t, tok_decoder *d, int32_t id, char *out, size_t cap)
{
    if (!d)
        return 0;
    if (!out)
        cap = 0;
    size_t blen = 0;
    const unsigned char *b = (const unsigned char *)tok_bytes(t, id, &blen);
    if (!b)
        blen = 0;
    size_t k = d->n_pending <= 3 ? d->n_pending : 0;
    size_t total = k + blen, i = 0, o = 0;
    while (i < total) {
        unsigned char tmp[4];
        size_t avail = total - i < 4 ? total - i : 4;
        for (size_t j = 0; j < avail; j++)
            tmp[j] = i + j < k ? d->pending[i + j] : b[i + j - k];
        int r = utf8_seq(tmp, avail);
        if (r == 0) { /* incomplete: hold until the next token */
            memcpy(d->pending, tmp, avail);
            d->n_pending = avail;
            return o;
        }
        if (r > 0) {
            o = put_bytes(out, cap, o, tmp, (size_t)r);
            i += (size_t)r;
        } else {
            o = put_bytes(out, cap, o, "\xEF\xBF\xBD", 3);
            i += (size_t)-r;
        }
    }
    d->n_pending = 0;
    return o;
}

size_t tok_decoder_flush(tok_decoder *d, char *out, size_t cap)
{
    if (!d)
        return 0;
    size_t o = 0;
    if (d->n_pending && out)
        o = put_bytes(out, cap, 0, "\xEF\xBF\xBD", 3);
    d->n_pending = 0;
    return o;
}
