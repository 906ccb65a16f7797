/*
 * Client construction (options, defaults, environment variables), the
 * source's abort code, and the engine's policy hooks as a rate limiter or
 * circuit breaker would use them: wait, fail without sending, a lowered
 * concurrency limit and per-attempt outcomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "engine_fixture.h"
#include "request.h"
#include "test_util.h"

static void test_client__options_checked(void **state)
{
    plm_client *c = (plm_client *)1;
    plm_client_options co;
    plm_stats st;
    (void)state;

    memset(&co, 0, sizeof co);
    co.version = 2;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    assert_null(c);
    co.version = PLM_CLIENT_OPTIONS_VERSION;
    co.max_retries = -2;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.max_retries = 0;
    co.request_timeout_ms = -1;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.request_timeout_ms = 0;
    /* Durations beyond a week would overflow nanosecond deadlines. */
    co.retry_after_max_ms = INT64_MAX / 1000;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.retry_after_max_ms = 0;
    co.retry_base_ms = INT64_MAX / 2;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.retry_base_ms = 0;
    co.request_timeout_ms = INT64_MAX;
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.request_timeout_ms = 0;
    co.openai_base_url = "ftp://example.com";
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.openai_base_url = NULL;
    co.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    assert_int_equal(plm_client_new(NULL, NULL), PLM_EINVAL);
    assert_int_equal(plm_client_new(&c, NULL), PLM_OK);
    plm_client_stats(c, &st);
    assert_int_equal(st.completed, 0);
    plm_client_interrupt(c, 2); /* nothing runs: no-op */
    plm_client_free(c);
    plm_client_free(NULL);
}

typedef struct one {
    plm_request *req;
    int given;
    int source_rc;
    plm_result *res;
} one;

static int one_source(plm_request **out, void *user_data)
{
    one *o = user_data;
    if (o->source_rc < 0)
        return o->source_rc;
    if (o->given)
        return 0;
    o->given = 1;
    *out = o->req;
    return 1;
}

static int one_complete(plm_request *req, plm_result *res, void *user_data)
{
    one *o = user_data;
    (void)req;
    o->res = res;
    return 0;
}

static void test_client__environment(void **state)
{
    plm_fx fx;
    plm_client *c = NULL;
    plm_mock_record *recs = NULL;
    char url[128];
    one o;
    size_t n;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    /* A base URL as users paste it, with /v1/ on the end. */
    snprintf(url, sizeof url, "%s/v1/", fx.base_url);
    assert_int_equal(setenv("OPENAI_BASE_URL", url, 1), 0);
    assert_int_equal(setenv("OPENAI_API_KEY", "sk-from-env", 1), 0);
    assert_int_equal(plm_client_new(&c, NULL), PLM_OK);
    unsetenv("OPENAI_BASE_URL");
    unsetenv("OPENAI_API_KEY");
    memset(&o, 0, sizeof o);
    o.req = plm_fx_chat(PLM_PROVIDER_OPENAI, "env");
    assert_int_equal(plm_client_run(c, one_source, one_complete, NULL, &o),
                     PLM_OK);
    assert_true(plm_fx_reply_is(o.res, "env"));
    n = plm_mock_get_records(fx.mock, &recs);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].path, "/v1/chat/completions");
    assert_string_equal(recs[0].authorization, "Bearer sk-from-env");
    plm_mock_records_free(recs, n);
    plm_result_free(o.res);

    /* A source's negative code aborts the run with it. */
    memset(&o.res, 0, sizeof o.res);
    o.given = 0;
    o.source_rc = PLM_EIO;
    assert_int_equal(plm_client_run(c, one_source, one_complete, NULL, &o),
                     PLM_EIO);
    assert_null(o.res);
    plm_request_free(o.req);
    plm_client_free(c);
    plm_fx_stop(&fx);
}

/* A policy module in miniature. */
typedef struct policy {
    int run_starts, run_ends;
    int sends, waits, fails, unadmits;
    int outcomes, outcome_429, outcome_cancelled, retries_denied;
    int limit;
} policy;

static void pol_start(void *data, int64_t now_ns)
{
    policy *p = data;
    (void)now_ns;
    p->run_starts++;
}

static void pol_end(void *data)
{
    policy *p = data;
    p->run_ends++;
}

static int pol_before_send(void *data, plm__hook_ctx *ctx, int64_t now_ns,
                           int64_t *until_ns, int *code)
{
    policy *p = data;
    if (strstr(ctx->req->body_text, "blocked")) {
        p->fails++;
        *code = PLM_EBREAKER;
        return PLM__ADMIT_FAIL;
    }
    if (p->waits == 0) {
        /* Hold the first request 50 ms, as a rate budget would. */
        p->waits++;
        *until_ns = now_ns + 50000000;
        return PLM__ADMIT_WAIT;
    }
    assert_int_equal(ctx->sent_ns, 0);
    /* Remember the reservation in this request's admission record. */
    ctx->adm->reserved_at_ns = now_ns;
    ctx->adm->count++;
    p->sends++;
    return PLM__ADMIT_GO;
}

static int pol_second_before_send(void *data, plm__hook_ctx *ctx,
                                  int64_t now_ns, int64_t *until_ns, int *code)
{
    int *held = data;
    (void)code;
    /* Hold request c once after the first hook let it through: the first
     * hook must get its reservation back. */
    if (*held == 0 && strstr(ctx->req->body_text, "c [")) {
        *held = 1;
        *until_ns = now_ns + 1000000;
        return PLM__ADMIT_WAIT;
    }
    return PLM__ADMIT_GO;
}

static void pol_unadmit(void *data, plm__hook_ctx *ctx)
{
    policy *p = data;
    assert_true(ctx->adm->reserved_at_ns > 0);
    ctx->adm->count--;
    p->unadmits++;
}

static void pol_after(void *data, plm__hook_ctx *ctx, const plm__attempt *a,
                      const plm_result *res, int64_t now_ns)
{
    policy *p = data;
    (void)res;
    /* The reservation made for this attempt is still there. */
    assert_true(ctx->adm->reserved_at_ns > 0);
    assert_int_equal(ctx->adm->count, ctx->attempt);
    assert_true(ctx->sent_ns >= ctx->adm->reserved_at_ns);
    assert_true(now_ns >= ctx->sent_ns);
    assert_true(ctx->in_flight >= 1);
    p->outcomes++;
    if (a->http_status == 429)
        p->outcome_429++;
    if (a->transport_error == PLM_ECANCELLED)
        p->outcome_cancelled++;
}

static int pol_allow_retry(void *data, plm__hook_ctx *ctx,
                           const plm_result *res, int64_t now_ns)
{
    policy *p = data;
    (void)res;
    (void)now_ns;
    if (strstr(ctx->req->body_text, "noretry")) {
        p->retries_denied++;
        return 0;
    }
    return 1;
}

static int pol_limit(void *data, int configured)
{
    policy *p = data;
    (void)configured;
    return p->limit;
}

static void policy_hooks(policy *pol, plm__engine_hooks *h)
{
    memset(pol, 0, sizeof *pol);
    memset(h, 0, sizeof *h);
    h->data = pol;
    h->run_start = pol_start;
    h->run_end = pol_end;
    h->before_send = pol_before_send;
    h->unadmit = pol_unadmit;
    h->after_attempt = pol_after;
    h->allow_retry = pol_allow_retry;
    h->concurrency_limit = pol_limit;
}

static void test_client__hooks(void **state)
{
    enum { N = 7 };
    plm_fx fx;
    plm__engine_hooks h, h2;
    policy pol;
    plm_request *reqs[N];
    plm_result *res[N];
    plm_gather_options go;
    plm_mock_stats ms;
    int64_t t0;
    size_t i;
    int held = 0;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    policy_hooks(&pol, &h);
    pol.limit = 1;
    assert_int_equal(plm__client_add_hooks(fx.client, &h), PLM_OK);
    memset(&h2, 0, sizeof h2);
    h2.data = &held;
    h2.before_send = pol_second_before_send;
    assert_int_equal(plm__client_add_hooks(fx.client, &h2), PLM_OK);

    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "a [mock latency=20]");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "blocked");
    reqs[2] = plm_fx_chat(PLM_PROVIDER_OPENAI,
                          "c [mock status=429 times=1 latency=20]");
    reqs[3] = plm_fx_chat(PLM_PROVIDER_OPENAI,
                          "noretry [mock status=500 times=1]");
    for (i = 4; i < N; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "d [mock latency=20]");
    memset(&go, 0, sizeof go);
    go.version = PLM_GATHER_OPTIONS_VERSION;
    go.max_concurrent = 4;
    go.return_errors = 1;
    t0 = plm_test_now_ns();
    assert_int_equal(plm_gather(fx.client, reqs, N, res, &go), PLM_OK);
    /* The first request waited for its budget. */
    assert_true(plm_test_now_ns() - t0 >= 50000000);
    assert_int_equal(pol.run_starts, 1);
    assert_int_equal(pol.run_ends, 1);
    assert_int_equal(plm_result_code(res[1]), PLM_EBREAKER);
    assert_int_equal(plm_result_started(res[1]), 0);
    /* The retry budget said no: the 500 is final after one attempt. */
    assert_int_equal(plm_result_code(res[3]), PLM_ESERVER);
    assert_int_equal(plm_result_attempts(res[3]), 1);
    assert_int_equal(pol.retries_denied, 1);
    for (i = 0; i < N; i++)
        if (i != 1 && i != 3)
            assert_int_equal(plm_result_code(res[i]), PLM_OK);
    /* 6 requests sent, one retried: 7 attempts seen by the hook. */
    assert_int_equal(pol.outcomes, 7);
    assert_int_equal(pol.outcome_429, 1);
    assert_int_equal(held, 1);
    assert_int_equal(pol.sends, 8);
    assert_int_equal(pol.unadmits, 1);
    plm_mock_get_stats(fx.mock, &ms);
    assert_int_equal(ms.requests, 7);
    /* The hook's limit of 1 won over max_concurrent 4. */
    assert_int_equal(ms.max_in_flight_seen, 1);
    plm_results_free(res, N);
    for (i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_fx_stop(&fx);
}

static void test_client__hooks_see_cancelled_attempts(void **state)
{
    plm_fx fx;
    plm__engine_hooks h;
    policy pol;
    plm_request *req;
    plm_result *res = NULL;
    plm_gather_options go;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    policy_hooks(&pol, &h);
    pol.waits = 1; /* no initial wait */
    assert_int_equal(plm__client_add_hooks(fx.client, &h), PLM_OK);
    req = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    memset(&go, 0, sizeof go);
    go.version = PLM_GATHER_OPTIONS_VERSION;
    go.return_errors = 1;
    go.timeout_ms = 100;
    assert_int_equal(plm_gather(fx.client, &req, 1, &res, &go), PLM_ETIMEOUT);
    assert_int_equal(plm_result_code(res), PLM_ETIMEOUT);
    assert_int_equal(pol.outcomes, 1);
    assert_int_equal(pol.outcome_cancelled, 1);
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

static void test_client__stream_and_raw(void **state)
{
    enum { N = 3 };
    plm_fx fx;
    plm_request *reqs[N];
    plm_result *res[N];
    plm_gather_options go;
    plm_mock_record *recs = NULL;
    size_t n, i;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "streamed openai");
    assert_int_equal(plm_request_set_stream(reqs[0], 1), PLM_OK);
    reqs[1] = plm_fx_chat(PLM_PROVIDER_ANTHROPIC, "streamed anthropic");
    assert_int_equal(plm_request_set_stream(reqs[1], 1), PLM_OK);
    assert_int_equal(
        plm_request_new_raw(&reqs[2], PLM_PROVIDER_OPENAI, "POST",
                            "/v1/chat/completions",
                            "{\"model\":\"gpt-test\",\"messages\":"
                            "[{\"role\":\"user\",\"content\":\"raw\"}]}"),
        PLM_OK);
    memset(&go, 0, sizeof go);
    go.version = PLM_GATHER_OPTIONS_VERSION;
    go.return_errors = 1;
    assert_int_equal(plm_gather(fx.client, reqs, N, res, &go), PLM_OK);
    assert_true(plm_fx_reply_is(res[0], "streamed openai"));
    assert_true(plm_fx_reply_is(res[1], "streamed anthropic"));
    assert_true(plm_fx_reply_is(res[2], "raw"));
    for (i = 0; i < N; i++)
        assert_true(plm_result_completion_tokens(res[i]) > 0);
    n = plm_mock_get_records(fx.mock, &recs);
    assert_int_equal(n, N);
    plm_mock_records_free(recs, n);
    plm_results_free(res, N);
    for (i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_fx_stop(&fx);
}

/*
 * A transfer that fails before it connects (a host name curl cannot use,
 * refused without any DNS traffic) leaves its easy handle with a receive
 * buffer; the retry on that recycled handle must still be a network error,
 * not a failure to configure the transfer.
 */
static void test_client__retry_after_unusable_host(void **state)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c = NULL;
    one o;
    (void)state;

    co.openai_base_url = "http://a..b:1";
    co.openai_api_key = "sk-test";
    co.max_retries = 2;
    co.retry_base_ms = 1;
    co.retry_max_ms = 2;
    /* Otherwise the breaker declares the host dead after the first
     * attempt (it never answered), and the retries never go out. */
    co.breaker_failures = -1;
    assert_int_equal(plm_client_new(&c, &co), PLM_OK);
    memset(&o, 0, sizeof o);
    o.req = plm_fx_chat(PLM_PROVIDER_OPENAI, "unusable host");
    assert_int_equal(plm_client_run(c, one_source, one_complete, NULL, &o),
                     PLM_OK);
    assert_non_null(o.res);
    assert_int_equal(plm_result_code(o.res), PLM_ENETWORK);
    assert_int_equal(plm_result_attempts(o.res), 3);
    plm_result_free(o.res);
    plm_request_free(o.req);
    plm_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client__options_checked),
        cmocka_unit_test(test_client__environment),
        cmocka_unit_test(test_client__hooks),
        cmocka_unit_test(test_client__hooks_see_cancelled_attempts),
        cmocka_unit_test(test_client__stream_and_raw),
        cmocka_unit_test(test_client__retry_after_unusable_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
