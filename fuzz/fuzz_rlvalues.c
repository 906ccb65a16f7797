/*
 * The value parsers behind the rate-limit and retry headers, on any
 * string: Go durations, RFC 3339 timestamps, reset values
 * (src/limits/rlheaders.c) and Retry-After / retry-after-ms
 * (src/proto/retry.c). Whatever the text, a value they accept is never
 * negative, and a duration or timestamp accepted is also a reset value.
 *
 * Input: byte 0 moves the wall clock (0 to 255 days after 2026-01-01);
 * the rest is the value.
 */
#include "fuzz_util.h"
#include "retry.h"
#include "rlheaders.h"

#define NOW_S INT64_C(1767225600)
#define NS INT64_C(1000000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t now_s = NOW_S + (int64_t)fuzz_take(&data, &size) * 86400;
    char *s = fuzz_cstr(data, size);
    int64_t v, r;

    int dur = plm__duration_parse(s, &v);
    if (dur)
        FUZZ_CHECK(v >= 0);
    int ts = plm__rfc3339_parse(s, &v);
    int reset = plm__rl_reset_parse(s, now_s * NS, &r);
    if (reset)
        FUZZ_CHECK(r >= 0);
    if (dur || ts)
        FUZZ_CHECK(reset);
    if (plm__retry_after_parse(s, NULL, (time_t)now_s, &v))
        FUZZ_CHECK(v >= 0);
    if (plm__retry_after_parse(NULL, s, (time_t)now_s, &v))
        FUZZ_CHECK(v >= 0);
    free(s);
    return 0;
}
