/* The result object: defaults, errors, attempt reset and accessors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "result.h"

static void test_result__defaults(void **state)
{
    int tag;
    plm_result *res = plm__result_new(&tag);
    size_t len = 99;

    (void)state;
    assert_non_null(res);
    assert_int_equal(plm_result_code(res), PLM_OK);
    assert_int_equal(plm_result_error_class(res), PLM_CLASS_NONE);
    assert_string_equal(plm_result_error_message(res), "");
    assert_int_equal(plm_result_http_status(res), 0);
    assert_null(plm_result_content(res));
    assert_null(plm_result_finish_reason(res));
    assert_int_equal(plm_result_prompt_tokens(res), -1);
    assert_int_equal(plm_result_completion_tokens(res), -1);
    assert_null(plm_result_request_id(res));
    assert_int_equal(plm_result_attempts(res), 0);
    assert_true(plm_result_latency(res) == 0.0);
    assert_int_equal(plm_result_started(res), 0);
    assert_null(plm_result_body(res, &len));
    assert_int_equal(len, 0);
    assert_ptr_equal(plm_result_user_data(res), &tag);
    plm_result_free(res);
}

static void test_result__null_safe(void **state)
{
    (void)state;
    assert_string_equal(plm_result_error_message(NULL), "");
    assert_null(plm_result_content(NULL));
    assert_null(plm_result_body(NULL, NULL));
    assert_int_equal(plm_result_prompt_tokens(NULL), -1);
    plm_result_free(NULL);
    plm_results_free(NULL, 3);
}

static void test_result__set_error_formats_and_replaces(void **state)
{
    plm_result *res = plm__result_new(NULL);
    char big[3000];

    (void)state;
    plm__result_set_error(res, PLM_ESERVER, PLM_CLASS_SERVER, "HTTP %d from %s",
                          500, "server");
    assert_int_equal(plm_result_code(res), PLM_ESERVER);
    assert_int_equal(plm_result_error_class(res), PLM_CLASS_SERVER);
    assert_string_equal(plm_result_error_message(res), "HTTP 500 from server");
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    plm__result_set_error(res, PLM_EPARSE, PLM_CLASS_PARSE, "%s", big);
    assert_int_equal(strlen(plm_result_error_message(res)), sizeof big - 1);
    /* A failure without a message still says something. */
    free(res->error_message);
    res->error_message = NULL;
    assert_string_equal(plm_result_error_message(res),
                        plm_strerror(PLM_EPARSE));
    /* Success never shows a stale message. */
    plm__result_set_error(res, PLM_EPARSE, PLM_CLASS_PARSE, "x");
    res->code = PLM_OK;
    assert_string_equal(plm_result_error_message(res), "");
    plm_result_free(res);
}

static void test_result__reset_attempt_keeps_identity(void **state)
{
    int tag;
    plm_result *res = plm__result_new(&tag);
    size_t len;

    (void)state;
    res->attempts = 2;
    res->started = 1;
    res->latency = 1.5;
    res->http_status = 503;
    res->prompt_tokens = 4;
    assert_int_equal(plm__strdup_into(&res->content, "c"), PLM_OK);
    assert_int_equal(plm__strdup_into(&res->finish_reason, "stop"), PLM_OK);
    assert_int_equal(plm__strdup_into(&res->request_id, "r"), PLM_OK);
    assert_int_equal(plm__strdup_into(&res->error_type, "t"), PLM_OK);
    assert_int_equal(plm__strdup_into(&res->error_code, "c"), PLM_OK);
    assert_int_equal(plm__strdup_into(&res->body, "{}"), PLM_OK);
    res->body_len = 2;
    assert_string_equal(plm_result_body(res, &len), "{}");
    assert_int_equal(len, 2);
    plm__result_set_error(res, PLM_EOVERLOADED, PLM_CLASS_OVERLOADED, "o");
    plm__result_reset_attempt(res);
    assert_int_equal(res->code, PLM_OK);
    assert_int_equal(res->error_class, PLM_CLASS_NONE);
    assert_null(res->content);
    assert_null(res->finish_reason);
    assert_null(res->request_id);
    assert_null(res->error_type);
    assert_null(res->error_code);
    assert_null(res->error_message);
    assert_null(res->body);
    assert_int_equal(res->body_len, 0);
    assert_int_equal(res->http_status, 0);
    assert_int_equal(res->prompt_tokens, -1);
    assert_int_equal(plm_result_attempts(res), 2);
    assert_int_equal(plm_result_started(res), 1);
    assert_true(plm_result_latency(res) == 1.5);
    assert_ptr_equal(plm_result_user_data(res), &tag);
    plm_result_free(res);
}

static void test_result__strdup_into(void **state)
{
    char *s = NULL;

    (void)state;
    assert_int_equal(plm__strdup_into(&s, "a"), PLM_OK);
    assert_string_equal(s, "a");
    assert_int_equal(plm__strdup_into(&s, "bb"), PLM_OK);
    assert_string_equal(s, "bb");
    assert_int_equal(plm__strdup_into(&s, NULL), PLM_OK);
    assert_null(s);
}

static void test_result__results_free_clears_slots(void **state)
{
    plm_result *r[3];

    (void)state;
    r[0] = plm__result_new(NULL);
    r[1] = NULL;
    r[2] = plm__result_new(NULL);
    plm_results_free(r, 3);
    assert_null(r[0]);
    assert_null(r[1]);
    assert_null(r[2]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result__defaults),
        cmocka_unit_test(test_result__null_safe),
        cmocka_unit_test(test_result__set_error_formats_and_replaces),
        cmocka_unit_test(test_result__reset_attempt_keeps_identity),
        cmocka_unit_test(test_result__strdup_into),
        cmocka_unit_test(test_result__results_free_clears_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
