/*
 * gguf.c - GGUF reader; see gguf.h. Validation follows the order of
 * ../shared/docs/gguf.md section 10: header, counts, metadata records,
 * alignment, tensor records, data section, tensor extents.
 */
#include "gguf.h"
#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_STRING (1ull << 30)
#define MAX_ARRAY (1ull << 30)
#define MAX_KEY 65535u

/* ---- type table ---- */

static const struct {
    const char *name;
    uint32_t blck, bytes;
} ggml_types[] = {
    [0] = {"F32", 1, 4}, [1] = {"F16", 1, 2}, [2] = {"Q4_0", 32, 18}, [3] = {"Q4_1", 32, 20},
    [4] = {"MXFP4 (Ollama, legacy id 4)", 32, 17}, [5] = {"Q4_3 (removed)", 0, 0},
    [6] = {"Q5_0", 32, 22}, [7] = {"Q5_1", 32, 24}, [8] = {"Q8_0", 32, 34}, [9] = {"Q8_1", 32, 36},
    [10] = {"Q2_K", 256, 84}, [11] = {"Q3_K", 256, 110}, [12] = {"Q4_K", 256, 144}, [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210}, [15] = {"Q8_K", 256, 292}, [16] = {"IQ2_XXS", 256, 66}, [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50}, [20] = {"IQ4_NL", 32, 18}, [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82}, [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1}, [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4}, [27] = {"I64", 1, 8}, [28] = {"F64", 1, 8}, [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2}, [31] = {"Q4_0_4_4 (removed)", 0, 0}, [32] = {"Q4_0_4_8 (removed)", 0, 0},
    [33] = {"Q4_0_8_8 (removed)", 0, 0}, [34] = {"TQ1_0", 256, 54}, [35] = {"TQ2_0", 256, 66},
    [36] = {"IQ4_NL_4_4 (removed)", 0, 0}, [37] = {"IQ4_NL_4_8 (removed)", 0, 0},
    [38] = {"IQ4_NL_8_8 (removed)", 0, 0}, [39] = {"MXFP4", 32, 17}, [40] = {"NVFP4", 64, 36},
    [41] = {"Q1_0", 128, 18}, [42] = {"Q2_0", 64, 18},
};
#define N_TYPES (sizeof ggml_types / sizeof ggml_types[0])

const char *ggml_type_name(uint32_t t) { return t < N_TYPES ? ggml_types[t].name : NULL; }
uint32_t ggml_type_block(uint32_t t) { return t < N_TYPES ? ggml_types[t].blck : 0; }
uint32_t ggml_type_bytes(uint32_t t) { return t < N_TYPES ? ggml_types[t].bytes : 0; }

static const uint32_t value_size[GGUF_T_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const value_names[GGUF_T_COUNT] = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32",
                                                      "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64",
                                                      "INT64", "FLOAT64"};

/* ---- cursor ---- */

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    char *err;
    size_t cap;
    int failed;
} cur;

static int cfail(cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfail(cur *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->cap, fmt, ap);
        va_end(ap);
    }
    c->failed = 1;
    return -1;
}

static bool have(const cur *c, uint64_t n)
{
    return n <= c->size - c->pos;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int rd_u32(cur *c, uint32_t *v, const char *what)
{
    if (!have(c, 4))
        return cfail(c, "file truncated while reading %s at offset %zu", what, c->pos);
    *v = (uint32_t)rd_le(c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cur *c, uint64_t *v, const char *what)
{
    if (!have(c, 8))
        return cfail(c, "file truncated while reading %s at offset %zu", what, c->pos);
    *v = rd_le(c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

/* Reads a string header and skips its bytes; returns start and length. */
static int rd_str(cur *c, const uint8_t **s, uint64_t *len, const char *what)
{
    if (rd_u64(c, len, what) < 0)
        return -1;
    if (*len > MAX_STRING)
        return cfail(c, "%s: string length %llu exceeds the 1 GiB limit", what, (unsigned long long)*len);
    if (!have(c, *len))
        return cfail(c, "%s: string of %llu bytes runs past the end of the file", what, (unsigned long long)*len);
    *s = c->p + c->pos;
    c->pos += *len;
    return 0;
}

/* Skips one value of type t (not an array); for BOOL checks 0/1. */
static int skip_value(cur *c, uint32_t t, const char *key)
{
    if (t == GGUF_T_STRING) {
        const uint8_t *s;
        uint64_t n;
        return rd_str(c, &s, &n, key);
    }
    uint32_t n = value_size[t];
    if (!have(c, n))
        return cfail(c, "key '%s': value runs past the end of the file", key);
    if (t == GGUF_T_BOOL && c->p[c->pos] > 1)
        return cfail(c, "key '%s': BOOL value %u is neither 0 nor 1", key, c->p[c->pos]);
    c->pos += n;
    return 0;
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* ---- name indexes (see gguf_file) ---- */

static uint64_t name_hash(const void *s, size_t n)
{
    const unsigned char *p = s;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint64_t *index_new(uint64_t n, uint64_t *mask)
{
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    *mask = cap - 1;
    return calloc(cap, sizeof(uint64_t));
}

/* The slot holding key (or the empty slot where it belongs). */
static uint64_t *kv_slot(const gguf_file *f, const char *key, size_t n)
{
    for (uint64_t i = name_hash(key, n) & f->kv_mask;; i = (i + 1) & f->kv_mask) {
        uint64_t *s = &f->kv_slots[i];
        if (!*s || (f->kv[*s - 1].key_len == n && !memcmp(f->kv[*s - 1].key, key, n)))
            return s;
    }
}

static uint64_t *tensor_slot(const gguf_file *f, const char *name)
{
    for (uint64_t i = name_hash(name, strlen(name)) & f->tensor_mask;; i = (i + 1) & f->tensor_mask) {
        uint64_t *s = &f->tensor_slots[i];
        if (!*s || !strcmp(f->tensors[*s - 1].name, name))
            return s;
    }
}

/* ---- parse ---- */

static gguf_file *parse(const uint8_t *map, size_t size, char *err, size_t cap)
{
    cur c = {map, size, 0, err, cap, 0};
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    f->map = map;
    f->size = size;
    if (size < 24) {
        cfail(&c, "file is %zu bytes, too short for a GGUF header (24 bytes)", size);
        goto fail;
    }
    if (memcmp(map, "GGUF", 4) != 0) {
        cfail(&c, "not a GGUF file (magic is %02x %02x %02x %02x, expected 'GGUF')", map[0], map[1], map[2], map[3]);
        goto fail;
    }
    c.pos = 4;
    rd_u32(&c, &f->version, "version");
    if (f->version == 1) {
        cfail(&c, "GGUF version 1 is no longer supported (convert the file again)");
        goto fail;
    }
    if (f->version == 0 || (f->version & 0xffff) == 0) {
        cfail(&c, "GGUF version 0x%08x: the file is big-endian or corrupt (only little-endian v2/v3)", f->version);
        goto fail;
    }
    if (f->version > 3) {
        cfail(&c, "GGUF version %u is newer than this reader (2 or 3)", f->version);
        goto fail;
    }
    rd_u64(&c, &f->n_tensors, "tensor count");
    rd_u64(&c, &f->n_kv, "metadata count");
    if (f->n_kv > (size - 24) / 14) {
        cfail(&c, "metadata count %llu is impossible for a %zu-byte file", (unsigned long long)f->n_kv, size);
        goto fail;
    }
    if (f->n_tensors > (size - 24) / 33) {
        cfail(&c, "tensor count %llu is impossible for a %zu-byte file", (unsigned long long)f->n_tensors, size);
        goto fail;
    }
    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    f->kv_slots = index_new(f->n_kv, &f->kv_mask);
    f->tensor_slots = index_new(f->n_tensors, &f->tensor_mask);
    if (!f->kv || !f->tensors || !f->kv_slots || !f->tensor_slots) {
        cfail(&c, "out of memory");
        goto fail;
    }
    f->alignment = 32;

    for (uint64_t i = 0; i < f->n_kv && !c.failed; i++) {
        gguf_kv *kv = &f->kv[i];
        const uint8_t *key;
        uint64_t klen;
        char kname[96];
        snprintf(kname, sizeof kname, "metadata record %llu key", (unsigned long long)i);
        if (rd_str(&c, &key, &klen, kname) < 0)
            break;
        if (klen == 0 || klen > MAX_KEY) {
            cfail(&c, "metadata record %llu: key length %llu (must be 1 to 65535)", (unsigned long long)i,
                  (unsigned long long)klen);
            break;
        }
        kv->key = (const char *)key;
        kv->key_len = (uint32_t)klen;
        snprintf(kname, sizeof kname, "%.*s", (int)(klen > 80 ? 80 : klen), key);
        uint64_t *slot = kv_slot(f, (const char *)key, klen);
        if (*slot) {
            cfail(&c, "duplicate metadata key '%s'", kname);
            break;
        }
        *slot = i + 1;
        if (rd_u32(&c, &kv->type, kname) < 0)
            break;
        if (kv->type >= GGUF_T_COUNT) {
            cfail(&c, "key '%s': unknown value type %u", kname, kv->type);
            break;
        }
        kv->value = map + c.pos;
        if (kv->type != GGUF_T_ARRAY) {
            skip_value(&c, kv->type, kname);
            continue;
        }
        if (rd_u32(&c, &kv->arr_type, kname) < 0 || rd_u64(&c, &kv->arr_n, kname) < 0)
            break;
        kv->value = map + c.pos;
        if (kv->arr_type >= GGUF_T_COUNT || kv->arr_type == GGUF_T_ARRAY) {
            cfail(&c, "key '%s': array element type %u is not allowed", kname, kv->arr_type);
            break;
        }
        if (kv->arr_n > MAX_ARRAY) {
            cfail(&c, "key '%s': array of %llu elements exceeds the limit of 2^30", kname,
                  (unsigned long long)kv->arr_n);
            break;
        }
        uint64_t min_el = kv->arr_type == GGUF_T_STRING ? 8 : value_size[kv->arr_type];
        if (!have(&c, kv->arr_n * min_el)) {
            cfail(&c, "key '%s': array of %llu elements runs past the end of the file", kname,
                  (unsigned long long)kv->arr_n);
            break;
        }
        if (kv->arr_type == GGUF_T_STRING) {
            for (uint64_t k = 0; k < kv->arr_n && !c.failed; k++)
                skip_value(&c, GGUF_T_STRING, kname);
        } else if (kv->arr_type == GGUF_T_BOOL) {
            for (uint64_t k = 0; k < kv->arr_n && !c.failed; k++)
                skip_value(&c, GGUF_T_BOOL, kname);
        } else {
            c.pos += kv->arr_n * min_el;
        }
    }
    if (c.failed)
        goto fail;

    const gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_T_U32) {
            cfail(&c, "general.alignment has type %s, expected UINT32", value_names[al->type]);
            goto fail;
        }
        f->alignment = rd_le(al->value, 4);
        if (!is_pow2(f->alignment) || f->alignment < 8 || f->alignment > 65536) {
            cfail(&c, "general.alignment %llu is not a power of two in [8, 65536]", (unsigned long long)f->alignment);
            goto fail;
        }
    }

    for (uint64_t i = 0; i < f->n_tensors && !c.failed; i++) {
        gguf_tensor *t = &f->tensors[i];
        const uint8_t *name;
        uint64_t nlen;
        char what[64];
        snprintf(what, sizeof what, "tensor record %llu name", (unsigned long long)i);
        if (rd_str(&c, &name, &nlen, what) < 0)
            break;
        if (nlen == 0 || nlen >= 64) {
            cfail(&c, "tensor record %llu: name length %llu (must be 1 to 63)", (unsigned long long)i,
                  (unsigned long long)nlen);
            break;
        }
        memcpy(t->name, name, nlen);
        t->name[nlen] = '\0';
        if (memchr(t->name, '\0', nlen)) {
            cfail(&c, "tensor record %llu: name contains a NUL byte", (unsigned long long)i);
            break;
        }
        uint64_t *slot = tensor_slot(f, t->name);
        if (*slot) {
            cfail(&c, "duplicate tensor name '%s'", t->name);
            break;
        }
        *slot = i + 1;
        if (rd_u32(&c, &t->n_dims, t->name) < 0)
            break;
        if (t->n_dims < 1 || t->n_dims > 4) {
            cfail(&c, "tensor '%s': %u dimensions (must be 1 to 4)", t->name, t->n_dims);
            break;
        }
        uint64_t n_el = 1;
        for (uint32_t d = 0; d < 4; d++) {
            t->ne[d] = 1;
            if (d < t->n_dims && rd_u64(&c, &t->ne[d], t->name) < 0)
                break;
            if (t->ne[d] == 0 || t->ne[d] > (1ull << 62)) {
                cfail(&c, "tensor '%s': dimension %u is %llu (must be 1 to 2^62)", t->name, d,
                      (unsigned long long)t->ne[d]);
                break;
            }
            if (__builtin_mul_overflow(n_el, t->ne[d], &n_el)) {
                cfail(&c, "tensor '%s': element count overflows", t->name);
                break;
            }
        }
        if (c.failed || rd_u32(&c, &t->type, t->name) < 0 || rd_u64(&c, &t->offset, t->name) < 0)
            break;
        if (t->type >= N_TYPES) {
            cfail(&c, "tensor '%s': unknown type id %u", t->name, t->type);
            break;
        }
        uint32_t blck = ggml_types[t->type].blck, bytes = ggml_types[t->type].bytes;
        if (blck == 0) {
            cfail(&c, "tensor '%s': type %s (%u) was removed from ggml", t->name, ggml_types[t->type].name, t->type);
            break;
        }
        if (t->ne[0] % blck) {
            cfail(&c, "tensor '%s': row length %llu is not a multiple of the %s block size %u", t->name,
                  (unsigned long long)t->ne[0], ggml_types[t->type].name, blck);
            break;
        }
        if (__builtin_mul_overflow(n_el / blck, (uint64_t)bytes, &t->nbytes)) {
            cfail(&c, "tensor '%s': byte size overflows", t->name);
            break;
        }
        if (t->offset % f->alignment) {
            cfail(&c, "tensor '%s': offset %llu is not a multiple of the alignment %llu", t->name,
                  (unsigned long long)t->offset, (unsigned long long)f->alignment);
            break;
        }
    }
    if (c.failed)
        goto fail;

    /* Data section. */
    uint64_t e = c.pos, d;
    if (f->n_tensors) {
        if (__builtin_add_overflow(e, f->alignment - 1, &d)) {
            cfail(&c, "data section offset overflows");
            goto fail;
        }
        d = d / f->alignment * f->alignment;
    } else {
        d = e;
    }
    if (d > size) {
        cfail(&c, "data section starts at %llu, past the end of the file (%zu bytes)", (unsigned long long)d, size);
        goto fail;
    }
    f->data_offset = d;
    uint64_t expect = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t start, end;
        if (__builtin_add_overflow(d, t->offset, &start) || __builtin_add_overflow(start, t->nbytes, &end) ||
            end > size) {
            cfail(&c, "tensor '%s': data (offset %llu, %llu bytes) runs past the end of the file (%zu bytes)", t->name,
                  (unsigned long long)t->offset, (unsigned long long)t->nbytes, size);
            goto fail;
        }
        /* Records must lie back to back in order, as every writer does; this also rules out overlap. */
        if (t->offset != expect) {
            cfail(&c, "tensor '%s': offset %llu, expected %llu (tensors must be stored in record order without gaps)",
                  t->name, (unsigned long long)t->offset, (unsigned long long)expect);
            goto fail;
        }
        uint64_t padded;
        if (__builtin_add_overflow(t->nbytes, f->alignment - 1, &padded) ||
            __builtin_add_overflow(expect, padded / f->alignment * f->alignment, &expect)) {
            cfail(&c, "tensor '%s': size overflows", t->name);
            goto fail;
        }
        t->data = map + start;
    }
    return f;
fail:
    free(f->kv);
    free(f->tensors);
    free(f->kv_slots);
    free(f->tensor_slots);
    free(f);
    return NULL;
}

gguf_file *gguf_open_memory(const void *data, size_t size, char *err, size_t cap)
{
    return parse(data, size, err, cap);
}

gguf_file *gguf_open(const char *path, char *err, size_t cap)
{
    const void *map;
    size_t size;
    if (map_file(path, 24, "GGUF", &map, &size, err, cap) < 0)
        return NULL;
    char msg[512];
    gguf_file *f = parse(map, size, msg, sizeof msg);
    if (!f) {
        snprintf(err, cap, "%s: %s", path, msg);
        munmap((void *)map, size);
        return NULL;
    }
    f->mapped = true;
    return f;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    if (f->mapped)
        munmap((void *)f->map, f->size);
    free(f->kv);
    free(f->tensors);
    free(f->kv_slots);
    free(f->tensor_slots);
    free(f);
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    uint64_t s = *kv_slot(f, key, strlen(key));
    return s ? &f->kv[s - 1] : NULL;
}

const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name)
{
    uint64_t s = *tensor_slot(f, name);
    return s ? &f->tensors[s - 1] : NULL;
}

bool gguf_kv_is_int(const gguf_kv *kv)
{
    uint32_t t = kv->type;
    return t == GGUF_T_U8 || t == GGUF_T_I8 || t == GGUF_T_U16 || t == GGUF_T_I16 || t == GGUF_T_U32 ||
           t == GGUF_T_I32 || t == GGUF_T_U64 || t == GGUF_T_I64;
}

static bool is_signed(uint32_t t)
{
    return t == GGUF_T_I8 || t == GGUF_T_I16 || t == GGUF_T_I32 || t == GGUF_T_I64;
}

static int64_t read_int(uint32_t t, const uint8_t *p)
{
    uint32_t n = value_size[t];
    uint64_t v = rd_le(p, (int)n);
    if (is_signed(t) && n < 8 && (v >> (n * 8 - 1)) & 1)
        v |= ~0ull << (n * 8);
    return (int64_t)v;
}

int gguf_get_uint(const gguf_file *f, const char *key, bool required, uint64_t max, uint64_t *out, char *err,
                  size_t cap)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) {
        if (required)
            snprintf(err, cap, "required key '%s' is missing", key);
        return required ? -1 : 1;
    }
    if (!gguf_kv_is_int(kv)) {
        snprintf(err, cap, "key '%s' has type %s, expected an integer", key, value_names[kv->type]);
        return -1;
    }
    uint64_t v;
    if (is_signed(kv->type)) {
        int64_t s = read_int(kv->type, kv->value);
        if (s < 0) {
            snprintf(err, cap, "key '%s' is negative (%lld)", key, (long long)s);
            return -1;
        }
        v = (uint64_t)s;
    } else {
        v = rd_le(kv->value, (int)value_size[kv->type]);
    }
    if (v > max) {
        snprintf(err, cap, "key '%s' is %llu, above the limit %llu", key, (unsigned long long)v,
                 (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int gguf_get_float(const gguf_file *f, const char *key, bool required, double *out, char *err, size_t cap)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) {
        if (required)
            snprintf(err, cap, "required key '%s' is missing", key);
        return required ? -1 : 1;
    }
    double v;
    if (kv->type == GGUF_T_F32) {
        uint32_t b = (uint32_t)rd_le(kv->value, 4);
        float x;
        memcpy(&x, &b, 4);
        v = x;
    } else if (kv->type == GGUF_T_F64) {
        uint64_t b = rd_le(kv->value, 8);
        memcpy(&v, &b, 8);
    } else {
        snprintf(err, cap, "key '%s' has type %s, expected FLOAT32 or FLOAT64", key, value_names[kv->type]);
        return -1;
    }
    if (!isfinite(v)) {
        snprintf(err, cap, "key '%s' is not a finite number", key);
        return -1;
    }
    *out = v;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, bool required, const char **s, size_t *len, char *err,
                 size_t cap)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) {
        if (required)
            snprintf(err, cap, "required key '%s' is missing", key);
        return required ? -1 : 1;
    }
    if (kv->type != GGUF_T_STRING) {
        snprintf(err, cap, "key '%s' has type %s, expected STRING", key, value_names[kv->type]);
        return -1;
    }
    *len = (size_t)rd_le(kv->value, 8);
    *s = (const char *)kv->value + 8;
    return 0;
}

int gguf_arr_next_str(const gguf_kv *kv, uint64_t *pos, const uint8_t **cursor, const char **s, uint64_t *len)
{
    if (kv->type != GGUF_T_ARRAY || kv->arr_type != GGUF_T_STRING || *pos >= kv->arr_n)
        return 0;
    if (*pos == 0)
        *cursor = kv->value;
    *len = rd_le(*cursor, 8);
    *s = (const char *)*cursor + 8;
    *cursor += 8 + *len;
    (*pos)++;
    return 1;
}

int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i)
{
    if (kv->type != GGUF_T_ARRAY || i >= kv->arr_n || kv->arr_type == GGUF_T_STRING)
        return 0;
    uint32_t t = kv->arr_type;
    if (t == GGUF_T_F32 || t == GGUF_T_F64 || t == GGUF_T_BOOL)
        return t == GGUF_T_BOOL ? kv->value[i] : 0;
    return read_int(t, kv->value + i * value_size[t]);
}
