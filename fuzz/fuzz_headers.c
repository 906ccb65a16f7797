/*
 * Response headers as the transport hands them over, one line at a time
 * (src/net/headers.c, plm__headers_take), then what the layers above read
 * from them: the rate-limit state (src/limits/rlheaders.c), the server's
 * Retry-After and the retry delay (src/proto/retry.c).
 *
 * Input: the header block, lines split at '\n' (each line passed with its
 * "\r\n" as curl passes it). The wall clock is fixed, so a crash
 * reproduces.
 */
#include "fuzz_util.h"
#include "headers.h"
#include "retry.h"
#include "rlheaders.h"

/* 2026-01-01T00:00:00Z */
#define NOW_S INT64_C(1767225600)

static void check_meter(const plm__rl_meter_state *m)
{
    if (m->has_limit)
        FUZZ_CHECK(m->limit >= 0);
    if (m->has_remaining)
        FUZZ_CHECK(m->remaining >= 0);
    if (m->has_reset)
        FUZZ_CHECK(m->reset_after_ns >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plm__headers h = { 0 };
    const char *p = (const char *)data, *end = p + size;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        /* curl's header callback gets bytes, not a string: a copy of
         * exactly n bytes, so reading past it is caught. */
        char *line = malloc(n ? n : 1);
        FUZZ_CHECK(line != NULL);
        memcpy(line, p, n);
        plm__headers_take(&h, line, n);
        free(line);
        p += n;
    }
    /* Kept values are capped strings. */
    const char *const kept[] = { h.content_type, h.request_id, h.retry_after,
                                 h.retry_after_ms, h.rl_reset_tokens };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        FUZZ_CHECK(!kept[i] || strlen(kept[i]) <= 1024);

    plm__rl_state st;
    plm__rl_state_from_headers(&h, NOW_S * 1000000000, &st);
    for (int k = 0; k < PLM__RL_KINDS; k++)
        check_meter(&st.meter[k]);

    int64_t ms = -1;
    if (plm__retry_after_parse(h.retry_after_ms, h.retry_after, (time_t)NOW_S,
                               &ms))
        FUZZ_CHECK(ms >= 0);
    plm__retry_policy policy = { .max_retries = 5, .base_ms = 100,
                                 .max_ms = 2000, .after_max_ms = 30000 };
    uint64_t rng = size;
    for (int attempt = 1; attempt <= 70; attempt += 23) {
        int64_t d = plm__retry_delay_ms(&policy, attempt, &h, (time_t)NOW_S,
                                        &rng);
        FUZZ_CHECK(d >= 0 && d <= 30000);
    }
    plm__headers_clear(&h);
    return 0;
}
