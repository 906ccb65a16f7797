/*
 * Integration tests of the load protections through the engine, against
 * the mock on loopback: the circuit breaker (opens after consecutive
 * failures, holds requests without failing or sending them, lets a probe
 * through after the cool-down and closes on its success, or reopens on its
 * failure), the retry budget, and the adaptive concurrency limit (shrinks
 * while the server sheds load, grows back when it stops).
 *
 * The engine waits out a cool-down itself (the held request's admission
 * timer); no test sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "breaker.h"
#include "client.h"
#include "limits_fixture.h"
#include "policy.h"

#define MODEL "breaker-model"

static plm_client_options breaker_options(void)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    co.breaker_failures = 3;
    co.breaker_cooldown_ms = 200;
    co.max_retries = -1;
    return co;
}

/* texts[i] NULL means a request to another model that answers after the
 * cool-down: "wait". */
static plm_request **build(const char *const *texts, size_t n)
{
    plm_request **reqs = calloc(n, sizeof *reqs);

    assert_non_null(reqs);
    for (size_t i = 0; i < n; i++)
        reqs[i] = texts[i] ? plm_lf_chat(MODEL, texts[i], 16)
                           : plm_lf_chat("other-model",
                                         "[mock latency=350] wait", 16);
    return reqs;
}

static void expect(plm_result **res, size_t i, int code)
{
    assert_non_null(res[i]);
    if (plm_result_code(res[i]) != code)
        fail_msg("request %zu: %s (%s), expected %s", i,
                 plm_strerror(plm_result_code(res[i])),
                 plm_result_error_message(res[i]), plm_strerror(code));
}

/* The arrival of the first record whose user text contains `needle`. */
static const plm_mock_record *find_rec(const plm_mock_record *r, size_t n,
                                       const char *needle)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].user_text && strstr(r[i].user_text, needle))
            return &r[i];
    return NULL;
}

static void test_breaker_engine__opens_holds_and_recovers(void **state)
{
    static const char *const texts[] = { "[mock status=500] down 0",
                                         "[mock status=500] down 1",
                                         "[mock status=500] down 2",
                                         "held 3",
                                         "held 4",
                                         NULL,
                                         "trial 6",
                                         "after 7",
                                         "after 8" };
    enum { N = sizeof texts / sizeof texts[0] };
    plm_client_options co = breaker_options();
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, &co);
    plm_request **reqs = build(texts, N);
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    const plm_mock_record *down, *held;
    size_t n;
    (void)state;

    /* One at a time, so the order of events is the order of requests. */
    assert_int_equal(plm_lf_run(c, reqs, N, res, 1, NULL, NULL), PLM_OK);
    for (size_t i = 0; i < 3; i++)
        expect(res, i, PLM_ESERVER);
    /* Held while open, not failed: every later request succeeds, each
     * sent once. */
    for (size_t i = 3; i < N; i++) {
        expect(res, i, PLM_OK);
        assert_int_equal(plm_result_attempts(res[i]), 1);
    }
    assert_int_equal(plm__policy_breaker_state(c->policy, PLM_PROVIDER_OPENAI,
                                               MODEL),
                     PLM__BREAKER_CLOSED);
    /* Every request reached the server; the first held one only once the
     * 200 ms cool-down had passed (it was the probe). */
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N);
    down = find_rec(recs, n, "down 2");
    held = find_rec(recs, n, "held 3");
    assert_non_null(down);
    assert_non_null(held);
    assert_true(held->arrival_ns - down->done_ns >= 190 * INT64_C(1000000));
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_breaker_engine__failed_trial_reopens(void **state)
{
    static const char *const texts[] = {
        "[mock status=503] a", "[mock status=503] b", "[mock status=503] c",
        "[mock status=503] trial", "held again"
    };
    enum { N = sizeof texts / sizeof texts[0] };
    plm_client_options co = breaker_options();
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, &co);
    plm_request **reqs = build(texts, N);
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    const plm_mock_record *c_rec, *trial, *again;
    size_t n;
    (void)state;

    assert_int_equal(plm_lf_run(c, reqs, N, res, 1, NULL, NULL), PLM_OK);
    expect(res, 3, PLM_EOVERLOADED);
    expect(res, 4, PLM_OK);
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N);
    c_rec = find_rec(recs, n, "] c");
    trial = find_rec(recs, n, "trial");
    again = find_rec(recs, n, "held again");
    assert_non_null(c_rec);
    assert_non_null(trial);
    assert_non_null(again);
    /* The probe waited a cool-down; its failure reopened the breaker for
     * another one before the next request went. */
    assert_true(trial->arrival_ns - c_rec->done_ns >= 190 * INT64_C(1000000));
    assert_true(again->arrival_ns - trial->done_ns >= 190 * INT64_C(1000000));
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_breaker_engine__ignores_client_errors(void **state)
{
    static const char *const texts[] = {
        "[mock status=400] a", "[mock status=400] b",
        "[mock status=429 should_retry=false] c", "[mock status=400] d", "fine"
    };
    enum { N = sizeof texts / sizeof texts[0] };
    plm_client_options co = breaker_options();
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, &co);
    plm_request **reqs = build(texts, N);
    plm_result *res[N];
    (void)state;

    assert_int_equal(plm_lf_run(c, reqs, N, res, 1, NULL, NULL), PLM_OK);
    expect(res, 4, PLM_OK);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_breaker_engine__disabled(void **state)
{
    enum { N = 8 };
    plm_client_options co = breaker_options();
    plm_mock *m = plm_lf_mock(NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    plm_mock_stats ms;
    char text[64];
    (void)state;

    co.breaker_failures = -1;
    plm_client *c = plm_lf_client(m, &co);
    for (size_t i = 0; i < N; i++) {
        snprintf(text, sizeof text, "[mock status=500] %zu", i);
        reqs[i] = plm_lf_chat(MODEL, text, 16);
    }
    assert_int_equal(plm_lf_run(c, reqs, N, res, 2, NULL, NULL), PLM_OK);
    for (size_t i = 0; i < N; i++)
        expect(res, i, PLM_ESERVER);
    plm_mock_get_stats(m, &ms);
    assert_int_equal(ms.requests, N);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_breaker_engine__retry_budget_caps_retries(void **state)
{
    enum { N = 30 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    plm_stats st;
    char text[64];
    (void)state;

    /* Every attempt fails with a retryable 500; fifteen retries each
     * would be 450. The budget: 10 saved, half of 30 first attempts, one
     * a second. */
    co.breaker_failures = -1;
    co.retry_base_ms = 1;
    co.retry_max_ms = 1;
    plm_client *c = plm_lf_client(m, &co);
    for (size_t i = 0; i < N; i++) {
        snprintf(text, sizeof text, "[mock status=500] %zu", i);
        reqs[i] = plm_lf_chat(MODEL, text, 16);
    }
    assert_int_equal(plm_lf_run(c, reqs, N, res, 4, NULL, NULL), PLM_OK);
    plm_client_stats(c, &st);
    assert_int_equal(st.failed, N);
    /* At least the ten saved up; at most those, half of the first
     * attempts and one a second of the run (plus one for rounding). */
    assert_true(st.retries >= 10);
    if ((double)st.retries > 10 + 0.5 * N + st.elapsed + 1)
        fail_msg("%llu retries in %.3f s", (unsigned long long)st.retries,
                 st.elapsed);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

typedef struct sample {
    int lowest;
} sample;

static void sample_limit(plm_client *c, void *user_data)
{
    sample *s = user_data;
    plm_stats st;
    plm_client_stats(c, &st);
    if (st.concurrency_limit < s->lowest)
        s->lowest = st.concurrency_limit;
}

static void test_breaker_engine__adaptive_shrinks_and_grows(void **state)
{
    enum { N1 = 40, N2 = 120, C = 12 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock_options mo;
    plm_mock *m;
    plm_request *reqs[N2];
    plm_result *res[N2];
    plm_stats st;
    sample s = { 1000 };
    char text[64];
    (void)state;

    /* The server holds each request 40 ms and refuses beyond 4 at once
     * (429 without Retry-After: the endpoint pauses 20 ms). */
    memset(&mo, 0, sizeof mo);
    mo.latency_ms = 40;
    mo.max_in_flight = 4;
    m = plm_lf_mock(&mo);
    co.adaptive_concurrency = 1;
    co.retry_base_ms = 20;
    co.max_retries = 50;
    plm_client *c = plm_lf_client(m, &co);
    for (size_t i = 0; i < N1; i++) {
        snprintf(text, sizeof text, "busy %zu", i);
        reqs[i] = plm_lf_chat(MODEL, text, 16);
    }
    assert_int_equal(plm_lf_run(c, reqs, N1, res, C, sample_limit, &s), PLM_OK);
    for (size_t i = 0; i < N1; i++)
        expect(res, i, PLM_OK);
    plm_client_stats(c, &st);
    assert_true(st.rate_limited > 0);
    /* It starts at 10 and went down. */
    assert_true(s.lowest < 10);
    assert_true(st.concurrency_limit < 10);
    plm_lf_free(reqs, res, N1);

    /* Answered at once, requests never pile up at the server: the limit
     * grows back, up to max_concurrent. */
    for (size_t i = 0; i < N2; i++) {
        snprintf(text, sizeof text, "[mock latency=0] quick %zu", i);
        reqs[i] = plm_lf_chat(MODEL, text, 16);
    }
    assert_int_equal(plm_lf_run(c, reqs, N2, res, C, NULL, NULL), PLM_OK);
    for (size_t i = 0; i < N2; i++)
        expect(res, i, PLM_OK);
    plm_client_stats(c, &st);
    assert_int_equal(st.concurrency_limit, C);
    plm_lf_free(reqs, res, N2);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_breaker_engine__fixed_limit_without_adaptive(void **state)
{
    enum { N = 10 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    plm_stats st;
    (void)state;

    for (size_t i = 0; i < N; i++)
        reqs[i] = plm_lf_chat(MODEL, "plain", 16);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 7, NULL, NULL), PLM_OK);
    plm_client_stats(c, &st);
    assert_int_equal(st.concurrency_limit, 7);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_engine__opens_holds_and_recovers),
        cmocka_unit_test(test_breaker_engine__failed_trial_reopens),
        cmocka_unit_test(test_breaker_engine__ignores_client_errors),
        cmocka_unit_test(test_breaker_engine__disabled),
        cmocka_unit_test(test_breaker_engine__retry_budget_caps_retries),
        cmocka_unit_test(test_breaker_engine__adaptive_shrinks_and_grows),
        cmocka_unit_test(test_breaker_engine__fixed_limit_without_adaptive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
