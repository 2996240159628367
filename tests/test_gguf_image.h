/*
 * test_gguf_image.h - GGUF v3 files built byte by byte in memory, for the
 * tests that hand-make well-formed and malformed models, vocabularies and
 * adapters. Little-endian whatever the host; the image grows as needed
 * (a test that runs out of memory stops with status 2).
 */
#ifndef RELIEF_TEST_GGUF_IMAGE_H
#define RELIEF_TEST_GGUF_IMAGE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *b;
    size_t n, cap;
} gguf_image;

/* GGUF value types used by the tests (the format's numbering). */
enum { GI_U32 = 4, GI_STRING = 8, GI_ARRAY = 9 };

static inline void gi_bytes(gguf_image *im, const void *p, size_t n)
{
    if (im->n + n > im->cap) {
        size_t cap = (im->n + n) * 2 + 64;
        unsigned char *q = realloc(im->b, cap);
        if (!q) {
            perror("gguf_image");
            exit(2);
        }
        im->b = q;
        im->cap = cap;
    }
    memcpy(im->b + im->n, p, n);
    im->n += n;
}

static inline void gi_u32(gguf_image *im, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    gi_bytes(im, b, 4);
}

static inline void gi_u64(gguf_image *im, uint64_t v)
{
    gi_u32(im, (uint32_t)v);
    gi_u32(im, (uint32_t)(v >> 32));
}

/* A GGUF string: 64-bit length, then the bytes. */
static inline void gi_str(gguf_image *im, const char *s)
{
    gi_u64(im, strlen(s));
    gi_bytes(im, s, strlen(s));
}

/* Starts the image afresh with a header: "GGUF", version, tensor and key counts. */
static inline void gi_header(gguf_image *im, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    im->n = 0;
    gi_bytes(im, "GGUF", 4);
    gi_u32(im, version);
    gi_u64(im, n_tensors);
    gi_u64(im, n_kv);
}

static inline void gi_kv_str(gguf_image *im, const char *key, const char *value)
{
    gi_str(im, key);
    gi_u32(im, GI_STRING);
    gi_str(im, value);
}

static inline void gi_kv_strs(gguf_image *im, const char *key, char **values, size_t n)
{
    gi_str(im, key);
    gi_u32(im, GI_ARRAY);
    gi_u32(im, GI_STRING);
    gi_u64(im, n);
    for (size_t i = 0; i < n; i++)
        gi_str(im, values[i]);
}

/* Zero bytes up to the next multiple of align (a power of two). */
static inline void gi_pad(gguf_image *im, size_t align)
{
    static const unsigned char zeros[256];
    size_t k = (align - im->n % align) % align;
    gi_bytes(im, zeros, k);
}

static inline void gi_free(gguf_image *im)
{
    free(im->b);
    memset(im, 0, sizeof *im);
}

#endif
