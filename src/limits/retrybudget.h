/*
 * Retry budget: retries may add at most a fraction of recent traffic, so
 * an outage cannot turn every request into max_retries + 1 requests and
 * multiply the load on a struggling server (the Finagle / Envoy / gRPC
 * retry-budget idea). A token bucket: each first attempt deposits `ratio`
 * tokens, a small floor refills over time so a quiet client can still
 * retry now and then, and each retry withdraws one token. Pure: the caller
 * passes monotonic now_ns.
 */
#ifndef PLM_RETRYBUDGET_H
#define PLM_RETRYBUDGET_H

#include <stdint.h>

/* 50%: Finagle's 20% fails requests in a plain storm (with 14% of
 * attempts failing with 5xx, resets, 529s or cut-off bodies a batch needs
 * retries of about 21% of its first attempts); a fraction f of failing
 * attempts needs f / (1 - f) of the first attempts as retries, so 50%
 * still gets every request through a server failing a third of its
 * answers, while an outage adds at most half again to the load, and the
 * circuit breaker holds everything once failures dominate. */
#define PLM__RETRY_BUDGET_DEFAULT_RATIO 0.5
/* A floor of one retry per second whatever the traffic (Finagle uses 10
 * per second for RPCs; LLM requests are far heavier). */
#define PLM__RETRY_BUDGET_DEFAULT_MIN_PER_SEC 1.0
/* At most this many tokens saved up: a long calm period must not fund a
 * large retry storm later. Raised to the concurrency by
 * plm__retrybudget_set_scale(): requests in flight fail together (a
 * dropped connection pool resets them all at once), and savings smaller
 * than one such round fail requests that the traffic funds many times
 * over; a round of retries can never exceed the requests in flight
 * anyway. */
#define PLM__RETRY_BUDGET_DEFAULT_CAP 10.0

typedef struct plm__retrybudget {
    int enabled;
    double ratio, min_per_sec, cap;
    double balance;
    int64_t refilled_at;
} plm__retrybudget;

/* ratio: 0 = default, < 0 = no budget (every retry allowed); values above
 * 1 allow more retries than first attempts. The bucket starts full. */
void plm__retrybudget_init(plm__retrybudget *rb, double ratio, int64_t now_ns);

/* Sizes the savings for `concurrency` requests in flight: the cap becomes
 * max(PLM__RETRY_BUDGET_DEFAULT_CAP, concurrency). */
void plm__retrybudget_set_scale(plm__retrybudget *rb, int concurrency);

/* A first attempt went out: deposit ratio tokens. */
void plm__retrybudget_on_request(plm__retrybudget *rb, int64_t now_ns);

/* Asks to retry once. Returns 1 (allowed, one token withdrawn) or 0 (the
 * budget is spent: give the request its final failure now). */
int plm__retrybudget_try_retry(plm__retrybudget *rb, int64_t now_ns);

#endif
