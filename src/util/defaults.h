/*
 * Every default of the client's options, in one place: the client
 * resolves its options with these, and the modules that fall back on a
 * default when given 0 (the retry delay, the request builder) use the same
 * names. The header documents them to users; keep the two in step.
 */
#ifndef PLM_UTIL_DEFAULTS_H
#define PLM_UTIL_DEFAULTS_H

#include <stddef.h>

/* Retries after the first attempt. The SDKs use 2, which users find too
 * short for LLM servers under load. */
#define PLM__DEFAULT_MAX_RETRIES 4
/* Per attempt: long generations take minutes. */
#define PLM__DEFAULT_REQUEST_TIMEOUT_MS 600000
#define PLM__DEFAULT_CONNECT_TIMEOUT_MS 10000
/* Backoff: min(base * 2^(attempt-1), max), jittered; as the SDKs do. */
#define PLM__DEFAULT_RETRY_BASE_MS 500
#define PLM__DEFAULT_RETRY_MAX_MS 8000
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
