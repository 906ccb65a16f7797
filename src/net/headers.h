/*
 * The response headers an attempt keeps: the transport captures them as
 * they arrive, the protocol and limits layers read them afterwards.
 */
#ifndef PLM_NET_HEADERS_H
#define PLM_NET_HEADERS_H

#include <stddef.h>

/* The response headers the engine keeps for each attempt (lower-case
 * names, values copied). Any field may be NULL. */
typedef struct plm__headers {
    char *content_type;
    char *request_id; /* x-request-id / request-id */
    char *retry_after;
    char *retry_after_ms;
    char *should_retry; /* x-should-retry */
    /* Rate-limit headers, raw, for the limits module: OpenAI
     * x-ratelimit-{limit,remaining,reset}-{requests,tokens} and Anthropic
     * anthropic-ratelimit-*. */
    char *rl_limit_requests, *rl_remaining_requests, *rl_reset_requests;
    char *rl_limit_tokens, *rl_remaining_tokens, *rl_reset_tokens;
    char *rl_limit_input_tokens, *rl_remaining_input_tokens,
        *rl_reset_input_tokens;
    char *rl_limit_output_tokens, *rl_remaining_output_tokens,
        *rl_reset_output_tokens;
} plm__headers;

/* Stores one "Name: value" header line if it is one we keep (names are
 * case-insensitive, values trimmed and capped at 1 KiB). A status line
 * ("HTTP/...") clears what was kept: a new response's headers begin. */
void plm__headers_take(plm__headers *h, const char *line, size_t len);
void plm__headers_clear(plm__headers *h);

#endif
