/*
 * Integration tests of what the limit policy makes of each outcome: every
 * final result carries the code and class its failure calls for (the ones
 * the policy makes itself included), and Anthropic's limits work the same
 * way as OpenAI's (RFC 3339 resets learned from its headers, separate
 * input and output token meters).
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
#include "provider.h"
#include "result.h"
#include "rlheaders.h"

#define MODEL "outcome-model"

static plm_request *anthropic_chat(const char *text, int max_tokens)
{
    plm_request *req = NULL;

    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_ANTHROPIC, MODEL),
                     PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", text), PLM_OK);
    assert_int_equal(plm_request_set_max_tokens(req, max_tokens), PLM_OK);
    return req;
}

static void test_limit_outcomes__every_result_has_its_class(void **state)
{
    static const struct {
        const char *text;
        int max_tokens;
        int code;
        plm_error_class cls;
    } cases[] = {
        { "fine", 16, PLM_OK, PLM_CLASS_NONE },
        { "[mock status=400] bad", 16, PLM_EBADREQUEST, PLM_CLASS_BAD_REQUEST },
        { "[mock status=400 error_code=context_length_exceeded] long", 16,
          PLM_ECONTEXT, PLM_CLASS_BAD_REQUEST },
        { "[mock status=401] key", 16, PLM_EAUTH, PLM_CLASS_AUTH },
        { "[mock status=429 error_code=insufficient_quota] paid", 16,
          PLM_EQUOTA, PLM_CLASS_QUOTA },
        { "[mock status=429] busy", 16, PLM_ERATELIMIT,
          PLM_CLASS_RATE_LIMITED },
        { "[mock status=503] shed", 16, PLM_EOVERLOADED, PLM_CLASS_OVERLOADED },
        { "[mock status=529] shed", 16, PLM_EOVERLOADED, PLM_CLASS_OVERLOADED },
        { "[mock status=500] broken", 16, PLM_ESERVER, PLM_CLASS_SERVER },
        { "[mock fault=badjson] garbled", 16, PLM_EPARSE, PLM_CLASS_PARSE },
        { "[mock fault=reset] dropped", 16, PLM_ENETWORK, PLM_CLASS_NETWORK },
        { "too big", 50000, PLM_EBUDGET, PLM_CLASS_LOCAL },
    };
    enum { N = sizeof cases / sizeof cases[0] };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    (void)state;

    co.max_retries = -1;
    co.stop_on_fatal = -1;
    co.breaker_failures = -1;
    co.retry_base_ms = 10;
    co.tpm = 40000;
    plm_client *c = plm_lf_client(m, &co);
    for (size_t i = 0; i < N; i++)
        reqs[i] = plm_lf_chat(MODEL, cases[i].text, cases[i].max_tokens);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 1, NULL, NULL), PLM_OK);
    for (size_t i = 0; i < N; i++) {
        assert_non_null(res[i]);
        if (plm_result_code(res[i]) != cases[i].code ||
            plm_result_error_class(res[i]) != cases[i].cls)
            fail_msg("\"%s\": %s / %s (%s)", cases[i].text,
                     plm_strerror(plm_result_code(res[i])),
                     plm_error_class_name(plm_result_error_class(res[i])),
                     plm_result_error_message(res[i]));
        if (cases[i].code != PLM_OK)
            assert_true(plm_result_error_message(res[i])[0] != '\0');
    }
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_limit_outcomes__breaker_result_is_local(void **state)
{
    enum { N = 4 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    (void)state;

    co.max_retries = -1;
    co.breaker_failures = 1;
    plm_client *c = plm_lf_client(m, &co);
    int port = plm_mock_port(m);
    /* The breaker fails requests only for a dead endpoint: a server gone
     * before it ever answered (its port closed: connection refused). */
    plm_mock_free(m);
    reqs[0] = plm_lf_chat(MODEL, "gone", 16);
    for (size_t i = 1; i < N; i++)
        reqs[i] = plm_lf_chat(MODEL, "after", 16);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 1, NULL, NULL), PLM_OK);
    assert_int_equal(plm_result_code(res[0]), PLM_ENETWORK);
    for (size_t i = 1; i < N; i++) {
        char where[64];
        snprintf(where, sizeof where, "127.0.0.1:%d", port);
        assert_int_equal(plm_result_code(res[i]), PLM_EBREAKER);
        assert_int_equal(plm_result_error_class(res[i]), PLM_CLASS_LOCAL);
        assert_int_equal(plm_result_started(res[i]), 0);
        assert_non_null(strstr(plm_result_error_message(res[i]), where));
    }
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
}

static void test_limit_outcomes__anthropic_limits_learned(void **state)
{
    enum { N = 6 };
    plm_mock_options mo;
    plm_mock *m;
    plm_request *reqs[N];
    plm_result *res[N];
    char text[32];
    (void)state;

    memset(&mo, 0, sizeof mo);
    mo.rpm = 600;
    mo.tpm = 90000;
    mo.send_ratelimit_headers = 1;
    m = plm_lf_mock(&mo);
    plm_client *c = plm_lf_client(m, NULL);
    for (size_t i = 0; i < N; i++) {
        snprintf(text, sizeof text, "claude %zu", i);
        reqs[i] = anthropic_chat(text, 32);
    }
    assert_int_equal(plm_lf_run(c, reqs, N, res, 2, NULL, NULL), PLM_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
    assert_true(plm__policy_limit(c->policy, PLM_PROVIDER_ANTHROPIC, MODEL,
                                  PLM__RL_REQUESTS) == 600);
    assert_true(plm__policy_limit(c->policy, PLM_PROVIDER_ANTHROPIC, MODEL,
                                  PLM__RL_TOKENS) == 90000);
    /* Another provider with the same model name is another endpoint. */
    assert_true(plm__policy_limit(c->policy, PLM_PROVIDER_OPENAI, MODEL,
                                  PLM__RL_REQUESTS) == 0);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_limit_outcomes__anthropic_output_budget(void **state)
{
    enum { N = 3 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    plm_mock_stats ms;
    const char *msg;
    (void)state;

    /* 5000 output tokens can never fit 4000 a minute, even though the
     * input and total meters have room. */
    co.input_tpm = 100000;
    co.output_tpm = 4000;
    plm_client *c = plm_lf_client(m, &co);
    reqs[0] = anthropic_chat("short", 100);
    reqs[1] = anthropic_chat("long answer", 5000);
    reqs[2] = anthropic_chat("short again", 100);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 1, NULL, NULL), PLM_OK);
    assert_int_equal(plm_result_code(res[0]), PLM_OK);
    assert_int_equal(plm_result_code(res[2]), PLM_OK);
    assert_int_equal(plm_result_code(res[1]), PLM_EBUDGET);
    msg = plm_result_error_message(res[1]);
    assert_non_null(strstr(msg, "5000 output tokens"));
    assert_non_null(strstr(msg, "4000 output tokens per minute"));
    plm_mock_get_stats(m, &ms);
    assert_int_equal(ms.requests, 2);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_limit_outcomes__tier_preset_applies(void **state)
{
    enum { N = 24 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    plm_tier tier;
    size_t n;
    (void)state;

    /* What the header shows: copy the tier's numbers into the options. */
    assert_int_equal(plm_tier_lookup("openai-1", &tier), PLM_OK);
    co.rpm = tier.rpm;
    co.tpm = tier.tpm;
    plm_client *c = plm_lf_client(m, &co);
    for (size_t i = 0; i < N; i++)
        reqs[i] = plm_lf_chat(MODEL, "tiered", 16);
    assert_int_equal(plm_lf_run(c, reqs, N, res, tier.max_concurrent, NULL,
                                NULL),
                     PLM_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
    assert_true(plm__policy_limit(c->policy, PLM_PROVIDER_OPENAI, MODEL,
                                  PLM__RL_REQUESTS) == 500);
    /* 500 a minute: a burst of about 8, then one every 122 ms; the 24
     * could not all arrive within one second. */
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N);
    assert_true(recs[n - 1].arrival_ns - recs[0].arrival_ns >
                INT64_C(1000000000));
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

/* A 429 that says a meter is spent until a reset so far away that its
 * nanoseconds are near INT64_MAX: the endpoint pauses for the longest
 * Retry-After allowed, and the rounding to milliseconds must not overflow
 * (it wrapped to a negative pause and fell back to the backoff base). */
static void test_limit_outcomes__huge_reset_pause_capped(void **state)
{
    static const char *const lines[] = {
        "x-ratelimit-limit-requests: 60",
        "x-ratelimit-remaining-requests: 0",
        "x-ratelimit-reset-requests: 9223372036854775807ns",
    };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *m = plm_lf_mock(NULL);
    plm_request *req = plm_lf_chat(MODEL, "paused", 16);
    plm__headers hd;
    plm__attempt a;
    plm__hook_ctx ctx;
    plm__admission adm;
    int64_t now, until = 0;
    int code = 0;
    plm_result *res;
    (void)state;

    co.retry_base_ms = 10;
    co.retry_after_max_ms = 5000;
    plm_client *c = plm_lf_client(m, &co);
    const plm__engine_hooks *h = &c->hooks[0];
    assert_non_null(h->before_send);
    memset(&ctx, 0, sizeof ctx);
    ctx.req = req;
    ctx.attempt = 1;
    memset(&adm, 0, sizeof adm);
    ctx.adm = &adm;
    now = plm__now_ns();
    assert_int_equal(h->before_send(h->data, &ctx, now, &until, &code),
                     PLM__ADMIT_GO);

    memset(&hd, 0, sizeof hd);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        plm__headers_take(&hd, lines[i], strlen(lines[i]));
    assert_non_null(hd.rl_reset_requests);
    res = plm__result_new(NULL);
    assert_non_null(res);
    plm__result_set_error(res, PLM_ERATELIMIT, PLM_CLASS_RATE_LIMITED, "%s",
                          "rate limited");
    res->http_status = 429;
    a.http_status = 429;
    a.transport_error = 0;
    a.headers = &hd;
    ctx.sent_ns = now;
    ctx.in_flight = 1;
    h->after_attempt(h->data, &ctx, &a, res, now);

    ctx.attempt = 2;
    ctx.sent_ns = 0;
    ctx.in_flight = 0;
    assert_int_equal(h->before_send(h->data, &ctx, now, &until, &code),
                     PLM__ADMIT_WAIT);
    assert_true(until - now > INT64_C(4000) * 1000000);
    assert_true(until - now <= INT64_C(5000) * 1000000);

    plm__headers_clear(&hd);
    plm_result_free(res);
    plm_request_free(req);
    plm_client_free(c);
    plm_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_outcomes__every_result_has_its_class),
        cmocka_unit_test(test_limit_outcomes__breaker_result_is_local),
        cmocka_unit_test(test_limit_outcomes__anthropic_limits_learned),
        cmocka_unit_test(test_limit_outcomes__anthropic_output_budget),
        cmocka_unit_test(test_limit_outcomes__tier_preset_applies),
        cmocka_unit_test(test_limit_outcomes__huge_reset_pause_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
