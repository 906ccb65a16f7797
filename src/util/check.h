/*
 * The one place where option values are checked: every duration, every
 * struct version and every bounded number given through the public API
 * goes through these, and a failure names the field in plm_last_error().
 */
#ifndef PLM_UTIL_CHECK_H
#define PLM_UTIL_CHECK_H

#include <stdint.h>

/* Durations become nanosecond deadlines on the monotonic clock; a week
 * keeps every sum far from overflow and is longer than any sane timeout,
 * backoff or cool-down. Every public _ms value must lie in [0, this]. */
#define PLM__MAX_DURATION_MS ((int64_t)7 * 24 * 3600 * 1000)

/* PLM_OK when 0 <= ms <= PLM__MAX_DURATION_MS, else PLM_EINVAL with the
 * field named in the last error. */
int plm__check_duration_ms(const char *field, int64_t ms);

/* PLM_OK when lo <= v <= hi, else PLM_EINVAL naming the field. */
int plm__check_range(const char *field, int64_t v, int64_t lo, int64_t hi);

/* PLM_OK when an options struct's version is the one this library
 * speaks, else PLM_EINVAL naming the struct. */
int plm__check_version(const char *what, int version, int expected);

/* PLM_OK when p is not NULL, else PLM_EINVAL naming the argument. */
int plm__check_not_null(const char *what, const void *p);

#endif
