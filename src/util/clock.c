/*
 * The monotonic and wall clocks (see clock.h).
 */
#include <time.h>

#include "clock.h"

int64_t plm__now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * PLM__NS_PER_S + ts.tv_nsec;
}

int64_t plm__wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * PLM__NS_PER_S + ts.tv_nsec;
}
