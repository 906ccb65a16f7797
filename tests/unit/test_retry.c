/* Retry decisions, Retry-After parsing and backoff delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"

static const plm__retry_policy policy = { 2, 500, 8000, 60000, 0, 0 };

/* Decides one attempt with the given status, provider error fields and
 * x-should-retry; returns the retry verdict, result in *out. */
static int decide(int attempt, int status, int transport, const char *type,
                  const char *code, const char *message,
                  const char *should_retry, plm_result **out)
{
    plm__headers h = { 0 };
    plm__attempt a = { status, transport, &h, 0 };
    plm_result *res = plm__result_new(NULL);
    int retry;

    assert_non_null(res);
    if (should_retry)
        h.should_retry = strdup(should_retry);
    if (type)
        res->error_type = strdup(type);
    if (code)
        res->error_code = strdup(code);
    if (message)
        res->error_message = strdup(message);
    res->http_status = status;
    retry = plm__retry_decide(&policy, attempt, &a, res);
    plm__headers_clear(&h);
    *out = res;
    return retry;
}

static void expect(int status, int transport, const char *code_str,
                   int want_code, plm_error_class want_cls, int want_retry)
{
    plm_result *res;
    int retry = decide(1, status, transport, NULL, code_str, NULL, NULL, &res);

    assert_int_equal(res->code, want_code);
    assert_int_equal(res->error_class, want_cls);
    assert_int_equal(retry, want_retry);
    assert_true(strlen(plm_result_error_message(res)) > 0 ||
                want_code == PLM_OK);
    plm_result_free(res);
}

static void test_retry__status_rules(void **state)
{
    (void)state;
    expect(200, 0, NULL, PLM_OK, PLM_CLASS_NONE, 0);
    expect(204, 0, NULL, PLM_OK, PLM_CLASS_NONE, 0);
    expect(401, 0, NULL, PLM_EAUTH, PLM_CLASS_AUTH, 0);
    expect(403, 0, NULL, PLM_EAUTH, PLM_CLASS_AUTH, 0);
    expect(400, 0, NULL, PLM_EBADREQUEST, PLM_CLASS_BAD_REQUEST, 0);
    expect(404, 0, NULL, PLM_EBADREQUEST, PLM_CLASS_BAD_REQUEST, 0);
    expect(413, 0, NULL, PLM_EBADREQUEST, PLM_CLASS_BAD_REQUEST, 0);
    expect(422, 0, NULL, PLM_EBADREQUEST, PLM_CLASS_BAD_REQUEST, 0);
    expect(408, 0, NULL, PLM_ETIMEOUT, PLM_CLASS_TIMEOUT, 1);
    expect(409, 0, NULL, PLM_EHTTP, PLM_CLASS_SERVER, 1);
    expect(429, 0, NULL, PLM_ERATELIMIT, PLM_CLASS_RATE_LIMITED, 1);
    expect(429, 0, "insufficient_quota", PLM_EQUOTA, PLM_CLASS_QUOTA, 0);
    expect(503, 0, NULL, PLM_EOVERLOADED, PLM_CLASS_OVERLOADED, 1);
    expect(529, 0, NULL, PLM_EOVERLOADED, PLM_CLASS_OVERLOADED, 1);
    expect(500, 0, NULL, PLM_ESERVER, PLM_CLASS_SERVER, 1);
    expect(502, 0, NULL, PLM_ESERVER, PLM_CLASS_SERVER, 1);
    expect(599, 0, NULL, PLM_ESERVER, PLM_CLASS_SERVER, 1);
    expect(302, 0, NULL, PLM_EHTTP, PLM_CLASS_SERVER, 0);
}

static void test_retry__transport_rules(void **state)
{
    (void)state;
    expect(0, PLM_ECANCELLED, NULL, PLM_ECANCELLED, PLM_CLASS_CANCELLED, 0);
    expect(0, PLM_ENETWORK, NULL, PLM_ENETWORK, PLM_CLASS_NETWORK, 1);
    expect(0, PLM_ETIMEOUT, NULL, PLM_ETIMEOUT, PLM_CLASS_TIMEOUT, 1);
    expect(200, PLM_ETOOBIG, NULL, PLM_ETOOBIG, PLM_CLASS_BAD_REQUEST, 0);
    expect(0, 0, NULL, PLM_ENETWORK, PLM_CLASS_NETWORK, 1);
}

static void test_retry__message_fallback_and_kept(void **state)
{
    plm_result *res;

    (void)state;
    decide(1, 503, 0, NULL, NULL, NULL, NULL, &res);
    assert_string_equal(plm_result_error_message(res), "HTTP 503 from server");
    plm_result_free(res);
    decide(1, 500, 0, "server_error", NULL, "The server had an error", NULL,
           &res);
    assert_string_equal(plm_result_error_message(res),
                        "The server had an error");
    plm_result_free(res);
}

static void test_retry__context_length(void **state)
{
    plm_result *res;

    (void)state;
    decide(1, 400, 0, "invalid_request_error", "context_length_exceeded",
           "This model's maximum context length is 8192 tokens.", NULL, &res);
    assert_int_equal(res->code, PLM_ECONTEXT);
    assert_int_equal(res->error_class, PLM_CLASS_BAD_REQUEST);
    plm_result_free(res);
    decide(1, 400, 0, "invalid_request_error", "invalid_request_error",
           "prompt is too long: 210000 tokens > 200000 maximum", NULL, &res);
    assert_int_equal(res->code, PLM_ECONTEXT);
    plm_result_free(res);
    decide(1, 400, 0, "invalid_request_error", NULL, "bad temperature", NULL,
           &res);
    assert_int_equal(res->code, PLM_EBADREQUEST);
    plm_result_free(res);
}

static void test_retry__should_retry_header_overrides(void **state)
{
    plm_result *res;

    (void)state;
    assert_int_equal(decide(1, 500, 0, NULL, NULL, NULL, "false", &res), 0);
    assert_int_equal(res->code, PLM_ESERVER);
    plm_result_free(res);
    assert_int_equal(decide(1, 400, 0, NULL, NULL, NULL, "true", &res), 1);
    assert_int_equal(res->code, PLM_EBADREQUEST);
    plm_result_free(res);
    assert_int_equal(decide(1, 429, 0, NULL, NULL, NULL, "FALSE", &res), 0);
    plm_result_free(res);
    /* Garbage is ignored: the status rule applies. */
    assert_int_equal(decide(1, 429, 0, NULL, NULL, NULL, "maybe", &res), 1);
    plm_result_free(res);
    /* Never for a hard quota, a cancellation or a success. */
    assert_int_equal(decide(1, 429, 0, "insufficient_quota",
                            "insufficient_quota", "quota", "true", &res),
                     0);
    assert_int_equal(res->code, PLM_EQUOTA);
    plm_result_free(res);
    assert_int_equal(decide(1, 0, PLM_ECANCELLED, NULL, NULL, NULL, "true",
                            &res),
                     0);
    plm_result_free(res);
    assert_int_equal(decide(1, 200, 0, NULL, NULL, NULL, "true", &res), 0);
    assert_int_equal(res->code, PLM_OK);
    plm_result_free(res);
}

static void test_retry__attempts_bounded_by_policy(void **state)
{
    plm__retry_policy none = { 0, 500, 8000, 60000, 0, 0 };
    plm__attempt a = { 503, 0, NULL, 0 };
    plm_result *res = plm__result_new(NULL);

    (void)state;
    assert_int_equal(plm__retry_decide(&policy, 1, &a, res), 1);
    assert_int_equal(plm__retry_decide(&policy, 2, &a, res), 1);
    assert_int_equal(plm__retry_decide(&policy, 3, &a, res), 0);
    assert_int_equal(plm__retry_decide(&none, 1, &a, res), 0);
    assert_int_equal(res->code, PLM_EOVERLOADED);
    plm_result_free(res);
}

static void test_retry__parse_error_kept_and_retried(void **state)
{
    plm__attempt a = { 200, 0, NULL, 0 };
    plm_result *res = plm__result_new(NULL);

    (void)state;
    plm__result_set_error(res, PLM_EPARSE, PLM_CLASS_PARSE, "bad body");
    /* Retried like a network error, within the policy's limits. */
    assert_int_equal(plm__retry_decide(&policy, 1, &a, res), 1);
    assert_int_equal(plm__retry_decide(&policy, 3, &a, res), 0);
    assert_int_equal(res->code, PLM_EPARSE);
    assert_int_equal(res->error_class, PLM_CLASS_PARSE);
    assert_string_equal(plm_result_error_message(res), "bad body");
    /* An overloaded error event inside a 2xx stream is retried. */
    plm__result_set_error(res, PLM_EOVERLOADED, PLM_CLASS_OVERLOADED, "o");
    assert_int_equal(plm__retry_decide(&policy, 1, &a, res), 1);
    assert_int_equal(res->code, PLM_EOVERLOADED);
    plm_result_free(res);
}

static void test_retry__bounded_by_time(void **state)
{
    plm__retry_policy p = { 10, 500, 8000, 60000, 1000, 999 };
    plm__attempt a = { 500, 0, NULL, 0 };
    plm_result *res = plm__result_new(NULL);

    (void)state;
    assert_int_equal(plm__retry_decide(&p, 1, &a, res), 1);
    p.elapsed_ms = 1000;
    assert_int_equal(plm__retry_decide(&p, 1, &a, res), 0);
    assert_int_equal(res->code, PLM_ESERVER);
    p.time_ms = 0; /* no time bound */
    assert_int_equal(plm__retry_decide(&p, 1, &a, res), 1);
    plm_result_free(res);
}

static void test_retry__after_forms(void **state)
{
    int64_t ms = -1;
    time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */

    (void)state;
    assert_true(plm__retry_after_parse("1500", NULL, now, &ms));
    assert_int_equal(ms, 1500);
    assert_true(plm__retry_after_parse("12.2", NULL, now, &ms));
    assert_int_equal(ms, 13); /* rounded up */
    assert_true(plm__retry_after_parse(" 7 ", "99", now, &ms));
    assert_int_equal(ms, 7); /* retry-after-ms wins */
    assert_true(plm__retry_after_parse(NULL, "2", now, &ms));
    assert_int_equal(ms, 2000);
    assert_true(plm__retry_after_parse(NULL, "0.5", now, &ms));
    assert_int_equal(ms, 500);
    assert_true(plm__retry_after_parse(NULL, "1.25", now, &ms));
    assert_int_equal(ms, 1250);
    assert_true(plm__retry_after_parse(NULL, "0", now, &ms));
    assert_int_equal(ms, 0);
    assert_true(plm__retry_after_parse("garbage", "3", now, &ms));
    assert_int_equal(ms, 3000); /* bad ms falls back to seconds */
    assert_true(plm__retry_after_parse(NULL, "Tue, 14 Nov 2023 22:13:50 GMT",
                                       now, &ms));
    assert_int_equal(ms, 30000);
    assert_true(plm__retry_after_parse(NULL, "Tue, 14 Nov 2023 22:00:00 GMT",
                                       now, &ms));
    assert_int_equal(ms, 0); /* in the past: now */
    /* The two obsolete HTTP date forms too (RFC 850, asctime). */
    assert_true(plm__retry_after_parse(NULL, "Tuesday, 14-Nov-23 22:13:25 GMT",
                                       now, &ms));
    assert_int_equal(ms, 5000);
    assert_true(
        plm__retry_after_parse(NULL, "Tue Nov 14 22:13:30 2023", now, &ms));
    assert_int_equal(ms, 10000);
    assert_true(plm__retry_after_parse(NULL, "99999999999999999999", now, &ms));
    assert_true(ms > 0); /* clamped, not overflowed */
}

static void test_retry__after_garbage_ignored(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "20ms",
        "-1",
        "-0.5",
        "nan",
        "NaN",
        "inf",
        "1e3",
        "0x10",
        "1.2.3",
        "+5",
        "soon",
        "5 s",
        ".",
        "12:00",
        "Tue, 99 Foo 2023",
    };
    int64_t ms = 42;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(plm__retry_after_parse(bad[i], NULL, 0, &ms));
        assert_false(plm__retry_after_parse(NULL, bad[i], 0, &ms));
    }
    assert_false(plm__retry_after_parse(NULL, NULL, 0, &ms));
    assert_int_equal(ms, 42);
}

/* Random short strings from a date-and-number alphabet: parsing never
 * crashes and never yields a negative delay. */
static void test_retry__after_fuzz(void **state)
{
    static const char alphabet[] = "0123456789.:- ,+eEnaNGMTuesNovms\t";
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    char buf[40];

    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n;
        int64_t ms = -7;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        n = x % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = alphabet[x % (sizeof alphabet - 1)];
        }
        buf[n] = '\0';
        if (plm__retry_after_parse(buf, buf, 1700000000, &ms))
            assert_true(ms >= 0);
        else
            assert_int_equal(ms, -7);
    }
}

static void test_retry__delay_uses_server_value_capped(void **state)
{
    plm__headers h = { 0 };
    uint64_t rng = 1;

    (void)state;
    h.retry_after = strdup("3");
    assert_int_equal(plm__retry_delay_ms(&policy, 1, &h, 0, &rng), 3000);
    free(h.retry_after);
    h.retry_after = strdup("3600");
    assert_int_equal(plm__retry_delay_ms(&policy, 1, &h, 0, &rng), 60000);
    h.retry_after_ms = strdup("250.5");
    assert_int_equal(plm__retry_delay_ms(&policy, 1, &h, 0, &rng), 251);
    free(h.retry_after_ms);
    h.retry_after_ms = strdup("20ms"); /* invalid: seconds used */
    assert_int_equal(plm__retry_delay_ms(&policy, 1, &h, 0, &rng), 60000);
    plm__headers_clear(&h);
}

static void test_retry__backoff_bounds(void **state)
{
    plm__headers garbage = { 0 };
    uint64_t rng = 0; /* zero state must still produce jitter */
    int64_t lo = INT64_MAX, hi = 0;

    (void)state;
    garbage.retry_after = strdup("20ms");
    for (int attempt = 1; attempt <= 8; attempt++) {
        int64_t full = 500LL << (attempt - 1);

        if (full > 8000)
            full = 8000;
        for (int i = 0; i < 2000; i++) {
            int64_t d = plm__retry_delay_ms(&policy, attempt, &garbage, 0,
                                            &rng);

            assert_true(d <= full);
            assert_true(d >= full * 3 / 4);
            if (attempt == 1) {
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
            }
        }
    }
    /* The jitter actually spreads the values. */
    assert_true(hi - lo > 100);
    assert_true(rng != 0);
    plm__headers_clear(&garbage);
}

static void test_retry__backoff_huge_attempts(void **state)
{
    plm__retry_policy big = { 5, INT64_MAX / 2, INT64_MAX, 0, 0, 0 };
    uint64_t rng = 7;

    (void)state;
    assert_int_equal(plm__retry_delay_ms(&policy, 1000000, NULL, 0, NULL),
                     8000);
    assert_int_equal(plm__retry_delay_ms(&policy, 63, NULL, 0, NULL), 8000);
    assert_int_equal(plm__retry_delay_ms(&policy, 64, NULL, 0, NULL), 8000);
    assert_int_equal(plm__retry_delay_ms(&policy, 0, NULL, 0, NULL), 500);
    assert_int_equal(plm__retry_delay_ms(&policy, -5, NULL, 0, NULL), 500);
    assert_true(plm__retry_delay_ms(&big, 70, NULL, 0, &rng) > 0);
    assert_int_equal(plm__retry_delay_ms(NULL, 2, NULL, 0, NULL), 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry__status_rules),
        cmocka_unit_test(test_retry__transport_rules),
        cmocka_unit_test(test_retry__message_fallback_and_kept),
        cmocka_unit_test(test_retry__context_length),
        cmocka_unit_test(test_retry__should_retry_header_overrides),
        cmocka_unit_test(test_retry__attempts_bounded_by_policy),
        cmocka_unit_test(test_retry__parse_error_kept_and_retried),
        cmocka_unit_test(test_retry__bounded_by_time),
        cmocka_unit_test(test_retry__after_forms),
        cmocka_unit_test(test_retry__after_garbage_ignored),
        cmocka_unit_test(test_retry__after_fuzz),
        cmocka_unit_test(test_retry__delay_uses_server_value_capped),
        cmocka_unit_test(test_retry__backoff_bounds),
        cmocka_unit_test(test_retry__backoff_huge_attempts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
