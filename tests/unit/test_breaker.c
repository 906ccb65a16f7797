/* Circuit breaker: opens (thresholds scaled by the concurrency), holds,
 * half-opens, ramps up, closes, ignores 4xx, declares a dead endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "breaker.h"

#define SEC INT64_C(1000000000)

static void fail_n(plm__breaker *b, int n, plm_error_class cls, int64_t t)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(plm__breaker_allow(b, t, NULL), PLM__BREAKER_ALLOW);
        plm__breaker_record(b, cls, 0, t);
    }
}

static void test_breaker__opens_after_consecutive_failures(void **state)
{
    (void)state;
    plm__breaker b;
    assert_int_equal(plm__breaker_init(&b, NULL), PLM_OK);
    fail_n(&b, 4, PLM_CLASS_SERVER, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    /* A success in between resets the run. */
    plm__breaker_record(&b, PLM_CLASS_NONE, 0, 0);
    fail_n(&b, 4, PLM_CLASS_NETWORK, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    fail_n(&b, 1, PLM_CLASS_TIMEOUT, SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);
    /* Open: hold requests, saying when a probe goes (10 s after it
     * opened at 1 s). */
    int64_t left = 0;
    assert_int_equal(plm__breaker_allow(&b, 5 * SEC, &left),
                     PLM__BREAKER_REJECT);
    assert_int_equal(left, 6 * SEC);
}

static void test_breaker__ignores_client_side_errors(void **state)
{
    (void)state;
    plm__breaker b;
    assert_int_equal(plm__breaker_init(&b, NULL), PLM_OK);
    static const plm_error_class neutral[] = {
        PLM_CLASS_RATE_LIMITED, PLM_CLASS_QUOTA, PLM_CLASS_BAD_REQUEST,
        PLM_CLASS_AUTH,         PLM_CLASS_PARSE, PLM_CLASS_CANCELLED,
        PLM_CLASS_LOCAL
    };
    for (int round = 0; round < 10; round++)
        for (size_t i = 0; i < sizeof neutral / sizeof neutral[0]; i++)
            fail_n(&b, 1, neutral[i], 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    /* Neutral outcomes do not break a run of failures either. */
    fail_n(&b, 3, PLM_CLASS_OVERLOADED, 0);
    fail_n(&b, 1, PLM_CLASS_AUTH, 0);
    fail_n(&b, 2, PLM_CLASS_OVERLOADED, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);
}

static void test_breaker__opens_on_failure_rate(void **state)
{
    (void)state;
    plm__breaker b;
    assert_int_equal(plm__breaker_init(&b, NULL), PLM_OK);
    /* Alternating failure / success: never 5 in a row, 50% of calls. */
    for (int i = 0; i < 4; i++) {
        fail_n(&b, 1, PLM_CLASS_SERVER, 0);
        fail_n(&b, 1, PLM_CLASS_NONE, 0);
    }
    /* 8 calls: below the minimum of 10, still closed. */
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    fail_n(&b, 1, PLM_CLASS_SERVER, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    fail_n(&b, 1, PLM_CLASS_NONE, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);

    /* 1 failure in 3 over a long run stays closed: the window slides. */
    assert_int_equal(plm__breaker_init(&b, NULL), PLM_OK);
    for (int i = 0; i < 100; i++) {
        fail_n(&b, 1, PLM_CLASS_SERVER, 0);
        fail_n(&b, 2, PLM_CLASS_NONE, 0);
    }
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
}

static void test_breaker__half_open_then_close_or_reopen(void **state)
{
    (void)state;
    plm__breaker b;
    plm__breaker_config cfg = { .cooldown_ms = 1000 };
    assert_int_equal(plm__breaker_init(&b, &cfg), PLM_OK);
    fail_n(&b, 5, PLM_CLASS_SERVER, 0);
    int64_t left;
    assert_int_equal(plm__breaker_allow(&b, SEC - 1, &left),
                     PLM__BREAKER_REJECT);
    assert_int_equal(left, 1);
    /* Cool-down over: one trial, the rest wait for it. */
    assert_int_equal(plm__breaker_allow(&b, SEC, NULL), PLM__BREAKER_TRIAL);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_HALF_OPEN);
    assert_int_equal(plm__breaker_allow(&b, SEC, &left), PLM__BREAKER_REJECT);
    assert_int_equal(left, 0);
    /* A straggler from before does not decide anything. */
    plm__breaker_record(&b, PLM_CLASS_NONE, 0, SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_HALF_OPEN);
    /* The trial fails: open again for a full cool-down. */
    plm__breaker_record(&b, PLM_CLASS_SERVER, 1, 2 * SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);
    assert_int_equal(plm__breaker_allow(&b, 2 * SEC + SEC / 2, &left),
                     PLM__BREAKER_REJECT);
    assert_int_equal(left, SEC / 2);
    /* Next trial: a cancelled one frees the slot without deciding. */
    assert_int_equal(plm__breaker_allow(&b, 3 * SEC, NULL), PLM__BREAKER_TRIAL);
    plm__breaker_record(&b, PLM_CLASS_CANCELLED, 1, 3 * SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_HALF_OPEN);
    assert_int_equal(plm__breaker_allow(&b, 3 * SEC, NULL), PLM__BREAKER_TRIAL);
    plm__breaker_record(&b, PLM_CLASS_NONE, 1, 4 * SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    assert_int_equal(plm__breaker_allow(&b, 4 * SEC, NULL), PLM__BREAKER_ALLOW);
    /* Closed again with a clean slate: 4 failures do not reopen it. */
    fail_n(&b, 4, PLM_CLASS_SERVER, 4 * SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
}

static void test_breaker__several_trials(void **state)
{
    (void)state;
    plm__breaker b;
    plm__breaker_config cfg = { .failures = 2, .trials = 3 };
    assert_int_equal(plm__breaker_init(&b, &cfg), PLM_OK);
    fail_n(&b, 2, PLM_CLASS_SERVER, 0);
    int64_t t = 30 * SEC;
    for (int i = 0; i < 3; i++)
        assert_int_equal(plm__breaker_allow(&b, t, NULL), PLM__BREAKER_TRIAL);
    assert_int_equal(plm__breaker_allow(&b, t, NULL), PLM__BREAKER_REJECT);
    plm__breaker_record(&b, PLM_CLASS_NONE, 1, t);
    plm__breaker_record(&b, PLM_CLASS_NONE, 1, t);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_HALF_OPEN);
    /* Two succeeded: the allowance grew by two (3 + 2 out at once), one
     * is still out, so more may go. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(plm__breaker_allow(&b, t, NULL), PLM__BREAKER_TRIAL);
    assert_int_equal(plm__breaker_allow(&b, t, NULL), PLM__BREAKER_REJECT);
    plm__breaker_record(&b, PLM_CLASS_NONE, 1, t);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
}

static void test_breaker__disabled_and_bad_config(void **state)
{
    (void)state;
    plm__breaker b;
    plm__breaker_config cfg = { .failures = -1 };
    assert_int_equal(plm__breaker_init(&b, &cfg), PLM_OK);
    fail_n(&b, 100, PLM_CLASS_SERVER, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    cfg.failures = -2;
    assert_int_equal(plm__breaker_init(&b, &cfg), PLM_EINVAL);
    cfg.failures = 0;
    cfg.rate_percent = 101;
    assert_int_equal(plm__breaker_init(&b, &cfg), PLM_EINVAL);
    cfg.rate_percent = 0;
    cfg.window = PLM__BREAKER_MAX_WINDOW + 1;
    assert_int_equal(plm__breaker_init(&b, &cfg), PLM_EINVAL);
    assert_int_equal(plm__breaker_init(NULL, NULL), PLM_EINVAL);
    /* No rate rule: only consecutive failures count. */
    plm__breaker_config only_run = { .rate_percent = -1 };
    assert_int_equal(plm__breaker_init(&b, &only_run), PLM_OK);
    for (int i = 0; i < 50; i++) {
        fail_n(&b, 4, PLM_CLASS_SERVER, 0);
        fail_n(&b, 1, PLM_CLASS_NONE, 0);
    }
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
}

static void test_breaker__scaled_by_concurrency(void **state)
{
    (void)state;
    plm__breaker b;
    assert_int_equal(plm__breaker_init(&b, NULL), PLM_OK);
    plm__breaker_set_scale(&b, 100);
    /* 5 failures in a row among 100 in flight: a blip, not an outage. */
    fail_n(&b, 5, PLM_CLASS_NETWORK, 0);
    fail_n(&b, 95, PLM_CLASS_NONE, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    /* A sporadic storm's 15% failures never reach the rate. */
    for (int i = 0; i < 1000; i++)
        fail_n(&b, 1, i % 7 == 0 ? PLM_CLASS_SERVER : PLM_CLASS_NONE, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    /* Every request in flight failing is an outage. */
    assert_int_equal(plm__breaker_init(&b, NULL), PLM_OK);
    plm__breaker_set_scale(&b, 100);
    fail_n(&b, 99, PLM_CLASS_OVERLOADED, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    fail_n(&b, 1, PLM_CLASS_OVERLOADED, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);
    /* An explicit threshold is used as given. */
    plm__breaker_config three = { .failures = 3 };
    assert_int_equal(plm__breaker_init(&b, &three), PLM_OK);
    plm__breaker_set_scale(&b, 100);
    fail_n(&b, 3, PLM_CLASS_SERVER, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);
}

static void test_breaker__ramps_back_gradually(void **state)
{
    (void)state;
    plm__breaker b;
    plm__breaker_config cfg = { .cooldown_ms = 1000 };
    int64_t left;
    assert_int_equal(plm__breaker_init(&b, &cfg), PLM_OK);
    plm__breaker_set_scale(&b, 8);
    fail_n(&b, 8, PLM_CLASS_SERVER, 0);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);
    /* One probe first; the rest are held until it reports. */
    assert_int_equal(plm__breaker_allow(&b, SEC, NULL), PLM__BREAKER_TRIAL);
    assert_int_equal(plm__breaker_allow(&b, SEC, &left), PLM__BREAKER_REJECT);
    assert_int_equal(left, 0);
    plm__breaker_record(&b, PLM_CLASS_NONE, 1, SEC);
    /* Each success lets one more in: 2 at once, then 4 ... */
    assert_int_equal(plm__breaker_allow(&b, SEC, NULL), PLM__BREAKER_TRIAL);
    assert_int_equal(plm__breaker_allow(&b, SEC, NULL), PLM__BREAKER_TRIAL);
    assert_int_equal(plm__breaker_allow(&b, SEC, NULL), PLM__BREAKER_REJECT);
    /* A failure among successes does not reopen it ... */
    plm__breaker_record(&b, PLM_CLASS_NETWORK, 1, SEC);
    plm__breaker_record(&b, PLM_CLASS_NONE, 1, SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_HALF_OPEN);
    /* ... and it closes once 8 (the concurrency) probes succeeded. */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(plm__breaker_allow(&b, SEC, NULL), PLM__BREAKER_TRIAL);
        plm__breaker_record(&b, PLM_CLASS_NONE, 1, SEC);
    }
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    /* More failed probes than good ones reopen it. */
    fail_n(&b, 8, PLM_CLASS_SERVER, 2 * SEC);
    assert_int_equal(plm__breaker_allow(&b, 3 * SEC, NULL), PLM__BREAKER_TRIAL);
    plm__breaker_record(&b, PLM_CLASS_NONE, 1, 3 * SEC);
    assert_int_equal(plm__breaker_allow(&b, 3 * SEC, NULL), PLM__BREAKER_TRIAL);
    assert_int_equal(plm__breaker_allow(&b, 3 * SEC, NULL), PLM__BREAKER_TRIAL);
    plm__breaker_record(&b, PLM_CLASS_SERVER, 1, 3 * SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_HALF_OPEN);
    plm__breaker_record(&b, PLM_CLASS_TIMEOUT, 1, 3 * SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);
}

static void test_breaker__dead_endpoint(void **state)
{
    (void)state;
    plm__breaker b;
    plm__breaker_config cfg = { .cooldown_ms = 100, .dead_ms = 1000 };
    assert_int_equal(plm__breaker_init(&b, &cfg), PLM_OK);
    fail_n(&b, 5, PLM_CLASS_NETWORK, 0);
    /* Probes every 100 ms keep failing; the first one at or after 1 s
     * since the breaker opened declares the endpoint dead. */
    int64_t t = 0;
    for (int i = 0; i < 9; i++) {
        t += SEC / 10;
        assert_int_equal(plm__breaker_allow(&b, t, NULL), PLM__BREAKER_TRIAL);
        plm__breaker_record(&b, PLM_CLASS_NETWORK, 1, t);
        assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_OPEN);
    }
    t += SEC / 10;
    assert_int_equal(plm__breaker_allow(&b, t, NULL), PLM__BREAKER_TRIAL);
    plm__breaker_record(&b, PLM_CLASS_NETWORK, 1, t);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_DEAD);
    assert_int_equal(plm__breaker_allow(&b, 100 * SEC, NULL),
                     PLM__BREAKER_DEAD_ENDPOINT);
    /* A new run revives it, closed and with a clean slate. */
    plm__breaker_revive(&b);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    fail_n(&b, 4, PLM_CLASS_NETWORK, 100 * SEC);
    assert_int_equal(plm__breaker_get_state(&b), PLM__BREAKER_CLOSED);
    /* Declared dead by the policy (nothing there at all). */
    plm__breaker_set_dead(&b);
    assert_int_equal(plm__breaker_peek(&b, 100 * SEC, NULL),
                     PLM__BREAKER_DEAD_ENDPOINT);
    /* A disabled breaker never dies. */
    plm__breaker_config off = { .failures = -1 };
    assert_int_equal(plm__breaker_init(&b, &off), PLM_OK);
    plm__breaker_set_dead(&b);
    assert_int_equal(plm__breaker_allow(&b, 0, NULL), PLM__BREAKER_ALLOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker__opens_after_consecutive_failures),
        cmocka_unit_test(test_breaker__ignores_client_side_errors),
        cmocka_unit_test(test_breaker__opens_on_failure_rate),
        cmocka_unit_test(test_breaker__half_open_then_close_or_reopen),
        cmocka_unit_test(test_breaker__several_trials),
        cmocka_unit_test(test_breaker__disabled_and_bad_config),
        cmocka_unit_test(test_breaker__scaled_by_concurrency),
        cmocka_unit_test(test_breaker__ramps_back_gradually),
        cmocka_unit_test(test_breaker__dead_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
