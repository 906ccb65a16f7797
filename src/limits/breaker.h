/*
 * Circuit breaker for one endpoint: when the server is plainly unwell,
 * fail requests at once (PLM_EBREAKER) instead of piling more load on it,
 * then let a few trial requests probe whether it has recovered. Pure: no
 * clock of its own, every call takes monotonic now_ns.
 *
 * Only outcomes that speak of the server's health count: network errors,
 * timeouts, 5xx and overloaded (529/503) are failures, a success is a
 * success, and everything else (429 rate limits, quota, auth, other 4xx,
 * parse errors, cancellations, local errors) counts as neither.
 */
#ifndef PLM_BREAKER_H
#define PLM_BREAKER_H

#include <stdint.h>

#include "parallm.h"

/* Defaults, against the common libraries' (pybreaker: 5 consecutive, 60 s,
 * 1 trial; resilience4j: 50% of 100 calls, min 100, 60 s, 10 trials):
 * - 5 consecutive failures, as pybreaker;
 * - 50% of the last 20 calls with at least 10 in the window: resilience4j's
 *   rate, but a window of 100 LLM calls takes minutes to fill at typical
 *   concurrency, far too slow to protect a run;
 * - 30 s open: LLM overload episodes are usually tens of seconds, and a
 *   batch waiting 60 s per probe loses too much time; one trial request
 *   per 30 s costs the server nothing;
 * - 1 trial, as pybreaker: a single success is enough evidence to reopen
 *   the tap, the concurrency limiter then ramps the load up gradually. */
#define PLM__BREAKER_DEFAULT_FAILURES 5
#define PLM__BREAKER_DEFAULT_RATE_PERCENT 50
#define PLM__BREAKER_DEFAULT_WINDOW 20
#define PLM__BREAKER_DEFAULT_MIN_CALLS 10
#define PLM__BREAKER_DEFAULT_COOLDOWN_MS 30000
#define PLM__BREAKER_DEFAULT_TRIALS 1
#define PLM__BREAKER_MAX_WINDOW 1024

typedef struct plm__breaker_config {
    int failures;         /* consecutive failures that open; 0 = default,
                             -1 = breaker disabled (always ALLOW) */
    int rate_percent;     /* failure rate that opens; 0 = default,
                             -1 = no rate rule */
    int window;           /* last N calls for the rate; 0 = default */
    int min_calls;        /* calls needed before the rate counts; 0 = dflt */
    int64_t cooldown_ms;  /* time open before half-open; 0 = default */
    int trials;           /* concurrent trial requests; 0 = default */
} plm__breaker_config;

typedef enum plm__breaker_state {
    PLM__BREAKER_CLOSED = 0,
    PLM__BREAKER_OPEN,
    PLM__BREAKER_HALF_OPEN
} plm__breaker_state;

typedef enum plm__breaker_verdict {
    PLM__BREAKER_ALLOW = 0,  /* send; record with was_trial = 0 */
    PLM__BREAKER_REJECT,     /* fail with PLM_EBREAKER (or wait) */
    PLM__BREAKER_TRIAL       /* send as a probe; record with was_trial=1 */
} plm__breaker_verdict;

typedef struct plm__breaker {
    plm__breaker_config cfg;  /* defaults filled in */
    int disabled;
    plm__breaker_state state;
    int consecutive;          /* failures in a row (closed) */
    unsigned char outcomes[PLM__BREAKER_MAX_WINDOW]; /* 1 = failure */
    int count, head, failed;  /* ring of the last cfg.window outcomes */
    int64_t opened_at;
    int trials_out;           /* trials granted, not yet recorded */
    int trials_ok;            /* trial successes since half-open */
} plm__breaker;

/* Initialises b (caller-allocated) with cfg (NULL = defaults). Returns
 * PLM_OK or PLM_EINVAL for out-of-range values. */
int plm__breaker_init(plm__breaker *b, const plm__breaker_config *cfg);

/*
 * May a request go at now_ns? ALLOW in closed state; TRIAL in half-open
 * while fewer than cfg.trials probes are out; otherwise REJECT, with
 * *retry_in_ns (may be NULL) the time until the breaker half-opens (0 when
 * it is half-open and only waiting for its probes to report). Moving from
 * open to half-open happens here, when the cool-down has passed.
 */
plm__breaker_verdict plm__breaker_allow(plm__breaker *b, int64_t now_ns,
                                        int64_t *retry_in_ns);

/* What allow() would answer at now_ns, without moving the breaker or
 * taking a trial: the admission asks this before it charges the budget. */
plm__breaker_verdict plm__breaker_peek(const plm__breaker *b, int64_t now_ns,
                                       int64_t *retry_in_ns);

/*
 * Records the outcome of a request that allow() let through. Every TRIAL
 * verdict must be matched by exactly one record with was_trial = 1 (also
 * when the request was cancelled: a neutral class frees the probe slot
 * without deciding anything). A success closes a half-open breaker once
 * cfg.trials probes succeeded; a failure reopens it. Outcomes of requests
 * let through before the breaker opened are ignored while it is open.
 */
void plm__breaker_record(plm__breaker *b, plm_error_class cls, int was_trial,
                         int64_t now_ns);

plm__breaker_state plm__breaker_get_state(const plm__breaker *b);

/* 1 failure, 0 success, -1 neither (see the file comment). */
int plm__breaker_class_counts(plm_error_class cls);

#endif
