/*
 * The progress line of `parallm run` fitted to the terminal's width: at
 * every width, with colour or not, whatever the numbers, the visible text
 * never takes more columns than allowed, and fields go in the documented
 * order (retries first, the count of requests done last).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../cli/progress_line.c"

/* Columns of s on a terminal: every byte but the CSI escapes. */
static int visible_columns(const char *s)
{
    int cols = 0;
    for (; *s != '\0'; s++) {
        if (*s == '\033') {
            assert_int_equal(s[1], '[');
            s += 2;
            while (*s != '\0' && !(*s >= '@' && *s <= '~'))
                s++;
            assert_true(*s != '\0'); /* never an escape cut in half */
            continue;
        }
        assert_true(*s >= ' ' && *s <= '~');
        cols++;
    }
    return cols;
}

static void test_progress__never_wider_than_allowed(void **state)
{
    (void)state;
    const run_progress_view views[] = {
        { 0, 0, 0.0, "--", 0, 0, 0 },
        { 37, 100, 12.5, "6s", 5, 2, 1 },
        { 123456789, 987654321, 123456.7, "98h59m", 100000, 123456789,
          99999999 },
        { UINT64_MAX, UINT64_MAX, 1e12, "--", UINT64_MAX, UINT64_MAX,
          UINT64_MAX },
        { 5, 0, 3.0, "--", 1, 0, 0 },
    };
    char buf[512];
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        for (int color = 0; color <= 1; color++) {
            for (int cols = -1; cols <= 250; cols++) {
                size_t n = run_progress_line(buf, sizeof buf, &views[i], cols,
                                             color);
                assert_int_equal(n, strlen(buf));
                int shown = visible_columns(buf);
                assert_true(shown <= (cols > 0 ? cols : 0));
                /* Something is always shown once there is a column. */
                if (cols >= 1)
                    assert_true(shown >= 1);
            }
        }
    }
    /* A buffer too small cuts the text, never overflows. */
    assert_int_equal(run_progress_line(buf, 8, &views[2], 200, 1), 7);
}

static void test_progress__fields_drop_in_order(void **state)
{
    (void)state;
    const run_progress_view v = { 37, 100, 12.5, "6s", 5, 2, 1 };
    char buf[256];
    run_progress_line(buf, sizeof buf, &v, 79, 0);
    assert_string_equal(buf, "37/100 (37%) | 12.5 req/s | in flight 5 | "
                             "retries 2 | errors 1 | ETA 6s");
    run_progress_line(buf, sizeof buf, &v, 60, 0);
    assert_string_equal(buf, "37/100 (37%) | 12.5 req/s | in flight 5 | "
                             "errors 1 | ETA 6s");
    run_progress_line(buf, sizeof buf, &v, 45, 0);
    assert_string_equal(buf, "37/100 (37%) | 12.5 req/s | errors 1 | ETA 6s");
    run_progress_line(buf, sizeof buf, &v, 35, 0);
    assert_string_equal(buf, "37/100 (37%) | errors 1 | ETA 6s");
    run_progress_line(buf, sizeof buf, &v, 30, 0);
    assert_string_equal(buf, "37/100 (37%) err 1 ETA 6s");
    run_progress_line(buf, sizeof buf, &v, 19, 0);
    assert_string_equal(buf, "37/100 (37%) err 1");
    run_progress_line(buf, sizeof buf, &v, 12, 0);
    assert_string_equal(buf, "37/100 err 1");
    run_progress_line(buf, sizeof buf, &v, 8, 0);
    assert_string_equal(buf, "37/100");
    run_progress_line(buf, sizeof buf, &v, 4, 0);
    assert_string_equal(buf, "37/1");
    /* Colour: bold count, red errors only when there are some. */
    run_progress_line(buf, sizeof buf, &v, 19, 1);
    assert_string_equal(buf, "\033[1m37/100 (37%)\033[0m \033[31merr 1\033[0m");
}

static void test_progress__width_from_environment(void **state)
{
    (void)state;
    /* Not a terminal: $COLUMNS, else 80. */
    FILE *f = tmpfile();
    assert_non_null(f);
    int fd = fileno(f);
    setenv("COLUMNS", "33", 1);
    assert_int_equal(run_progress_width(fd), 33);
    setenv("COLUMNS", "wide", 1);
    assert_int_equal(run_progress_width(fd), 80);
    unsetenv("COLUMNS");
    assert_int_equal(run_progress_width(fd), 80);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress__never_wider_than_allowed),
        cmocka_unit_test(test_progress__fields_drop_in_order),
        cmocka_unit_test(test_progress__width_from_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
