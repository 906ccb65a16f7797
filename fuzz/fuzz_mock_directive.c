/*
 * The mock's directives (src/mock/mock_directive.c): "k=v;k=v" as an
 * X-Mock header value (plm__mock_directive_parse, bytes with a length)
 * and "[mock ...]" found in a prompt (plm__mock_directive_find, a
 * string). Whatever the text, every value kept is inside its documented
 * range and every string field is terminated inside its array.
 */
#include <math.h>

#include "fuzz_util.h"
#include "mock_internal.h"

static void check_str(const char *s, size_t cap)
{
    FUZZ_CHECK(memchr(s, '\0', cap) != NULL);
}

static void check(const plm__mock_directive *d)
{
    FUZZ_CHECK(d->latency_ms == -1 ||
               (d->latency_ms >= 0 && d->latency_ms <= 3600 * 1000));
    FUZZ_CHECK(d->status == 0 || (d->status >= 100 && d->status <= 599));
    FUZZ_CHECK(d->times >= -1 && d->times <= (INT64_C(1) << 40));
    FUZZ_CHECK(d->should_retry >= -1 && d->should_retry <= 1);
    FUZZ_CHECK(d->size >= -1 && d->size <= (INT64_C(1) << 34));
    FUZZ_CHECK(d->tokens >= -1 && d->tokens <= 1000000000);
    FUZZ_CHECK(d->fault >= PLM__MOCK_FAULT_NONE &&
               d->fault <= PLM__MOCK_FAULT_LAST);
    check_str(d->key, sizeof d->key);
    check_str(d->retry_after, sizeof d->retry_after);
    check_str(d->retry_after_ms, sizeof d->retry_after_ms);
    check_str(d->error_code, sizeof d->error_code);
    /* The retry values are sent as headers: numbers, nothing else. */
    const char *const nums[] = { d->retry_after, d->retry_after_ms };
    for (int i = 0; i < 2; i++) {
        if (!nums[i][0])
            continue;
        char *end;
        double x = strtod(nums[i], &end);
        FUZZ_CHECK(*end == '\0' && x >= 0.0 && x <= 1e9);
        for (const char *p = nums[i]; *p; p++)
            FUZZ_CHECK((unsigned char)*p > 0x20 && *p != 0x7f);
    }
    for (const char *p = d->key; *p; p++)
        FUZZ_CHECK(*p != ';' && *p != ',' && *p != ' ');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plm__mock_directive d;

    plm__mock_directive_init(&d);
    int got = plm__mock_directive_parse((const char *)data, size, &d);
    FUZZ_CHECK(got == d.present);
    check(&d);

    char *s = fuzz_cstr(data, size);
    plm__mock_directive_init(&d);
    if (plm__mock_directive_find(s, &d))
        FUZZ_CHECK(d.present);
    check(&d);
    free(s);
    return 0;
}
