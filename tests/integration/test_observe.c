/*
 * What a run observes, through the engine and the mock: the trace
 * callback once per attempt with monotone times and the wait before a
 * retry with its cause, the timings every result carries, and the
 * metrics text counting the same requests, attempts and retries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "limits_fixture.h"
#include "parallm.h"

#define MODEL "obs-model"
#define MAX_TRACES 16

typedef struct traces {
    plm_attempt_trace t[MAX_TRACES];
    int n;
} traces;

static void on_trace(const plm_attempt_trace *t, void *user_data)
{
    traces *tr = user_data;
    assert_true(tr->n < MAX_TRACES);
    tr->t[tr->n] = *t;
    tr->t[tr->n].model = NULL; /* borrowed for the call only */
    assert_string_equal(t->model, MODEL);
    tr->n++;
}

static void check_monotone(const plm_attempt_trace *t)
{
    assert_true(t->queued_ns >= 0);
    assert_true(t->admitted_ns >= t->queued_ns);
    assert_true(t->sent_ns >= t->admitted_ns);
    assert_true(t->first_byte_ns >= t->sent_ns);
    assert_true(t->done_ns >= t->first_byte_ns);
}

static void test_observe__trace_timings_and_metrics(void **state)
{
    enum { N = 3 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    traces tr;
    plm_timings tm;
    plm_metrics_summary sum;
    char *text = NULL;
    int i, retried = 0;
    (void)state;

    memset(&tr, 0, sizeof tr);
    assert_int_equal(plm_client_set_trace(c, on_trace, &tr), PLM_OK);
    reqs[0] = plm_lf_chat(MODEL, "0 [mock status=429 times=1 retry_after=0.2]",
                          16);
    reqs[1] = plm_lf_chat(MODEL, "1 fine", 16);
    reqs[2] = plm_lf_chat(MODEL, "2 fine", 16);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 2, NULL, NULL), PLM_OK);

    /* One trace per attempt: 0 took two. */
    assert_int_equal(tr.n, 4);
    for (i = 0; i < tr.n; i++) {
        const plm_attempt_trace *t = &tr.t[i];
        /* The fixture feeds the requests in order. */
        int idx = (int)t->index;
        assert_true(idx >= 0 && idx < N);
        assert_int_equal(t->provider, PLM_PROVIDER_OPENAI);
        check_monotone(t);
        if (t->http_status == 429) {
            retried++;
            assert_int_equal(idx, 0);
            assert_int_equal(t->attempt, 1);
            assert_int_equal(t->error_class, PLM_CLASS_RATE_LIMITED);
            assert_int_equal(t->retry_reason, PLM_WAIT_RETRY_AFTER);
            assert_true(t->retry_wait_ns >= 200000000);
        } else {
            assert_int_equal(t->http_status, 200);
            assert_int_equal(t->error_class, PLM_CLASS_NONE);
            assert_int_equal(t->retry_reason, PLM_WAIT_NONE);
            assert_true(t->retry_wait_ns == -1);
            assert_true(t->prompt_tokens > 0);
            assert_true(t->completion_tokens > 0);
            assert_int_equal(t->attempt, idx == 0 ? 2 : 1);
        }
    }
    assert_int_equal(retried, 1);

    for (i = 0; i < N; i++) {
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
        assert_int_equal(plm_result_timings(res[i], &tm), PLM_OK);
        assert_true(tm.queued_ns >= 0);
        assert_true(tm.first_sent_ns >= tm.queued_ns);
        assert_true(tm.admitted_ns >= tm.first_sent_ns ||
                    plm_result_attempts(res[i]) == 1);
        assert_true(tm.sent_ns >= tm.admitted_ns);
        assert_true(tm.first_byte_ns >= tm.sent_ns);
        assert_true(tm.done_ns >= tm.first_byte_ns);
    }
    assert_int_equal(plm_result_timings(res[0], &tm), PLM_OK);
    assert_true(tm.sent_ns - tm.first_sent_ns >= 200000000);

    assert_int_equal(plm_client_metrics_text(c, &text, NULL), PLM_OK);
    assert_non_null(strstr(text, "parallm_llm_requests_total{provider=\"openai"
                                 "\",model=\"" MODEL "\",class=\"none\"} 3\n"));
    assert_non_null(strstr(text, "parallm_llm_attempts_total{provider=\"openai"
                                 "\",model=\"" MODEL "\",class=\"none\"} 3\n"));
    assert_non_null(
        strstr(text,
               "parallm_llm_attempts_total{provider=\"openai\",model=\"" MODEL
               "\",class=\"rate_limited\"} 1\n"));
    assert_non_null(
        strstr(text,
               "parallm_llm_retries_total{provider=\"openai\",model=\"" MODEL
               "\",reason=\"retry_after\"} 1\n"));
    assert_non_null(strstr(text, "parallm_llm_rate_limited_total{provider="
                                 "\"openai\",model=\"" MODEL "\"} 1\n"));
    assert_non_null(strstr(text, "parallm_llm_request_duration_seconds_count{"
                                 "provider=\"openai\",model=\"" MODEL
                                 "\",class=\"none\"} 3\n"));
    assert_non_null(strstr(text,
                           "parallm_llm_time_to_first_byte_seconds_count{"
                           "provider=\"openai\",model=\"" MODEL "\"} 4\n"));
    assert_non_null(
        strstr(text, "parallm_llm_parallel_batch_duration_seconds_count 1\n"));
    free(text);
    assert_int_equal(plm_client_metrics_summary(c, &sum), PLM_OK);
    assert_int_equal(sum.requests[PLM_CLASS_NONE], 3);
    assert_int_equal(sum.retries[PLM_WAIT_RETRY_AFTER], 1);
    assert_true(sum.latency_p50_s > 0);
    assert_true(sum.latency_p99_s >= sum.latency_p50_s);

    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_observe__metrics_off(void **state)
{
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *reqs[1];
    plm_result *res[1];
    char *text = NULL;
    (void)state;

    assert_int_equal(plm_client_set_metrics(c, 0), PLM_OK);
    reqs[0] = plm_lf_chat(MODEL, "fine", 16);
    assert_int_equal(plm_lf_run(c, reqs, 1, res, 1, NULL, NULL), PLM_OK);
    assert_int_equal(plm_client_metrics_text(c, &text, NULL), PLM_OK);
    assert_null(strstr(text, "parallm_llm_requests_total{"));
    /* The result's timings do not depend on metrics. */
    {
        plm_timings tm;
        assert_int_equal(plm_result_timings(res[0], &tm), PLM_OK);
        assert_true(tm.first_byte_ns >= tm.sent_ns && tm.sent_ns >= 0);
        assert_true(tm.done_ns >= tm.first_byte_ns);
    }
    free(text);
    plm_lf_free(reqs, res, 1);
    plm_client_free(c);
    plm_mock_free(m);
}

/* A 500 without a server delay: the retry waited out the backoff. */
static void test_observe__backoff_reason(void **state)
{
    plm_mock *m = plm_lf_mock(NULL);
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c;
    plm_request *reqs[1];
    plm_result *res[1];
    traces tr;
    (void)state;

    co.retry_base_ms = 40;
    co.retry_max_ms = 40;
    c = plm_lf_client(m, &co);
    memset(&tr, 0, sizeof tr);
    assert_int_equal(plm_client_set_trace(c, on_trace, &tr), PLM_OK);
    reqs[0] = plm_lf_chat(MODEL, "x [mock status=500 times=1]", 16);
    assert_int_equal(plm_lf_run(c, reqs, 1, res, 1, NULL, NULL), PLM_OK);
    assert_int_equal(plm_result_code(res[0]), PLM_OK);
    assert_int_equal(tr.n, 2);
    assert_int_equal(tr.t[0].http_status, 500);
    assert_int_equal(tr.t[0].error_class, PLM_CLASS_SERVER);
    assert_int_equal(tr.t[0].retry_reason, PLM_WAIT_BACKOFF);
    /* Jitter scales the 40 ms down by at most a quarter. */
    assert_true(tr.t[0].retry_wait_ns >= 30000000);
    assert_int_equal(tr.t[0].done_ns + tr.t[0].retry_wait_ns, tr.t[1].sent_ns);
    assert_int_equal(tr.t[1].retry_reason, PLM_WAIT_NONE);
    plm_lf_free(reqs, res, 1);
    plm_client_free(c);
    plm_mock_free(m);
}

/* At 60 requests a minute the retry's 40 ms backoff ends long before
 * the budget grants its next request (a second after the first): the
 * wait is the budget's. */
static void test_observe__budget_reason(void **state)
{
    plm_mock *m = plm_lf_mock(NULL);
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c;
    plm_request *reqs[1];
    plm_result *res[1];
    traces tr;
    (void)state;

    co.retry_base_ms = 40;
    co.retry_max_ms = 40;
    co.rpm = 60;
    c = plm_lf_client(m, &co);
    memset(&tr, 0, sizeof tr);
    assert_int_equal(plm_client_set_trace(c, on_trace, &tr), PLM_OK);
    reqs[0] = plm_lf_chat(MODEL, "x [mock status=500 times=1]", 16);
    assert_int_equal(plm_lf_run(c, reqs, 1, res, 1, NULL, NULL), PLM_OK);
    assert_int_equal(plm_result_code(res[0]), PLM_OK);
    assert_int_equal(tr.n, 2);
    assert_int_equal(tr.t[0].retry_reason, PLM_WAIT_BUDGET);
    assert_true(tr.t[0].retry_wait_ns >= 500000000);
    /* The second attempt queued when its backoff ended and was admitted
     * when the budget allowed. */
    assert_true(tr.t[1].admitted_ns - tr.t[1].queued_ns >= 400000000);
    plm_lf_free(reqs, res, 1);
    plm_client_free(c);
    plm_mock_free(m);
}

/* Request 0 is refused first with a short Retry-After; the four others,
 * 50 ms later, with a long one. Four distinct requests refused in a row
 * say the key's budget is spent: the endpoint pauses for the long delay,
 * which holds request 0's retry well past its own Retry-After. */
static void test_observe__pause_reason(void **state)
{
    enum { N = 5 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    traces tr;
    int i, found = 0;
    (void)state;

    memset(&tr, 0, sizeof tr);
    assert_int_equal(plm_client_set_trace(c, on_trace, &tr), PLM_OK);
    reqs[0] = plm_lf_chat(
        MODEL, "0 [mock status=429 times=1 retry_after=0.1 latency=0]", 16);
    for (i = 1; i < N; i++) {
        char text[128];
        snprintf(text, sizeof text,
                 "%d [mock status=429 times=1 retry_after=0.8 latency=50]", i);
        reqs[i] = plm_lf_chat(MODEL, text, 16);
    }
    assert_int_equal(plm_lf_run(c, reqs, N, res, N, NULL, NULL), PLM_OK);
    assert_int_equal(tr.n, 2 * N);
    for (i = 0; i < tr.n; i++) {
        if (tr.t[i].index != 0 || tr.t[i].attempt != 1)
            continue;
        found = 1;
        assert_int_equal(tr.t[i].retry_reason, PLM_WAIT_PAUSE);
        assert_true(tr.t[i].retry_wait_ns >= 500000000);
    }
    assert_true(found);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

/* Two 500s open a breaker that opens after two failures: both retries,
 * due after at most 150 ms, wait for its 600 ms cooldown (and its
 * probe). */
static void test_observe__breaker_reason(void **state)
{
    enum { N = 2 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c;
    plm_request *reqs[N];
    plm_result *res[N];
    traces tr;
    int i, firsts = 0;
    (void)state;

    co.retry_base_ms = 150;
    co.retry_max_ms = 150;
    co.breaker_failures = 2;
    co.breaker_cooldown_ms = 600;
    c = plm_lf_client(m, &co);
    memset(&tr, 0, sizeof tr);
    assert_int_equal(plm_client_set_trace(c, on_trace, &tr), PLM_OK);
    reqs[0] = plm_lf_chat(MODEL, "0 [mock status=500 times=1]", 16);
    reqs[1] = plm_lf_chat(MODEL, "1 [mock status=500 times=1]", 16);
    assert_int_equal(plm_lf_run(c, reqs, N, res, N, NULL, NULL), PLM_OK);
    for (i = 0; i < N; i++)
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
    assert_int_equal(tr.n, 2 * N);
    for (i = 0; i < tr.n; i++) {
        if (tr.t[i].attempt != 1)
            continue;
        firsts++;
        assert_int_equal(tr.t[i].http_status, 500);
        assert_int_equal(tr.t[i].retry_reason, PLM_WAIT_BREAKER);
        assert_true(tr.t[i].retry_wait_ns >= 400000000);
    }
    assert_int_equal(firsts, N);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observe__trace_timings_and_metrics),
        cmocka_unit_test(test_observe__metrics_off),
        cmocka_unit_test(test_observe__backoff_reason),
        cmocka_unit_test(test_observe__budget_reason),
        cmocka_unit_test(test_observe__pause_reason),
        cmocka_unit_test(test_observe__breaker_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
