/*
 * Option checks: every _ms duration of every public options struct and
 * setter goes through one validator (0 to 7 days), and every refused
 * option is named, with the reason, by plm_last_error().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parallm.h"

#define DAY_MS ((int64_t)24 * 3600 * 1000)
#define EIGHT_DAYS_MS (8 * DAY_MS)
#define SEVEN_DAYS_MS (7 * DAY_MS)

/* The base URL keeps the client off the network (no request is sent). */
static plm_client_options base_options(void)
{
    plm_client_options o = PLM_CLIENT_OPTIONS_INIT;

    o.openai_base_url = "http://127.0.0.1:9";
    o.anthropic_base_url = "http://127.0.0.1:9";
    o.openai_api_key = "sk-test-options";
    return o;
}

static void expect_refused(const plm_client_options *o, const char *field)
{
    plm_client *c = NULL;

    assert_int_equal(plm_client_new(&c, o), PLM_EINVAL);
    assert_null(c);
    assert_non_null(strstr(plm_last_error(), field));
}

static void expect_accepted(const plm_client_options *o)
{
    plm_client *c = NULL;

    assert_int_equal(plm_client_new(&c, o), PLM_OK);
    plm_client_free(c);
}

/* Each client duration: 7 days is accepted, 8 days and -1 are not, and
 * the error names the field. */
static void test_options__client_durations(void **state)
{
    static const char *const fields[] = {
        "request_timeout_ms", "connect_timeout_ms", "retry_base_ms",
        "retry_max_ms",       "retry_after_max_ms", "breaker_cooldown_ms",
        "breaker_dead_ms"
    };
    (void)state;

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int64_t values[] = { SEVEN_DAYS_MS, EIGHT_DAYS_MS, -1 };

        for (size_t k = 0; k < 3; k++) {
            plm_client_options o = base_options();

            switch (i) {
            case 0: o.request_timeout_ms = values[k]; break;
            case 1: o.connect_timeout_ms = values[k]; break;
            case 2: o.retry_base_ms = values[k]; break;
            case 3: o.retry_max_ms = values[k]; break;
            case 4: o.retry_after_max_ms = values[k]; break;
            case 5: o.breaker_cooldown_ms = (int)values[k]; break;
            case 6: o.breaker_dead_ms = values[k]; break;
            }
            if (k == 0)
                expect_accepted(&o);
            else
                expect_refused(&o, fields[i]);
        }
    }
}

/* The other client options are named too. */
static void test_options__client_fields_named(void **state)
{
    plm_client_options o;
    (void)state;

    o = base_options();
    o.version = 99;
    expect_refused(&o, "plm_client_options");
    o = base_options();
    o.max_retries = -2;
    expect_refused(&o, "max_retries");
    o = base_options();
    o.log_level = 9;
    expect_refused(&o, "log_level");
    /* retry_time_ms: -1 (no time bound) and 7 days are fine. */
    o = base_options();
    o.retry_time_ms = -1;
    expect_accepted(&o);
    o.retry_time_ms = SEVEN_DAYS_MS;
    expect_accepted(&o);
    o.retry_time_ms = -2;
    expect_refused(&o, "retry_time_ms");
    o.retry_time_ms = EIGHT_DAYS_MS;
    expect_refused(&o, "retry_time_ms");
    o = base_options();
    o.rpm = -1;
    expect_refused(&o, "rpm");
    o = base_options();
    o.tpm = 1e16;
    expect_refused(&o, "tpm");
    o = base_options();
    o.breaker_failures = -2;
    expect_refused(&o, "breaker_failures");
    o = base_options();
    o.stop_on_fatal = 2;
    expect_refused(&o, "stop_on_fatal");
    o = base_options();
    o.openai_base_url = "ftp://example.invalid";
    expect_refused(&o, "openai_base_url");
    o = base_options();
    o.ca_file = "/nonexistent/parallm-test-ca.pem";
    expect_refused(&o, "ca_file");
    /* A refused option never shows the key. */
    assert_null(strstr(plm_last_error(), "sk-test-options"));
}

static int never_source(plm_request **out, void *user_data)
{
    (void)user_data;
    *out = NULL;
    return 1;
}

static int never_complete(plm_request *req, plm_result *res, void *ud)
{
    (void)req;
    (void)ud;
    plm_result_free(res);
    return 0;
}

static void *task_fn(void *arg, plm_task_ctx *ctx)
{
    (void)ctx;
    return arg;
}

/* Run, gather, executor, task and request durations: 8 days is refused
 * by the same validator, with the field named. */
static void test_options__run_and_gather_durations(void **state)
{
    plm_client_options co = base_options();
    plm_client *c = NULL;
    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    plm_executor *ex = NULL;
    plm_request *req = NULL;
    plm_result *res = NULL;
    plm_task task = { 0 };
    plm_task_result tres;
    (void)state;

    assert_int_equal(plm_client_new(&c, &co), PLM_OK);

    ro.timeout_ms = EIGHT_DAYS_MS;
    assert_int_equal(plm_client_run(c, never_source, never_complete, &ro, NULL),
                     PLM_EINVAL);
    assert_non_null(strstr(plm_last_error(), "timeout_ms"));
    ro.timeout_ms = 0;
    ro.tick_ms = EIGHT_DAYS_MS;
    assert_int_equal(plm_client_run(c, never_source, never_complete, &ro, NULL),
                     PLM_EINVAL);
    assert_non_null(strstr(plm_last_error(), "tick_ms"));

    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, "m"),
                     PLM_OK);
    go.timeout_ms = EIGHT_DAYS_MS;
    assert_int_equal(plm_gather(c, &req, 1, &res, &go), PLM_EINVAL);
    assert_non_null(strstr(plm_last_error(), "timeout_ms"));
    assert_int_equal(plm_executor_new(&ex, c, &go), PLM_EINVAL);
    assert_null(ex);
    assert_non_null(strstr(plm_last_error(), "timeout_ms"));
    task.fn = task_fn;
    assert_int_equal(plm_task_gather(&task, 1, &tres, &go), PLM_EINVAL);
    assert_non_null(strstr(plm_last_error(), "timeout_ms"));
    go.timeout_ms = SEVEN_DAYS_MS;
    go.max_concurrent = -1;
    assert_int_equal(plm_gather(c, &req, 1, &res, &go), PLM_EINVAL);
    assert_non_null(strstr(plm_last_error(), "max_concurrent"));

    assert_int_equal(plm_request_set_timeout_ms(req, EIGHT_DAYS_MS),
                     PLM_EINVAL);
    assert_non_null(strstr(plm_last_error(), "timeout_ms"));
    assert_int_equal(plm_request_set_timeout_ms(req, SEVEN_DAYS_MS), PLM_OK);

    plm_request_free(req);
    plm_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options__client_durations),
        cmocka_unit_test(test_options__client_fields_named),
        cmocka_unit_test(test_options__run_and_gather_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
