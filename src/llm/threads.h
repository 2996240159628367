/*
 * threads.h - persistent thread pool: pool_run calls fn(arg, ith, nth) on
 * every thread (the caller is thread 0) and returns when all are done.
 */
#ifndef RELIEF_THREADS_H
#define RELIEF_THREADS_H

typedef struct relief_pool relief_pool;
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* Starts n threads in all (n - 1 workers); n < 1 means one per online CPU.
 * Returns NULL on OOM. If some threads cannot be created, runs with fewer. */
relief_pool *pool_new(int n);
void pool_free(relief_pool *p);
int pool_size(const relief_pool *p);
int pool_default_threads(void);
/* Runs one parallel section; p may be NULL (runs fn(arg, 0, 1)). */
void pool_run(relief_pool *p, pool_fn fn, void *arg);

#endif
