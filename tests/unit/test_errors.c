/* Every code and class has its own readable name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "parallm.h"

static void test_errors__every_code_named_distinctly(void **state)
{
    (void)state;
    for (int a = PLM_EINTERNAL; a <= PLM_OK; a++) {
        assert_string_not_equal(plm_strerror(a), "unknown error");
        for (int b = a + 1; b <= PLM_OK; b++)
            assert_string_not_equal(plm_strerror(a), plm_strerror(b));
    }
    assert_string_equal(plm_strerror(12345), "unknown error");
}

static void test_errors__classes_named(void **state)
{
    (void)state;
    for (int c = PLM_CLASS_NONE; c <= PLM_CLASS_LOCAL; c++)
        assert_string_not_equal(plm_error_class_name((plm_error_class)c),
                                "unknown");
    assert_string_equal(plm_error_class_name(PLM_CLASS_RATE_LIMITED),
                        "rate_limited");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors__every_code_named_distinctly),
        cmocka_unit_test(test_errors__classes_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
