/* Adaptive concurrency (AIMD) and the retry budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aimd.h"
#include "retrybudget.h"

#define SEC INT64_C(1000000000)

static void test_aimd__starts_at_ten_or_max(void **state)
{
    (void)state;
    plm__aimd a;
    plm__aimd_init(&a, 0);
    assert_int_equal(plm__aimd_limit(&a), 10);
    plm__aimd_init(&a, 4);
    assert_int_equal(plm__aimd_limit(&a), 4);
    plm__aimd_init(&a, 50);
    assert_int_equal(plm__aimd_limit(&a), 10);
}

static void test_aimd__shrinks_on_drops(void **state)
{
    (void)state;
    plm__aimd a;
    plm__aimd_init(&a, 200);
    /* Grow to 100 first (every success with the limit in use). */
    while (plm__aimd_limit(&a) < 100)
        plm__aimd_on_outcome(&a, PLM__AIMD_SUCCESS, 0, 100, 0);
    /* Each drop from a request sent after the last decrease: -10%. */
    int64_t t = SEC;
    assert_int_equal(plm__aimd_on_outcome(&a, PLM__AIMD_DROP, t, 90, t), 90);
    t += SEC;
    assert_int_equal(plm__aimd_on_outcome(&a, PLM__AIMD_DROP, t, 80, t), 81);
    /* Small limits step down by one, never below 1. */
    for (int i = 0; i < 100; i++) {
        t += SEC;
        plm__aimd_on_outcome(&a, PLM__AIMD_DROP, t, 1, t);
    }
    assert_int_equal(plm__aimd_limit(&a), 1);
    /* 4xx and the like change nothing. */
    plm__aimd_on_outcome(&a, PLM__AIMD_IGNORE, t, 1, t);
    assert_int_equal(plm__aimd_limit(&a), 1);
}

static void test_aimd__burst_of_drops_counts_once(void **state)
{
    (void)state;
    plm__aimd a;
    plm__aimd_init(&a, 100);
    while (plm__aimd_limit(&a) < 40)
        plm__aimd_on_outcome(&a, PLM__AIMD_SUCCESS, 0, 40, 0);
    /* 40 requests sent between 1 s and 2 s all come back 429 at 3 s. */
    for (int i = 0; i < 40; i++)
        plm__aimd_on_outcome(&a, PLM__AIMD_DROP, SEC + i * (SEC / 40), 40 - i,
                             3 * SEC + i);
    assert_int_equal(plm__aimd_limit(&a), 36);
    /* A request sent after that decrease and dropped counts again. */
    plm__aimd_on_outcome(&a, PLM__AIMD_DROP, 4 * SEC, 30, 5 * SEC);
    assert_int_equal(plm__aimd_limit(&a), 32);
}

static void test_aimd__grows_back_only_when_used(void **state)
{
    (void)state;
    plm__aimd a;
    plm__aimd_init(&a, 20);
    for (int i = 0; i < 9; i++)
        plm__aimd_on_outcome(&a, PLM__AIMD_DROP, i * SEC, 1, i * SEC);
    assert_int_equal(plm__aimd_limit(&a), 1);
    /* Successes with the limit in use grow it by one each ... */
    for (int i = 0; i < 5; i++)
        plm__aimd_on_outcome(&a, PLM__AIMD_SUCCESS, 20 * SEC,
                             plm__aimd_limit(&a), 21 * SEC);
    assert_int_equal(plm__aimd_limit(&a), 6);
    /* ... successes at low use (2 of 6 in flight) do not ... */
    for (int i = 0; i < 5; i++)
        plm__aimd_on_outcome(&a, PLM__AIMD_SUCCESS, 20 * SEC, 2, 21 * SEC);
    assert_int_equal(plm__aimd_limit(&a), 6);
    /* ... half in use does, and max caps it. */
    for (int i = 0; i < 100; i++)
        plm__aimd_on_outcome(&a, PLM__AIMD_SUCCESS, 20 * SEC,
                             (plm__aimd_limit(&a) + 1) / 2, 21 * SEC);
    assert_int_equal(plm__aimd_limit(&a), 20);
}

static void test_aimd__classes(void **state)
{
    (void)state;
    assert_int_equal(plm__aimd_outcome_from_class(PLM_CLASS_NONE),
                     PLM__AIMD_SUCCESS);
    assert_int_equal(plm__aimd_outcome_from_class(PLM_CLASS_RATE_LIMITED),
                     PLM__AIMD_DROP);
    assert_int_equal(plm__aimd_outcome_from_class(PLM_CLASS_OVERLOADED),
                     PLM__AIMD_DROP);
    assert_int_equal(plm__aimd_outcome_from_class(PLM_CLASS_TIMEOUT),
                     PLM__AIMD_DROP);
    assert_int_equal(plm__aimd_outcome_from_class(PLM_CLASS_BAD_REQUEST),
                     PLM__AIMD_IGNORE);
    assert_int_equal(plm__aimd_outcome_from_class(PLM_CLASS_AUTH),
                     PLM__AIMD_IGNORE);
    assert_int_equal(plm__aimd_outcome_from_class(PLM_CLASS_QUOTA),
                     PLM__AIMD_IGNORE);
}

static void test_retrybudget__caps_retries_to_a_fraction(void **state)
{
    (void)state;
    plm__retrybudget rb;
    plm__retrybudget_init(&rb, 0, 0);
    /* The saved-up allowance goes first ... */
    int allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += plm__retrybudget_try_retry(&rb, 0);
    assert_int_equal(allowed, 10);
    /* ... then, within one second, 1000 first attempts fund 500 retries
     * (plus the one-per-second floor): a storm adds a half, not 4x. */
    allowed = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t t = i * (SEC / 1000);
        plm__retrybudget_on_request(&rb, t);
        for (int r = 0; r < 4; r++)
            allowed += plm__retrybudget_try_retry(&rb, t);
    }
    assert_true(allowed >= 500 && allowed <= 502);
    /* Quiet time refills slowly, and only up to the cap. */
    assert_int_equal(plm__retrybudget_try_retry(&rb, 3 * SEC), 1);
    allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += plm__retrybudget_try_retry(&rb, 3600 * SEC);
    assert_int_equal(allowed, 10);
}

static void test_retrybudget__savings_scale_with_concurrency(void **state)
{
    (void)state;
    plm__retrybudget rb;
    plm__retrybudget_init(&rb, 0, 0);
    plm__retrybudget_set_scale(&rb, 100);
    /* 100 in flight deposit 50; with 10 saved, 60 of them may fail
     * together and all be retried ... */
    for (int i = 0; i < 100; i++)
        plm__retrybudget_on_request(&rb, 0);
    int allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += plm__retrybudget_try_retry(&rb, 0);
    assert_int_equal(allowed, 60);
    /* ... and a calm period saves up one round of them, not more. */
    allowed = 0;
    for (int i = 0; i < 1000; i++)
        allowed += plm__retrybudget_try_retry(&rb, 3600 * SEC);
    assert_int_equal(allowed, 100);
    /* Never below the default cap. */
    plm__retrybudget_set_scale(&rb, 1);
    allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += plm__retrybudget_try_retry(&rb, 7200 * SEC);
    assert_int_equal(allowed, 10);
}

static void test_retrybudget__disabled(void **state)
{
    (void)state;
    plm__retrybudget rb;
    plm__retrybudget_init(&rb, -1, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(plm__retrybudget_try_retry(&rb, 0), 1);
    plm__retrybudget_init(&rb, 1.0, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(plm__retrybudget_try_retry(&rb, 0), 1);
    assert_int_equal(plm__retrybudget_try_retry(&rb, 0), 0);
    plm__retrybudget_on_request(&rb, 0);
    assert_int_equal(plm__retrybudget_try_retry(&rb, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aimd__starts_at_ten_or_max),
        cmocka_unit_test(test_aimd__shrinks_on_drops),
        cmocka_unit_test(test_aimd__burst_of_drops_counts_once),
        cmocka_unit_test(test_aimd__grows_back_only_when_used),
        cmocka_unit_test(test_aimd__classes),
        cmocka_unit_test(test_retrybudget__caps_retries_to_a_fraction),
        cmocka_unit_test(test_retrybudget__savings_scale_with_concurrency),
        cmocka_unit_test(test_retrybudget__disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
