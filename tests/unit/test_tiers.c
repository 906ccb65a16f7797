/* Provider tier presets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limitcfg.h"
#include "parallm.h"

static void test_tiers__lookup(void **state)
{
    (void)state;
    plm_tier t;
    assert_int_equal(plm_tier_lookup("openai-1", &t), PLM_OK);
    assert_string_equal(t.name, "openai-1");
    assert_true(t.rpm == 500 && t.tpm == 30000);
    assert_int_equal(plm_tier_lookup("openai-4", &t), PLM_OK);
    assert_true(t.rpm == 10000 && t.tpm == 10000000);
    assert_int_equal(plm_tier_lookup("anthropic-1", &t), PLM_OK);
    assert_true(t.rpm == 50 && t.tpm == 50000);
    assert_true(t.max_concurrent >= 5 && t.max_concurrent <= 10);
    assert_int_equal(plm_tier_lookup("anthropic-4", &t), PLM_OK);
    assert_true(t.rpm == 4000 && t.tpm == 4000000);
    assert_int_equal(plm_tier_lookup("local", &t), PLM_OK);
    assert_true(t.rpm == 0 && t.tpm == 0);
    assert_int_equal(t.max_concurrent, 32);
}

static void test_tiers__unknown_and_listing(void **state)
{
    (void)state;
    plm_tier t;
    assert_int_equal(plm_tier_lookup("openai-9", &t), PLM_EINVAL);
    assert_int_equal(plm_tier_lookup("OPENAI-1", &t), PLM_EINVAL);
    assert_int_equal(plm_tier_lookup("", &t), PLM_EINVAL);
    assert_int_equal(plm_tier_lookup(NULL, &t), PLM_EINVAL);
    assert_int_equal(plm_tier_lookup("local", NULL), PLM_EINVAL);
    size_t n = 0;
    while (plm_tier_name(n)) {
        assert_int_equal(plm_tier_lookup(plm_tier_name(n), &t), PLM_OK);
        assert_true(t.max_concurrent > 0);
        n++;
    }
    assert_int_equal(n, 5);
    assert_null(plm_tier_name(1000));
}

static void test_tiers__options_default_to_zero(void **state)
{
    (void)state;
    /* The new options must keep an options struct holding only its
     * version (what PLM_CLIENT_OPTIONS_INIT gives) meaning "defaults":
     * zero in each. */
    plm_client_options o = { .version = PLM_CLIENT_OPTIONS_VERSION };
    assert_true(o.rpm == 0 && o.tpm == 0 && o.input_tpm == 0 &&
                o.output_tpm == 0 && o.retry_budget == 0);
    assert_int_equal(o.adaptive_concurrency, 0);
    assert_int_equal(o.breaker_failures, 0);
    assert_int_equal(o.breaker_cooldown_ms, 0);
    assert_int_equal(o.learn_limits, 0);
}

static void test_tiers__options_to_limits(void **state)
{
    (void)state;
    plm__limits_config lc;
    assert_int_equal(plm__limits_config_from_options(NULL, &lc), PLM_OK);
    assert_true(lc.budget.rpm == 0 && lc.budget.learn_limits == 1);
    assert_int_equal(lc.breaker.failures, 0);
    assert_int_equal(lc.adaptive_concurrency, 0);

    plm_client_options o = { .version = PLM_CLIENT_OPTIONS_VERSION };
    plm_tier t;
    assert_int_equal(plm_tier_lookup("anthropic-1", &t), PLM_OK);
    o.rpm = t.rpm;
    o.tpm = t.tpm;
    o.output_tpm = 8000;
    o.learn_limits = -1;
    o.breaker_failures = -1;
    o.breaker_cooldown_ms = 5000;
    o.retry_budget = -1;
    o.adaptive_concurrency = 1;
    assert_int_equal(plm__limits_config_from_options(&o, &lc), PLM_OK);
    assert_true(lc.budget.rpm == 50 && lc.budget.tpm == 50000);
    assert_true(lc.budget.output_tpm == 8000);
    assert_int_equal(lc.budget.learn_limits, 0);
    assert_int_equal(lc.breaker.failures, -1);
    assert_int_equal(lc.breaker.cooldown_ms, 5000);
    assert_true(lc.retry_budget < 0);
    assert_int_equal(lc.adaptive_concurrency, 1);

    plm_client_options bad = o;
    bad.tpm = -1;
    assert_int_equal(plm__limits_config_from_options(&bad, &lc), PLM_EINVAL);
    bad = o;
    bad.rpm = 1.0 / 0.0;
    assert_int_equal(plm__limits_config_from_options(&bad, &lc), PLM_EINVAL);
    bad = o;
    bad.breaker_failures = -2;
    assert_int_equal(plm__limits_config_from_options(&bad, &lc), PLM_EINVAL);
    bad = o;
    bad.breaker_cooldown_ms = -1;
    assert_int_equal(plm__limits_config_from_options(&bad, &lc), PLM_EINVAL);
    bad = o;
    bad.learn_limits = 2;
    assert_int_equal(plm__limits_config_from_options(&bad, &lc), PLM_EINVAL);
    bad = o;
    bad.retry_budget = 0.0 / 0.0;
    assert_int_equal(plm__limits_config_from_options(&bad, &lc), PLM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiers__lookup),
        cmocka_unit_test(test_tiers__unknown_and_listing),
        cmocka_unit_test(test_tiers__options_default_to_zero),
        cmocka_unit_test(test_tiers__options_to_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
