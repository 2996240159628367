/* limiter.c - the generation limiter: at most max_running model generations, max_waiting queued in FIFO order. */
#include "serve_int.h"

#include <assert.h>

int lim_init(limiter *l, int max_running, int max_waiting)
{
    assert(max_running >= 1 && max_waiting >= 0);
    memset(l, 0, sizeof *l);
    l->max_running = max_running;
    l->max_waiting = max_waiting;
    if (pthread_mutex_init(&l->mu, NULL))
        return -1;
    if (serve_cond_init_mono(&l->cv)) {
        pthread_mutex_destroy(&l->mu);
        return -1;
    }
    return 0;
}

void lim_stop(limiter *l)
{
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void lim_destroy(limiter *l)
{
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

/* Reserves a place in the queue. Returns false when running + waiting is
 * already at its limit (the caller answers "busy"). */
bool lim_admit(limiter *l)
{
    pthread_mutex_lock(&l->mu);
    bool ok = !l->stopping && l->running + l->waiting < l->max_running + l->max_waiting;
    if (ok)
        l->waiting++;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* Gives up an admitted place that never asked for a slot. */
void lim_unadmit(limiter *l)
{
    pthread_mutex_lock(&l->mu);
    assert(l->waiting > 0);
    l->waiting--;
    pthread_mutex_unlock(&l->mu);
}

/* Hands free slots to the oldest waiters; called with mu held. */
static void lim_grant(limiter *l)
{
    bool any = false;
    while (l->head && l->running < l->max_running) {
        lim_waiter *w = l->head;
        l->head = w->next;
        if (!l->head)
            l->tail = NULL;
        w->granted = true;
        l->running++;
        l->waiting--;
        any = true;
    }
    if (any)
        pthread_cond_broadcast(&l->cv);
}

/* Turns an admitted place into a running slot, waiting in FIFO order until
 * the monotonic time `deadline`, *cancel becoming non-zero (NULL: never) or
 * shutdown. Returns true with a slot (release it with lim_release), false
 * without (the place is given up either way). */
bool lim_acquire(limiter *l, double deadline, const atomic_int *cancel)
{
    pthread_mutex_lock(&l->mu);
    if (!l->head && l->running < l->max_running && !l->stopping) {
        l->waiting--;
        l->running++;
        pthread_mutex_unlock(&l->mu);
        return true;
    }
    lim_waiter w = {0};
    if (l->tail)
        l->tail->next = &w;
    else
        l->head = &w;
    l->tail = &w;
    for (;;) {
        if (w.granted)
            break;
        double t = clock_now();
        if (l->stopping || (cancel && atomic_load(cancel)) || t >= deadline)
            break;
        /* cancel is not signalled on the condition variable: poll it. */
        serve_cond_wait_until(&l->cv, &l->mu, fmin(deadline, t + 0.05));
    }
    if (w.granted) {
        pthread_mutex_unlock(&l->mu);
        return true;
    }
    lim_waiter **pp = &l->head, *prev = NULL;
    while (*pp && *pp != &w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = w.next;
        if (l->tail == &w)
            l->tail = prev;
    }
    l->waiting--;
    pthread_mutex_unlock(&l->mu);
    return false;
}

void lim_release(limiter *l)
{
    pthread_mutex_lock(&l->mu);
    assert(l->running > 0);
    l->running--;
    lim_grant(l);
    pthread_mutex_unlock(&l->mu);
}

void lim_counts(limiter *l, int *running, int *waiting)
{
    pthread_mutex_lock(&l->mu);
    *running = l->running;
    *waiting = l->waiting;
    pthread_mutex_unlock(&l->mu);
}
