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

/* The _INIT macros compile warning-free and set only the version. */
static void test_errors__options_init_macros(void **state)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    (void)state;
    assert_int_equal(co.version, PLM_CLIENT_OPTIONS_VERSION);
    assert_null(co.openai_api_key);
    assert_int_equal(co.max_retries, 0);
    assert_int_equal(ro.version, PLM_RUN_OPTIONS_VERSION);
    assert_int_equal(ro.max_concurrent, 0);
    assert_int_equal(go.version, PLM_GATHER_OPTIONS_VERSION);
    assert_int_equal(go.return_errors, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors__every_code_named_distinctly),
        cmocka_unit_test(test_errors__classes_named),
        cmocka_unit_test(test_errors__options_init_macros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
