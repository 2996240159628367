/* clock.h - the one monotonic clock, and timed waits that survive wall-clock jumps. */
#ifndef RELIEF_UTIL_CLOCK_H
#define RELIEF_UTIL_CLOCK_H

#include <pthread.h>

/* Seconds on the monotonic clock (arbitrary origin); never fails. */
double clock_now(void);

/* Initialises cv to time its waits on the monotonic clock. Returns 0, or
 * -1 when the attributes cannot be set up. */
int clock_cond_init(pthread_cond_t *cv);

/* Waits on cv (initialised by clock_cond_init, mu held) until signalled
 * or until clock_now() reaches until. A wait that ends early although
 * nobody signalled (a library that fakes the clock, such as libfaketime,
 * can make timed waits return at once) sleeps out the rest, so that a
 * waiting loop can never spin. */
void clock_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until);

#endif
