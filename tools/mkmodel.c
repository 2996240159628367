/*
 * mkmodel.c - relief-mkmodel: writes gpt-oss-shaped GGUF v3 files with
 * seeded random weights, for speed measurements and loader tests (the real
 * weights are not available). Also checks such files and compares two of
 * them value by value.
 *
 * usage: relief-mkmodel --preset tiny|20b [--layout ggml|ollama] [--seed N]
 *                       [--vocab VOCAB.gguf] [--check] OUT.gguf
 *        relief-mkmodel --compare A.gguf B.gguf
 *
 * Layouts (../shared/docs/gpt-oss-20b-layout.md, gpt-oss.md sections 2, 5
 * and 9.4, gguf.md sections 6 and 7):
 *  - ggml: the ggml-org gpt-oss-20b-mxfp4.gguf layout. 20b: 459 tensors
 *    (289 F32, 98 Q8_0, 72 MXFP4), 35 metadata keys with the real file's
 *    values, general.file_type 38, 12,096,558,336 data bytes. The expert
 *    tensors come first, then the rest, each group in the lexicographic
 *    order of the Hugging Face names they are converted from (the
 *    converter's scheme; the layout document says order is unverified and
 *    irrelevant).
 *  - ollama: Ollama's variant, as far as gpt-oss.md 9.4 states it and
 *    Ollama's converter for Hugging Face checkpoints writes it:
 *    architecture `gptoss` (keys `gptoss.*`), file_type 4; `attn_out` for
 *    `attn_output`, `ffn_norm` for `post_attention_norm`, `attn_sinks`
 *    without `.weight`, gate and up experts fused into `ffn_gate_up_exps`
 *    with interleaved output rows (even = gate, odd = up), expert weights
 *    with type id 4 (MXFP4 blocks in the checkpoint nibble order), the other
 *    2-D weights and the expert biases BF16 ("typically" per the doc), the
 *    router and 1-D tensors F32; eos = <|endoftext|> plus the array
 *    tokenizer.ggml.eos_token_ids = [<|endoftext|>, <|return|>, <|call|>],
 *    add_bos_token = add_eos_token = false. 17 tensors per layer.
 * The vocabulary keys (model, pre, tokens, token_type, merges, bos, eos,
 * pad, chat template) are copied verbatim from --vocab (default: the
 * o200k_harmony vocab for 20b, tiny-f32.gguf for tiny); the vocabulary size
 * gives token_embd/output their second dimension. A short placeholder chat
 * template is written when the vocab file has none.
 *
 * Values: every logical tensor (named by its ggml-layout name) draws from
 * its own xoshiro256** stream seeded from --seed and the name, so a file is
 * a pure function of (preset, layout, seed, vocab), and the ggml and ollama
 * files of one seed hold exactly the same numbers (after renaming and
 * de-interleaving): Q8_0 blocks use d = 2^-11, so q*d is exact in BF16;
 * F32 values are rounded to BF16 precision; MXFP4 codes and exponents are
 * the same, only packed differently. `--compare` checks exactly that.
 * Distributions (sane for a forward pass): 2-D weights ~N(0, 0.02) (Q8_0
 * codes from a 4-byte Irwin-Hall sum), router ~N(0, 0.02) F32, norms
 * ~1 + N(0, 0.02), biases ~N(0, 0.01), sinks ~N(0, 0.1), expert blocks with
 * E8M0 exponents 120..122 (scale around 2^-6) and uniform random E2M1 codes.
 *
 * The file is written streaming through one 8 MiB buffer: metadata and
 * tensor infos first (offsets are the running sum of 32-byte padded sizes),
 * then each tensor row by row; memory use stays a few MB whatever the
 * model. Output goes to OUT.partial, renamed to OUT when complete (a
 * non-regular OUT such as /dev/null or /dev/full is written directly).
 * Free space is checked first and every write is checked. --check (always
 * for tiny) reopens the file with the project's reader (src/llm/gguf.h),
 * checks counts, names, shapes, types, offsets and key values, then
 * regenerates the whole stream and compares it byte for byte.
 *
 * Exit status: 0 on success, 1 on any error (with a message on stderr).
 */
#include "llm/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define ALIGN 32u
#define BUF_BYTES (8u << 20)
#define Q8_D_BITS 0x1000u         /* fp16 bits of 2^-11, the scale of every Q8_0 block */
#define Q8_D (1.0f / 2048.0f)
#define MX_E_MIN 120u             /* E8M0 exponents MX_E_MIN .. MX_E_MIN + 2 */
#define DEFAULT_VOCAB_20B "/work/shared/oracle/o200k_harmony.vocab.gguf"
#define DEFAULT_VOCAB_TINY "/work/shared/oracle/tiny/tiny-f32.gguf"

static const char *prog = "relief-mkmodel";
static const char *partial_path; /* removed by die() while set */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (partial_path && unlink(partial_path) == 0)
        fprintf(stderr, "%s: removed the incomplete %s\n", prog, partial_path);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* snprintf into a fixed buffer whose content comes from our own constants;
 * dies instead of truncating. */
static void fmt_fixed(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_fixed(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        die("internal error: name too long");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t align_up(uint64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

/* ---- random numbers: splitmix64 seeds xoshiro256** ---- */

typedef struct {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* The stream of one logical tensor: seed and FNV-1a of its ggml name. */
static void rng_for(rng *r, uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    uint64_t x = seed ^ h;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

/* Sum of four bytes minus their mean: mean 0, sd 147.8, range -510..510. */
static int32_t ih4(uint32_t v)
{
    return (int32_t)((v & 0xff) + ((v >> 8) & 0xff) + ((v >> 16) & 0xff) + (v >> 24)) - 510;
}

/* ---- number formats ---- */

static uint32_t f32_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    return b;
}

static float bits_f32(uint32_t b)
{
    float x;
    memcpy(&x, &b, 4);
    return x;
}

/* Rounds a finite float to BF16 precision (nearest, ties to even). */
static float round_bf16(float x)
{
    uint32_t b = f32_bits(x);
    b += 0x7fffu + ((b >> 16) & 1u);
    return bits_f32(b & 0xffff0000u);
}

static float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
    if (exp == 0x1f)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        float v = (float)man * (1.0f / 16777216.0f); /* man * 2^-24 */
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* E2M1 code -> value (OCP MX; gguf.md 9.3). */
static const float e2m1[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                               -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

/* ---- output sink: one buffer, three modes ---- */

enum sink_mode { SINK_COUNT, SINK_WRITE, SINK_COMPARE };

typedef struct {
    enum sink_mode mode;
    int fd;                 /* SINK_WRITE */
    const char *path;       /* for messages */
    const uint8_t *ref;     /* SINK_COMPARE: the file to compare with */
    uint64_t ref_size;
    bool ref_mapped;        /* ref is a page-aligned mmap: drop compared pages */
    uint64_t dropped;       /* bytes of ref already dropped */
    uint8_t *buf;
    size_t len, cap;
    uint64_t pos;           /* bytes flushed so far */
    uint64_t total;         /* expected size, for progress (0: none) */
    bool tty;
    int shown;              /* last percent shown, -1 none */
    const char *verb;       /* "writing" or "checking" */
} sink;

static void sink_init(sink *s, enum sink_mode mode, const char *path)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->fd = -1;
    s->path = path;
    s->cap = BUF_BYTES;
    s->buf = xmalloc(s->cap);
    s->shown = -1;
}

static void sink_progress(sink *s)
{
    if (!s->tty || !s->total)
        return;
    int pct = (int)(s->pos * 100 / s->total);
    if (pct != s->shown) {
        s->shown = pct;
        fprintf(stderr, "\r%s: %s %s: %3d%%", prog, s->verb, s->path, pct);
        fflush(stderr);
    }
}

static void sink_flush(sink *s)
{
    if (s->mode == SINK_WRITE) {
        size_t done = 0;
        while (done < s->len) {
            ssize_t n = write(s->fd, s->buf + done, s->len - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                if (s->tty && s->shown >= 0)
                    fputc('\n', stderr);
                die("writing %s at byte %" PRIu64 ": %s", s->path, s->pos + done,
                    n < 0 ? strerror(errno) : "nothing written");
            }
            done += (size_t)n;
        }
    } else if (s->mode == SINK_COMPARE) {
        if (s->len > s->ref_size - s->pos)
            die("%s: file is shorter (%" PRIu64 " bytes) than the model it should hold", s->path, s->ref_size);
        if (memcmp(s->ref + s->pos, s->buf, s->len)) {
            size_t i = 0;
            while (s->ref[s->pos + i] == s->buf[i])
                i++;
            die("%s: byte %" PRIu64 " differs from the regenerated model", s->path, s->pos + i);
        }
        if (s->ref_mapped) { /* keep the resident set small on a 12 GB file */
            uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), end = (s->pos + s->len) / page * page;
            if (end > s->dropped)
                madvise((void *)(uintptr_t)(s->ref + s->dropped), (size_t)(end - s->dropped), MADV_DONTNEED);
            s->dropped = end > s->dropped ? end : s->dropped;
        }
    }
    s->pos += s->len;
    s->len = 0;
    sink_progress(s);
}

/* n bytes of buffer space to fill (n <= BUF_BYTES). */
static uint8_t *sink_reserve(sink *s, size_t n)
{
    if (n > s->cap)
        die("internal error: %zu-byte row exceeds the write buffer", n);
    if (n > s->cap - s->len)
        sink_flush(s);
    uint8_t *p = s->buf + s->len;
    s->len += n;
    return p;
}

static void sink_bytes(sink *s, const void *data, uint64_t n)
{
    const uint8_t *p = data;
    while (n) {
        size_t k = n < s->cap ? (size_t)n : s->cap;
        memcpy(sink_reserve(s, k), p, k);
        p += k;
        n -= k;
    }
}

static void sink_zeros(sink *s, uint64_t n)
{
    while (n) {
        size_t k = n < s->cap ? (size_t)n : s->cap;
        memset(sink_reserve(s, k), 0, k);
        n -= k;
    }
}

static void sink_u32(sink *s, uint32_t v) { put_le(sink_reserve(s, 4), v, 4); }
static void sink_u64(sink *s, uint64_t v) { put_le(sink_reserve(s, 8), v, 8); }

static void sink_str(sink *s, const char *str, uint64_t len)
{
    sink_u64(s, len);
    sink_bytes(s, str, len);
}

static uint64_t sink_tell(const sink *s) { return s->pos + s->len; }

/* ---- metadata ---- */

typedef struct {
    char *key;
    uint32_t type, arr_type;
    uint64_t arr_n;
    const uint8_t *raw;     /* value bytes (after the array header for arrays) */
    uint64_t raw_len;
    uint8_t *owned;         /* raw, when we built it */
} kv_rec;

typedef struct {
    kv_rec *v;
    size_t n, cap;
} kv_list;

static const uint32_t scalar_size[GGUF_T_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static kv_rec *kv_add(kv_list *l, const char *key, uint32_t type)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        kv_rec *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            die("out of memory");
        l->v = v;
        l->cap = cap;
    }
    kv_rec *r = &l->v[l->n++];
    memset(r, 0, sizeof *r);
    r->key = xstrdup(key);
    r->type = type;
    return r;
}

static void kv_own(kv_rec *r, uint64_t len)
{
    r->owned = xmalloc(len);
    r->raw = r->owned;
    r->raw_len = len;
}

static void kv_u32(kv_list *l, const char *key, uint32_t v)
{
    kv_rec *r = kv_add(l, key, GGUF_T_U32);
    kv_own(r, 4);
    put_le(r->owned, v, 4);
}

static void kv_f32(kv_list *l, const char *key, float v)
{
    kv_rec *r = kv_add(l, key, GGUF_T_F32);
    kv_own(r, 4);
    put_le(r->owned, f32_bits(v), 4);
}

static void kv_bool(kv_list *l, const char *key, bool v)
{
    kv_rec *r = kv_add(l, key, GGUF_T_BOOL);
    kv_own(r, 1);
    r->owned[0] = v;
}

static void kv_str(kv_list *l, const char *key, const char *v)
{
    kv_rec *r = kv_add(l, key, GGUF_T_STRING);
    uint64_t n = strlen(v);
    kv_own(r, 8 + n);
    put_le(r->owned, n, 8);
    memcpy(r->owned + 8, v, n);
}

static void kv_arr_str(kv_list *l, const char *key, const char *const *v, size_t n)
{
    kv_rec *r = kv_add(l, key, GGUF_T_ARRAY);
    uint64_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += 8 + strlen(v[i]);
    kv_own(r, len);
    r->arr_type = GGUF_T_STRING;
    r->arr_n = n;
    uint8_t *p = r->owned;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(v[i]);
        put_le(p, k, 8);
        memcpy(p + 8, v[i], k);
        p += 8 + k;
    }
}

static void kv_arr_i32(kv_list *l, const char *key, const int32_t *v, size_t n)
{
    kv_rec *r = kv_add(l, key, GGUF_T_ARRAY);
    kv_own(r, 4 * (uint64_t)n);
    r->arr_type = GGUF_T_I32;
    r->arr_n = n;
    for (size_t i = 0; i < n; i++)
        put_le(r->owned + 4 * i, (uint32_t)v[i], 4);
}

/* Byte length of a record's value as stored in a file opened by gguf_open
 * (after the array header for arrays). The reader validated the extents. */
static uint64_t kv_value_len(const gguf_kv *kv)
{
    if (kv->type == GGUF_T_STRING)
        return 8 + get_le(kv->value, 8);
    if (kv->type != GGUF_T_ARRAY)
        return scalar_size[kv->type];
    if (kv->arr_type != GGUF_T_STRING)
        return kv->arr_n * scalar_size[kv->arr_type];
    uint64_t pos = 0;
    const uint8_t *cur = kv->value;
    const char *s;
    uint64_t len;
    while (gguf_arr_next_str(kv, &pos, &cur, &s, &len))
        ;
    return (uint64_t)(cur - kv->value);
}

/* Copies a record of src verbatim; returns false when src lacks it. */
static bool kv_copy(kv_list *l, const gguf_file *src, const char *key)
{
    const gguf_kv *kv = gguf_find(src, key);
    if (!kv)
        return false;
    kv_rec *r = kv_add(l, key, kv->type);
    r->arr_type = kv->arr_type;
    r->arr_n = kv->arr_n;
    r->raw = kv->value;
    r->raw_len = kv_value_len(kv);
    return true;
}

static void kv_free(kv_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].owned);
    }
    free(l->v);
}

/* ---- model plan ---- */

enum layout { LAYOUT_GGML, LAYOUT_OLLAMA };

typedef struct {
    const char *name;       /* preset name */
    const char *gname, *size_label;
    uint32_t L, H, n_head, n_kv, head_dim, E, k, I, W, ctx;
} preset;

static const preset presets[] = {
    {"tiny", "relief synthetic tiny gpt-oss", "tiny", 4, 64, 8, 2, 16, 8, 4, 64, 16, 131072},
    {"20b", "Gpt Oss 20b", "20B", 24, 2880, 64, 8, 64, 32, 4, 2880, 128, 131072},
};

enum kind { K_NORM, K_BIAS, K_SINK, K_ROUTER, K_WEIGHT, K_EXPERT };

typedef struct {
    char name[64];          /* name in the file */
    char hf[96];            /* Hugging Face source name, for the order */
    int sub;                /* order among tensors made from one source */
    char stream[2][64];     /* ggml names of the logical tensors it holds */
    bool fused;             /* Ollama gate/up: rows (weights) or elements (biases) alternate streams */
    uint32_t n_dims;
    uint64_t ne[3];
    uint32_t type;
    enum kind kind;
    uint64_t offset, nbytes;
} tensor_plan;

typedef struct {
    const preset *p;
    enum layout layout;
    uint64_t seed;
    uint64_t n_vocab;
    kv_list kv;
    tensor_plan *t;
    size_t n_t;
    uint64_t data_bytes;    /* sum of padded sizes */
    uint64_t meta_bytes;    /* header + metadata + tensor infos, unpadded */
    uint64_t max_ne0;
} plan;

static uint64_t tensor_bytes(const tensor_plan *t)
{
    uint64_t n = ggml_type_bytes(t->type) * (t->ne[0] / ggml_type_block(t->type));
    for (uint32_t d = 1; d < t->n_dims; d++)
        n *= t->ne[d];
    return n;
}

static tensor_plan *add_tensor(plan *pl, size_t cap, const char *name, const char *hf, int sub, enum kind kind,
                               uint32_t type, uint32_t nd, uint64_t a, uint64_t b, uint64_t c)
{
    if (pl->n_t == cap)
        die("internal error: tensor table full");
    tensor_plan *t = &pl->t[pl->n_t++];
    memset(t, 0, sizeof *t);
    fmt_fixed(t->name, sizeof t->name, "%s", name);
    fmt_fixed(t->hf, sizeof t->hf, "%s", hf);
    fmt_fixed(t->stream[0], sizeof t->stream[0], "%s", name);
    t->sub = sub;
    t->kind = kind;
    t->type = type;
    t->n_dims = nd;
    t->ne[0] = a;
    t->ne[1] = nd > 1 ? b : 1;
    t->ne[2] = nd > 2 ? c : 1;
    return t;
}

/* Expert weights first, then by Hugging Face name, then by sub-index. */
static int cmp_order(const void *a, const void *b)
{
    const tensor_plan *x = a, *y = b;
    int ex = x->kind == K_EXPERT ? 0 : 1, ey = y->kind == K_EXPERT ? 0 : 1;
    if (ex != ey)
        return ex - ey;
    int c = strcmp(x->hf, y->hf);
    return c ? c : x->sub - y->sub;
}

static void build_tensors(plan *pl)
{
    const preset *p = pl->p;
    bool ol = pl->layout == LAYOUT_OLLAMA;
    uint64_t H = p->H, Q = (uint64_t)p->n_head * p->head_dim, KV = (uint64_t)p->n_kv * p->head_dim;
    uint64_t E = p->E, I = p->I, V = pl->n_vocab;
    uint32_t wt = ol ? GGML_BF16 : GGML_Q8_0;        /* dense 2-D weights */
    uint32_t xt = ol ? GGML_MXFP4_OLLAMA : GGML_MXFP4; /* expert weights */
    uint32_t xbt = ol ? GGML_BF16 : GGML_F32;         /* expert biases */
    size_t cap = 3 + (size_t)p->L * 19;
    pl->t = xmalloc(cap * sizeof *pl->t);
    pl->n_t = 0;
    char n[64], hf[96], n2[64];

    add_tensor(pl, cap, "token_embd.weight", "model.embed_tokens.weight", 0, K_WEIGHT, wt, 2, H, V, 1);
    add_tensor(pl, cap, "output_norm.weight", "model.norm.weight", 0, K_NORM, GGML_F32, 1, H, 1, 1);
    add_tensor(pl, cap, "output.weight", "lm_head.weight", 0, K_WEIGHT, wt, 2, H, V, 1);
    for (uint32_t l = 0; l < p->L; l++) {
#define N(s) (fmt_fixed(n, sizeof n, "blk.%u.%s", l, s), n)
#define HF(s) (fmt_fixed(hf, sizeof hf, "model.layers.%u.%s", l, s), hf)
#define CANON(t, s) fmt_fixed((t)->stream[0], sizeof (t)->stream[0], "blk.%u.%s", l, s)
        tensor_plan *t;
        add_tensor(pl, cap, N("attn_norm.weight"), HF("input_layernorm.weight"), 0, K_NORM, GGML_F32, 1, H, 1, 1);
        add_tensor(pl, cap, N("attn_q.weight"), HF("self_attn.q_proj.weight"), 0, K_WEIGHT, wt, 2, H, Q, 1);
        add_tensor(pl, cap, N("attn_q.bias"), HF("self_attn.q_proj.bias"), 0, K_BIAS, GGML_F32, 1, Q, 1, 1);
        add_tensor(pl, cap, N("attn_k.weight"), HF("self_attn.k_proj.weight"), 0, K_WEIGHT, wt, 2, H, KV, 1);
        add_tensor(pl, cap, N("attn_k.bias"), HF("self_attn.k_proj.bias"), 0, K_BIAS, GGML_F32, 1, KV, 1, 1);
        add_tensor(pl, cap, N("attn_v.weight"), HF("self_attn.v_proj.weight"), 0, K_WEIGHT, wt, 2, H, KV, 1);
        add_tensor(pl, cap, N("attn_v.bias"), HF("self_attn.v_proj.bias"), 0, K_BIAS, GGML_F32, 1, KV, 1, 1);
        t = add_tensor(pl, cap, N(ol ? "attn_out.weight" : "attn_output.weight"), HF("self_attn.o_proj.weight"), 0,
                       K_WEIGHT, wt, 2, Q, H, 1);
        CANON(t, "attn_output.weight");
        t = add_tensor(pl, cap, N(ol ? "attn_out.bias" : "attn_output.bias"), HF("self_attn.o_proj.bias"), 0, K_BIAS,
                       GGML_F32, 1, H, 1, 1);
        CANON(t, "attn_output.bias");
        t = add_tensor(pl, cap, N(ol ? "attn_sinks" : "attn_sinks.weight"), HF("self_attn.sinks"), 0, K_SINK,
                       GGML_F32, 1, p->n_head, 1, 1);
        CANON(t, "attn_sinks.weight");
        t = add_tensor(pl, cap, N(ol ? "ffn_norm.weight" : "post_attention_norm.weight"),
                       HF("post_attention_layernorm.weight"), 0, K_NORM, GGML_F32, 1, H, 1, 1);
        CANON(t, "post_attention_norm.weight");
        add_tensor(pl, cap, N("ffn_gate_inp.weight"), HF("mlp.router.weight"), 0, K_ROUTER, GGML_F32, 2, H, E, 1);
        add_tensor(pl, cap, N("ffn_gate_inp.bias"), HF("mlp.router.bias"), 0, K_BIAS, GGML_F32, 1, E, 1, 1);
        if (ol) {
            t = add_tensor(pl, cap, N("ffn_gate_up_exps.weight"), HF("mlp.experts.gate_up_proj_blocks"), 0, K_EXPERT,
                           xt, 3, H, 2 * I, E);
            t->fused = true;
            CANON(t, "ffn_gate_exps.weight");
            fmt_fixed(n2, sizeof n2, "blk.%u.ffn_up_exps.weight", l);
            memcpy(t->stream[1], n2, sizeof n2);
            t = add_tensor(pl, cap, N("ffn_gate_up_exps.bias"), HF("mlp.experts.gate_up_proj_bias"), 0, K_BIAS, xbt, 2,
                           2 * I, E, 1);
            t->fused = true;
            CANON(t, "ffn_gate_exps.bias");
            fmt_fixed(n2, sizeof n2, "blk.%u.ffn_up_exps.bias", l);
            memcpy(t->stream[1], n2, sizeof n2);
        } else {
            add_tensor(pl, cap, N("ffn_gate_exps.weight"), HF("mlp.experts.gate_up_proj_blocks"), 0, K_EXPERT, xt, 3,
                       H, I, E);
            add_tensor(pl, cap, N("ffn_up_exps.weight"), HF("mlp.experts.gate_up_proj_blocks"), 1, K_EXPERT, xt, 3, H,
                       I, E);
            add_tensor(pl, cap, N("ffn_gate_exps.bias"), HF("mlp.experts.gate_up_proj_bias"), 0, K_BIAS, xbt, 2, I, E,
                       1);
            add_tensor(pl, cap, N("ffn_up_exps.bias"), HF("mlp.experts.gate_up_proj_bias"), 1, K_BIAS, xbt, 2, I, E, 1);
        }
        add_tensor(pl, cap, N("ffn_down_exps.weight"), HF("mlp.experts.down_proj_blocks"), 0, K_EXPERT, xt, 3, I, H,
                   E);
        add_tensor(pl, cap, N("ffn_down_exps.bias"), HF("mlp.experts.down_proj_bias"), 0, K_BIAS, xbt, 2, H, E, 1);
#undef N
#undef HF
#undef CANON
    }
    qsort(pl->t, pl->n_t, sizeof *pl->t, cmp_order);
    uint64_t off = 0;
    pl->max_ne0 = 0;
    for (size_t i = 0; i < pl->n_t; i++) {
        tensor_plan *t = &pl->t[i];
        if (t->ne[0] % ggml_type_block(t->type))
            die("internal error: '%s' row of %" PRIu64 " is not a multiple of the block", t->name, t->ne[0]);
        t->nbytes = tensor_bytes(t);
        t->offset = off;
        off += align_up(t->nbytes);
        if (t->ne[0] > pl->max_ne0)
            pl->max_ne0 = t->ne[0];
    }
    pl->data_bytes = off;
}

static const char placeholder_template[] =
    "{#- relief-mkmodel placeholder: relief renders harmony itself -#}"
    "{%- for m in messages -%}<|start|>{{ m.role }}<|message|>{{ m.content }}<|end|>{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|start|>assistant{%- endif -%}";

/* Id of a token text in the vocabulary, or -1. */
static int64_t find_token(const gguf_kv *tokens, const char *text)
{
    uint64_t pos = 0, len, want = strlen(text);
    const uint8_t *cur = NULL;
    const char *s;
    while (gguf_arr_next_str(tokens, &pos, &cur, &s, &len))
        if (len == want && !memcmp(s, text, len))
            return (int64_t)pos - 1;
    return -1;
}

static void build_kv(plan *pl, const gguf_file *voc, const char *vocab_path)
{
    const preset *p = pl->p;
    bool ol = pl->layout == LAYOUT_OLLAMA;
    const char *arch = ol ? "gptoss" : "gpt-oss";
    kv_list *l = &pl->kv;
    char key[96];
#define K(s) (fmt_fixed(key, sizeof key, "%s.%s", arch, s), key)
    static const char *const tags[] = {"vllm", "text-generation"};

    kv_str(l, "general.architecture", arch);
    kv_str(l, "general.type", "model");
    kv_str(l, "general.name", p->gname);
    kv_str(l, "general.basename", "gpt-oss");
    kv_str(l, "general.size_label", p->size_label);
    kv_str(l, "general.license", "apache-2.0");
    kv_arr_str(l, "general.tags", tags, 2);
    kv_u32(l, K("block_count"), p->L);
    kv_u32(l, K("context_length"), p->ctx);
    kv_u32(l, K("embedding_length"), p->H);
    kv_u32(l, K("feed_forward_length"), p->I);
    kv_u32(l, K("attention.head_count"), p->n_head);
    kv_u32(l, K("attention.head_count_kv"), p->n_kv);
    kv_f32(l, K("rope.freq_base"), 150000.0f);
    kv_f32(l, K("attention.layer_norm_rms_epsilon"), 1e-5f);
    kv_u32(l, K("expert_count"), p->E);
    kv_u32(l, K("expert_used_count"), p->k);
    kv_u32(l, K("attention.key_length"), p->head_dim);
    kv_u32(l, K("attention.value_length"), p->head_dim);
    kv_u32(l, K("attention.sliding_window"), p->W);
    kv_u32(l, K("expert_feed_forward_length"), p->I);
    kv_str(l, K("rope.scaling.type"), "yarn");
    kv_f32(l, K("rope.scaling.factor"), 32.0f);
    kv_u32(l, K("rope.scaling.original_context_length"), 4096);
#undef K

    const gguf_kv *tokens = gguf_find(voc, "tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GGUF_T_ARRAY || tokens->arr_type != GGUF_T_STRING || tokens->arr_n == 0)
        die("%s: no tokenizer.ggml.tokens array of strings (not a vocabulary file?)", vocab_path);
    pl->n_vocab = tokens->arr_n;
    const gguf_kv *types = gguf_find(voc, "tokenizer.ggml.token_type");
    if (types && (types->type != GGUF_T_ARRAY || types->arr_n != tokens->arr_n))
        die("%s: tokenizer.ggml.token_type does not have one entry per token", vocab_path);
    static const char *const required[] = {"tokenizer.ggml.model", "tokenizer.ggml.tokens"};
    for (size_t i = 0; i < 2; i++)
        if (!gguf_find(voc, required[i]))
            die("%s: required key '%s' is missing", vocab_path, required[i]);
    kv_copy(l, voc, "tokenizer.ggml.model");
    kv_copy(l, voc, "tokenizer.ggml.pre");
    kv_copy(l, voc, "tokenizer.ggml.tokens");
    kv_copy(l, voc, "tokenizer.ggml.token_type");
    kv_copy(l, voc, "tokenizer.ggml.merges");
    kv_copy(l, voc, "tokenizer.ggml.bos_token_id");
    if (ol) {
        static const char *const eos_text[3] = {"<|endoftext|>", "<|return|>", "<|call|>"};
        int32_t ids[3];
        for (int i = 0; i < 3; i++) {
            int64_t id = find_token(tokens, eos_text[i]);
            if (id < 0 || id > INT32_MAX)
                die("%s: token %s (needed for the ollama layout's eos ids) is not in the vocabulary", vocab_path,
                    eos_text[i]);
            ids[i] = (int32_t)id;
        }
        kv_bool(l, "tokenizer.ggml.add_bos_token", false);
        kv_u32(l, "tokenizer.ggml.eos_token_id", (uint32_t)ids[0]);
        kv_arr_i32(l, "tokenizer.ggml.eos_token_ids", ids, 3);
        kv_bool(l, "tokenizer.ggml.add_eos_token", false);
    } else {
        kv_copy(l, voc, "tokenizer.ggml.eos_token_id");
    }
    kv_copy(l, voc, "tokenizer.ggml.padding_token_id");
    if (!kv_copy(l, voc, "tokenizer.chat_template"))
        kv_str(l, "tokenizer.chat_template", placeholder_template);
    kv_u32(l, "general.quantization_version", 2);
    kv_u32(l, "general.file_type", ol ? 4 : 38);
}

/* ---- writing the stream ---- */

static void write_meta(sink *s, const plan *pl)
{
    sink_bytes(s, "GGUF", 4);
    sink_u32(s, 3);
    sink_u64(s, pl->n_t);
    sink_u64(s, pl->kv.n);
    for (size_t i = 0; i < pl->kv.n; i++) {
        const kv_rec *r = &pl->kv.v[i];
        sink_str(s, r->key, strlen(r->key));
        sink_u32(s, r->type);
        if (r->type == GGUF_T_ARRAY) {
            sink_u32(s, r->arr_type);
            sink_u64(s, r->arr_n);
        }
        sink_bytes(s, r->raw, r->raw_len);
    }
    for (size_t i = 0; i < pl->n_t; i++) {
        const tensor_plan *t = &pl->t[i];
        sink_str(s, t->name, strlen(t->name));
        sink_u32(s, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            sink_u64(s, t->ne[d]);
        sink_u32(s, t->type);
        sink_u64(s, t->offset);
    }
}

typedef struct {
    float *f;
    int8_t *q;
    uint8_t *code, *e;
} scratch;

/* n values of an F32 kind, at BF16 precision; one draw per value. */
static void gen_f32(rng *r, enum kind kind, uint64_t n, float *out)
{
    for (uint64_t i = 0; i < n; i++) {
        float z = (float)ih4((uint32_t)rng_next(r)) * (1.0f / 147.8f);
        float v;
        switch (kind) {
        case K_NORM: v = 1.0f + 0.02f * z; break;
        case K_SINK: v = 0.1f * z; break;
        case K_ROUTER: v = 0.02f * z; break;
        default: v = 0.01f * z; break;
        }
        out[i] = round_bf16(v);
    }
}

/* n (even) Q8_0 codes with sd about 41.6, so that q * 2^-11 ~ N(0, 0.02). */
static void gen_q(rng *r, uint64_t n, int8_t *out)
{
    for (uint64_t i = 0; i < n; i += 2) {
        uint64_t v = rng_next(r);
        for (int h = 0; h < 2; h++) {
            int32_t q = ih4((uint32_t)(v >> (32 * h))) * 9 / 32;
            out[i + h] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
    }
}

/* nb MXFP4 blocks: exponents and 32 codes each, in element order. */
static void gen_mx(rng *r, uint64_t nb, uint8_t *e, uint8_t *code)
{
    for (uint64_t b = 0; b < nb; b++) {
        e[b] = (uint8_t)(MX_E_MIN + (rng_next(r) >> 32) % 3);
        for (int h = 0; h < 2; h++) {
            uint64_t v = rng_next(r);
            for (int j = 0; j < 16; j++)
                code[32 * b + 16 * h + j] = (uint8_t)((v >> (4 * j)) & 15u);
        }
    }
}

static void emit_row(sink *s, const tensor_plan *t, rng *r, scratch *sc, rng *r2)
{
    uint64_t n = t->ne[0];
    if (t->kind == K_EXPERT) {
        uint64_t nb = n / 32;
        gen_mx(r, nb, sc->e, sc->code);
        uint8_t *p = sink_reserve(s, (size_t)(nb * 17));
        for (uint64_t b = 0; b < nb; b++, p += 17) {
            const uint8_t *c = sc->code + 32 * b;
            p[0] = sc->e[b];
            for (int j = 0; j < 16; j++)
                p[1 + j] = t->type == GGML_MXFP4 ? (uint8_t)(c[j] | c[j + 16] << 4)       /* ggml order */
                                                 : (uint8_t)(c[2 * j] | c[2 * j + 1] << 4); /* checkpoint order */
        }
        return;
    }
    if (t->kind == K_WEIGHT) {
        gen_q(r, n, sc->q);
        if (t->type == GGML_Q8_0) {
            uint8_t *p = sink_reserve(s, (size_t)(n / 32 * 34));
            for (uint64_t b = 0; b < n / 32; b++, p += 34) {
                put_le(p, Q8_D_BITS, 2);
                memcpy(p + 2, sc->q + 32 * b, 32);
            }
        } else { /* BF16: q * 2^-11 is exact */
            uint8_t *p = sink_reserve(s, (size_t)(n * 2));
            for (uint64_t i = 0; i < n; i++)
                put_le(p + 2 * i, f32_bits((float)sc->q[i] * Q8_D) >> 16, 2);
        }
        return;
    }
    if (r2) /* fused biases: elements alternate gate, up */
        for (uint64_t i = 0; i < n; i++)
            gen_f32(i % 2 ? r2 : r, t->kind, 1, &sc->f[i]);
    else
        gen_f32(r, t->kind, n, sc->f);
    if (t->type == GGML_F32) {
        uint8_t *p = sink_reserve(s, (size_t)(n * 4));
        for (uint64_t i = 0; i < n; i++)
            put_le(p + 4 * i, f32_bits(sc->f[i]), 4);
    } else {
        uint8_t *p = sink_reserve(s, (size_t)(n * 2));
        for (uint64_t i = 0; i < n; i++)
            put_le(p + 2 * i, f32_bits(sc->f[i]) >> 16, 2);
    }
}

static void emit_tensor(sink *s, const plan *pl, const tensor_plan *t, scratch *sc)
{
    rng r[2];
    rng_for(&r[0], pl->seed, t->stream[0]);
    if (t->fused)
        rng_for(&r[1], pl->seed, t->stream[1]);
    uint64_t rows = t->ne[1] * t->ne[2];
    uint64_t start = sink_tell(s);
    for (uint64_t i = 0; i < rows; i++) {
        if (t->fused && t->kind == K_EXPERT)
            emit_row(s, t, &r[i % 2], sc, NULL);  /* rows alternate gate, up */
        else
            emit_row(s, t, &r[0], sc, t->fused ? &r[1] : NULL);
    }
    if (sink_tell(s) - start != t->nbytes)
        die("internal error: '%s' produced %" PRIu64 " bytes, planned %" PRIu64, t->name, sink_tell(s) - start,
            t->nbytes);
    sink_zeros(s, align_up(t->nbytes) - t->nbytes);
}

/* The whole file through s. */
static void emit_file(sink *s, const plan *pl)
{
    scratch sc;
    sc.f = xmalloc(pl->max_ne0 * sizeof *sc.f);
    sc.q = xmalloc(pl->max_ne0);
    sc.code = xmalloc(pl->max_ne0);
    sc.e = xmalloc(pl->max_ne0 / 32 + 1);
    write_meta(s, pl);
    sink_zeros(s, align_up(sink_tell(s)) - sink_tell(s));
    for (size_t i = 0; i < pl->n_t; i++)
        emit_tensor(s, pl, &pl->t[i], &sc);
    sink_flush(s);
    free(sc.f);
    free(sc.q);
    free(sc.code);
    free(sc.e);
}

static uint64_t file_bytes(const plan *pl) { return align_up(pl->meta_bytes) + pl->data_bytes; }

/* ---- self-check ---- */

static void check_file(const char *path, const plan *pl, bool tty)
{
    char err[512];
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (!f)
        die("self-check: the project's reader rejects %s: %s", path, err);
    if (f->version != 3 || f->n_tensors != pl->n_t || f->n_kv != pl->kv.n)
        die("self-check: %s has version %u, %" PRIu64 " tensors, %" PRIu64 " keys; planned 3, %zu, %zu", path,
            f->version, f->n_tensors, f->n_kv, pl->n_t, pl->kv.n);
    if (f->size != file_bytes(pl) || f->alignment != ALIGN || f->data_offset != align_up(pl->meta_bytes))
        die("self-check: %s is %zu bytes with data at %" PRIu64 "; planned %" PRIu64 " and %" PRIu64, path, f->size,
            f->data_offset, file_bytes(pl), align_up(pl->meta_bytes));
    for (size_t i = 0; i < pl->kv.n; i++) {
        const gguf_kv *kv = &f->kv[i];
        const kv_rec *r = &pl->kv.v[i];
        if (kv->key_len != strlen(r->key) || memcmp(kv->key, r->key, kv->key_len) || kv->type != r->type ||
            kv_value_len(kv) != r->raw_len || memcmp(kv->value, r->raw, r->raw_len))
            die("self-check: metadata record %zu ('%s') differs from the plan", i, r->key);
    }
    for (size_t i = 0; i < pl->n_t; i++) {
        const gguf_tensor *g = &f->tensors[i];
        const tensor_plan *t = &pl->t[i];
        bool ok = !strcmp(g->name, t->name) && g->n_dims == t->n_dims && g->type == t->type &&
                  g->offset == t->offset && g->nbytes == t->nbytes;
        for (uint32_t d = 0; d < 3; d++)
            ok &= g->ne[d] == t->ne[d];
        if (!ok)
            die("self-check: tensor record %zu ('%s' in the file) differs from the plan ('%s')", i, g->name, t->name);
    }
    /* Model-level keys, read back through the typed getters. */
    const char *arch;
    size_t alen;
    uint64_t v;
    char key[96];
    if (gguf_get_str(f, "general.architecture", true, &arch, &alen, err, sizeof err) < 0)
        die("self-check: %s", err);
    const char *want_arch = pl->layout == LAYOUT_OLLAMA ? "gptoss" : "gpt-oss";
    if (alen != strlen(want_arch) || memcmp(arch, want_arch, alen))
        die("self-check: architecture is '%.*s'", (int)alen, arch);
    struct {
        const char *k;
        uint64_t want;
    } u[] = {{"block_count", pl->p->L},         {"embedding_length", pl->p->H},
             {"attention.head_count", pl->p->n_head}, {"attention.head_count_kv", pl->p->n_kv},
             {"attention.key_length", pl->p->head_dim}, {"expert_count", pl->p->E},
             {"expert_used_count", pl->p->k},    {"expert_feed_forward_length", pl->p->I},
             {"attention.sliding_window", pl->p->W}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        fmt_fixed(key, sizeof key, "%s.%s", want_arch, u[i].k);
        if (gguf_get_uint(f, key, true, UINT32_MAX, &v, err, sizeof err) < 0 || v != u[i].want)
            die("self-check: key '%s' is wrong or unreadable", key);
    }
    const gguf_tensor *emb = gguf_tensor_find(f, "token_embd.weight");
    const gguf_kv *tok = gguf_find(f, "tokenizer.ggml.tokens");
    if (!emb || !tok || emb->ne[1] != tok->arr_n)
        die("self-check: token_embd.weight does not have one row per token");
    /* The bytes themselves. */
    sink s;
    sink_init(&s, SINK_COMPARE, path);
    s.ref = f->map;
    s.ref_size = f->size;
    s.ref_mapped = f->mapped;
    s.total = f->size;
    s.tty = tty;
    s.verb = "checking";
    emit_file(&s, pl);
    if (s.tty)
        fputc('\n', stderr);
    if (s.pos != f->size)
        die("self-check: %s has %" PRIu64 " trailing bytes", path, f->size - s.pos);
    free(s.buf);
    gguf_close(f);
}

/* ---- compare two files value by value ---- */

/* ggml-layout name of a tensor of either layout; *part = 0 or 1 for the
 * gate/up halves of an Ollama fused tensor (two logical tensors), else -1. */
static int canonical(const char *name, int part, char *out, size_t cap)
{
    static const struct {
        const char *from, *to;
    } ren[] = {{"attn_out.weight", "attn_output.weight"},
               {"attn_out.bias", "attn_output.bias"},
               {"attn_sinks", "attn_sinks.weight"},
               {"ffn_norm.weight", "post_attention_norm.weight"},
               {"ffn_gate_up_exps.weight", NULL},
               {"ffn_gate_up_exps.bias", NULL}};
    const char *dot = NULL;
    if (!strncmp(name, "blk.", 4))
        dot = strchr(name + 4, '.');
    const char *suffix = dot ? dot + 1 : name;
    size_t plen = (size_t)(suffix - name);
    for (size_t i = 0; i < sizeof ren / sizeof ren[0]; i++) {
        if (strcmp(suffix, ren[i].from))
            continue;
        const char *to = ren[i].to;
        if (!to) {
            bool w = strstr(suffix, ".weight") != NULL;
            to = part == 0 ? (w ? "ffn_gate_exps.weight" : "ffn_gate_exps.bias")
                           : (w ? "ffn_up_exps.weight" : "ffn_up_exps.bias");
        }
        if (plen + strlen(to) + 1 > cap)
            return -1;
        memcpy(out, name, plen);
        strcpy(out + plen, to);
        return 1;
    }
    if (strlen(name) + 1 > cap)
        return -1;
    strcpy(out, name);
    return 0;
}

static bool is_fused(const char *name) { return strstr(name, "ffn_gate_up_exps.") != NULL; }

/* Row `row` (over ne[1]*ne[2]) of t, dequantized into out (ne[0] floats). */
static void deq_row(const gguf_tensor *t, uint64_t row, float *out)
{
    uint64_t n = t->ne[0];
    uint64_t rb = n / ggml_type_block(t->type) * ggml_type_bytes(t->type);
    const uint8_t *p = t->data + row * rb;
    switch (t->type) {
    case GGML_F32:
        for (uint64_t i = 0; i < n; i++)
            out[i] = bits_f32((uint32_t)get_le(p + 4 * i, 4));
        break;
    case GGML_F16:
        for (uint64_t i = 0; i < n; i++)
            out[i] = half_to_f32((uint16_t)get_le(p + 2 * i, 2));
        break;
    case GGML_BF16:
        for (uint64_t i = 0; i < n; i++)
            out[i] = bits_f32((uint32_t)get_le(p + 2 * i, 2) << 16);
        break;
    case GGML_Q8_0:
        for (uint64_t b = 0; b < n / 32; b++, p += 34) {
            float d = half_to_f32((uint16_t)get_le(p, 2));
            for (int j = 0; j < 32; j++)
                out[32 * b + j] = (float)(int8_t)p[2 + j] * d;
        }
        break;
    case GGML_MXFP4:
    case GGML_MXFP4_OLLAMA:
        for (uint64_t b = 0; b < n / 32; b++, p += 17) {
            float sc = p[0] == 0 ? 0x1p-127f : bits_f32((uint32_t)p[0] << 23); /* 2^(e-127) */
            for (int j = 0; j < 16; j++) {
                uint8_t lo = p[1 + j] & 15u, hi = p[1 + j] >> 4;
                if (t->type == GGML_MXFP4) {
                    out[32 * b + j] = e2m1[lo] * sc;
                    out[32 * b + j + 16] = e2m1[hi] * sc;
                } else {
                    out[32 * b + 2 * j] = e2m1[lo] * sc;
                    out[32 * b + 2 * j + 1] = e2m1[hi] * sc;
                }
            }
        }
        break;
    default:
        die("tensor '%s' has type %s, which --compare does not decode", t->name,
            ggml_type_name(t->type) ? ggml_type_name(t->type) : "unknown");
    }
}

typedef struct {
    const gguf_tensor *t;
    int part;               /* -1, or the half of a fused tensor */
    uint64_t ne0, rows;     /* logical shape */
} logical;

/* The logical tensor `name` (ggml-layout name) of f; false if absent. */
static bool find_logical(const gguf_file *f, const char *name, logical *out)
{
    char c[96];
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        int parts = is_fused(t->name) ? 2 : 1;
        for (int part = 0; part < parts; part++) {
            if (canonical(t->name, parts == 2 ? part : -1, c, sizeof c) < 0 || strcmp(c, name))
                continue;
            out->t = t;
            out->part = parts == 2 ? part : -1;
            out->ne0 = t->ne[0];
            out->rows = t->ne[1] * t->ne[2] * t->ne[3];
            if (parts == 2) { /* gate/up interleaved: elements of a bias row, rows of a weight */
                bool bias = strstr(t->name, ".bias") != NULL;
                if ((bias ? t->ne[0] : t->ne[1]) % 2 || (bias && t->n_dims != 2) || (!bias && t->n_dims != 3))
                    die("fused tensor '%s' has shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 "], which cannot hold "
                        "interleaved gate and up halves", t->name, t->ne[0], t->ne[1], t->ne[2]);
                if (bias)
                    out->ne0 /= 2;
                else
                    out->rows /= 2;
            }
            return true;
        }
    }
    return false;
}

static void logical_row(const logical *lg, uint64_t row, float *tmp, float *out)
{
    if (lg->part < 0) {
        deq_row(lg->t, row, out);
    } else if (strstr(lg->t->name, ".bias")) {
        deq_row(lg->t, row, tmp);
        for (uint64_t i = 0; i < lg->ne0; i++)
            out[i] = tmp[2 * i + (uint64_t)lg->part];
    } else {
        uint64_t I = lg->t->ne[1] / 2, e = row / I, nn = row % I;
        deq_row(lg->t, e * 2 * I + 2 * nn + (uint64_t)lg->part, out);
    }
}

/* Drops a compared tensor's pages from the mapping (they stay in the page
 * cache), so comparing two 12 GB files does not grow the resident set. */
static void drop_pages(const gguf_file *f, const gguf_tensor *t)
{
    if (!f->mapped)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)t->data / page * page;
    uintptr_t b = ((uintptr_t)t->data + (uintptr_t)t->nbytes + page - 1) / page * page;
    madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Key of b that corresponds to key k of a (architecture prefix swapped). */
static void map_key(const char *k, size_t klen, const char *pa, const char *pb, char *out, size_t cap)
{
    size_t la = strlen(pa);
    if (klen > la && !memcmp(k, pa, la) && k[la] == '.')
        snprintf(out, cap, "%s%.*s", pb, (int)(klen - la), k + la);
    else
        snprintf(out, cap, "%.*s", (int)klen, k);
}

static bool layout_key(const char *k, size_t n)
{
    static const char *const skip[] = {"general.architecture", "general.file_type", "tokenizer.ggml.eos_token_id",
                                       "tokenizer.ggml.eos_token_ids", "tokenizer.ggml.add_bos_token",
                                       "tokenizer.ggml.add_eos_token"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strlen(skip[i]) == n && !memcmp(skip[i], k, n))
            return true;
    return false;
}

static size_t compare_keys(const gguf_file *a, const gguf_file *b, const char *pa, const char *pb,
                           const char *na, const char *nb)
{
    size_t n = 0;
    char key[512];
    for (uint64_t i = 0; i < a->n_kv; i++) {
        const gguf_kv *ka = &a->kv[i];
        if (layout_key(ka->key, ka->key_len))
            continue;
        if (ka->key_len > 400)
            die("%s: key of %u bytes is too long to compare", na, ka->key_len);
        map_key(ka->key, ka->key_len, pa, pb, key, sizeof key);
        const gguf_kv *kb = gguf_find(b, key);
        if (!kb)
            die("%s has key '%.*s' but %s lacks '%s'", na, (int)ka->key_len, ka->key, nb, key);
        uint64_t la = kv_value_len(ka), lb = kv_value_len(kb);
        if (ka->type != kb->type || ka->arr_type != kb->arr_type || ka->arr_n != kb->arr_n || la != lb ||
            memcmp(ka->value, kb->value, la))
            die("key '%.*s' of %s differs from '%s' of %s", (int)ka->key_len, ka->key, na, key, nb);
        n++;
    }
    return n;
}

static int compare_files(const char *pa, const char *pb)
{
    char err[512];
    gguf_file *a = gguf_open(pa, err, sizeof err);
    if (!a)
        die("%s: %s", pa, err);
    gguf_file *b = gguf_open(pb, err, sizeof err);
    if (!b)
        die("%s: %s", pb, err);
    const char *arch_a, *arch_b;
    size_t la, lb;
    if (gguf_get_str(a, "general.architecture", true, &arch_a, &la, err, sizeof err) < 0)
        die("%s: %s", pa, err);
    if (gguf_get_str(b, "general.architecture", true, &arch_b, &lb, err, sizeof err) < 0)
        die("%s: %s", pb, err);
    if (la > 64 || lb > 64)
        die("architecture names too long");
    char xa[72], xb[72];
    snprintf(xa, sizeof xa, "%.*s", (int)la, arch_a);
    snprintf(xb, sizeof xb, "%.*s", (int)lb, arch_b);
    size_t keys = compare_keys(a, b, xa, xb, pa, pb);
    if (compare_keys(b, a, xb, xa, pb, pa) != keys)
        die("internal error: key counts differ");

    uint64_t max0 = 1;
    for (uint64_t i = 0; i < a->n_tensors; i++)
        max0 = a->tensors[i].ne[0] > max0 ? a->tensors[i].ne[0] : max0;
    for (uint64_t i = 0; i < b->n_tensors; i++)
        max0 = b->tensors[i].ne[0] > max0 ? b->tensors[i].ne[0] : max0;
    float *ra = xmalloc(max0 * sizeof *ra), *rb = xmalloc(max0 * sizeof *rb), *tmp = xmalloc(max0 * sizeof *tmp);
    uint64_t n_logical[2] = {0, 0}, values = 0;
    char c[96];
    for (int side = 0; side < 2; side++) {
        const gguf_file *f = side ? b : a;
        for (uint64_t i = 0; i < f->n_tensors; i++)
            n_logical[side] += is_fused(f->tensors[i].name) ? 2 : 1;
    }
    if (n_logical[0] != n_logical[1])
        die("%s holds %" PRIu64 " logical tensors, %s holds %" PRIu64, pa, n_logical[0], pb, n_logical[1]);
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        int parts = is_fused(a->tensors[i].name) ? 2 : 1;
        for (int part = 0; part < parts; part++) {
            logical x, y;
            if (canonical(a->tensors[i].name, parts == 2 ? part : -1, c, sizeof c) < 0)
                die("%s: tensor name '%s' too long", pa, a->tensors[i].name);
            if (!find_logical(a, c, &x))
                die("internal error: '%s' not found again", c);
            if (!find_logical(b, c, &y))
                die("%s has tensor '%s' (as %s) but %s has no counterpart", pa, a->tensors[i].name, c, pb);
            if (x.ne0 != y.ne0 || x.rows != y.rows)
                die("tensor '%s': %s has %" PRIu64 " x %" PRIu64 ", %s has %" PRIu64 " x %" PRIu64, c, pa, x.ne0,
                    x.rows, pb, y.ne0, y.rows);
            for (uint64_t r = 0; r < x.rows; r++) {
                logical_row(&x, r, tmp, ra);
                logical_row(&y, r, tmp, rb);
                for (uint64_t k = 0; k < x.ne0; k++)
                    if (f32_bits(ra[k]) != f32_bits(rb[k]))
                        die("tensor '%s' row %" PRIu64 " element %" PRIu64 ": %s has %.9g, %s has %.9g", c, r, k, pa,
                            (double)ra[k], pb, (double)rb[k]);
            }
            values += x.ne0 * x.rows;
            drop_pages(a, x.t);
            drop_pages(b, y.t);
        }
    }
    printf("%s and %s hold the same model: %" PRIu64 " logical tensors, %" PRIu64 " values, %zu keys\n", pa, pb,
           n_logical[0], values, keys);
    free(ra);
    free(rb);
    free(tmp);
    gguf_close(a);
    gguf_close(b);
    return 0;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: %s --preset tiny|20b [--layout ggml|ollama] [--seed N] [--vocab VOCAB.gguf] [--check] OUT.gguf\n"
            "       %s --compare A.gguf B.gguf\n"
            "Writes a gpt-oss-shaped GGUF file with seeded random weights (see tools/mkmodel.c).\n"
            "  --vocab  tokenizer source (default: %s for 20b, %s for tiny)\n"
            "  --check  read the file back and compare it with the model (always done for tiny)\n"
            "  --header-only  write the metadata and tensor records only; the tensor data is a hole\n"
            "                 (a sparse file for loader tests: the full size, no disk space)\n"
            "  --compare  check that two files hold the same model values (any layouts)\n",
            prog, prog, DEFAULT_VOCAB_20B, DEFAULT_VOCAB_TINY);
    exit(1);
}

static void human(uint64_t n, char *buf, size_t cap)
{
    if (n >= 1000000000ull)
        snprintf(buf, cap, "%.2f GB", n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, cap, "%.2f MB", n / 1e6);
    else
        snprintf(buf, cap, "%.1f kB", n / 1e3);
}

int main(int argc, char **argv)
{
    const char *preset_name = NULL, *layout_name = "ggml", *vocab = NULL, *out = NULL;
    bool check = false;
    bool header_only = false; /* metadata and tensor records, tensor data left as a hole (sparse file) */
    plan pl;
    memset(&pl, 0, sizeof pl);
    pl.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
        } else if (!strcmp(a, "--compare")) {
            if (argc != i + 3)
                die("--compare takes exactly two files");
            return compare_files(argv[i + 1], argv[i + 2]);
        } else if (!strcmp(a, "--preset") && has_next) {
            preset_name = argv[++i];
        } else if (!strcmp(a, "--layout") && has_next) {
            layout_name = argv[++i];
        } else if (!strcmp(a, "--vocab") && has_next) {
            vocab = argv[++i];
        } else if (!strcmp(a, "--seed") && has_next) {
            const char *s = argv[++i];
            char *end;
            errno = 0;
            unsigned long long v = strtoull(s, &end, 0);
            if (errno || end == s || *end || *s == '-')
                die("--seed '%s' is not a non-negative integer", s);
            pl.seed = v;
        } else if (!strcmp(a, "--check")) {
            check = true;
        } else if (!strcmp(a, "--header-only")) {
            header_only = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", prog, a);
            usage();
        } else if (!out) {
            out = a;
        } else {
            die("more than one output file given ('%s', '%s')", out, a);
        }
    }
    if (!preset_name || !out)
        usage();
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(preset_name, presets[i].name))
            pl.p = &presets[i];
    if (!pl.p)
        die("unknown preset '%s' (tiny or 20b)", preset_name);
    if (!strcmp(layout_name, "ggml"))
        pl.layout = LAYOUT_GGML;
    else if (!strcmp(layout_name, "ollama"))
        pl.layout = LAYOUT_OLLAMA;
    else
        die("unknown layout '%s' (ggml or ollama)", layout_name);
    bool tiny = !strcmp(pl.p->name, "tiny");
    if (!vocab)
        vocab = tiny ? DEFAULT_VOCAB_TINY : DEFAULT_VOCAB_20B;
    check |= tiny && !header_only;

    char err[512];
    gguf_file *voc = gguf_open(vocab, err, sizeof err);
    if (!voc)
        die("vocabulary %s: %s", vocab, err);
    build_kv(&pl, voc, vocab);
    build_tensors(&pl);
    if (!tiny && pl.n_vocab != 201088)
        fprintf(stderr, "%s: note: vocabulary of %" PRIu64 " tokens, not gpt-oss's 201088\n", prog, pl.n_vocab);

    sink cnt;
    sink_init(&cnt, SINK_COUNT, out);
    write_meta(&cnt, &pl);
    pl.meta_bytes = sink_tell(&cnt);
    free(cnt.buf);
    uint64_t total = file_bytes(&pl);

    /* Where to write: OUT.partial then rename, unless OUT is not a regular file. */
    struct stat st;
    bool regular = stat(out, &st) != 0 || S_ISREG(st.st_mode);
    char *tmp_path = NULL;
    const char *wpath = out;
    if (regular) {
        size_t n = strlen(out) + sizeof ".partial";
        tmp_path = xmalloc(n);
        snprintf(tmp_path, n, "%s.partial", out);
        wpath = tmp_path;
        char *dir = xstrdup(out);
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[slash == dir ? 1 : 0] = '\0';
        struct statvfs vfs;
        const char *d = slash ? dir : ".";
        if (!header_only && statvfs(d, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < total) {
            char need[32], have[32];
            human(total, need, sizeof need);
            human((uint64_t)vfs.f_bavail * vfs.f_frsize, have, sizeof have);
            die("not enough free space in %s: the file needs %s (%" PRIu64 " bytes), %s available", d, need, total,
                have);
        }
        free(dir);
    }
    int fd = open(wpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("cannot create %s: %s", wpath, strerror(errno));
    if (regular)
        partial_path = wpath;

    bool tty = isatty(2);
    double t0 = now_s();
    sink s;
    sink_init(&s, SINK_WRITE, wpath);
    s.fd = fd;
    s.total = total;
    s.tty = tty;
    s.verb = "writing";
    if (header_only) {
        /* Loader and model-info tests of the real layout without writing
         * 12 GB: the data section reads as zeros and takes no disk space. */
        write_meta(&s, &pl);
        sink_zeros(&s, align_up(sink_tell(&s)) - sink_tell(&s));
        sink_flush(&s);
        if (ftruncate(fd, (off_t)total) != 0)
            die("cannot extend %s: %s", wpath, strerror(errno));
        s.pos = total;
    } else {
        emit_file(&s, &pl);
    }
    if (tty)
        fputc('\n', stderr);
    if (s.pos != total)
        die("internal error: wrote %" PRIu64 " bytes, planned %" PRIu64, s.pos, total);
    free(s.buf);
    if (regular && fsync(fd) != 0)
        die("writing %s: %s", wpath, strerror(errno));
    if (close(fd) != 0)
        die("writing %s: %s", wpath, strerror(errno));
    if (regular && rename(wpath, out) != 0)
        die("cannot rename %s to %s: %s", wpath, out, strerror(errno));
    partial_path = NULL;
    double t1 = now_s();

    size_t n_f32 = 0, n_q8 = 0, n_mx = 0, n_bf16 = 0, n_mx4 = 0;
    for (size_t i = 0; i < pl.n_t; i++) {
        uint32_t t = pl.t[i].type;
        n_f32 += t == GGML_F32;
        n_q8 += t == GGML_Q8_0;
        n_mx += t == GGML_MXFP4;
        n_bf16 += t == GGML_BF16;
        n_mx4 += t == GGML_MXFP4_OLLAMA;
    }
    char hb[32];
    human(total, hb, sizeof hb);
    printf("%s: %s %s layout, seed %" PRIu64 ": %zu tensors (%zu F32, %zu Q8_0, %zu MXFP4, %zu BF16, %zu MXFP4-id4), "
           "%zu keys, vocab %" PRIu64 ", %" PRIu64 " bytes (%s; tensor data %" PRIu64 "), %.1f s\n",
           out, pl.p->name, layout_name, pl.seed, pl.n_t, n_f32, n_q8, n_mx, n_bf16, n_mx4, pl.kv.n, pl.n_vocab,
           total, hb, pl.data_bytes, t1 - t0);
    fflush(stdout);

    if (check && regular) {
        check_file(out, &pl, tty);
        printf("%s: self-check passed (reader accepts it; structure and all %" PRIu64 " bytes match), %.1f s\n", out,
               total, now_s() - t1);
    } else if (check) {
        printf("%s: not a regular file, self-check skipped\n", out);
    }
    free(tmp_path);
    free(pl.t);
    kv_free(&pl.kv);
    gguf_close(voc);
    return 0;
}
