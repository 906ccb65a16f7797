/*
 * Header capture: which response headers an attempt keeps, copied and
 * capped as they arrive (they are untrusted bytes from the network).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"

/* Cap on a kept header value: real ones are far shorter. */
#define PLM_HEADER_VALUE_MAX 1024

struct header_slot {
    const char *name;
    size_t len; /* strlen(name), for a cheap first test */
    size_t offset;
};

/* clang-format off */
#define SLOT(n, f) { n, sizeof n - 1, offsetof(plm__headers, f) }
/* clang-format on */

static const struct header_slot header_slots[] = {
    SLOT("content-type", content_type),
    SLOT("x-request-id", request_id),
    SLOT("request-id", request_id),
    SLOT("retry-after", retry_after),
    SLOT("retry-after-ms", retry_after_ms),
    SLOT("x-should-retry", should_retry),
    SLOT("x-ratelimit-limit-requests", rl_limit_requests),
    SLOT("x-ratelimit-remaining-requests", rl_remaining_requests),
    SLOT("x-ratelimit-reset-requests", rl_reset_requests),
    SLOT("x-ratelimit-limit-tokens", rl_limit_tokens),
    SLOT("x-ratelimit-remaining-tokens", rl_remaining_tokens),
    SLOT("x-ratelimit-reset-tokens", rl_reset_tokens),
    SLOT("anthropic-ratelimit-requests-limit", rl_limit_requests),
    SLOT("anthropic-ratelimit-requests-remaining", rl_remaining_requests),
    SLOT("anthropic-ratelimit-requests-reset", rl_reset_requests),
    SLOT("anthropic-ratelimit-tokens-limit", rl_limit_tokens),
    SLOT("anthropic-ratelimit-tokens-remaining", rl_remaining_tokens),
    SLOT("anthropic-ratelimit-tokens-reset", rl_reset_tokens),
    SLOT("anthropic-ratelimit-input-tokens-limit", rl_limit_input_tokens),
    SLOT("anthropic-ratelimit-input-tokens-remaining",
         rl_remaining_input_tokens),
    SLOT("anthropic-ratelimit-input-tokens-reset", rl_reset_input_tokens),
    SLOT("anthropic-ratelimit-output-tokens-limit", rl_limit_output_tokens),
    SLOT("anthropic-ratelimit-output-tokens-remaining",
         rl_remaining_output_tokens),
    SLOT("anthropic-ratelimit-output-tokens-reset", rl_reset_output_tokens),
};

#define N_SLOTS (sizeof header_slots / sizeof header_slots[0])

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void plm__headers_take(plm__headers *h, const char *line, size_t len)
{
    const char *colon, *value, *end;
    size_t name_len, value_len;
    char *copy;

    if (!h || !line)
        return;
    /* A status line starts a new header block (after a 1xx interim answer
     * or a redirect): what came before belongs to another response. */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        plm__headers_clear(h);
        return;
    }
    colon = memchr(line, ':', len);
    if (!colon)
        return; /* the status line, or the blank line after the headers */
    name_len = (size_t)(colon - line);
    while (name_len && is_blank(line[name_len - 1]))
        name_len--;
    value = colon + 1;
    end = line + len;
    while (value < end && is_blank(*value))
        value++;
    while (end > value && is_blank(end[-1]))
        end--;
    value_len = (size_t)(end - value);
    if (value_len > PLM_HEADER_VALUE_MAX)
        value_len = PLM_HEADER_VALUE_MAX;
    for (size_t i = 0; i < N_SLOTS; i++) {
        char **slot;

        if (header_slots[i].len != name_len ||
            strncasecmp(header_slots[i].name, line, name_len) != 0)
            continue;
        copy = strndup(value, value_len);
        if (!copy)
            return; /* out of memory: the header is simply not kept */
        slot = (char **)((char *)h + header_slots[i].offset);
        free(*slot);
        *slot = copy;
        return;
    }
}

void plm__headers_clear(plm__headers *h)
{
    if (!h)
        return;
    /* Called several times per attempt, mostly with every slot empty:
     * a test per slot, not a call of free(NULL). Two names share some
     * slots: the second visit finds NULL. */
    for (size_t i = 0; i < N_SLOTS; i++) {
        char **slot = (char **)((char *)h + header_slots[i].offset);
        if (*slot) {
            free(*slot);
            *slot = NULL;
        }
    }
}
