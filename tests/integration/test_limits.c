/*
 * Integration tests of the rate budget through the engine, against the
 * mock on loopback: pacing of requests and tokens (checked on the arrival
 * times the mock recorded), token refunds, requests that can never fit,
 * a sporadic 429 delaying only its own request, one pause for every slot
 * when 429s say the budget is spent, runs stopped by a spent quota or a
 * rejected key, and limits learned from the provider's headers.
 *
 * Pacing bounds: with a limit L per minute the budget drains at
 * r = L / 61 s. Requests: the debt after a grant stays within half a
 * second's worth, so any window of T seconds holds at most r * T + r / 2
 * grants. Tokens: a grant goes while the debt is at most one second's
 * worth, so a window holds at most r * T + r plus one request. Arrivals
 * lag grants by a scheduling delay, hence a small slack in the checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "limits_fixture.h"
#include "policy.h"
#include "rlheaders.h"

#define SEC INT64_C(1000000000)
#define MS INT64_C(1000000)
#define MODEL "limits-model"

/* Most grants a budget of `per_minute` allows in a window of t_ns, plus
 * slack for arrival jitter. */
static size_t paced_bound(double per_minute, int64_t t_ns, size_t slack)
{
    double r = per_minute / 61.0;
    return (size_t)(r * (double)t_ns / (double)SEC + r + 1.0) + slack;
}

/* The same for the requests meter. */
static size_t requests_bound(double per_minute, int64_t t_ns, size_t slack)
{
    double r = per_minute / 61.0;
    return (size_t)(r * (double)t_ns / (double)SEC + r / 2) + slack;
}

static plm_request **chats(size_t n, const char *fmt, int max_tokens)
{
    plm_request **reqs = calloc(n, sizeof *reqs);
    char text[128];

    assert_non_null(reqs);
    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof text, fmt, (int)i);
        reqs[i] = plm_lf_chat(MODEL, text, max_tokens);
    }
    return reqs;
}

static void assert_all_ok(plm_result **res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_non_null(res[i]);
        if (plm_result_code(res[i]) != PLM_OK)
            fail_msg("request %zu: %s (attempts %d)", i,
                     plm_result_error_message(res[i]),
                     plm_result_attempts(res[i]));
    }
}

static void test_limits__rpm_paced_evenly(void **state)
{
    enum { N = 60 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request **reqs = chats(N, "paced %d", 16);
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    size_t n;
    (void)state;

    co.rpm = 1200;
    plm_client *c = plm_lf_client(m, &co);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 0, NULL, NULL), PLM_OK);
    assert_all_ok(res, N);
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N);
    /* Evenly: no 1 s or 2 s window holds more than the pace allows
     * (all 60 would arrive in a few milliseconds without it) ... */
    assert_true(plm_lf_max_in_window(recs, n, SEC) <=
                requests_bound(1200, SEC, 2));
    assert_true(plm_lf_max_in_window(recs, n, 2 * SEC) <=
                requests_bound(1200, 2 * SEC, 2));
    /* ... and the run took as long as the pace requires. */
    assert_true(recs[n - 1].arrival_ns - recs[0].arrival_ns >=
                (int64_t)((N - 1200.0 / 122 - 1) / (1200.0 / 61) * 1e9) -
                    100 * MS);
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_limits__no_second_over_one_and_a_half(void **state)
{
    /* Told 1,200 RPM against a server enforcing 1,200 RPM: from the first
     * arrival on, no 1 s window holds more than 1.5 times the per-second
     * rate (30; the first second used to get 40), none is refused, and
     * the run still goes at 95% of the limit or more. */
    enum { N = 75 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock_options mo;
    plm_request **reqs = chats(N, "window %d", 16);
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    plm_mock_stats ms;
    size_t n;
    (void)state;

    memset(&mo, 0, sizeof mo);
    mo.rpm = 1200;
    plm_mock *m = plm_lf_mock(&mo);
    co.rpm = 1200;
    plm_client *c = plm_lf_client(m, &co);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 0, NULL, NULL), PLM_OK);
    assert_all_ok(res, N);
    plm_mock_get_stats(m, &ms);
    assert_int_equal(ms.answered_429, 0);
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N);
    size_t worst = plm_lf_max_in_window(recs, n, SEC);
    if (worst > 30)
        fail_msg("%zu requests arrived within one second (limit 20/s)", worst);
    double secs = (double)(recs[n - 1].arrival_ns - recs[0].arrival_ns) /
                  (double)SEC;
    assert_true((double)(n - 1) / secs >= 0.95 * 20);
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_limits__tpm_paced_evenly(void **state)
{
    enum { N = 30 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    /* The mock reports the full 1000 completion tokens: nothing to
     * refund, so each request costs about 1000 tokens. */
    plm_request **reqs = chats(N, "[mock tokens=1000] tpm %d", 1000);
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    size_t n;
    (void)state;

    co.tpm = 600000; /* about 10 such requests per second */
    plm_client *c = plm_lf_client(m, &co);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 0, NULL, NULL), PLM_OK);
    assert_all_ok(res, N);
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N);
    assert_true(plm_lf_max_in_window(recs, n, SEC) <= paced_bound(600, SEC, 2));
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

/* Sends n requests one at a time with max_tokens 900 under 60,000 TPM
 * (983 tokens a second, a burst of 983): returns the span of arrivals. */
static int64_t refund_span(const char *fmt, size_t n)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request **reqs = chats(n, fmt, 900);
    plm_result **res = calloc(n, sizeof *res);
    plm_mock_record *recs = NULL;
    size_t got;
    int64_t span;

    assert_non_null(res);
    co.tpm = 60000;
    plm_client *c = plm_lf_client(m, &co);
    assert_int_equal(plm_lf_run(c, reqs, n, res, 1, NULL, NULL), PLM_OK);
    assert_all_ok(res, n);
    got = plm_lf_records(m, &recs);
    assert_int_equal(got, n);
    span = recs[got - 1].arrival_ns - recs[0].arrival_ns;
    plm_mock_records_free(recs, got);
    plm_lf_free(reqs, res, n);
    free(reqs);
    free(res);
    plm_client_free(c);
    plm_mock_free(m);
    return span;
}

static void test_limits__usage_refunds_the_estimate(void **state)
{
    (void)state;
    /* Reported usage 8 tokens: each answer refunds ~890 of the ~905
     * charged, so six requests go without waiting. Charged in full they
     * would need (6 * 905 - 2 * 983) / 983 s, over 3.5 s. */
    assert_true(refund_span("refund %d", 6) < 1500 * MS);
    /* The control: usage as large as the estimate leaves nothing to
     * refund, and four requests then need more than 1.7 s. */
    assert_true(refund_span("[mock tokens=900] full %d", 4) >= 1500 * MS);
}

static void test_limits__too_big_fails_fast(void **state)
{
    enum { N = 5 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request **reqs = chats(N, "small %d", 16);
    plm_result *res[N];
    plm_mock_stats ms;
    const char *msg;
    (void)state;

    plm_request_free(reqs[2]);
    reqs[2] = plm_lf_chat(MODEL, "huge", 20000);
    co.tpm = 10000;
    plm_client *c = plm_lf_client(m, &co);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 2, NULL, NULL), PLM_OK);
    for (size_t i = 0; i < N; i++) {
        if (i == 2)
            continue;
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
    }
    assert_int_equal(plm_result_code(res[2]), PLM_EBUDGET);
    assert_int_equal(plm_result_error_class(res[2]), PLM_CLASS_LOCAL);
    assert_int_equal(plm_result_attempts(res[2]), 0);
    msg = plm_result_error_message(res[2]);
    assert_non_null(strstr(msg, "20001")); /* estimate: 1 + 20000 */
    assert_non_null(strstr(msg, "10000")); /* the limit */
    plm_mock_get_stats(m, &ms);
    assert_int_equal(ms.requests, N - 1);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

/* Arrivals strictly after `from` and before `until`. */
static size_t arrivals_between(const plm_mock_record *r, size_t n, int64_t from,
                               int64_t until)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (r[i].arrival_ns > from && r[i].arrival_ns < until)
            k++;
    return k;
}

/* The first 429 the mock sent, by the time it went out. */
static const plm_mock_record *first_429(const plm_mock_record *r, size_t n)
{
    const plm_mock_record *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (r[i].status == 429 && (!best || r[i].done_ns < best->done_ns))
            best = &r[i];
    return best;
}

static void test_limits__429_delays_only_its_request(void **state)
{
    enum { N = 40, C = 4 };
    plm_mock_options mo;
    plm_mock *m;
    plm_request **reqs = chats(N, "steady %d", 16);
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    const plm_mock_record *hit;
    size_t n;
    (void)state;

    memset(&mo, 0, sizeof mo);
    mo.latency_ms = 30;
    m = plm_lf_mock(&mo);
    plm_request_free(reqs[5]);
    reqs[5] = plm_lf_chat(MODEL,
                          "[mock status=429 times=1 retry_after=0.4] "
                          "limited",
                          16);
    plm_client *c = plm_lf_client(m, NULL);
    assert_int_equal(plm_lf_run(c, reqs, N, res, C, NULL, NULL), PLM_OK);
    assert_all_ok(res, N);
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N + 1);
    hit = first_429(recs, n);
    assert_non_null(hit);
    /* A sporadic 429 delays its own request by its Retry-After; the
     * other slots go on (each sends about 13 in that time), the endpoint
     * is not paused for it. */
    assert_true(arrivals_between(recs, n, hit->done_ns,
                                 hit->done_ns + 400 * MS) >= 2 * C);
    for (size_t i = 0; i < n; i++)
        if (recs[i].user_text && strstr(recs[i].user_text, "limited") &&
            recs[i].status == 200)
            assert_true(recs[i].arrival_ns - hit->done_ns >= 390 * MS);
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

/* policy.c's count of different requests whose 429s make a burst. */
#define BURST_MIN_REQUESTS 4

static void test_limits__429_storm_completes(void **state)
{
    enum { N = 18, C = 6 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request **reqs =
        chats(N, "[mock status=429 times=3 retry_after=0.2] storm %d", 16);
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    const plm_mock_record *hit;
    plm_stats st;
    size_t n;
    (void)state;

    /* A retry budget that would stop these retries if 429s drew from
     * it: 54 retries against 10 saved and a fifth of 18. */
    co.retry_budget = 0.2;
    plm_client *c = plm_lf_client(m, &co);
    assert_int_equal(plm_lf_run(c, reqs, N, res, C, NULL, NULL), PLM_OK);
    assert_all_ok(res, N);
    plm_client_stats(c, &st);
    assert_int_equal(st.rate_limited, 3 * N);
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, 4 * N);
    hit = first_429(recs, n);
    assert_non_null(hit);
    /* Every request refused at once: the budget is spent, so the whole
     * endpoint pauses. Within the Retry-After of the first 429 the mock
     * may still see only attempts the client sent before it knew: the
     * rest of the first wave (C - 1, late under load) and the fresh
     * requests given the slots of the 429s that came back before the
     * burst was recognised (BURST_MIN_REQUESTS - 1 in policy.c). Without
     * the pause every freed slot takes fresh work at once: all N. */
    assert_true(
        arrivals_between(recs, n, hit->done_ns, hit->done_ns + 200 * MS) <=
        (C - 1) + (BURST_MIN_REQUESTS - 1));
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

/* A run of N requests, C at a time, where request 5 gets `directive`
 * and its answer at once; returns the run's code and the number of
 * requests the mock received. The others take latency_ms: a long one
 * means no other answer comes back before the fatal one has been read,
 * however slow the machine (the sanitizer pass, other builds), so the
 * client can have sent no more than the first C by then, and at least
 * requests 0-5. */
static int fatal_run(const char *directive, int stop_on_fatal,
                     int64_t latency_ms, int expect, plm_error_class cls,
                     size_t *received)
{
    enum { N = 40, C = 8 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock_options mo;
    plm_mock *m;
    plm_request **reqs = chats(N, "fine %d", 16);
    plm_result *res[N];
    plm_mock_stats ms;
    char text[128];
    int rc;

    memset(&mo, 0, sizeof mo);
    mo.latency_ms = latency_ms;
    m = plm_lf_mock(&mo);
    plm_request_free(reqs[5]);
    snprintf(text, sizeof text, "[mock %s latency=0] stop", directive);
    reqs[5] = plm_lf_chat(MODEL, text, 16);
    co.stop_on_fatal = stop_on_fatal;
    plm_client *c = plm_lf_client(m, &co);
    rc = plm_lf_run(c, reqs, N, res, C, NULL, NULL);
    assert_non_null(res[5]);
    assert_int_equal(plm_result_code(res[5]), expect);
    assert_int_equal(plm_result_error_class(res[5]), cls);
    assert_int_equal(plm_result_attempts(res[5]), 1);
    for (size_t i = 0; i < N; i++) {
        int code;
        if (i == 5 || !res[i])
            continue;
        code = plm_result_code(res[i]);
        assert_true(code == PLM_OK || code == PLM_ECANCELLED);
    }
    plm_mock_get_stats(m, &ms);
    *received = (size_t)ms.requests;
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
    return rc;
}

static void test_limits__quota_stops_the_run(void **state)
{
    size_t received = 0;
    (void)state;
    assert_int_equal(fatal_run("status=429 error_code=insufficient_quota", 0,
                               5000, PLM_EQUOTA, PLM_CLASS_QUOTA, &received),
                     PLM_EQUOTA);
    /* At most the first wave, sent before the answer came back. */
    assert_true(received >= 6 && received <= 8);
    /* Turned off, each request fails (or not) alone. */
    assert_int_equal(fatal_run("status=429 error_code=insufficient_quota", -1,
                               5, PLM_EQUOTA, PLM_CLASS_QUOTA, &received),
                     PLM_OK);
    assert_int_equal(received, 40);
}

static void test_limits__auth_stops_the_run(void **state)
{
    size_t received = 0;
    (void)state;
    assert_int_equal(fatal_run("status=401", 0, 5000, PLM_EAUTH, PLM_CLASS_AUTH,
                               &received),
                     PLM_EAUTH);
    assert_true(received >= 6 && received <= 8);
}

static void test_limits__gather_returns_the_fatal_code(void **state)
{
    enum { N = 20 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_request **reqs = chats(N, "g %d", 16);
    plm_result *res[N];
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    size_t unsent = 0;
    (void)state;

    plm_request_free(reqs[3]);
    reqs[3] = plm_lf_chat(MODEL, "[mock status=401] nope", 16);
    plm_client *c = plm_lf_client(m, NULL);
    go.max_concurrent = 2;
    go.return_errors = 1;
    assert_int_equal(plm_gather(c, reqs, N, res, &go), PLM_EAUTH);
    assert_int_equal(plm_result_code(res[3]), PLM_EAUTH);
    for (size_t i = 0; i < N; i++)
        unsent += plm_result_code(res[i]) == PLM_ENOTSTARTED;
    assert_true(unsent >= N - 3 - 2);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

/* Runs N requests, C at a time, against a mock limiting 600 RPM that
 * reports its limits; returns the most arrivals in one second. */
static size_t learn_run(int learn, double *learned)
{
    enum { N = 40, C = 4 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock_options mo;
    plm_mock *m;
    plm_request **reqs = chats(N, "learn %d", 16);
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    plm_stats st;
    size_t n, most;

    memset(&mo, 0, sizeof mo);
    mo.rpm = 600;
    mo.send_ratelimit_headers = 1;
    m = plm_lf_mock(&mo);
    co.learn_limits = learn;
    plm_client *c = plm_lf_client(m, &co);
    assert_int_equal(plm_lf_run(c, reqs, N, res, C, NULL, NULL), PLM_OK);
    assert_all_ok(res, N);
    plm_client_stats(c, &st);
    assert_int_equal(st.rate_limited, 0);
    *learned = plm__policy_limit(c->policy, PLM_PROVIDER_OPENAI, MODEL,
                                 PLM__RL_REQUESTS);
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N);
    most = plm_lf_max_in_window(recs, n, SEC);
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
    return most;
}

static void test_limits__learns_limits_from_headers(void **state)
{
    double learned = 0;
    (void)state;
    /* Told nothing, the client takes 600 RPM from the first answer and
     * paces the rest (the first C went before any answer). */
    assert_true(learn_run(0, &learned) <= paced_bound(600, SEC, 2) + 4);
    assert_true(learned == 600);
    /* Not learning, the same run goes out at once. */
    assert_true(learn_run(-1, &learned) > paced_bound(600, SEC, 2) + 4);
    assert_true(learned == 0);
}

static void test_limits__bad_options_rejected(void **state)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c = NULL;
    (void)state;

    co.rpm = -1;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.rpm = 0;
    co.breaker_failures = -2;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.breaker_failures = 0;
    co.stop_on_fatal = 2;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.stop_on_fatal = 0;
    co.adaptive_concurrency = 2;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits__rpm_paced_evenly),
        cmocka_unit_test(test_limits__no_second_over_one_and_a_half),
        cmocka_unit_test(test_limits__tpm_paced_evenly),
        cmocka_unit_test(test_limits__usage_refunds_the_estimate),
        cmocka_unit_test(test_limits__too_big_fails_fast),
        cmocka_unit_test(test_limits__429_delays_only_its_request),
        cmocka_unit_test(test_limits__429_storm_completes),
        cmocka_unit_test(test_limits__quota_stops_the_run),
        cmocka_unit_test(test_limits__auth_stops_the_run),
        cmocka_unit_test(test_limits__gather_returns_the_fatal_code),
        cmocka_unit_test(test_limits__learns_limits_from_headers),
        cmocka_unit_test(test_limits__bad_options_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
