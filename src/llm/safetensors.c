/*
 * safetensors.c - safetensors reader; see safetensors.h. Order of checks:
 * file size, header length, JSON syntax, each entry (metadata or tensor:
 * dtype, shape, offsets, size), then the extents all together (sorted by
 * start: no overlap, no hole, the data section covered exactly).
 */
#include "safetensors.h"
#include "mapfile.h"
#include "quant.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    uint32_t size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1}, [ST_I8] = {"I8", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
    [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_I16] = {"I16", 2}, [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4}, [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8}, [ST_U64] = {"U64", 8},
};

const char *st_dtype_name(st_dtype d)
{
    return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].name : "?";
}

uint32_t st_dtype_size(st_dtype d)
{
    return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].size : 0;
}

static int sfail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sfail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* A non-negative JSON integer; false otherwise. */
static bool json_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Fills t from its JSON description (name already set). */
static int parse_tensor(st_tensor *t, const json_t *desc, uint64_t data_size, char *err, size_t cap)
{
    const char *nm = t->name;
    if (!json_is_object(desc))
        return sfail(err, cap, "tensor '%.200s': description is not a JSON object", nm);
    const json_t *dt = json_object_get(desc, "dtype"), *sh = json_object_get(desc, "shape");
    const json_t *off = json_object_get(desc, "data_offsets");
    if (!json_is_string(dt))
        return sfail(err, cap, "tensor '%.200s': 'dtype' is missing or not a string", nm);
    const char *ds = json_string_value(dt);
    int d = -1;
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (!strcmp(ds, dtypes[i].name))
            d = i;
    if (d < 0)
        return sfail(err, cap, "tensor '%.200s': unknown dtype '%.40s'", nm, ds);
    t->dtype = (st_dtype)d;
    if (!json_is_array(sh))
        return sfail(err, cap, "tensor '%.200s': 'shape' is missing or not an array", nm);
    if (json_array_size(sh) > ST_MAX_DIMS)
        return sfail(err, cap, "tensor '%.200s': %zu dimensions (at most %d)", nm, json_array_size(sh), ST_MAX_DIMS);
    t->n_dims = (uint32_t)json_array_size(sh);
    t->n_elements = 1;
    for (uint32_t i = 0; i < t->n_dims; i++) {
        if (!json_u64(json_array_get(sh, i), &t->shape[i]))
            return sfail(err, cap, "tensor '%.200s': shape entry %u is not a non-negative integer", nm, i);
        if (__builtin_mul_overflow(t->n_elements, t->shape[i], &t->n_elements))
            return sfail(err, cap, "tensor '%.200s': element count overflows", nm);
    }
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_u64(json_array_get(off, 0), &t->begin) ||
        !json_u64(json_array_get(off, 1), &t->end))
        return sfail(err, cap, "tensor '%.200s': 'data_offsets' must be two non-negative integers", nm);
    if (t->begin > t->end)
        return sfail(err, cap, "tensor '%.200s': data_offsets [%llu, %llu] end before they begin", nm,
                     (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_size)
        return sfail(err, cap, "tensor '%.200s': data_offsets [%llu, %llu] run past the data section (%llu bytes)", nm,
                     (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_size);
    uint64_t bytes;
    if (__builtin_mul_overflow(t->n_elements, (uint64_t)dtypes[d].size, &bytes))
        return sfail(err, cap, "tensor '%.200s': byte size overflows", nm);
    if (t->end - t->begin != bytes)
        return sfail(err, cap,
                     "tensor '%.200s': data_offsets [%llu, %llu] hold %llu bytes, but %s x %llu elements need %llu", nm,
                     (unsigned long long)t->begin, (unsigned long long)t->end,
                     (unsigned long long)(t->end - t->begin), dtypes[d].name, (unsigned long long)t->n_elements,
                     (unsigned long long)bytes);
    return 0;
}

static int cmp_extent(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int parse_meta(st_file *f, const json_t *meta, char *err, size_t cap)
{
    if (!json_is_object(meta))
        return sfail(err, cap, "'__metadata__' is not a JSON object");
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return sfail(err, cap, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)meta, k, v) {
        if (!json_is_string(v))
            return sfail(err, cap, "'__metadata__' value of '%.100s' is not a string", k);
        if (!(f->meta_keys[f->n_meta] = strdup(k)) || !(f->meta_values[f->n_meta] = strdup(json_string_value(v)))) {
            f->n_meta++; /* free what was allocated */
            return sfail(err, cap, "out of memory");
        }
        f->n_meta++;
    }
    return 0;
}

static st_file *parse(const uint8_t *map, size_t size, char *err, size_t cap)
{
    if (size < 8) {
        sfail(err, cap, "file is %zu bytes, too short for a safetensors header (8-byte length)", size);
        return NULL;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | map[i];
    if (n < 2 || n > ST_MAX_HEADER || n > size - 8) {
        sfail(err, cap, "header length %llu is impossible for a %zu-byte file (2 to min(file - 8, 100 MiB))",
              (unsigned long long)n, size);
        return NULL;
    }
    if (map[8] != '{') {
        sfail(err, cap, "header does not start with '{' (not a safetensors file)");
        return NULL;
    }
    st_file *f = calloc(1, sizeof *f);
    if (!f) {
        sfail(err, cap, "out of memory");
        return NULL;
    }
    f->map = map;
    f->size = size;
    f->header_len = n;
    uint64_t data_size = size - 8 - n;
    const uint8_t *data = map + 8 + n;
    json_error_t je;
    json_t *root = json_loadb((const char *)map + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    st_tensor **order = NULL;
    int rc = 0;
    if (!root) {
        rc = sfail(err, cap, "header is not valid JSON: %s (header byte %d)", je.text, je.position);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = sfail(err, cap, "header is not a JSON object");
        goto out;
    }
    size_t nt = json_object_size(root);
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    if (!f->tensors) {
        rc = sfail(err, cap, "out of memory");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!strcmp(k, "__metadata__")) {
            if ((rc = parse_meta(f, v, err, cap)) < 0)
                goto out;
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        if (!(t->name = strdup(k))) {
            rc = sfail(err, cap, "out of memory");
            goto out;
        }
        f->n_tensors++;
        if ((rc = parse_tensor(t, v, data_size, err, cap)) < 0)
            goto out;
        t->data = data + t->begin;
    }
    /* Extents: sorted by start, each must begin where the previous ended. */
    order = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *order);
    if (!order) {
        rc = sfail(err, cap, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < f->n_tensors; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, cmp_extent);
    uint64_t at = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = order[i];
        if (t->begin < at) {
            rc = sfail(err, cap, "tensor '%.200s': data_offsets [%llu, %llu] overlap tensor '%.200s'", t->name,
                       (unsigned long long)t->begin, (unsigned long long)t->end, order[i - 1]->name);
            goto out;
        }
        if (t->begin > at) {
            rc = sfail(err, cap, "tensor '%.200s': data_offsets [%llu, %llu] leave a hole at bytes [%llu, %llu)",
                       t->name, (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)at,
                       (unsigned long long)t->begin);
            goto out;
        }
        at = t->end;
    }
    if (at != data_size)
        rc = sfail(err, cap, "the tensors cover %llu bytes but the data section has %llu (truncated or padded file)",
                   (unsigned long long)at, (unsigned long long)data_size);
out:
    free(order);
    json_decref(root);
    if (rc < 0) {
        st_close(f);
        return NULL;
    }
    return f;
}

st_file *st_open_memory(const void *data, size_t size, char *err, size_t cap)
{
    return parse(data, size, err, cap);
}

st_file *st_open(const char *path, char *err, size_t cap)
{
    const void *map;
    size_t size;
    if (map_file(path, 8, "safetensors", &map, &size, err, cap) < 0)
        return NULL;
    char msg[512];
    st_file *f = parse(map, size, msg, sizeof msg);
    if (!f) {
        snprintf(err, cap, "%s: %s", path, msg);
        munmap((void *)map, size);
        return NULL;
    }
    f->mapped = true;
    return f;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->mapped)
        munmap((void *)f->map, f->size);
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->tensors);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

const char *st_metadata(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (f->meta_keys[i] && !strcmp(f->meta_keys[i], key))
            return f->meta_values[i];
    return NULL;
}

int st_tensor_to_f32(const st_tensor *t, float *out)
{
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32:
        for (uint64_t i = 0; i < t->n_elements; i++) {
            uint32_t b = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                         (uint32_t)p[4 * i + 3] << 24;
            memcpy(&out[i], &b, 4);
        }
        return 0;
    case ST_F16:
    case ST_BF16:
        for (uint64_t i = 0; i < t->n_elements; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            out[i] = t->dtype == ST_F16 ? q_fp16_to_f32(h) : q_bf16_to_f32(h);
        }
        return 0;
    default:
        return -1;
    }
}
