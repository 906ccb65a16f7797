/*
 * Protocol tests of the mock LLM server, driven with plain libcurl against
 * a mock on an ephemeral loopback port: the OpenAI and Anthropic answer
 * shapes, the other endpoints, JSON replies, directives with status and
 * retry headers, the faults, and both providers' SSE streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "mock.h"
#include "mock_client.h"
#include "test_util.h"

static void test_mock__openai_shape(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    json_t *j;
    char h[128];

    (void)state;
    plm_test_chat(&x, m, "hello there", NULL);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 200);
    j = plm_test_json(x.body.p);
    assert_non_null(plm_test_jstr(j, "id"));
    assert_string_equal(plm_test_jstr(j, "object"), "chat.completion");
    assert_true(plm_test_jint(j, "created") > 0);
    assert_string_equal(plm_test_jstr(j, "model"), "gpt-test");
    assert_string_equal(plm_test_jstr(j, "choices.0.message.role"),
                        "assistant");
    assert_string_equal(plm_test_jstr(j, "choices.0.message.content"),
                        "mock reply: hello there");
    assert_string_equal(plm_test_jstr(j, "choices.0.finish_reason"), "stop");
    assert_true(plm_test_jint(j, "usage.prompt_tokens") >= 1);
    assert_int_equal(plm_test_jint(j, "usage.completion_tokens"), 8);
    assert_int_equal(plm_test_jint(j, "usage.total_tokens"),
                     plm_test_jint(j, "usage.prompt_tokens") + 8);
    assert_null(json_object_get(j, "simulated"));
    assert_non_null(plm_test_xfer_header(&x, "x-request-id", h, sizeof h));
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_chat(&x, m, "[mock tokens=5] count", NULL);
    j = plm_test_json(x.body.p);
    assert_int_equal(plm_test_jint(j, "usage.completion_tokens"), 5);
    assert_string_equal(plm_test_jstr(j, "choices.0.message.content"),
                        "mock reply: [mock tokens=5] count");
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock__anthropic_shape(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    json_t *j;
    char h[128];
    char *b;

    (void)state;
    plm_test_anthropic(&x, m, "bonjour", NULL);
    assert_int_equal(x.status, 200);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "type"), "message");
    assert_string_equal(plm_test_jstr(j, "role"), "assistant");
    assert_string_equal(plm_test_jstr(j, "content.0.type"), "text");
    assert_string_equal(plm_test_jstr(j, "content.0.text"),
                        "mock reply: bonjour");
    assert_string_equal(plm_test_jstr(j, "stop_reason"), "end_turn");
    assert_true(plm_test_jint(j, "usage.input_tokens") >= 1);
    assert_int_equal(plm_test_jint(j, "usage.output_tokens"), 8);
    assert_non_null(plm_test_xfer_header(&x, "request-id", h, sizeof h));
    json_decref(j);
    plm_test_xfer_free(&x);

    /* Anthropic requires its headers and answers in its error shape. */
    b = plm_test_messages_body("no key", NULL);
    plm_test_mock_xfer(&x, m, "/v1/messages", b,
                       "anthropic-version: 2023-06-01", (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 401);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "type"), "error");
    assert_string_equal(plm_test_jstr(j, "error.type"), "authentication_error");
    assert_non_null(plm_test_jstr(j, "error.message"));
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_mock_xfer(&x, m, "/v1/messages", b, "x-api-key: k",
                       (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 400);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "error.type"),
                        "invalid_request_error");
    json_decref(j);
    plm_test_xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

static void test_mock__other_endpoints_and_errors(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    json_t *j;

    (void)state;
    plm_test_mock_xfer(&x, m, "/v1/completions",
                       "{\"model\":\"m\",\"prompt\":\"say hi\"}",
                       (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 200);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "object"), "text_completion");
    assert_string_equal(plm_test_jstr(j, "choices.0.text"),
                        "mock reply: say hi");
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_mock_xfer(&x, m, "/v1/embeddings",
                       "{\"model\":\"e\",\"input\":[\"a\",\"b\"]}",
                       (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 200);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "object"), "list");
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    assert_true(
        json_array_size(
            json_object_get(json_array_get(json_object_get(j, "data"), 1),
                            "embedding")) > 0);
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_mock_xfer(&x, m, "/v1/responses",
                       "{\"model\":\"r\",\"input\":\"yo\"}",
                       (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 200);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "object"), "response");
    assert_string_equal(plm_test_jstr(j, "output.0.content.0.text"),
                        "mock reply: yo");
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_mock_xfer(&x, m, "/v2/nothing", "{}", (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 404);
    j = plm_test_json(x.body.p);
    assert_non_null(plm_test_jstr(j, "error.message"));
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_mock_xfer(&x, m, "/v1/chat/completions", "not json {",
                       (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 400);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "error.type"),
                        "invalid_request_error");
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock__json_replies(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    json_t *j, *c;
    char *b;

    (void)state;
    plm_test_chat(&x, m,
                  "Describe this file as JSON with a summary and references.\n"
                  "first line of the file\nsecond line",
                  NULL);
    j = plm_test_json(x.body.p);
    c = json_loads(plm_test_jstr(j, "choices.0.message.content"), 0, NULL);
    assert_non_null(c);
    assert_true(json_is_string(json_object_get(c, "summary")));
    assert_non_null(strstr(plm_test_jstr(c, "summary"), "Describe this file"));
    assert_true(json_is_array(json_object_get(c, "references")));
    json_decref(c);
    json_decref(j);
    plm_test_xfer_free(&x);

    b = plm_test_chat_body("anything", "{\"response_format\":{\"type\":"
                                       "\"json_object\"}}");
    plm_test_mock_xfer(&x, m, "/v1/chat/completions", b, (const char *)NULL);
    plm_test_xfer_run(&x);
    j = plm_test_json(x.body.p);
    c = json_loads(plm_test_jstr(j, "choices.0.message.content"), 0, NULL);
    assert_true(json_is_object(c));
    json_decref(c);
    json_decref(j);
    plm_test_xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

static void test_mock__status_times_and_retry_headers(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    json_t *j;
    char h[64];
    const char *d = "X-Mock: status=503;times=2;key=k1;retry_after=2;"
                    "retry_after_ms=1500;should_retry=true";

    (void)state;
    for (int i = 0; i < 3; i++) {
        plm_test_chat(&x, m, "flaky", d);
        if (i < 2) {
            assert_int_equal(x.status, 503);
            assert_string_equal(plm_test_xfer_header(&x, "retry-after", h,
                                                     sizeof h),
                                "2");
            assert_string_equal(plm_test_xfer_header(&x, "retry-after-ms", h,
                                                     sizeof h),
                                "1500");
            assert_string_equal(plm_test_xfer_header(&x, "x-should-retry", h,
                                                     sizeof h),
                                "true");
            j = plm_test_json(x.body.p);
            assert_string_equal(plm_test_jstr(j, "error.type"), "server_error");
            json_decref(j);
        } else {
            assert_int_equal(x.status, 200);
            assert_null(plm_test_xfer_header(&x, "retry-after", h, sizeof h));
        }
        plm_test_xfer_free(&x);
    }

    plm_test_chat(&x, m, "[mock status=429 error_code=insufficient_quota] q",
                  NULL);
    assert_int_equal(x.status, 429);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "error.code"), "insufficient_quota");
    json_decref(j);
    plm_test_xfer_free(&x);

    /* Without key=, attempts are counted per message text. */
    for (int i = 0; i < 2; i++) {
        plm_test_chat(&x, m, "[mock status=500 times=1] once", NULL);
        assert_int_equal(x.status, i == 0 ? 500 : 200);
        plm_test_xfer_free(&x);
    }
    plm_test_chat(&x, m, "[mock status=500 times=1] other text", NULL);
    assert_int_equal(x.status, 500);
    plm_test_xfer_free(&x);

    plm_test_chat(&x, m, "[mock status=429] r", NULL);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "error.code"), "rate_limit_exceeded");
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_anthropic(&x, m, "[mock status=529] busy", NULL);
    assert_int_equal(x.status, 529);
    j = plm_test_json(x.body.p);
    assert_string_equal(plm_test_jstr(j, "type"), "error");
    assert_string_equal(plm_test_jstr(j, "error.type"), "overloaded_error");
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock__faults(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_mock_stats st;
    plm_test_xfer x;
    json_t *j;

    (void)state;
    plm_test_chat(&x, m, "[mock fault=reset] r", NULL);
    assert_int_not_equal(x.rc, CURLE_OK);
    plm_test_xfer_free(&x);
    plm_mock_get_stats(m, &st);
    assert_int_equal(st.resets, 1);

    plm_test_chat(&x, m, "[mock fault=badjson] b", NULL);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.status, 200);
    assert_null(json_loads(x.body.p, 0, NULL));
    plm_test_xfer_free(&x);

    plm_test_chat(&x, m, "[mock fault=big size=3000001] g", NULL);
    assert_int_equal(x.rc, CURLE_OK);
    assert_int_equal(x.body.len, 3000001);
    j = json_loads(x.body.p, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    plm_test_xfer_free(&x);

    {
        int64_t t0 = plm_test_now_ns();

        plm_test_chat(&x, m, "[mock fault=slow latency=200] s", NULL);
        assert_int_equal(x.status, 200);
        assert_true(plm_test_now_ns() - t0 >= INT64_C(150) * 1000000);
        j = plm_test_json(x.body.p);
        assert_string_equal(plm_test_jstr(j, "choices.0.message.content"),
                            "mock reply: [mock fault=slow latency=200] s");
        json_decref(j);
        plm_test_xfer_free(&x);
    }
    plm_mock_free(m);
}

/* Every line is a data line; the deltas rebuild the reply; [DONE] last. */
static void test_mock__sse_openai(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    char *b = plm_test_chat_body("stream me please",
                                 "{\"stream\":true,\"stream_options\":"
                                 "{\"include_usage\":true}}");
    char text[256] = "", h[64];
    char *save = NULL, *line;
    int done = 0, usage = 0, after_done = 0;

    (void)state;
    plm_test_mock_xfer(&x, m, "/v1/chat/completions", b, (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 200);
    assert_non_null(plm_test_xfer_header(&x, "content-type", h, sizeof h));
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
        assert_string_equal(plm_test_jstr(j, "object"),
                            "chat.completion.chunk");
        if (plm_test_jstr(j, "choices.0.delta.content"))
            strncat(text, plm_test_jstr(j, "choices.0.delta.content"),
                    sizeof text - strlen(text) - 1);
        if (json_object_get(j, "usage")) {
            usage++;
            assert_int_equal(plm_test_jint(j, "usage.completion_tokens"), 8);
        }
        json_decref(j);
    }
    assert_true(done);
    assert_false(after_done);
    assert_int_equal(usage, 1);
    assert_string_equal(text, "mock reply: stream me please");
    plm_test_xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

static void test_mock__sse_anthropic(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    const char *want[] = { "message_start",       "content_block_start",
                           "content_block_delta", "content_block_stop",
                           "message_delta",       "message_stop" };
    char text[256] = "", event[64] = "";
    char *save = NULL, *line;
    int stage = 0;

    (void)state;
    plm_test_anthropic(&x, m, "hi there stream", "{\"stream\":true}");
    assert_int_equal(x.status, 200);
    for (line = strtok_r(x.body.p, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j;

        if (strncmp(line, "event: ", 7) == 0) {
            snprintf(event, sizeof event, "%s", line + 7);
            /* Events come in order; deltas may repeat. */
            while (stage < 6 && strcmp(event, want[stage]) != 0)
                stage++;
            assert_true(stage < 6);
            continue;
        }
        assert_true(strncmp(line, "data: ", 6) == 0);
        j = json_loads(line + 6, 0, NULL);
        assert_non_null(j);
        assert_string_equal(plm_test_jstr(j, "type"), event);
        if (strcmp(event, "content_block_delta") == 0)
            strncat(text, plm_test_jstr(j, "delta.text"),
                    sizeof text - strlen(text) - 1);
        if (strcmp(event, "message_delta") == 0)
            assert_int_equal(plm_test_jint(j, "usage.output_tokens"), 8);
        json_decref(j);
    }
    assert_int_equal(stage, 5);
    assert_string_equal(text, "mock reply: hi there stream");
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

static int64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* interval= paces a stream: the same events, in one chunk per piece of
 * the answer plus one with the closing events, counted in the record
 * with the first chunk's wall time. */
static void test_mock__sse_paced(void **state)
{
    plm_mock_options o;
    plm_mock *m;
    plm_test_xfer x;
    plm_mock_record *recs = NULL;
    int64_t before, after;
    size_t n;

    (void)state;
    memset(&o, 0, sizeof o);
    o.record = 1;
    m = plm_test_mock_start(&o);
    before = wall_ns();
    /* "mock reply: " and this text: 46 bytes, three pieces. */
    plm_test_anthropic(&x, m, "hi there stream [mock interval=10]",
                       "{\"stream\":true}");
    after = wall_ns();
    assert_int_equal(x.status, 200);
    assert_non_null(strstr(x.body.p, "event: message_stop"));
    plm_test_xfer_free(&x);
    n = plm_mock_get_records(m, &recs);
    assert_int_equal(n, 1);
    assert_int_equal(recs[0].status, 200);
    assert_int_equal(recs[0].stream_chunks, 4);
    assert_int_equal(recs[0].stream_chunks_sent, 4);
    assert_true(recs[0].first_chunk_realtime_ns >= before);
    assert_true(recs[0].first_chunk_realtime_ns <= after);
    plm_mock_records_free(recs, n);
    plm_mock_free(m);
}

/* The responses API streams named events and ends with the whole
 * response. */
static void test_mock__sse_responses(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    char text[256] = "", event[64] = "";
    char *save = NULL, *line;
    int created = 0, completed = 0;

    (void)state;
    plm_test_mock_xfer(&x, m, "/v1/responses",
                       "{\"model\":\"r\",\"input\":\"flow\","
                       "\"stream\":true}",
                       (const char *)NULL);
    plm_test_xfer_run(&x);
    assert_int_equal(x.status, 200);
    for (line = strtok_r(x.body.p, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j;

        if (strncmp(line, "event: ", 7) == 0) {
            snprintf(event, sizeof event, "%s", line + 7);
            continue;
        }
        j = plm_test_json(line + 6);
        assert_string_equal(plm_test_jstr(j, "type"), event);
        if (strcmp(event, "response.created") == 0)
            created++;
        if (strcmp(event, "response.output_text.delta") == 0)
            strncat(text, plm_test_jstr(j, "delta"),
                    sizeof text - strlen(text) - 1);
        if (strcmp(event, "response.completed") == 0) {
            completed++;
            assert_string_equal(
                plm_test_jstr(j, "response.output.0.content.0.text"),
                "mock reply: flow");
        }
        json_decref(j);
    }
    assert_int_equal(created, 1);
    assert_int_equal(completed, 1);
    assert_string_equal(text, "mock reply: flow");
    plm_test_xfer_free(&x);
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
        cmocka_unit_test(test_mock__sse_openai),
        cmocka_unit_test(test_mock__sse_anthropic),
        cmocka_unit_test(test_mock__sse_paced),
        cmocka_unit_test(test_mock__sse_responses),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
