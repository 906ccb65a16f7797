/*
 * What the fuzz targets in fuzz/ found, one test per finding, each
 * failing before its fix. The command's sources are compiled in directly,
 * as in test_run_files.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../cli/idset.c"
#include "../../cli/json_text.c"
#include "../../cli/jsonl_input.c"
#include "../../cli/output.c"
#include "mock_internal.h"
#include "result.h"
#include "rlheaders.h"
#include "test_util.h"

double run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fuzz_rlvalues: a bare number of seconds just past what int64
 * nanoseconds hold overflowed (signed overflow, then a negative reset). */
static void test_fuzz__reset_seconds_overflow(void **state)
{
    (void)state;
    const int64_t now = INT64_C(1767225600) * 1000000000;
    int64_t v = -1;

    assert_int_equal(plm__rl_reset_parse("9223372037", now, &v), 0);
    assert_int_equal(plm__rl_reset_parse("9223372036.9", now, &v), 0);
    assert_int_equal(plm__rl_reset_parse("99999999999", now, &v), 0);
    /* Just below the limit still reads. */
    assert_int_equal(plm__rl_reset_parse("9223372035.999999999", now, &v), 1);
    assert_int_equal(v, INT64_C(9223372035999999999));
    assert_int_equal(plm__rl_reset_parse("20.5", now, &v), 1);
    assert_int_equal(v, INT64_C(20500000000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz__reset_seconds_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
