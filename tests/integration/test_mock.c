/*
 * Integration tests of the mock LLM server, driven with plain libcurl (easy
 * and multi) against a mock on an ephemeral loopback port: both providers'
 * shapes, directives and faults, limits, SSE streams, HTTPS with a
 * generated CA, records and the log. Waits are on server-side events
 * (plm_mock_wait_requests) or transfer completion, never on sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "mock.h"
#include "test_util.h"
#include "tls_test_cert.h"

#define WAIT_MS 20000

typedef struct buf {
    char *p;
    size_t len;
} buf;

typedef struct xfer {
    CURL *h;
    struct curl_slist *hdrs;
    char *post;
    buf body;
    buf head;
    long status;
    CURLcode rc;
} xfer;

static size_t on_bytes(char *p, size_t sz, size_t n, void *arg)
{
    buf *b = arg;
    size_t k = sz * n;
    char *q = realloc(b->p, b->len + k + 1);

    if (q == NULL)
        return 0;
    memcpy(q + b->len, p, k);
    b->p = q;
    b->len += k;
    b->p[b->len] = '\0';
    return k;
}

/* Prepares a POST (or GET when body is NULL) with extra header lines. */
static void xfer_init(xfer *x, plm_mock *m, const char *path,
                      const char *body, ...)
{
    char url[256];
    va_list ap;
    const char *h;

    memset(x, 0, sizeof(*x));
    x->h = curl_easy_init();
    assert_non_null(x->h);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", plm_mock_port(m),
             path);
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_bytes);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_bytes);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, &x->head);
    if (body != NULL) {
        x->post = strdup(body);
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->post);
    }
    x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    va_start(ap, body);
    while ((h = va_arg(ap, const char *)) != NULL)
        x->hdrs = curl_slist_append(x->hdrs, h);
    va_end(ap);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
}

static void xfer_done(xfer *x)
{
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
}

static void xfer_run(xfer *x)
{
    x->rc = curl_easy_perform(x->h);
    xfer_done(x);
}

static void xfer_free(xfer *x)
{
    curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdrs);
    free(x->post);
    free(x->body.p);
    free(x->head.p);
}

/* The value of response header name, or NULL; copied into out. */
static const char *header(const xfer *x, const char *name, char *out,
                          size_t len)
{
    const char *p = x->head.p;
    size_t nl = strlen(name);

    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);

        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t vl;

            while (*v == ' ')
                v++;
            vl = (size_t)(p + ll - v);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            if (vl >= len)
                vl = len - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static json_t *body_json(const xfer *x)
{
    json_t *j = json_loads(x->body.p ? x->body.p : "", 0, NULL);

    assert_non_null(j);
    return j;
}

static const char *jstr(json_t *j, const char *path)
{
    /* path like "choices.0.message.content" */
    char tmp[128], *save = NULL, *tok;
    json_t *cur = j;

    snprintf(tmp, sizeof(tmp), "%s", path);
    for (tok = strtok_r(tmp, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save)) {
        if (json_is_array(cur))
            cur = json_array_get(cur, (size_t)atoi(tok));
        else
            cur = json_object_get(cur, tok);
    }
    return json_string_value(cur);
}

static json_int_t jint(json_t *j, const char *path)
{
    char tmp[128], *save = NULL, *tok;
    json_t *cur = j;

    snprintf(tmp, sizeof(tmp), "%s", path);
    for (tok = strtok_r(tmp, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save)) {
        if (json_is_array(cur))
            cur = json_array_get(cur, (size_t)atoi(tok));
        else
            cur = json_object_get(cur, tok);
    }
    assert_true(json_is_integer(cur));
    return json_integer_value(cur);
}

static plm_mock *start(const plm_mock_options *o)
{
    plm_mock *m = NULL;
    char err[256] = "";
    plm_mock_options def;

    if (o == NULL) {
        memset(&def, 0, sizeof(def));
        o = &def;
    }
    if (plm_mock_start(&m, o, err, sizeof(err)) != 0)
        fail_msg("plm_mock_start: %s", err);
    assert_true(plm_mock_port(m) > 0);
    return m;
}

static char *chat_body(const char *user, const char *extra)
{
    json_t *o = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "model",
                          "gpt-test", "messages", "role", "system",
                          "content", "be brief", "role", "user", "content",
                          user);
    char *s;

    if (extra != NULL) {
        json_t *e = json_loads(extra, 0, NULL);

        assert_non_null(e);
        json_object_update(o, e);
        json_decref(e);
    }
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static char *msg_body(const char *user, const char *extra)
{
    json_t *o = json_pack("{s:s, s:i, s:s, s:[{s:s, s:s}]}", "model",
                          "claude-test", "max_tokens", 64, "system",
                          "be brief", "messages", "role", "user", "content",
                          user);
    char *s;

    if (extra != NULL) {
        json_t *e = json_loads(extra, 0, NULL);

        assert_non_null(e);
        json_object_update(o, e);
        json_decref(e);
    }
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* One chat request; returns the finished transfer (caller frees). */
static void chat(xfer *x, plm_mock *m, const char *user, const char *hdr)
{
    char *b = chat_body(user, NULL);

    xfer_init(x, m, "/v1/chat/completions", b, "Authorization: Bearer sk-t",
              hdr, (const char *)NULL);
    free(b);
    xfer_run(x);
}

static void anth(xfer *x, plm_mock *m, const char *user, const char *extra)
{
    char *b = msg_body(user, extra);

    xfer_init(x, m, "/v1/messages", b, "x-api-key: sk-ant-t",
              "anthropic-version: 2023-06-01", (const char *)NULL);
    free(b);
    xfer_run(x);
}

/* Runs a set of transfers on a curl multi in a thread of its own, so the
 * test can wait on the server meanwhile. */
typedef struct multi_run {
    xfer *xs;
    int n;
    pthread_t thread;
} multi_run;

static void *multi_main(void *arg)
{
    multi_run *r = arg;
    CURLM *mh = curl_multi_init();
    int running = 1;
    CURLMsg *msg;
    int left;

    for (int i = 0; i < r->n; i++)
        curl_multi_add_handle(mh, r->xs[i].h);
    while (running > 0) {
        curl_multi_perform(mh, &running);
        while ((msg = curl_multi_info_read(mh, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            for (int i = 0; i < r->n; i++)
                if (r->xs[i].h == msg->easy_handle) {
                    r->xs[i].rc = msg->data.result;
                    xfer_done(&r->xs[i]);
                }
        }
        if (running > 0)
            curl_multi_poll(mh, NULL, 0, 1000, NULL);
    }
    for (int i = 0; i < r->n; i++)
        curl_multi_remove_handle(mh, r->xs[i].h);
    curl_multi_cleanup(mh);
    return NULL;
}

static void multi_start(multi_run *r, xfer *xs, int n)
{
    r->xs = xs;
    r->n = n;
    assert_int_equal(pthread_create(&r->thread, NULL, multi_main, r), 0);
}

static void multi_join(multi_run *r)
{
    pthread_join(r->thread, NULL);
}

static void test_mock__openai_shape(void **state)
{
    plm_mock *m = start(NULL);
    xfer x;
    json_t *j;
    char h[128];

    (void)state;
    chat(&x, m, "hello there", NULL);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 200);
    j = body_json(&x);
    assert_non_null(jstr(j, "id"));
    assert_string_equal(jstr(j, "object"), "chat.completion");
    assert_true(jint(j, "created") > 0);
    assert_string_equal(jstr(j, "model"), "gpt-test");
    assert_string_equal(jstr(j, "choices.0.message.role"), "assistant");
    assert_string_equal(jstr(j, "choices.0.message.content"),
                        "mock reply: hello there");
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    assert_true(jint(j, "usage.prompt_tokens") >= 1);
    assert_int_equal(jint(j, "usage.completion_tokens"), 8);
    assert_int_equal(jint(j, "usage.total_tokens"),
                     jint(j, "usage.prompt_tokens") + 8);
    assert_null(json_object_get(j, "simulated"));
    assert_non_null(header(&x, "x-request-id", h, sizeof(h)));
    json_decref(j);
    xfer_free(&x);

    chat(&x, m, "[mock tokens=5] count", NULL);
    j = body_json(&x);
    assert_int_equal(jint(j, "usage.completion_tokens"), 5);
    assert_string_equal(jstr(j, "choices.0.message.content"),
                        "mock reply: [mock tokens=5] count");
    json_decref(j);
    xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock__anthropic_shape(void **state)
{
    plm_mock *m = start(NULL);
    xfer x;
    json_t *j;
    char h[128];
    char *b;

    (void)state;
    anth(&x, m, "bonjour", NULL);
    assert_int_equal(x.status, 200);
    j = body_json(&x);
    assert_string_equal(jstr(j, "type"), "message");
    assert_string_equal(jstr(j, "role"), "assistant");
    assert_string_equal(jstr(j, "content.0.type"), "text");
    assert_string_equal(jstr(j, "content.0.text"), "mock reply: bonjour");
    assert_string_equal(jstr(j, "stop_reason"), "end_turn");
    assert_true(jint(j, "usage.input_tokens") >= 1);
    assert_int_equal(jint(j, "usage.output_tokens"), 8);
    assert_non_null(header(&x, "request-id", h, sizeof(h)));
    json_decref(j);
    xfer_free(&x);

    /* Anthropic requires its headers and answers in its error shape. */
    b = msg_body("no key", NULL);
    xfer_init(&x, m, "/v1/messages", b, "anthropic-version: 2023-06-01",
              (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.status, 401);
    j = body_json(&x);
    assert_string_equal(jstr(j, "type"), "error");
    assert_string_equal(jstr(j, "error.type"), "authentication_error");
    assert_non_null(jstr(j, "error.message"));
    json_decref(j);
    xfer_free(&x);

    xfer_init(&x, m, "/v1/messages", b, "x-api-key: k", (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.status, 400);
    j = body_json(&x);
    assert_string_equal(jstr(j, "error.type"), "invalid_request_error");
    json_decref(j);
    xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

static void test_mock__other_endpoints_and_errors(void **state)
{
    plm_mock *m = start(NULL);
    xfer x;
    json_t *j;

    (void)state;
    xfer_init(&x, m, "/v1/completions",
              "{\"model\":\"m\",\"prompt\":\"say hi\"}", (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.status, 200);
    j = body_json(&x);
    assert_string_equal(jstr(j, "object"), "text_completion");
    assert_string_equal(jstr(j, "choices.0.text"), "mock reply: say hi");
    json_decref(j);
    xfer_free(&x);

    xfer_init(&x, m, "/v1/embeddings",
              "{\"model\":\"e\",\"input\":[\"a\",\"b\"]}", (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.status, 200);
    j = body_json(&x);
    assert_string_equal(jstr(j, "object"), "list");
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    assert_true(json_array_size(json_object_get(
                    json_array_get(json_object_get(j, "data"), 1),
                    "embedding")) > 0);
    json_decref(j);
    xfer_free(&x);

    xfer_init(&x, m, "/v1/responses", "{\"model\":\"r\",\"input\":\"yo\"}",
              (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.status, 200);
    j = body_json(&x);
    assert_string_equal(jstr(j, "object"), "response");
    assert_string_equal(jstr(j, "output.0.content.0.text"), "mock reply: yo");
    json_decref(j);
    xfer_free(&x);

    xfer_init(&x, m, "/v2/nothing", "{}", (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.status, 404);
    j = body_json(&x);
    assert_non_null(jstr(j, "error.message"));
    json_decref(j);
    xfer_free(&x);

    xfer_init(&x, m, "/v1/chat/completions", "not json {", (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.status, 400);
    j = body_json(&x);
    assert_string_equal(jstr(j, "error.type"), "invalid_request_error");
    json_decref(j);
    xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock__json_replies(void **state)
{
    plm_mock *m = start(NULL);
    xfer x;
    json_t *j, *c;
    char *b;

    (void)state;
    chat(&x, m,
         "Describe this file as JSON with a summary and references.\n"
         "first line of the file\nsecond line",
         NULL);
    j = body_json(&x);
    c = json_loads(jstr(j, "choices.0.message.content"), 0, NULL);
    assert_non_null(c);
    assert_true(json_is_string(json_object_get(c, "summary")));
    assert_true(json_is_array(json_object_get(c, "references")));
    json_decref(c);
    json_decref(j);
    xfer_free(&x);

    b = chat_body("anything", "{\"response_format\":{\"type\":"
                              "\"json_object\"}}");
    xfer_init(&x, m, "/v1/chat/completions", b, (const char *)NULL);
    xfer_run(&x);
    j = body_json(&x);
    c = json_loads(jstr(j, "choices.0.message.content"), 0, NULL);
    assert_true(json_is_object(c));
    json_decref(c);
    json_decref(j);
    xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

static void test_mock__status_times_and_retry_headers(void **state)
{
    plm_mock *m = start(NULL);
    xfer x;
    json_t *j;
    char h[64];
    const char *d = "X-Mock: status=503;times=2;key=k1;retry_after=2;"
                    "retry_after_ms=1500;should_retry=true";

    (void)state;
    for (int i = 0; i < 3; i++) {
        chat(&x, m, "flaky", d);
        if (i < 2) {
            assert_int_equal(x.status, 503);
            assert_string_equal(header(&x, "retry-after", h, sizeof(h)),
                                "2");
            assert_string_equal(header(&x, "retry-after-ms", h, sizeof(h)),
                                "1500");
            assert_string_equal(header(&x, "x-should-retry", h, sizeof(h)),
                                "true");
            j = body_json(&x);
            assert_string_equal(jstr(j, "error.type"), "server_error");
            json_decref(j);
        } else {
            assert_int_equal(x.status, 200);
            assert_null(header(&x, "retry-after", h, sizeof(h)));
        }
        xfer_free(&x);
    }

    chat(&x, m, "[mock status=429 error_code=insufficient_quota] q", NULL);
    assert_int_equal(x.status, 429);
    j = body_json(&x);
    assert_string_equal(jstr(j, "error.code"), "insufficient_quota");
    json_decref(j);
    xfer_free(&x);

    chat(&x, m, "[mock status=429] r", NULL);
    j = body_json(&x);
    assert_string_equal(jstr(j, "error.code"), "rate_limit_exceeded");
    json_decref(j);
    xfer_free(&x);

    anth(&x, m, "[mock status=529] busy", NULL);
    assert_int_equal(x.status, 529);
    j = body_json(&x);
    assert_string_equal(jstr(j, "type"), "error");
    assert_string_equal(jstr(j, "error.type"), "overloaded_error");
    json_decref(j);
    xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock__faults(void **state)
{
    plm_mock *m = start(NULL);
    plm_mock_stats st;
    xfer x;
    json_t *j;

    (void)state;
    chat(&x, m, "[mock fault=reset] r", NULL);
    assert_int_not_equal(x.rc, CURLE_OK);
    xfer_free(&x);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.resets, 1);

    chat(&x, m, "[mock fault=badjson] b", NULL);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 200);
    assert_null(json_loads(x.body.p, 0, NULL));
    xfer_free(&x);

    chat(&x, m, "[mock fault=big size=3000001] g", NULL);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.body.len, 3000001);
    j = json_loads(x.body.p, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    xfer_free(&x);

    {
        int64_t t0 = plm_test_now_ns();

        chat(&x, m, "[mock fault=slow latency=200] s", NULL);
        assert_int_equal(x.status, 200);
        assert_true(plm_test_now_ns() - t0 >= INT64_C(150) * 1000000);
        j = body_json(&x);
        assert_string_equal(jstr(j, "choices.0.message.content"),
                            "mock reply: [mock fault=slow latency=200] s");
        json_decref(j);
        xfer_free(&x);
    }
    plm_mock_free(m);
}

static void test_mock__hang_released(void **state)
{
    plm_mock *m = start(NULL);
    plm_mock_stats st;
    multi_run run;
    xfer x[1];
    char *b = chat_body("[mock fault=hang] h", NULL);

    (void)state;
    xfer_init(&x[0], m, "/v1/chat/completions", b, (const char *)NULL);
    multi_start(&run, x, 1);
    assert_int_equal(plm_mock_wait_requests(m, 1, WAIT_MS), 0);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.in_flight, 1);
    plm_mock_release_hung(m);
    multi_join(&run);
    assert_int_not_equal(x[0].rc, CURLE_OK);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.resets, 1);
    assert_int_equal(st.in_flight, 0);
    xfer_free(&x[0]);
    free(b);
    plm_mock_free(m);
}

static void test_mock__max_in_flight(void **state)
{
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_stats st;
    multi_run run;
    xfer x[6];
    int n429 = 0, nerr = 0;
    char *b = chat_body("[mock fault=hang] p", NULL);

    (void)state;
    o.max_in_flight = 3;
    m = start(&o);
    for (int i = 0; i < 6; i++)
        xfer_init(&x[i], m, "/v1/chat/completions", b, (const char *)NULL);
    multi_start(&run, x, 6);
    assert_int_equal(plm_mock_wait_requests(m, 6, WAIT_MS), 0);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.in_flight, 3);
    assert_int_equal(st.answered_429, 3);
    plm_mock_release_hung(m);
    multi_join(&run);
    for (int i = 0; i < 6; i++) {
        if (x[i].rc == CURLE_OK && x[i].status == 429)
            n429++;
        else if (x[i].rc != CURLE_OK)
            nerr++;
        xfer_free(&x[i]);
    }
    assert_int_equal(n429, 3);
    assert_int_equal(nerr, 3);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.max_in_flight_seen, 3);
    free(b);
    plm_mock_free(m);
}

static void test_mock__parallel_latency(void **state)
{
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_stats st;
    plm_mock_record *recs;
    multi_run run;
    xfer x[5];
    size_t n;
    int seen[6] = { 0 };
    char *hang = chat_body("[mock fault=hang] p", NULL);

    (void)state;
    o.latency_ms = 100;
    o.record = 1;
    m = start(&o);
    /* Five held at once: the server must see five in flight. */
    for (int i = 0; i < 5; i++)
        xfer_init(&x[i], m, "/v1/chat/completions", hang,
                  (const char *)NULL);
    multi_start(&run, x, 5);
    assert_int_equal(plm_mock_wait_requests(m, 5, WAIT_MS), 0);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.max_in_flight_seen, 5);
    plm_mock_release_hung(m);
    multi_join(&run);
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
        xfer_free(&x[i]);

    /* With a latency every answer comes at least that late. */
    for (int i = 0; i < 5; i++) {
        char *b = chat_body("late", NULL);

        xfer_init(&x[i], m, "/v1/chat/completions", b, (const char *)NULL);
        free(b);
    }
    {
        int64_t t0 = plm_test_now_ns();

        multi_start(&run, x, 5);
        multi_join(&run);
        assert_true(plm_test_now_ns() - t0 >= INT64_C(100) * 1000000);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(x[i].status, 200);
        xfer_free(&x[i]);
    }
    free(hang);
    plm_mock_free(m);
}

static void test_mock__rpm_limit(void **state)
{
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_stats st;
    xfer x;
    char h[128];
    json_t *j;

    (void)state;
    o.rpm = 2;
    m = start(&o);
    for (int i = 0; i < 2; i++) {
        chat(&x, m, "ok", NULL);
        assert_int_equal(x.status, 200);
        xfer_free(&x);
    }
    chat(&x, m, "over", NULL);
    assert_int_equal(x.status, 429);
    assert_string_equal(header(&x, "x-ratelimit-limit-requests", h,
                               sizeof(h)), "2");
    assert_string_equal(header(&x, "x-ratelimit-remaining-requests", h,
                               sizeof(h)), "0");
    assert_non_null(header(&x, "x-ratelimit-reset-requests", h, sizeof(h)));
    assert_true(h[strlen(h) - 1] == 's');
    assert_non_null(header(&x, "retry-after", h, sizeof(h)));
    assert_true(atoi(h) >= 1 && atoi(h) <= 60);
    j = body_json(&x);
    assert_string_equal(jstr(j, "error.code"), "rate_limit_exceeded");
    json_decref(j);
    xfer_free(&x);

    anth(&x, m, "over too", NULL);
    assert_int_equal(x.status, 429);
    assert_string_equal(header(&x, "anthropic-ratelimit-requests-limit", h,
                               sizeof(h)), "2");
    assert_non_null(header(&x, "anthropic-ratelimit-requests-reset", h,
                           sizeof(h)));
    assert_int_equal(strlen(h), 20);
    assert_true(h[10] == 'T' && h[19] == 'Z');
    j = body_json(&x);
    assert_string_equal(jstr(j, "error.type"), "rate_limit_error");
    json_decref(j);
    xfer_free(&x);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.answered_429, 2);
    assert_int_equal(st.answered_2xx, 2);
    plm_mock_free(m);

    /* A request that can never fit the token budget. */
    memset(&o, 0, sizeof(o));
    o.tpm = 100;
    o.rpm = 10;
    o.send_ratelimit_headers = 1;
    m = start(&o);
    chat(&x, m, "small", NULL);
    assert_int_equal(x.status, 200);
    assert_string_equal(header(&x, "x-ratelimit-remaining-requests", h,
                               sizeof(h)), "9");
    assert_non_null(header(&x, "x-ratelimit-remaining-tokens", h,
                           sizeof(h)));
    xfer_free(&x);
    {
        char *b = chat_body("huge", "{\"max_tokens\":500}");

        xfer_init(&x, m, "/v1/chat/completions", b, (const char *)NULL);
        free(b);
    }
    xfer_run(&x);
    assert_int_equal(x.status, 429);
    assert_string_equal(header(&x, "retry-after", h, sizeof(h)), "60");
    assert_string_equal(header(&x, "x-ratelimit-reset-tokens", h, sizeof(h)),
                        "1m0s");
    xfer_free(&x);
    plm_mock_free(m);
}

/* Splits an SSE body into (event, data) pairs and checks them. */
static void test_mock__sse_openai(void **state)
{
    plm_mock *m = start(NULL);
    xfer x;
    char *b = chat_body("stream me please",
                        "{\"stream\":true,\"stream_options\":"
                        "{\"include_usage\":true}}");
    char text[256] = "", h[64];
    char *save = NULL, *line;
    int done = 0, usage = 0, after_done = 0;

    (void)state;
    xfer_init(&x, m, "/v1/chat/completions", b, (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.status, 200);
    assert_non_null(header(&x, "content-type", h, sizeof(h)));
    assert_string_equal(h, "text/event-stream");
    for (line = strtok_r(x.body.p, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j;

        assert_true(strncmp(line, "data: ", 6) == 0);
        if (done)
            after_done = 1;
        if (strcmp(line + 6, "[DONE]") == 0) {
            done = 1;
            continue;
        }
        j = json_loads(line + 6, 0, NULL);
        assert_non_null(j);
        assert_string_equal(jstr(j, "object"), "chat.completion.chunk");
        if (jstr(j, "choices.0.delta.content"))
            strncat(text, jstr(j, "choices.0.delta.content"),
                    sizeof(text) - strlen(text) - 1);
        if (json_object_get(j, "usage")) {
            usage++;
            assert_int_equal(jint(j, "usage.completion_tokens"), 8);
        }
        json_decref(j);
    }
    assert_true(done);
    assert_false(after_done);
    assert_int_equal(usage, 1);
    assert_string_equal(text, "mock reply: stream me please");
    xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

static void test_mock__sse_anthropic(void **state)
{
    plm_mock *m = start(NULL);
    xfer x;
    const char *want[] = { "message_start", "content_block_start",
                           "content_block_delta", "content_block_stop",
                           "message_delta", "message_stop" };
    char text[256] = "", event[64] = "";
    char *save = NULL, *line;
    int stage = 0;

    (void)state;
    anth(&x, m, "hi there stream", "{\"stream\":true}");
    assert_int_equal(x.status, 200);
    for (line = strtok_r(x.body.p, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j;

        if (strncmp(line, "event: ", 7) == 0) {
            snprintf(event, sizeof(event), "%s", line + 7);
            /* Events come in order; deltas may repeat. */
            while (stage < 6 && strcmp(event, want[stage]) != 0)
                stage++;
            assert_true(stage < 6);
            continue;
        }
        assert_true(strncmp(line, "data: ", 6) == 0);
        j = json_loads(line + 6, 0, NULL);
        assert_non_null(j);
        assert_string_equal(jstr(j, "type"), event);
        if (strcmp(event, "content_block_delta") == 0)
            strncat(text, jstr(j, "delta.text"),
                    sizeof(text) - strlen(text) - 1);
        if (strcmp(event, "message_delta") == 0)
            assert_int_equal(jint(j, "usage.output_tokens"), 8);
        json_decref(j);
    }
    assert_int_equal(stage, 5);
    assert_string_equal(text, "mock reply: hi there stream");
    xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock__https(void **state)
{
    char dir[512], ca[600], cert[600], key[600], url[128];
    plm_mock_options o = { 0 };
    plm_mock *m;
    xfer x;

    (void)state;
    assert_int_equal(plm_test_tmpdir("plm-mock-tls", dir, sizeof(dir)), 0);
    assert_int_equal(plm_test_tls_make(dir, ca, cert, key, sizeof(ca)), 0);
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    m = start(&o);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/v1/chat/completions",
             plm_mock_port(m));

    xfer_init(&x, m, "/", "{\"messages\":[{\"role\":\"user\","
                          "\"content\":\"tls\"}]}",
              (const char *)NULL);
    curl_easy_setopt(x.h, CURLOPT_URL, url);
    curl_easy_setopt(x.h, CURLOPT_CAINFO, ca);
    xfer_run(&x);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 200);
    xfer_free(&x);

    xfer_init(&x, m, "/", "{}", (const char *)NULL);
    curl_easy_setopt(x.h, CURLOPT_URL, url);
    xfer_run(&x);
    assert_int_equal(x.rc, CURLE_PEER_FAILED_VERIFICATION);
    xfer_free(&x);
    plm_mock_free(m);
    assert_int_equal(plm_test_rmtree(dir), 0);
}

static void test_mock__records_log_and_port_file(void **state)
{
    char dir[512], pf[600], lf[600];
    plm_mock_options o = { 0 };
    plm_mock *m;
    plm_mock_record *recs;
    plm_mock_stats st;
    size_t n;
    xfer x;
    char *text;

    (void)state;
    assert_int_equal(plm_test_tmpdir("plm-mock-rec", dir, sizeof(dir)), 0);
    snprintf(pf, sizeof(pf), "%s/port", dir);
    snprintf(lf, sizeof(lf), "%s/log.jsonl", dir);
    o.record = 1;
    o.port_file = pf;
    o.log_file = lf;
    o.simulated_marker = 1;
    m = start(&o);
    text = plm_test_read_file(pf, NULL);
    assert_non_null(text);
    assert_int_equal(atoi(text), plm_mock_port(m));
    free(text);

    chat(&x, m, "first", "Authorization: Bearer sk-secret-123");
    {
        json_t *j = body_json(&x);

        assert_true(json_is_true(json_object_get(j, "simulated")));
        json_decref(j);
    }
    xfer_free(&x);
    anth(&x, m, "second", NULL);
    xfer_free(&x);

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
            assert_int_equal(jint(j, "status"), 200);
            assert_true(json_is_true(json_object_get(
                            j, lines == 0 ? "authorization_present"
                                          : "api_key_present")));
            assert_non_null(jstr(j, "time"));
            lines++;
            json_decref(j);
        }
        assert_int_equal(lines, 2);
    }
    free(text);
    assert_int_equal(plm_test_rmtree(dir), 0);
}

static void test_mock__keepalive_many(void **state)
{
    plm_mock *m = start(NULL);
    plm_mock_stats st;
    xfer x;
    char *b = chat_body("many", NULL);
    long conns = 0;
    int ok = 0;

    (void)state;
    xfer_init(&x, m, "/v1/chat/completions", b, (const char *)NULL);
    for (int i = 0; i < 10000; i++) {
        free(x.body.p);
        x.body.p = NULL;
        x.body.len = 0;
        free(x.head.p);
        x.head.p = NULL;
        x.head.len = 0;
        xfer_run(&x);
        if (x.rc == CURLE_OK && x.status == 200)
            ok++;
    }
    curl_easy_getinfo(x.h, CURLINFO_NUM_CONNECTS, &conns);
    assert_int_equal(ok, 10000);
    assert_int_equal(conns, 0);   /* the last one reused the connection */
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.requests, 10000);
    assert_int_equal(st.answered_2xx, 10000);
    xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

static void test_mock__global_faults_deterministic(void **state)
{
    plm_mock_options o = { 0 };
    char seq[2][41];

    (void)state;
    o.fault_rate = 0.5;
    o.fault_status = 500;
    o.fault_retry_after = 1.5;
    o.seed = 42;
    for (int k = 0; k < 2; k++) {
        plm_mock *m = start(&o);
        int faults = 0;

        for (int i = 0; i < 40; i++) {
            xfer x;
            char h[32];

            chat(&x, m, "g", NULL);
            seq[k][i] = x.status == 500 ? 'F' : '.';
            if (x.status == 500) {
                faults++;
                assert_string_equal(header(&x, "retry-after", h, sizeof(h)),
                                    "1.5");
            } else {
                assert_int_equal(x.status, 200);
            }
            xfer_free(&x);
        }
        seq[k][40] = '\0';
        assert_true(faults > 5 && faults < 35);
        plm_mock_free(m);
    }
    assert_string_equal(seq[0], seq[1]);
}

static void test_mock__body_too_large(void **state)
{
    plm_mock *m = start(NULL);
    size_t n = 9u * 1024 * 1024;
    char *big = malloc(n + 1);
    xfer x;

    (void)state;
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    xfer_init(&x, m, "/v1/chat/completions", big, (const char *)NULL);
    xfer_run(&x);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 413);
    xfer_free(&x);
    free(big);
    plm_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mock__openai_shape),
        cmocka_unit_test(test_mock__anthropic_shape),
        cmocka_unit_test(test_mock__other_endpoints_and_errors),
        cmocka_unit_test(test_mock__json_replies),
        cmocka_unit_test(test_mock__status_times_and_retry_headers),
        cmocka_unit_test(test_mock__faults),
        cmocka_unit_test(test_mock__hang_released),
        cmocka_unit_test(test_mock__max_in_flight),
        cmocka_unit_test(test_mock__parallel_latency),
        cmocka_unit_test(test_mock__rpm_limit),
        cmocka_unit_test(test_mock__sse_openai),
        cmocka_unit_test(test_mock__sse_anthropic),
        cmocka_unit_test(test_mock__https),
        cmocka_unit_test(test_mock__records_log_and_port_file),
        cmocka_unit_test(test_mock__keepalive_many),
        cmocka_unit_test(test_mock__global_faults_deterministic),
        cmocka_unit_test(test_mock__body_too_large),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
