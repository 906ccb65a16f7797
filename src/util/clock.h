/*
 * The library's one clock: every deadline, timer and rate meter reads
 * CLOCK_MONOTONIC through plm__now_ns(); the wall clock is read only where
 * a provider sends absolute times (Anthropic's rate-limit resets).
 */
#ifndef PLM_UTIL_CLOCK_H
#define PLM_UTIL_CLOCK_H

#include <stdint.h>

#define PLM__NS_PER_MS INT64_C(1000000)
#define PLM__NS_PER_S INT64_C(1000000000)

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t plm__now_ns(void);

/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
int64_t plm__wall_ns(void);

#endif
