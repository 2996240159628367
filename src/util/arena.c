/*
 * arena.c - bump allocator; see arena.h for the contract.
 */
#include "arena.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    arena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void arena_init(arena *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 16384;
    a->failed = 0;
}

void arena_free(arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

void *arena_alloc(arena *a, size_t n)
{
    if (n > SIZE_MAX - 32) {
        a->failed = 1;
        return NULL;
    }
    n = (n + 15) & ~(size_t)15;
    arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = n > a->block_size ? n : a->block_size;
        b = malloc(sizeof(arena_block) + size);
        if (!b) {
            a->failed = 1;
            return NULL;
        }
        b->size = size;
        b->used = 0;
        /* A block bigger than the default is a one-off: keep filling the
         * current head afterwards instead of wasting its free space. */
        if (a->head && size > a->block_size) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    assert(n <= b->size - b->used); /* the block chosen above has room */
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void *arena_calloc(arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        a->failed = 1;
        return NULL;
    }
    return arena_alloc(a, count * size);
}

char *arena_strndup(arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX) {
        a->failed = 1;
        return NULL;
    }
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        a->failed = 1;
        return NULL;
    }
    char *p = arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
