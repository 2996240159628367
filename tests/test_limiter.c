/*
 * test_limiter.c - the serve limiter (src/serve/limiter.c) on its own:
 * admission bounds, immediate slots, FIFO order among waiters, and the
 * three ways a wait ends without a slot (deadline, cancel, shutdown), each
 * leaving the counts as they were.
 */
#include "check.h"
#include "serve/serve_int.h"
#include "util/clock.h"

#include <pthread.h>
#include <unistd.h>

static limiter L;

typedef struct {
    double deadline;          /* seconds from the start of the wait */
    const atomic_int *cancel;
    int order;                /* filled: the order in which slots were granted (0 = none) */
    double waited;
    bool got;
} waiter_arg;

static atomic_int grant_seq;

static void *waiter(void *p)
{
    waiter_arg *a = p;
    double t0 = clock_now();
    a->got = lim_acquire(&L, t0 + a->deadline, a->cancel);
    a->waited = clock_now() - t0;
    if (a->got)
        a->order = atomic_fetch_add(&grant_seq, 1) + 1;
    return NULL;
}

static void counts(int *run, int *wait)
{
    lim_counts(&L, run, wait);
}

/* Blocks until `waiting` places are taken (the threads queued). */
static void until_waiting(int want)
{
    for (int i = 0; i < 2000; i++) {
        int r, w;
        counts(&r, &w);
        pthread_mutex_lock(&L.mu);
        int queued = 0;
        for (lim_waiter *x = L.head; x; x = x->next)
            queued++;
        pthread_mutex_unlock(&L.mu);
        if (queued == want)
            return;
        usleep(1000);
    }
    CHECK_MSG(0, "waiters never queued (wanted %d)", want);
}

static void test_admission(void)
{
    CHECK(lim_init(&L, 1, 2) == 0);
    int r, w;
    /* One running + two waiting places: the fourth is refused. */
    CHECK(lim_admit(&L) && lim_admit(&L) && lim_admit(&L));
    CHECK(!lim_admit(&L));
    counts(&r, &w);
    CHECK(r == 0 && w == 3);
    lim_unadmit(&L);
    lim_unadmit(&L);
    counts(&r, &w);
    CHECK(r == 0 && w == 1);
    /* A free slot is taken at once, whatever the deadline. */
    CHECK(lim_acquire(&L, clock_now() - 1, NULL));
    counts(&r, &w);
    CHECK(r == 1 && w == 0);
    /* A place freed by a release is open to admission again. */
    CHECK(lim_admit(&L) && lim_admit(&L) && !lim_admit(&L));
    lim_unadmit(&L);
    lim_unadmit(&L);
    lim_release(&L);
    counts(&r, &w);
    CHECK(r == 0 && w == 0);
    lim_destroy(&L);
}

static void test_fifo(void)
{
    CHECK(lim_init(&L, 1, 3) == 0);
    atomic_store(&grant_seq, 0);
    CHECK(lim_admit(&L) && lim_acquire(&L, clock_now() + 1, NULL)); /* the slot is held */
    waiter_arg a[3] = {{.deadline = 10}, {.deadline = 10}, {.deadline = 10}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        CHECK(lim_admit(&L));
        pthread_create(&th[i], NULL, waiter, &a[i]);
        until_waiting(i + 1); /* queued in this order */
    }
    int r, w;
    counts(&r, &w);
    CHECK(r == 1 && w == 3);
    /* Each release hands the slot to the oldest waiter. */
    for (int k = 0; k < 3; k++) {
        lim_release(&L);
        for (int i = 0; i < 2000 && atomic_load(&grant_seq) < k + 1; i++)
            usleep(1000);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(a[i].got && a[i].order == i + 1, "waiter %d: got %d, order %d", i, a[i].got, a[i].order);
    counts(&r, &w);
    CHECK(r == 1 && w == 0);
    lim_release(&L);
    lim_destroy(&L);
}

static void test_wait_ends(void)
{
    CHECK(lim_init(&L, 1, 4) == 0);
    CHECK(lim_admit(&L) && lim_acquire(&L, clock_now() + 1, NULL));
    int r, w;
    /* Deadline: gives up, not long after it, its place released. */
    waiter_arg d = {.deadline = 0.15};
    pthread_t th;
    CHECK(lim_admit(&L));
    pthread_create(&th, NULL, waiter, &d);
    pthread_join(th, NULL);
    CHECK_MSG(!d.got && d.waited >= 0.15 && d.waited < 5, "deadline: got %d after %.3f s", d.got, d.waited);
    counts(&r, &w);
    CHECK(r == 1 && w == 0);
    /* Cancel: the flag is polled while waiting. */
    atomic_int cancel = 0;
    waiter_arg c = {.deadline = 30, .cancel = &cancel};
    CHECK(lim_admit(&L));
    pthread_create(&th, NULL, waiter, &c);
    until_waiting(1);
    atomic_store(&cancel, 1);
    pthread_join(th, NULL);
    CHECK_MSG(!c.got && c.waited < 5, "cancel: got %d after %.3f s", c.got, c.waited);
    counts(&r, &w);
    CHECK(r == 1 && w == 0);
    /* A later waiter is not skipped by a cancelled one ahead of it. */
    atomic_store(&cancel, 0);
    waiter_arg first = {.deadline = 30, .cancel = &cancel}, second = {.deadline = 30};
    pthread_t t1, t2;
    CHECK(lim_admit(&L) && lim_admit(&L));
    pthread_create(&t1, NULL, waiter, &first);
    until_waiting(1);
    pthread_create(&t2, NULL, waiter, &second);
    until_waiting(2);
    atomic_store(&cancel, 1);
    pthread_join(t1, NULL);
    lim_release(&L);
    pthread_join(t2, NULL);
    CHECK(!first.got && second.got);
    /* Shutdown: every waiter returns without a slot, admission is refused. */
    waiter_arg s1 = {.deadline = 30}, s2 = {.deadline = 30};
    CHECK(lim_admit(&L) && lim_admit(&L));
    pthread_create(&t1, NULL, waiter, &s1);
    pthread_create(&t2, NULL, waiter, &s2);
    until_waiting(2);
    lim_stop(&L);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(!s1.got && !s2.got && s1.waited < 5 && s2.waited < 5);
    CHECK(!lim_admit(&L));
    counts(&r, &w);
    CHECK(r == 1 && w == 0);
    lim_release(&L);
    lim_destroy(&L);
}

int main(void)
{
    test_admission();
    test_fifo();
    test_wait_ends();
    return check_summary("limiter");
}
