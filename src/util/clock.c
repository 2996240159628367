/* clock.c - the one monotonic clock, and timed waits that survive wall-clock jumps. */
#include "clock.h"

#include <errno.h>
#include <time.h>

double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int clock_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a))
        return -1;
    int rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) || pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc ? -1 : 0;
}

static struct timespec to_ts(double t)
{
    struct timespec ts;
    if (t < 0)
        t = 0;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (ts.tv_nsec < 0)
        ts.tv_nsec = 0;
    return ts;
}

void clock_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until)
{
    struct timespec abs = to_ts(until);
    int rc = pthread_cond_timedwait(cv, mu, &abs);
    double left = until - clock_now();
    if (rc == ETIMEDOUT && left > 0.001) {
        pthread_mutex_unlock(mu);
        struct timespec rel = to_ts(left > 1.0 ? 1.0 : left);
        nanosleep(&rel, NULL);
        pthread_mutex_lock(mu);
    }
}
