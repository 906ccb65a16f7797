/*
 * The one place that decides retries: what an attempt's outcome means
 * (code and class), whether to try again, and how long to wait.
 */
#ifndef PLM_RETRY_H
#define PLM_RETRY_H

#include <stdint.h>
#include <time.h>

#include "parallm.h"
#include "provider.h"
#include "result.h"

typedef struct plm__retry_policy {
    int max_retries;
    int64_t base_ms;      /* first backoff */
    int64_t max_ms;       /* backoff cap */
    int64_t after_max_ms; /* cap on a server's Retry-After */
    int64_t time_ms;      /* no retry once the request has been going
                             this long since its first attempt; 0 = no
                             time bound */
    int64_t elapsed_ms;   /* how long it has been going */
} plm__retry_policy;

/* What one attempt ended with, as the transport saw it. */
typedef struct plm__attempt {
    int http_status;     /* 0 when no HTTP answer */
    int transport_error; /* 0, or PLM_ENETWORK / PLM_ETIMEOUT /
                            PLM_ETOOBIG / PLM_ECANCELLED */
    const plm__headers *headers;
    int unreachable; /* the server could not be reached at all
                        (connection refused on every address, DNS
                        or TLS failure); the transport's message
                        says which */
} plm__attempt;

/*
 * Sets res->code and res->error_class for the attempt (keeping an error the
 * provider parser already set on a 2xx: a parse error, retried like a
 * network error, or a stream error event, retried when overloaded,
 * rate-limited or server-side; so call plm__provider_parse first), and
 * returns 1 if the request should be tried again (attempt number
 * `attempt`, 1-based, and the policy's count and time bounds allow it),
 * else 0. A cancelled attempt is never retried.
 */
int plm__retry_decide(const plm__retry_policy *policy, int attempt,
                      const plm__attempt *a, plm_result *res);

/*
 * Milliseconds to wait before the next attempt: retry-after-ms, then
 * retry-after (seconds, fractional, or an HTTP date relative to now),
 * capped by after_max_ms; else min(base * 2^(attempt-1), max) scaled by a
 * jitter factor in [0.75, 1]. rng_state is a caller-owned xorshift state.
 */
int64_t plm__retry_delay_ms(const plm__retry_policy *policy, int attempt,
                            const plm__headers *headers, time_t now,
                            uint64_t *rng_state);

/* Parses retry-after-ms / retry-after. Returns 1 and sets *out_ms, or 0
 * when absent or garbage. */
int plm__retry_after_parse(const char *after_ms, const char *after, time_t now,
                           int64_t *out_ms);

#endif
