/*
 * Every default of the client's options, in one place: the client
 * resolves its options with these, and the modules that fall back on a
 * default when given 0 (the retry delay, the request builder) use the same
 * names. The header documents them to users; keep the two in step.
 */
#ifndef PLM_UTIL_DEFAULTS_H
#define PLM_UTIL_DEFAULTS_H

#include <stddef.h>

/* Retries after the first attempt. The SDKs use 2 and we used 4; with
 * sporadic faults on a fraction f of attempts a request is lost when all
 * of its attempts fail, f^(retries + 1): at the 34% of a bad storm (20%
 * 429, 5% 500, 5% resets, 2% cut-off bodies, 2% 529) that is 3.9% of
 * requests with 2 retries and 0.45% with 4, but 3e-8 with 15, so a
 * 100,000-request batch loses nothing. Time bounds the rest: the backoff
 * cap keeps 15 retries within about half a minute of waiting, and
 * retry_time_ms stops retrying a request that has been failing for long;
 * an outage is the circuit breaker's business, which holds requests
 * without spending their retries. */
#define PLM__DEFAULT_MAX_RETRIES 15
/* Per request: no retry starts once this long has passed since its first
 * attempt. 15 minutes: more than one full default attempt timeout (10
 * minutes) plus backoff, so a timed-out long generation gets one more
 * try, while a request that keeps failing stops holding its slot. */
#define PLM__DEFAULT_RETRY_TIME_MS 900000
/* Per attempt: long generations take minutes. */
#define PLM__DEFAULT_REQUEST_TIMEOUT_MS 600000
#define PLM__DEFAULT_CONNECT_TIMEOUT_MS 10000
/* Backoff: min(base * 2^(attempt-1), max), jittered; the SDKs' base. The
 * cap is 2 s, not their 8 s: the SDKs have only the per-request backoff
 * to spare a struggling server, while here the circuit breaker (holding
 * every request when failures dominate) and the retry budget (retries a
 * bounded fraction of traffic) protect it per endpoint. A long cap only
 * punishes the unlucky requests of a sporadic storm: the last ones to
 * finish wait out 8 s steps while everything else is done. */
#define PLM__DEFAULT_RETRY_BASE_MS 500
#define PLM__DEFAULT_RETRY_MAX_MS 2000
/* Cap on a server's Retry-After (and on a 429's pause). */
#define PLM__DEFAULT_RETRY_AFTER_MAX_MS 60000
/* Cap on one response body. */
#define PLM__DEFAULT_MAX_RESPONSE_BYTES ((size_t)16 << 20)
/* max_tokens a chat request sends when the caller set none (Anthropic
 * requires one), and what the token estimate assumes for a body without
 * any output limit. */
#define PLM__DEFAULT_MAX_TOKENS 1024
/* How often a run's tick callback is called. */
#define PLM__DEFAULT_TICK_MS 250

#endif
