/*
 * Rate-limit headers: turns the raw x-ratelimit-* (OpenAI) and
 * anthropic-ratelimit-* (Anthropic) values an answer carried into numbers
 * the budget can use. OpenAI sends resets as Go durations ("6m0s"),
 * Anthropic as RFC 3339 timestamps; both become "nanoseconds from now".
 * Nothing here trusts the network: garbage, negative or overflowing values
 * are dropped, never guessed at.
 */
#ifndef PLM_RLHEADERS_H
#define PLM_RLHEADERS_H

#include <stdint.h>

#include "headers.h"

/* The meters a provider may report, in plm__rl_state.meter[] order. */
typedef enum plm__rl_kind {
    PLM__RL_REQUESTS = 0,
    PLM__RL_TOKENS = 1,
    PLM__RL_INPUT_TOKENS = 2,  /* Anthropic only */
    PLM__RL_OUTPUT_TOKENS = 3, /* Anthropic only */
    PLM__RL_KINDS = 4
} plm__rl_kind;

/* What one answer said about one meter. Each value has its own flag: a
 * provider may send the remaining count without the limit, and a value that
 * did not parse is simply absent. */
typedef struct plm__rl_meter_state {
    int has_limit, has_remaining, has_reset;
    int64_t limit;          /* units per minute */
    int64_t remaining;      /* units left now */
    int64_t reset_after_ns; /* until the meter is full again, >= 0 */
} plm__rl_meter_state;

typedef struct plm__rl_state {
    plm__rl_meter_state meter[PLM__RL_KINDS];
} plm__rl_state;

/*
 * Parses a Go duration: one or more <number><unit> with unit h, m, s, ms,
 * us, µs (U+00B5 or U+03BC) or ns; numbers may have a fraction ("1.5s",
 * ".5s"); "0" alone is zero. A leading '+' is allowed; a '-' (negative),
 * a missing unit, an unknown unit, trailing garbage or a value beyond
 * INT64_MAX nanoseconds is rejected. Returns 1 and sets *out_ns, else 0.
 */
int plm__duration_parse(const char *s, int64_t *out_ns);

/*
 * Parses an RFC 3339 timestamp "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)"
 * ('t', 'z' and a space separator accepted) into nanoseconds since the Unix
 * epoch (negative before 1970). Fractions beyond nanoseconds are truncated.
 * Returns 1 and sets *out_ns, else 0 (bad syntax, out-of-range field, day
 * beyond the month's length).
 */
int plm__rfc3339_parse(const char *s, int64_t *out_ns);

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (m 1..12). */
int64_t plm__days_from_civil(int64_t y, int m, int d);

/*
 * Parses a reset value: a Go duration, a bare non-negative number of
 * seconds (some compatible servers send that), or an RFC 3339 timestamp
 * taken relative to now_epoch_ns (a time in the past gives 0). Returns 1
 * and sets *out_ns (>= 0), else 0.
 */
int plm__rl_reset_parse(const char *s, int64_t now_epoch_ns, int64_t *out_ns);

/*
 * Fills *out from the rl_* fields of h (NULL fields and garbage leave the
 * flag at 0). now_epoch_ns is the wall clock (CLOCK_REALTIME) at which the
 * answer arrived, used for Anthropic's absolute reset times.
 */
void plm__rl_state_from_headers(const plm__headers *h, int64_t now_epoch_ns,
                                plm__rl_state *out);

#endif
