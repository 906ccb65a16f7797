/*
 * plm_gather end to end against the mock: input order, the concurrency
 * limit as the server sees it, fail-fast, deadlines, per-slot faults and a
 * large batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "engine_fixture.h"
#include "test_util.h"

static plm_gather_options gopts(int max_concurrent, int return_errors,
                                int64_t timeout_ms)
{
    plm_gather_options o;
    memset(&o, 0, sizeof o);
    o.version = PLM_GATHER_OPTIONS_VERSION;
    o.max_concurrent = max_concurrent;
    o.return_errors = return_errors;
    o.timeout_ms = timeout_ms;
    return o;
}

static void free_reqs(plm_request **reqs, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        plm_request_free(reqs[i]);
}

static void test_gather__order_kept_with_reversed_latencies(void **state)
{
    enum { N = 8 };
    plm_fx fx;
    plm_request *reqs[N];
    plm_result *res[N];
    char text[N][64];
    plm_gather_options o = gopts(0, 1, 0);
    size_t i;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    for (i = 0; i < N; i++) {
        /* The first request answers last. */
        snprintf(text[i], sizeof text[i], "req %zu [mock latency=%zu]", i,
                 (N - i) * 25);
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, text[i]);
    }
    assert_int_equal(plm_gather(fx.client, reqs, N, res, &o), PLM_OK);
    for (i = 0; i < N; i++) {
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
        assert_true(plm_fx_reply_is(res[i], text[i]));
        assert_int_equal(plm_result_attempts(res[i]), 1);
        assert_int_equal(plm_result_started(res[i]), 1);
        assert_true(plm_result_latency(res[i]) > 0.0);
    }
    /* Completion order really was reversed: the last finished first. */
    assert_true(plm_result_latency(res[0]) > plm_result_latency(res[N - 1]));
    assert_false(plm_fx_key_leaked(&fx, res, N));
    plm_results_free(res, N);
    free_reqs(reqs, N);
    plm_fx_stop(&fx);
}

static void test_gather__server_sees_exactly_max_concurrent(void **state)
{
    enum { N = 40, LIMIT = 5 };
    plm_fx fx;
    plm_request *reqs[N];
    plm_result *res[N];
    plm_gather_options o = gopts(LIMIT, 1, 0);
    plm_mock_stats ms;
    size_t i;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    for (i = 0; i < N; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock latency=30]");
    assert_int_equal(plm_gather(fx.client, reqs, N, res, &o), PLM_OK);
    plm_mock_get_stats(fx.mock, &ms);
    assert_int_equal(ms.requests, N);
    assert_int_equal(ms.max_in_flight_seen, LIMIT);
    for (i = 0; i < N; i++)
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
    plm_results_free(res, N);
    free_reqs(reqs, N);
    plm_fx_stop(&fx);
}

static void test_gather__empty_and_invalid(void **state)
{
    plm_fx fx;
    plm_request *req;
    plm_result *res[1] = { NULL };
    plm_gather_options o = gopts(0, 1, 0);
    plm_mock_stats ms;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    assert_int_equal(plm_gather(fx.client, NULL, 0, NULL, &o), PLM_OK);
    req = plm_fx_chat(PLM_PROVIDER_OPENAI, "x");
    o.max_concurrent = -1;
    assert_int_equal(plm_gather(fx.client, &req, 1, res, &o), PLM_EINVAL);
    assert_null(res[0]);
    o = gopts(0, 1, 0);
    o.version = 99;
    assert_int_equal(plm_gather(fx.client, &req, 1, res, &o), PLM_EINVAL);
    plm_mock_get_stats(fx.mock, &ms);
    assert_int_equal(ms.requests, 0);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

static void test_gather__fail_fast_cancels_the_rest(void **state)
{
    enum { N = 10 };
    plm_fx fx;
    plm_request *reqs[N];
    plm_result *res[N];
    plm_gather_options o = gopts(2, 0, 0);
    plm_mock_stats ms;
    int64_t t0;
    size_t i;
    int rc;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    /* reqs[0] hangs forever; reqs[1] fails for good at once. */
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "a [mock fault=hang]");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "b [mock status=400]");
    for (i = 2; i < N; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "rest");
    t0 = plm_test_now_ns();
    rc = plm_gather(fx.client, reqs, N, res, &o);
    assert_int_equal(rc, PLM_EBADREQUEST);
    /* Returned without waiting for the hanging request. */
    assert_true(plm_test_now_ns() - t0 < 5000000000LL);
    assert_int_equal(plm_result_code(res[1]), PLM_EBADREQUEST);
    assert_int_equal(plm_result_http_status(res[1]), 400);
    assert_int_equal(plm_result_code(res[0]), PLM_ECANCELLED);
    assert_int_equal(plm_result_started(res[0]), 1);
    for (i = 2; i < N; i++) {
        assert_int_equal(plm_result_code(res[i]), PLM_ENOTSTARTED);
        assert_int_equal(plm_result_started(res[i]), 0);
        assert_int_equal(plm_result_attempts(res[i]), 0);
    }
    plm_mock_get_stats(fx.mock, &ms);
    assert_int_equal(ms.requests, 2);
    plm_results_free(res, N);
    free_reqs(reqs, N);
    plm_fx_stop(&fx);
}

static void test_gather__deadline_keeps_completed(void **state)
{
    enum { N = 7 };
    plm_fx fx;
    plm_request *reqs[N];
    plm_result *res[N];
    plm_gather_options o = gopts(3, 1, 400);
    size_t i;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "fast 0");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "fast 1");
    for (i = 2; i < N; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    assert_int_equal(plm_gather(fx.client, reqs, N, res, &o), PLM_ETIMEOUT);
    assert_true(plm_fx_reply_is(res[0], "fast 0"));
    assert_true(plm_fx_reply_is(res[1], "fast 1"));
    /* 2, 3 and 4 took the freed slots and hung. */
    for (i = 2; i < 5; i++) {
        assert_int_equal(plm_result_code(res[i]), PLM_ETIMEOUT);
        assert_int_equal(plm_result_started(res[i]), 1);
    }
    for (i = 5; i < N; i++) {
        assert_int_equal(plm_result_code(res[i]), PLM_ENOTSTARTED);
        assert_int_equal(plm_result_started(res[i]), 0);
    }
    plm_results_free(res, N);
    free_reqs(reqs, N);
    plm_fx_stop(&fx);
}

static void test_gather__faults_stay_in_their_slot(void **state)
{
    enum { N = 6 };
    plm_fx fx;
    plm_client_options co;
    plm_request *reqs[N];
    plm_result *res[N];
    plm_gather_options o = gopts(0, 1, 0);
    size_t i;
    (void)state;

    memset(&co, 0, sizeof co);
    co.max_response_bytes = 64 * 1024;
    plm_fx_start(&fx, NULL, &co);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "ok 0");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=badjson]");
    reqs[2] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=reset]");
    reqs[3] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=big size=1000000]");
    reqs[4] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    reqs[5] = plm_fx_chat(PLM_PROVIDER_OPENAI, "ok 5");
    for (i = 0; i < N; i++)
        plm_request_set_max_retries(reqs[i], 0);
    plm_request_set_timeout_ms(reqs[4], 300);
    assert_int_equal(plm_gather(fx.client, reqs, N, res, &o), PLM_OK);
    assert_true(plm_fx_reply_is(res[0], "ok 0"));
    assert_int_equal(plm_result_code(res[1]), PLM_EPARSE);
    assert_int_equal(plm_result_code(res[2]), PLM_ENETWORK);
    assert_int_equal(plm_result_error_class(res[2]), PLM_CLASS_NETWORK);
    assert_int_equal(plm_result_code(res[3]), PLM_ETOOBIG);
    assert_int_equal(plm_result_code(res[4]), PLM_ETIMEOUT);
    assert_int_equal(plm_result_started(res[4]), 1);
    assert_true(plm_fx_reply_is(res[5], "ok 5"));
    for (i = 1; i < 5; i++)
        assert_true(strlen(plm_result_error_message(res[i])) > 0);
    assert_false(plm_fx_key_leaked(&fx, res, N));
    plm_results_free(res, N);
    free_reqs(reqs, N);
    plm_fx_stop(&fx);
}

static void test_gather__ten_thousand(void **state)
{
    enum { N = 10000 };
    plm_fx fx;
    plm_request **reqs = calloc(N, sizeof *reqs);
    plm_result **res = calloc(N, sizeof *res);
    plm_gather_options o = gopts(100, 1, 0);
    plm_mock_stats ms;
    char text[32];
    size_t i;
    (void)state;

    assert_non_null(reqs);
    assert_non_null(res);
    plm_fx_start(&fx, NULL, NULL);
    for (i = 0; i < N; i++) {
        snprintf(text, sizeof text, "n%zu", i);
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, text);
    }
    assert_int_equal(plm_gather(fx.client, reqs, N, res, &o), PLM_OK);
    for (i = 0; i < N; i++) {
        snprintf(text, sizeof text, "n%zu", i);
        assert_true(plm_fx_reply_is(res[i], text));
    }
    plm_mock_get_stats(fx.mock, &ms);
    assert_int_equal(ms.requests, N);
    assert_true(ms.max_in_flight_seen <= 100);
    plm_results_free(res, N);
    free_reqs(reqs, N);
    free(reqs);
    free(res);
    plm_fx_stop(&fx);
}

typedef struct watcher {
    plm_fx *fx;
    uint64_t want;
    int seen_ok;
    plm_mock_stats at_peak;
} watcher;

static void *watch_then_interrupt(void *arg)
{
    watcher *w = arg;
    /* The server holds every request it got (fault=hang): once it has
     * `want` of them, that many are in flight at once. */
    w->seen_ok = plm_mock_wait_requests(w->fx->mock, w->want, 30000) == 0;
    plm_mock_get_stats(w->fx->mock, &w->at_peak);
    plm_client_interrupt(w->fx->client, 2);
    return NULL;
}

static void test_gather__thousand_in_flight(void **state)
{
    enum { N = 1200, LIMIT = 1000 };
    plm_fx fx;
    plm_request **reqs = calloc(N, sizeof *reqs);
    plm_result **res = calloc(N, sizeof *res);
    plm_gather_options o = gopts(LIMIT, 1, 0);
    struct rlimit rl;
    watcher w;
    pthread_t th;
    size_t i, cancelled = 0, not_started = 0;
    (void)state;

    /* Client and server sockets both live in this process. */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * LIMIT + 256) {
        free(reqs);
        free(res);
        skip();
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * LIMIT + 256) {
        rl.rlim_cur = 2 * LIMIT + 256;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    assert_non_null(reqs);
    assert_non_null(res);
    plm_fx_start(&fx, NULL, NULL);
    for (i = 0; i < N; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    w.fx = &fx;
    w.want = LIMIT;
    assert_int_equal(pthread_create(&th, NULL, watch_then_interrupt, &w), 0);
    assert_int_equal(plm_gather(fx.client, reqs, N, res, &o), PLM_ECANCELLED);
    pthread_join(th, NULL);
    assert_true(w.seen_ok);
    assert_int_equal(w.at_peak.in_flight, LIMIT);
    assert_int_equal(w.at_peak.max_in_flight_seen, LIMIT);
    for (i = 0; i < N; i++) {
        if (plm_result_code(res[i]) == PLM_ECANCELLED)
            cancelled++;
        else if (plm_result_code(res[i]) == PLM_ENOTSTARTED)
            not_started++;
    }
    assert_int_equal(cancelled, LIMIT);
    assert_int_equal(not_started, N - LIMIT);
    plm_results_free(res, N);
    free_reqs(reqs, N);
    free(reqs);
    free(res);
    plm_fx_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather__order_kept_with_reversed_latencies),
        cmocka_unit_test(test_gather__server_sees_exactly_max_concurrent),
        cmocka_unit_test(test_gather__empty_and_invalid),
        cmocka_unit_test(test_gather__fail_fast_cancels_the_rest),
        cmocka_unit_test(test_gather__deadline_keeps_completed),
        cmocka_unit_test(test_gather__faults_stay_in_their_slot),
        cmocka_unit_test(test_gather__ten_thousand),
        cmocka_unit_test(test_gather__thousand_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
