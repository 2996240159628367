/*
 * arena.h - bump allocator for objects that share one lifetime (a plan, a
 * loaded knowledge base). Freeing the arena frees everything in it at once,
 * which keeps the per-report path allocation-light and leak-proof.
 */
#ifndef RELIEF_ARENA_H
#define RELIEF_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct {
    arena_block *head;
    size_t block_size;   /* default size of new blocks */
    int failed;          /* set once any allocation failed */
} arena;

/* Initialises an empty arena; allocates nothing yet. */
void arena_init(arena *a, size_t block_size);
/* Frees every block; the arena may be reused after arena_init. */
void arena_free(arena *a);
/* Returns n zeroed bytes aligned to 16, or NULL (and sets a->failed) when
 * memory runs out or n overflows. */
void *arena_alloc(arena *a, size_t n);
/* Returns a zeroed array of count elements of size bytes, or NULL. */
void *arena_calloc(arena *a, size_t count, size_t size);
/* Copies len bytes into the arena and NUL-terminates; NULL on failure. */
char *arena_strndup(arena *a, const char *s, size_t len);
char *arena_strdup(arena *a, const char *s);
/* printf into the arena; NULL on failure. */
char *arena_printf(arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
