/*
 * threads.c - a persistent thread pool for the forward pass: workers are
 * created once per context and woken for every parallel section (hundreds
 * per token), so waking must be cheap. Workers spin briefly on an atomic
 * generation counter and then sleep on a condition variable, which keeps
 * the latency of a section low while the model runs and the CPU idle when
 * it does not.
 */
#include "threads.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define SPIN_ITERS 200000
#define SPIN_PAUSES 4000

struct relief_pool {
    int n;                        /* threads including the caller */
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint gen;              /* bumped for each section */
    atomic_int pending;           /* workers still running the section */
    atomic_int stop;
    pool_fn fn;
    void *arg;
};

typedef struct {
    relief_pool *p;
    int ith;
} worker_arg;

static void *worker(void *a_)
{
    worker_arg *a = a_;
    relief_pool *p = a->p;
    int ith = a->ith;
    free(a);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            if (++spins < SPIN_ITERS) {
                /* With more threads than free cores, pure spinning starves
                 * the thread that holds the work: yield after a while. */
                if (spins > SPIN_PAUSES)
                    sched_yield();
                else
                    _mm_pause();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = g;
        p->fn(p->arg, ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

int pool_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

relief_pool *pool_new(int n)
{
    if (n < 1)
        n = pool_default_threads();
    if (n > 256)
        n = 256;
    relief_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->tid = calloc((size_t)n, sizeof *p->tid);
    if (!p->tid) {
        free(p);
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a || (a->p = p, a->ith = i, pthread_create(&p->tid[i], NULL, worker, a) != 0)) {
            free(a);
            p->n = i; /* run with the threads that started */
            break;
        }
    }
    return p;
}

int pool_size(const relief_pool *p)
{
    return p ? p->n : 1;
}

void pool_run(relief_pool *p, pool_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    for (int spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++) {
        if (spins > SPIN_PAUSES)
            sched_yield();
        else
            _mm_pause();
    }
}

void pool_free(relief_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->tid);
    free(p);
}
