/*
 * Circuit breaker for one endpoint, for batches: when the server is
 * plainly unwell, HOLD requests (the admission waits) instead of piling
 * more load on it, probe with one request, and let traffic back
 * gradually. It fails requests only when the endpoint is dead: every probe
 * failing for cfg.dead_ms, or (the policy decides, see
 * plm__breaker_set_dead) a server that cannot be reached at all. Pure: no
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
 * 1 trial; resilience4j: 50% of 100 calls, min 100, 60 s, 10 trials),
 * scaled by the concurrency (plm__breaker_set_scale: the requests that can
 * be in flight at once), because requests in flight together fail
 * together and tell of one moment, not of a trend:
 * - consecutive failures: max(5, concurrency), as pybreaker at 1 slot; at
 *   100 in flight, 5 failures in a row are a blip, 100 are an outage;
 * - 50% of the last max(20, 2 x concurrency) calls with at least
 *   max(10, concurrency) of them: resilience4j's rate over a window that
 *   fills in seconds at LLM call rates;
 * - 10 s open before a probe: requests are held, not failed, so the
 *   cool-down is pure waiting once the server is back; one probe per 10 s
 *   costs the server nothing;
 * - 1 probe, then half-open lets one more request in flight per success
 *   (slow start: the allowance doubles per round trip) and closes once it
 *   reaches max(trials, concurrency);
 * - dead after 5 minutes of failed probes: longer than a self-hosted
 *   server's restart (model loading takes a minute or two) and than most
 *   overload episodes, short enough that an unattended batch against a
 *   gone endpoint says so within minutes instead of hanging. */
#define PLM__BREAKER_DEFAULT_FAILURES 5
#define PLM__BREAKER_DEFAULT_RATE_PERCENT 50
#define PLM__BREAKER_DEFAULT_WINDOW 20
#define PLM__BREAKER_DEFAULT_MIN_CALLS 10
#define PLM__BREAKER_DEFAULT_COOLDOWN_MS 10000
#define PLM__BREAKER_DEFAULT_TRIALS 1
#define PLM__BREAKER_DEFAULT_DEAD_MS 300000
#define PLM__BREAKER_MAX_WINDOW 1024

typedef struct plm__breaker_config {
    int failures;        /* consecutive failures that open; 0 = default
                            (scaled), -1 = breaker disabled (always
                            ALLOW); a positive value is used as given */
    int rate_percent;    /* failure rate that opens; 0 = default,
                            -1 = no rate rule */
    int window;          /* last N calls for the rate; 0 = default */
    int min_calls;       /* calls needed before the rate counts; 0 = dflt */
    int64_t cooldown_ms; /* time open before a probe; 0 = default */
    int trials;          /* probes sent at once at first; 0 = default */
    int64_t dead_ms;     /* probes failing this long since the breaker
                            opened: the endpoint is dead; 0 = default */
} plm__breaker_config;

typedef enum plm__breaker_state {
    PLM__BREAKER_CLOSED = 0,
    PLM__BREAKER_OPEN,
    PLM__BREAKER_HALF_OPEN,
    PLM__BREAKER_DEAD
} plm__breaker_state;

typedef enum plm__breaker_verdict {
    PLM__BREAKER_ALLOW = 0,    /* send; record with was_trial = 0 */
    PLM__BREAKER_REJECT,       /* hold the request: ask again in *retry_in
                                  (0: when a probe reports) */
    PLM__BREAKER_TRIAL,        /* send as a probe; record with was_trial=1 */
    PLM__BREAKER_DEAD_ENDPOINT /* the endpoint is dead: fail the request */
} plm__breaker_verdict;

typedef struct plm__breaker {
    plm__breaker_config cfg; /* defaults filled in */
    int disabled;
    int scale; /* concurrency the thresholds scale with */
    plm__breaker_state state;
    int consecutive; /* failures in a row (closed) */
    unsigned char outcomes[PLM__BREAKER_MAX_WINDOW]; /* 1 = failure */
    int count, head, failed; /* ring of the last window() outcomes */
    int64_t opened_at;       /* last time it opened */
    int64_t failing_since;   /* first opening of this episode */
    int trials_out;          /* probes granted, not yet recorded */
    int trials_ok;           /* probe successes since half-open */
    int trials_failed;       /* probe failures since half-open */
} plm__breaker;

/* Initialises b (caller-allocated) with cfg (NULL = defaults), scale 1.
 * Returns PLM_OK or PLM_EINVAL for out-of-range values. */
int plm__breaker_init(plm__breaker *b, const plm__breaker_config *cfg);

/* The concurrency the default thresholds scale with (values below 1 count
 * as 1). The window keeps what it holds. */
void plm__breaker_set_scale(plm__breaker *b, int concurrency);

/*
 * May a request go at now_ns? ALLOW in closed state; TRIAL in half-open
 * while fewer probes are out than the allowance (cfg.trials plus one per
 * probe that succeeded); DEAD_ENDPOINT once dead; otherwise REJECT, with
 * *retry_in_ns (may be NULL) the time until the breaker half-opens (0 when
 * it is half-open and only waiting for its probes to report). Moving from
 * open to half-open happens here, when the cool-down has passed.
 */
plm__breaker_verdict plm__breaker_allow(plm__breaker *b, int64_t now_ns,
                                        int64_t *retry_in_ns);

/* What allow() would answer at now_ns, without moving the breaker or
 * taking a probe: the admission asks this before it charges the budget. */
plm__breaker_verdict plm__breaker_peek(const plm__breaker *b, int64_t now_ns,
                                       int64_t *retry_in_ns);

/*
 * Records the outcome of a request that allow() let through. Every TRIAL
 * verdict must be matched by exactly one record with was_trial = 1 (also
 * when the request was cancelled: a neutral class frees the probe slot
 * without deciding anything). In half-open, a failure of the first probes
 * (before any success) reopens the breaker, and so do more failed probes
 * than successful ones; it closes when the successes reach max(trials,
 * scale). A probe failing cfg.dead_ms or more after the episode's first
 * opening makes the endpoint dead. Outcomes of requests let through
 * before the breaker opened are ignored while it is not closed.
 */
void plm__breaker_record(plm__breaker *b, plm_error_class cls, int was_trial,
                         int64_t now_ns);

/* Declares the endpoint dead (e.g. nothing ever answered and the connection
 * is refused on every address); no-op when disabled. */
void plm__breaker_set_dead(plm__breaker *b);

/* Forgets a dead verdict (a new run may find the server back): closed with
 * an empty window. */
void plm__breaker_revive(plm__breaker *b);

plm__breaker_state plm__breaker_get_state(const plm__breaker *b);

/* 1 failure, 0 success, -1 neither (see the file comment). */
int plm__breaker_class_counts(plm_error_class cls);

#endif
