/*
 * The option value parsers of the parallm command (cli/cli_args.c): every
 * accepted form, and the malformed or out-of-range values that must be
 * refused rather than read as 0 or truncated. The command is not a
 * library, so its source is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../cli/cli_args.c"

static int64_t duration(const char *text, int64_t unit)
{
    int64_t ms = -12345;

    if (cli_parse_duration(text, unit, &ms))
        return -1;
    return ms;
}

static void test_cli_args__duration_forms(void **state)
{
    (void)state;
    assert_int_equal(duration("50", 1), 50);
    assert_int_equal(duration("50ms", 1), 50);
    assert_int_equal(duration("3s", 1), 3000);
    assert_int_equal(duration("1.5s", 1), 1500);
    assert_int_equal(duration("0.0005s", 1), 1); /* rounds to nearest */
    assert_int_equal(duration("0.0004s", 1), 0);
    assert_int_equal(duration("2m", 1), 120000);
    assert_int_equal(duration("1h", 1), 3600000);
    assert_int_equal(duration("2", 1000), 2000);
    assert_int_equal(duration("1.25", 1000), 1250);
    assert_int_equal(duration("0", 1), 0);
    assert_int_equal(duration(".5s", 1), 500);
}

static void test_cli_args__duration_refused(void **state)
{
    (void)state;
    const char *bad[] = { "",
                          "s",
                          "-1",
                          "+1",
                          " 1",
                          "1 ",
                          "1x",
                          "1.5.2",
                          "1e3",
                          "0x10",
                          "inf",
                          "nan",
                          "1sec",
                          "1S",
                          "99999999999999999999",
                          "1000000000000000s" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(duration(bad[i], 1), -1);
    int64_t ms;
    assert_int_equal(cli_parse_duration(NULL, 1, &ms), -1);
}

static void test_cli_args__integers(void **state)
{
    int v = 0;
    int64_t w = 0;
    uint64_t u = 0;

    (void)state;
    assert_int_equal(cli_parse_int("5", 1, 10, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(cli_parse_int("-3", -5, 0, &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(cli_parse_int("11", 1, 10, &v), -1);
    assert_int_equal(cli_parse_int("0", 1, 10, &v), -1);
    assert_int_equal(cli_parse_int("", 1, 10, &v), -1);
    assert_int_equal(cli_parse_int("-", -1, 10, &v), -1);
    assert_int_equal(cli_parse_int("5x", 1, 10, &v), -1);
    assert_int_equal(cli_parse_int("99999999999", 0, 2147483647, &v), -1);
    assert_int_equal(cli_parse_int64("9223372036854775807", 0, INT64_MAX, &w),
                     0);
    assert_true(w == INT64_MAX);
    assert_int_equal(cli_parse_int64("-9223372036854775808", INT64_MIN, 0, &w),
                     0);
    assert_true(w == INT64_MIN);
    assert_int_equal(cli_parse_int64("9223372036854775808", 0, INT64_MAX, &w),
                     -1);
    assert_int_equal(cli_parse_uint64("18446744073709551615", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(cli_parse_uint64("18446744073709551616", &u), -1);
    assert_int_equal(cli_parse_uint64("-1", &u), -1);
}

static void test_cli_args__fractions(void **state)
{
    double d = -1;

    (void)state;
    assert_int_equal(cli_parse_double("0.25", 0, 1, &d), 0);
    assert_true(d > 0.2499 && d < 0.2501);
    assert_int_equal(cli_parse_double("1", 0, 1, &d), 0);
    assert_true(d == 1.0);
    assert_int_equal(cli_parse_double("1.01", 0, 1, &d), -1);
    assert_int_equal(cli_parse_double("-0.1", 0, 1, &d), -1);
    assert_int_equal(cli_parse_double("1e-1", 0, 1, &d), -1);
    assert_int_equal(cli_parse_double("nan", 0, 1, &d), -1);
    assert_int_equal(cli_parse_double("", 0, 1, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_args__duration_forms),
        cmocka_unit_test(test_cli_args__duration_refused),
        cmocka_unit_test(test_cli_args__integers),
        cmocka_unit_test(test_cli_args__fractions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
