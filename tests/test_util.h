/*
 * test_util.h - helpers the C tests share: reading a file whole, token id
 * lists, and the relative error the oracle tolerances are written in.
 */
#ifndef RELIEF_TEST_UTIL_H
#define RELIEF_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The whole file at path in malloc'd memory with a NUL after it (the caller
 * frees it); its size in *len when len is not NULL. NULL when it cannot be
 * opened or read, or memory runs out. Reads pipes and FIFOs too. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* test_read_file of dir/rel, as untyped memory (logits, token files). */
static inline void *test_read_in(const char *dir, const char *rel, size_t *len)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, rel) >= (int)sizeof path)
        return NULL;
    return test_read_file(path, len);
}

/* Whitespace-separated integers of text into ids (at most cap); returns how
 * many were read, stopping at the first thing that is not one. */
static inline size_t test_parse_ids(const char *text, int32_t *ids, size_t cap)
{
    size_t n = 0;
    const char *p = text;
    while (*p && n < cap) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        ids[n++] = (int32_t)v;
        p = end;
    }
    return n;
}

/* max |a - b| / std(b) over n values; a NaN anywhere in a counts as infinite. */
static inline double test_rel_err(const float *a, const float *b, size_t n)
{
    double mean = 0, var = 0, mx = 0;
    for (size_t i = 0; i < n; i++)
        mean += b[i];
    mean /= n;
    for (size_t i = 0; i < n; i++)
        var += (b[i] - mean) * (b[i] - mean);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        mx = isnan(d) ? INFINITY : d > mx ? d : mx;
    }
    return mx / sqrt(var / n);
}

#endif
