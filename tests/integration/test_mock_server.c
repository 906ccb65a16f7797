/*
 * Server-side tests of the mock LLM server: hanging requests and their
 * release, max_in_flight and the in-flight counts it records, rpm/tpm
 * limits with provider headers, HTTPS with a generated CA, records, the
 * log and the port file, keep-alive volume, seeded global faults, size
 * caps and shutdown with answers pending. Waits are on server-side events
 * (plm_mock_wait_requests) or on transfers ending, never on sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "mock.h"
#include "mock_client.h"
#include "test_util.h"
#include "tls_test_cert.h"

#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 20000

static void assert_multi_start(plm_test_multi *r, plm_test_xfer *xs, int n)
{
    assert_int_equal(plm_test_multi_start(r, xs, n), 0);
}

static void test_mock_server__hang_released(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_mock_stats st;
    plm_test_multi run;
    plm_test_xfer x[1];
    char *b = plm_test_chat_body("[mock fault=hang] h", NULL);

    (void)state;
    plm_test_mock_xfer(&x[0], m, "/v1/chat/completions", b, (const char *)NULL);
    assert_multi_start(&run, x, 1);
    assert_int_equal(plm_mock_wait_requests(m, 1, WAIT_MS), 0);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.in_flight, 1);
    plm_mock_release_hung(m);
    plm_test_multi_join(&run);
    assert_int_not_equal(x[0].rc, CURLE_OK);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.resets, 1);
    assert_int_equal(st.in_flight, 0);
    plm_test_xfer_free(&x[0]);
    free(b);
    plm_mock_free(m);
}

static void test_mock_server__max_in_flight(void **state)
{
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_stats st;
    plm_test_multi run;
    plm_test_xfer x[6];
    int n429 = 0, nerr = 0;
    char *b = plm_test_chat_body("[mock fault=hang] p", NULL);

    (void)state;
    o.max_in_flight = 3;
    m = plm_test_mock_start(&o);
    for (int i = 0; i < 6; i++)
        plm_test_mock_xfer(&x[i], m, "/v1/chat/completions", b,
                           (const char *)NULL);
    assert_multi_start(&run, x, 6);
    assert_int_equal(plm_mock_wait_requests(m, 6, WAIT_MS), 0);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.in_flight, 3);
    assert_int_equal(st.answered_429, 3);
    plm_mock_release_hung(m);
    plm_test_multi_join(&run);
    for (int i = 0; i < 6; i++) {
        if (x[i].rc == CURLE_OK && x[i].status == 429)
            n429++;
        else if (x[i].rc != CURLE_OK)
            nerr++;
        plm_test_xfer_free(&x[i]);
    }
    assert_int_equal(n429, 3);
    assert_int_equal(nerr, 3);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.max_in_flight_seen, 3);
    free(b);
    plm_mock_free(m);
}

static void test_mock_server__parallel_latency(void **state)
{
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_stats st;
    plm_mock_record *recs;
    plm_test_multi run;
    plm_test_xfer x[5];
    size_t n;
    int seen[6] = { 0 };
    char *hang = plm_test_chat_body("[mock fault=hang] p", NULL);

    (void)state;
    o.latency_ms = 100;
    o.record = 1;
    m = plm_test_mock_start(&o);
    /* Five held at once: the server must see five in flight. */
    for (int i = 0; i < 5; i++)
        plm_test_mock_xfer(&x[i], m, "/v1/chat/completions", hang,
                           (const char *)NULL);
    assert_multi_start(&run, x, 5);
    assert_int_equal(plm_mock_wait_requests(m, 5, WAIT_MS), 0);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.max_in_flight_seen, 5);
    plm_mock_release_hung(m);
    plm_test_multi_join(&run);
    n = plm_mock_get_records(m, &recs);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_true(recs[i].in_flight_at_arrival >= 1 &&
                    recs[i].in_flight_at_arrival <= 5);
        seen[recs[i].in_flight_at_arrival] = 1;
    }
    for (int i = 1; i <= 5; i++)
        assert_true(seen[i]);
    plm_mock_records_free(recs, n);
    for (int i = 0; i < 5; i++)
        plm_test_xfer_free(&x[i]);

    /* With a latency every answer comes at least that late. */
    for (int i = 0; i < 5; i++) {
        char *b = plm_test_chat_body("late", NULL);

        plm_test_mock_xfer(&x[i], m, "/v1/chat/completions", b,
                           (const char *)NULL);
        free(b);
    }
    {
        int64_t t0 = plm_test_now_ns();

        assert_multi_start(&run, x, 5);
        plm_test_multi_join(&run);
        assert_true(plm_test_now_ns() - t0 >= INT64_C(100) * 1000000);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(x[i].status, 200);
        plm_test_xfer_free(&x[i]);
    }
    free(hang);
    plm_mock_free(m);
}

static void test_mock_server__rpm_limit(void **state)
{
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_stats st;
    plm_test_xfer x;
    char h[128];
    json_t *j;

    (void)state;
    o.rpm = 2;
    m = plm_test_mock_start(&o);
    for (int i = 0; i < 2; i++) {
        plm_test_chat(&x, m, "ok", NULL);
        assert_int_equal(x.status, 200);
        plm_test_xfer_free(&x);
    }
    plm_test_chat(&x, m, "over", NULL);
    assert_int_equal(x.status, 429);
    assert_string_equal(plm_test_xfer_header(&x, "x-ratelimit-limit-requests",
                                             h, sizeof h),
                        "2");
    assert_string_equal(plm_test_xfer_header(&x,
                                             "x-ratelimit-remaining-requests",
                                             h, sizeof h),
                        "0");
    assert_non_null(
        plm_test_xfer_header(&x, "x-ratelimit-reset-requests", h, sizeof h));
    assert_true(h[strlen(h) - 1] == 's');
    assert_non_null(plm_test_xfer_header(&x, "retry-after", h, sizeof h));
    assert_true(atoi(h) >= 1 && atoi(h) <= 60);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "error.code"), "rate_limit_exceeded");
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_anthropic(&x, m, "over too", NULL);
    assert_int_equal(x.status, 429);
    assert_string_equal(
        plm_test_xfer_header(&x, "anthropic-ratelimit-requests-limit", h,
                             sizeof h),
        "2");
    assert_non_null(plm_test_xfer_header(&x,
                                         "anthropic-ratelimit-requests-reset",
                                         h, sizeof h));
    assert_int_equal(strlen(h), 20);
    assert_true(h[10] == 'T' && h[19] == 'Z');
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "error.type"), "rate_limit_error");
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.answered_429, 2);
    assert_int_equal(st.answered_2xx, 2);
    plm_mock_free(m);

    /* A request that can never fit the token budget. */
    memset(&o, 0, sizeof o);
    o.tpm = 100;
    o.rpm = 10;
    o.send_ratelimit_headers = 1;
    m = plm_test_mock_start(&o);
    plm_test_chat(&x, m, "small", NULL);
    assert_int_equal(x.status, 200);
    assert_string_equal(plm_test_xfer_header(&x,
                                             "x-ratelimit-remaining-requests",
                                             h, sizeof h),
                        "9");
    assert_non_null(
        plm_test_xfer_header(&x, "x-ratelimit-remaining-tokens", h, sizeof h));
    plm_test_xfer_free(&x);
    {
        char *b = plm_test_chat_body("huge", "{\"max_tokens\":500}");

        plm_test_mock_xfer(&x, m, "/v1/chat/completions", b,
                           (const char *)NULL);
        free(b);
    }
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 429);
    assert_string_equal(plm_test_xfer_header(&x, "retry-after", h, sizeof h),
                        "60");
    assert_string_equal(plm_test_xfer_header(&x, "x-ratelimit-reset-tokens", h,
                                             sizeof h),
                        "1m0s");
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock_server__https(void **state)
{
    char dir[512], ca[600], cert[600], key[600], url[128];
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_test_xfer x;

    (void)state;
    assert_int_equal(plm_test_tmpdir("plm-mock-tls", dir, sizeof dir), 0);
    assert_int_equal(plm_test_tls_make(dir, ca, cert, key, sizeof ca), 0);
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    m = plm_test_mock_start(&o);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/chat/completions",
             plm_mock_port(m));

    plm_test_mock_xfer(&x, m, "/",
                       "{\"messages\":[{\"role\":\"user\","
                       "\"content\":\"tls\"}]}",
                       (const char *)NULL);
    curl_easy_setopt(x.h, CURLOPT_URL, url);
    curl_easy_setopt(x.h, CURLOPT_CAINFO, ca);
    plm_test_xfer_run(&x);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 200);
    plm_test_xfer_free(&x);

    plm_test_mock_xfer(&x, m, "/", "{}", (const char *)NULL);
    curl_easy_setopt(x.h, CURLOPT_URL, url);
    plm_test_xfer_run(&x);
    assert_int_equal(x.rc, CURLE_PEER_FAILED_VERIFICATION);
    plm_test_xfer_free(&x);

    /* Faults over TLS: a streamed big body, then a reset. */
    {
        const char *bodies[] = {
            "{\"messages\":[{\"role\":\"user\",\"content\":"
            "\"[mock fault=big size=300000]\"}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":"
            "\"[mock fault=reset]\"}]}"
        };

        for (int i = 0; i < 2; i++) {
            plm_test_mock_xfer(&x, m, "/", bodies[i], (const char *)NULL);
            curl_easy_setopt(x.h, CURLOPT_URL, url);
            curl_easy_setopt(x.h, CURLOPT_CAINFO, ca);
            plm_test_xfer_run(&x);
            if (i == 0) {
                assert_int_equal(x.rc, CURLE_OK);
                assert_int_equal(x.body.len, 300000);
            } else {
                assert_int_not_equal(x.rc, CURLE_OK);
            }
            plm_test_xfer_free(&x);
        }
    }
    plm_mock_free(m);
    assert_int_equal(plm_test_rmtree(dir), 0);
}

/* stats_file: written when the server stops, one JSON line of its
 * counters, max_in_flight_seen among them. */
static void test_mock_server__stats_file_at_stop(void **state)
{
    char dir[512], sf[600];
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_test_xfer x;
    char *text;
    json_t *j;

    (void)state;
    assert_int_equal(plm_test_tmpdir("plm-mock-stats", dir, sizeof dir), 0);
    snprintf(sf, sizeof sf, "%s/stats.json", dir);
    o.stats_file = sf;
    m = plm_test_mock_start(&o);
    plm_test_chat(&x, m, "one", "Authorization: Bearer k");
    plm_test_xfer_free(&x);
    plm_test_chat(&x, m, "two [mock status=500]", "Authorization: Bearer k");
    plm_test_xfer_free(&x);
    assert_null(plm_test_read_file(sf, NULL)); /* not before the stop */
    plm_mock_free(m);
    text = plm_test_read_file(sf, NULL);
    assert_non_null(text);
    j = plm_test_json(text);
    assert_int_equal(plm_test_jint(j, "requests"), 2);
    assert_int_equal(plm_test_jint(j, "answered_2xx"), 1);
    assert_int_equal(plm_test_jint(j, "answered_other"), 1);
    assert_int_equal(plm_test_jint(j, "max_in_flight_seen"), 1);
    json_decref(j);
    free(text);
    assert_int_equal(plm_test_rmtree(dir), 0);
}

static void test_mock_server__records_log_and_port_file(void **state)
{
    char dir[512], pf[600], lf[600];
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_record *recs;
    plm_mock_stats st;
    size_t n;
    plm_test_xfer x;
    char *text;

    (void)state;
    assert_int_equal(plm_test_tmpdir("plm-mock-rec", dir, sizeof dir), 0);
    snprintf(pf, sizeof pf, "%s/port", dir);
    snprintf(lf, sizeof lf, "%s/log.jsonl", dir);
    o.record = 1;
    o.port_file = pf;
    o.log_file = lf;
    o.simulated_marker = 1;
    m = plm_test_mock_start(&o);
    text = plm_test_read_file(pf, NULL);
    assert_non_null(text);
    assert_int_equal(atoi(text), plm_mock_port(m));
    free(text);

    plm_test_chat(&x, m, "first", "Authorization: Bearer sk-secret-123");
    {
        json_t *j = plm_test_json(x.body.p);

        assert_true(json_is_true(json_object_get(j, "simulated")));
        json_decref(j);
    }
    plm_test_xfer_free(&x);
    plm_test_anthropic(&x, m, "second", NULL);
    plm_test_xfer_free(&x);

    n = plm_mock_get_records(m, &recs);
    assert_int_equal(n, 2);
    assert_string_equal(recs[0].method, "POST");
    assert_string_equal(recs[0].path, "/v1/chat/completions");
    assert_string_equal(recs[0].user_text, "first");
    assert_non_null(strstr(recs[0].body, "\"first\""));
    assert_string_equal(recs[0].authorization, "Bearer sk-t");
    assert_null(recs[0].api_key);
    assert_int_equal(recs[0].status, 200);
    assert_int_equal(recs[0].in_flight_at_arrival, 1);
    assert_true(recs[0].done_ns >= recs[0].arrival_ns);
    assert_true(recs[1].arrival_ns >= recs[0].arrival_ns);
    assert_string_equal(recs[1].path, "/v1/messages");
    assert_string_equal(recs[1].api_key, "sk-ant-t");
    assert_string_equal(recs[1].anthropic_version, "2023-06-01");
    assert_null(recs[1].authorization);
    plm_mock_records_free(recs, n);

    plm_mock_reset(m);
    n = plm_mock_get_records(m, &recs);
    assert_int_equal(n, 0);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.requests, 0);
    plm_mock_free(m);

    /* The log has one line per request and never a credential. */
    text = plm_test_read_file(lf, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "sk-t"));
    assert_null(strstr(text, "sk-ant-t"));
    assert_null(strstr(text, "sk-secret"));
    {
        char *save = NULL, *line;
        int lines = 0;

        for (line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            json_t *j = json_loads(line, 0, NULL);

            assert_non_null(j);
            assert_int_equal(plm_test_jint(j, "status"), 200);
            assert_true(json_is_true(
                json_object_get(j, lines == 0 ? "authorization_present"
                                              : "api_key_present")));
            assert_non_null(plm_test_jstr(j, "time"));
            lines++;
            json_decref(j);
        }
        assert_int_equal(lines, 2);
    }
    free(text);
    assert_int_equal(plm_test_rmtree(dir), 0);
}

static void test_mock_server__keepalive_many(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_mock_stats st;
    plm_test_xfer x;
    char *b = plm_test_chat_body("many", NULL);
    long conns = 0;
    int ok = 0;

    (void)state;
    plm_test_mock_xfer(&x, m, "/v1/chat/completions", b, (const char *)NULL);
    for (int i = 0; i < 10000; i++) {
        plm_test_xfer_clear(&x);
        plm_test_xfer_run(&x);
        if (x.rc == CURLE_OK && x.status == 200)
            ok++;
    }
    curl_easy_getinfo(x.h, CURLINFO_NUM_CONNECTS, &conns);
    assert_int_equal(ok, 10000);
    assert_int_equal(conns, 0); /* the last one reused the connection */
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.requests, 10000);
    assert_int_equal(st.answered_2xx, 10000);
    plm_test_xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

/* One letter per answer of the fault mix: 'L' 429 (with its
 * Retry-After), 'S' 500, 'O' 529, 'R' reset, 'C' 200 cut off, '.' a
 * whole 200. */
static char mix_letter(plm_test_xfer *x)
{
    char h[32];
    json_error_t err;
    json_t *j;

    if (x->rc != CURLE_OK)
        return 'R';
    switch (x->status) {
    case 429:
        assert_string_equal(plm_test_xfer_header(x, "retry-after", h, sizeof h),
                            "0.25");
        return 'L';
    case 500: return 'S';
    case 529: return 'O';
    case 200: break;
    default: fail_msg("unexpected status %ld", x->status);
    }
    j = json_loads(x->body.p ? x->body.p : "", 0, &err);
    if (!j)
        return 'C';
    json_decref(j);
    return '.';
}

static void test_mock_server__fault_mix_seeded(void **state)
{
    enum { N = 400 };
    plm_mock_options o = { 0 };
    char seq[2][N + 1];
    plm_mock_stats st;

    (void)state;
    o.seed = 7;
    o.mix_429_rate = 0.20;
    o.mix_429_retry_after = 0.25;
    o.mix_500_rate = 0.05;
    o.mix_529_rate = 0.05;
    o.mix_reset_rate = 0.05;
    o.mix_cut_rate = 0.05;
    for (int k = 0; k < 2; k++) {
        plm_mock *m = plm_test_mock_start(&o);
        int count[128] = { 0 };

        for (int i = 0; i < N; i++) {
            plm_test_xfer x;

            plm_test_chat(&x, m, "mix", NULL);
            seq[k][i] = mix_letter(&x);
            count[(int)seq[k][i]]++;
            plm_test_xfer_free(&x);
        }
        seq[k][N] = '\0';
        /* Each kind near its rate (binomial, 4 deviations). */
        assert_in_range(count['L'], 48, 112);
        assert_in_range(count['S'], 7, 33);
        assert_in_range(count['O'], 7, 33);
        assert_in_range(count['R'], 7, 33);
        assert_in_range(count['C'], 7, 33);
        plm_mock_get_stats(m, &st);
        assert_int_equal(st.requests, N);
        assert_int_equal(st.resets, (uint64_t)count['R']);
        plm_mock_free(m);
    }
    /* The same seed, the same answers in the same order. */
    assert_string_equal(seq[0], seq[1]);
}

static void test_mock_server__global_faults_deterministic(void **state)
{
    plm_mock_options o = { 0 };
    char seq[2][41];

    (void)state;
    o.fault_rate = 0.5;
    o.fault_status = 500;
    o.fault_retry_after = 1.5;
    o.seed = 42;
    for (int k = 0; k < 2; k++) {
        plm_mock *m = plm_test_mock_start(&o);
        int faults = 0;

        for (int i = 0; i < 40; i++) {
            plm_test_xfer x;
            char h[32];

            plm_test_chat(&x, m, "g", NULL);
            seq[k][i] = x.status == 500 ? 'F' : '.';
            if (x.status == 500) {
                faults++;
                assert_string_equal(plm_test_xfer_header(&x, "retry-after", h,
                                                         sizeof h),
                                    "1.5");
            } else {
                assert_int_equal(x.status, 200);
            }
            plm_test_xfer_free(&x);
        }
        seq[k][40] = '\0';
        assert_true(faults > 5 && faults < 35);
        plm_mock_free(m);
    }
    assert_string_equal(seq[0], seq[1]);
}

/* A request the size of the command's longest line (16 MiB) passes;
 * past the mock's limit the 413 is a provider JSON error with a request
 * id, not evhttp's page. */
static void test_mock_server__body_too_large(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    size_t n = 33u * 1024 * 1024, line = 17u * 1024 * 1024;
    char *big = malloc(n + 1), *ok;
    plm_test_xfer x;
    char h[64];
    json_t *j;

    (void)state;
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    plm_test_mock_xfer(&x, m, "/v1/chat/completions", big, (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 413);
    assert_non_null(plm_test_xfer_header(&x, "x-request-id", h, sizeof h));
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "error.type"),
                        "invalid_request_error");
    assert_non_null(plm_test_jstr(j, "error.message"));
    json_decref(j);
    plm_test_xfer_free(&x);

    /* Embeddings: a small answer (a chat answer would echo 17 MiB). */
    big[line] = '\0';
    j = json_pack("{s:s, s:s}", "model", "e", "input", big);
    assert_non_null(j);
    ok = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(ok);
    plm_test_mock_xfer(&x, m, "/v1/embeddings", ok, (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 200);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "object"), "list");
    json_decref(j);
    plm_test_xfer_free(&x);
    free(ok);
    free(big);
    plm_mock_free(m);
}

static size_t abort_after_1mb(char *p, size_t sz, size_t n, void *arg)
{
    plm_test_buf *b = arg;

    (void)p;
    b->len += sz * n;
    return b->len > 1024 * 1024 ? 0 : sz * n;
}

/* Clients that give up, and a server freed with answers still pending,
 * must leave nothing behind (ASan checks the leaks and lifetimes). */
static void test_mock_server__abandoned_and_pending_at_free(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_multi run;
    plm_test_xfer x[3], y;
    char *hang = plm_test_chat_body("[mock fault=hang] h", NULL);
    char *late = plm_test_chat_body("[mock latency=60000] l", NULL);
    char *slow = plm_test_chat_body("[mock fault=slow latency=60000] s", NULL);

    (void)state;
    /* A client that stops reading a big body half way. */
    plm_test_chat(&y, m, "warm", NULL);
    plm_test_xfer_free(&y);
    {
        char *b = plm_test_chat_body("[mock fault=big size=8000000] g", NULL);

        plm_test_mock_xfer(&y, m, "/v1/chat/completions", b,
                           (const char *)NULL);
        free(b);
    }
    curl_easy_setopt(y.h, CURLOPT_WRITEFUNCTION, abort_after_1mb);
    plm_test_xfer_run(&y);
    assert_int_equal(y.rc, CURLE_WRITE_ERROR);
    plm_test_xfer_free(&y);
    plm_test_chat(&y, m, "after", NULL);
    assert_int_equal(y.status, 200);
    plm_test_xfer_free(&y);

    plm_test_mock_xfer(&x[0], m, "/v1/chat/completions", hang,
                       (const char *)NULL);
    plm_test_mock_xfer(&x[1], m, "/v1/chat/completions", late,
                       (const char *)NULL);
    plm_test_mock_xfer(&x[2], m, "/v1/chat/completions", slow,
                       (const char *)NULL);
    assert_multi_start(&run, x, 3);
    assert_int_equal(plm_mock_wait_requests(m, 6, WAIT_MS), 0);
    plm_mock_free(m);
    plm_test_multi_join(&run);
    for (int i = 0; i < 3; i++) {
        assert_int_not_equal(x[i].rc, CURLE_OK);
        plm_test_xfer_free(&x[i]);
    }
    free(hang);
    free(late);
    free(slow);
}

/* A thousand connections at once: the backlog and the loop keep up. */
static void test_mock_server__thousand_connections(void **state)
{
    enum { N = 1000 };
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_stats st;
    plm_test_multi run;
    plm_test_xfer *x = calloc(N, sizeof *x);
    char *b = plm_test_chat_body("many at once", NULL);
    int ok = 0;

    (void)state;
    assert_non_null(x);
    o.latency_ms = 50;
    m = plm_test_mock_start(&o);
    for (int i = 0; i < N; i++) {
        plm_test_mock_xfer(&x[i], m, "/v1/chat/completions", b,
                           (const char *)NULL);
        /* One connection each, as a benchmark's clients would open. */
        curl_easy_setopt(x[i].h, CURLOPT_FORBID_REUSE, 1L);
    }
    assert_multi_start(&run, x, N);
    plm_test_multi_join(&run);
    for (int i = 0; i < N; i++) {
        if (x[i].rc == CURLE_OK && x[i].status == 200)
            ok++;
        plm_test_xfer_free(&x[i]);
    }
    assert_int_equal(ok, N);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.answered_2xx, N);
    assert_int_equal(st.in_flight, 0);
    assert_true(st.max_in_flight_seen > 1);
    free(x);
    free(b);
    plm_mock_free(m);
}

/* plm_mock_serve runs on the caller's thread until SIGTERM. The child's
 * port file appearing (by rename) is observed with inotify. */
static void test_mock_server__serve_until_sigterm(void **state)
{
    char dir[512], pf[600], evbuf[4096], url[128];
    plm_mock_options o = { 0 };
    int fd, status = -1, port;
    pid_t pid;
    char *text;
    plm_test_xfer x;

    (void)state;
    assert_int_equal(plm_test_tmpdir("plm-mock-serve", dir, sizeof dir), 0);
    snprintf(pf, sizeof pf, "%s/port", dir);
    fd = inotify_init1(IN_CLOEXEC);
    assert_true(fd >= 0);
    assert_true(inotify_add_watch(fd, dir, IN_MOVED_TO) >= 0);
    o.port_file = pf;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];

        exit(plm_mock_serve(&o, err, sizeof err) == 0 ? 0 : 3);
    }
    assert_true(read(fd, evbuf, sizeof evbuf) > 0);
    close(fd);
    text = plm_test_read_file(pf, NULL);
    assert_non_null(text);
    port = atoi(text);
    free(text);
    assert_true(port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", port);
    assert_int_equal(plm_test_xfer_init(&x, url, "{\"messages\":[]}", NULL), 0);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 200);
    plm_test_xfer_free(&x);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(plm_test_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mock_server__hang_released),
        cmocka_unit_test(test_mock_server__max_in_flight),
        cmocka_unit_test(test_mock_server__parallel_latency),
        cmocka_unit_test(test_mock_server__rpm_limit),
        cmocka_unit_test(test_mock_server__https),
        cmocka_unit_test(test_mock_server__records_log_and_port_file),
        cmocka_unit_test(test_mock_server__keepalive_many),
        cmocka_unit_test(test_mock_server__global_faults_deterministic),
        cmocka_unit_test(test_mock_server__fault_mix_seeded),
        cmocka_unit_test(test_mock_server__body_too_large),
        cmocka_unit_test(test_mock_server__abandoned_and_pending_at_free),
        cmocka_unit_test(test_mock_server__thousand_connections),
        cmocka_unit_test(test_mock_server__serve_until_sigterm),
        cmocka_unit_test(test_mock_server__stats_file_at_stop),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
