/*
 * The mock answers what the official OpenAI and Anthropic SDKs send, in
 * the shapes they parse: Anthropic's Bearer auth and any version, base64
 * embeddings and "dimensions", the responses API's full event sequence,
 * the model list, moderations, images, n choices, tool calls (plain and
 * streamed), a stream cut midway, and provider JSON errors with a request
 * id for every error path. tests/sdk drives the same with the real SDKs.
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

#define TOOLS_OPENAI                                                           \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_w\","      \
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":"            \
    "{\"type\":\"string\"},\"days\":{\"type\":\"integer\"}}}}},"               \
    "{\"type\":\"function\",\"function\":{\"name\":\"other\","                 \
    "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]"
#define TOOLS_ANTHROPIC                                                        \
    "\"tools\":[{\"name\":\"get_w\",\"input_schema\":{\"type\":\"object\","    \
    "\"properties\":{\"city\":{\"type\":\"string\"}}}}]"

/* POSTs body to path (GET when body is NULL) with the header lines that
 * follow, and waits for the answer. */
static void send_to(plm_test_xfer *x, plm_mock *m, const char *path,
                    const char *body, const char *h1, const char *h2)
{
    plm_test_mock_xfer(x, m, path, body, h1, h2, (const char *)NULL);
    plm_test_xfer_run(x);
    assert_int_equal(x->rc, CURLE_OK);
}

/* The JSON of an answer with status, checked for the request id header
 * (name) too. Caller decrefs. */
static json_t *answer(plm_test_xfer *x, long status, const char *id_header)
{
    char h[64];

    assert_int_equal(x->status, status);
    assert_non_null(plm_test_xfer_header(x, id_header, h, sizeof h));
    return plm_test_json(x->body.p);
}

static void test_mock_sdk__anthropic_bearer_any_version(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    char *b = plm_test_messages_body("hi", NULL);
    plm_test_xfer x;
    json_t *j;

    (void)state;
    send_to(&x, m, "/v1/messages", b, "Authorization: Bearer sk-ant-t",
            "anthropic-version: 2099-12-31");
    j = answer(&x, 200, "request-id");
    assert_string_equal(plm_test_jstr(j, "content.0.text"), "mock reply: hi");
    json_decref(j);
    plm_test_xfer_free(&x);

    /* No key at all: Anthropic's 401 shape. */
    send_to(&x, m, "/v1/messages", b, "anthropic-version: 2023-06-01", NULL);
    j = answer(&x, 401, "request-id");
    assert_string_equal(plm_test_jstr(j, "type"), "error");
    assert_string_equal(plm_test_jstr(j, "error.type"), "authentication_error");
    json_decref(j);
    plm_test_xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

/* Decodes standard base64 into out; returns the byte count. */
static size_t unbase64(const char *s, unsigned char *out, size_t cap)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    for (; *s && *s != '='; s++) {
        const char *p = strchr(al, *s);

        assert_non_null(p);
        acc = (acc << 6) | (uint32_t)(p - al);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            assert_true(n < cap);
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

static void test_mock_sdk__embeddings_base64_dimensions(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    unsigned char raw[256];
    json_t *j;
    size_t n;

    (void)state;
    send_to(&x, m, "/v1/embeddings",
            "{\"model\":\"e\",\"input\":[\"a\",\"b\"],"
            "\"encoding_format\":\"base64\"}",
            NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    n = unbase64(plm_test_jstr(j, "data.1.embedding"), raw, sizeof raw);
    assert_int_equal(n, 8 * 4);
    for (int i = 0; i < 8; i++) {
        uint32_t bits = (uint32_t)raw[i * 4] | (uint32_t)raw[i * 4 + 1] << 8 |
                        (uint32_t)raw[i * 4 + 2] << 16 |
                        (uint32_t)raw[i * 4 + 3] << 24;
        float f;

        memcpy(&f, &bits, 4);
        assert_true(f == (float)((1 + i) % 7) / 7.0f);
    }
    json_decref(j);
    plm_test_xfer_free(&x);

    send_to(&x, m, "/v1/embeddings",
            "{\"model\":\"e\",\"input\":\"a\",\"dimensions\":3,"
            "\"encoding_format\":\"float\"}",
            NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    assert_int_equal(json_array_size(json_object_get(
                         json_array_get(json_object_get(j, "data"), 0),
                         "embedding")),
                     3);
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

/* The event names of an SSE body, space-separated, into out; checks that
 * every data line is JSON with sequence numbers 0, 1, 2... when asked. */
static void sse_events(const char *body, char *out, size_t len, int seqs)
{
    const char *p = body;
    json_int_t want = 0;

    out[0] = '\0';
    while ((p = strstr(p, "event: ")) != NULL) {
        const char *data = strstr(p, "data: ");
        size_t n = strcspn(p + 7, "\n");
        char *line;
        json_t *j;

        assert_non_null(data);
        snprintf(out + strlen(out), len - strlen(out), "%s%.*s",
                 out[0] ? " " : "", (int)n, p + 7);
        line = strndup(data + 6, strcspn(data + 6, "\n"));
        j = plm_test_json(line);
        if (seqs)
            assert_int_equal(plm_test_jint(j, "sequence_number"), want++);
        json_decref(j);
        free(line);
        p = data;
    }
}

static void test_mock_sdk__responses_stream_sequence(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    char names[4096];
    const char *order[] = {
        "response.created",           "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.completed",
    };
    const char *at = names;

    (void)state;
    send_to(&x, m, "/v1/responses",
            "{\"model\":\"r\",\"input\":\"hello\",\"stream\":true}", NULL,
            NULL);
    assert_int_equal(x.status, 200);
    sse_events(x.body.p, names, sizeof names, 1);
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        at = strstr(at, order[i]);
        assert_non_null(at);
    }
    assert_non_null(strstr(x.body.p, "\"text\":\"mock reply: hello\""));
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock_sdk__models(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    json_t *j;

    (void)state;
    send_to(&x, m, "/v1/models", NULL, NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    assert_string_equal(plm_test_jstr(j, "object"), "list");
    assert_string_equal(plm_test_jstr(j, "data.0.object"), "model");
    assert_non_null(plm_test_jstr(j, "data.0.owned_by"));
    json_decref(j);
    plm_test_xfer_free(&x);

    send_to(&x, m, "/v1/models/gpt-x", NULL, NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    assert_string_equal(plm_test_jstr(j, "id"), "gpt-x");
    json_decref(j);
    plm_test_xfer_free(&x);

    send_to(&x, m, "/v1/models", NULL, "anthropic-version: 2023-06-01",
            "x-api-key: k");
    j = answer(&x, 200, "request-id");
    assert_string_equal(plm_test_jstr(j, "data.0.type"), "model");
    assert_true(json_is_false(json_object_get(j, "has_more")));
    json_decref(j);
    plm_test_xfer_free(&x);

    send_to(&x, m, "/v1/models", "{}", NULL, NULL);
    j = answer(&x, 405, "x-request-id");
    assert_string_equal(plm_test_jstr(j, "error.type"),
                        "invalid_request_error");
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock_sdk__moderations(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    json_t *j;

    (void)state;
    send_to(&x, m, "/v1/moderations", "{\"input\":[\"a\",\"b\"]}", NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    assert_string_equal(plm_test_jstr(j, "model"), "omni-moderation-latest");
    assert_int_equal(json_array_size(json_object_get(j, "results")), 2);
    assert_true(json_is_false(
        json_object_get(json_array_get(json_object_get(j, "results"), 1),
                        "flagged")));
    json_decref(j);
    plm_test_xfer_free(&x);

    send_to(&x, m, "/v1/moderations", "{\"input\":\"x [mock flagged]\"}", NULL,
            NULL);
    j = answer(&x, 200, "x-request-id");
    {
        json_t *r0 = json_array_get(json_object_get(j, "results"), 0);

        assert_true(json_is_true(json_object_get(r0, "flagged")));
        assert_true(json_is_true(
            json_object_get(json_object_get(r0, "categories"), "violence")));
        assert_non_null(
            json_object_get(json_object_get(r0, "category_scores"), "hate"));
    }
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

static void test_mock_sdk__images(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    unsigned char raw[128];
    json_t *j;

    (void)state;
    /* gpt-image: b64_json (a real PNG) and token usage. */
    send_to(&x, m, "/v1/images/generations",
            "{\"model\":\"gpt-image-1\",\"prompt\":\"a cat\",\"n\":2}", NULL,
            NULL);
    j = answer(&x, 200, "x-request-id");
    assert_true(json_is_integer(json_object_get(j, "created")));
    assert_int_equal(json_array_size(json_object_get(j, "data")), 2);
    assert_true(unbase64(plm_test_jstr(j, "data.1.b64_json"), raw, sizeof raw) >
                8);
    assert_memory_equal(raw, "\x89PNG\r\n\x1a\n", 8);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "usage"),
                                                   "output_tokens")) > 0);
    json_decref(j);
    plm_test_xfer_free(&x);

    /* DALL-E with response_format "url": URLs and no usage. */
    send_to(&x, m, "/v1/images/generations",
            "{\"model\":\"dall-e-3\",\"prompt\":\"a dog\","
            "\"response_format\":\"url\"}",
            NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    assert_int_equal(strncmp(plm_test_jstr(j, "data.0.url"), "https://", 8), 0);
    assert_null(json_object_get(json_array_get(json_object_get(j, "data"), 0),
                                "b64_json"));
    assert_null(json_object_get(j, "usage"));
    json_decref(j);
    plm_test_xfer_free(&x);

    /* Edits (the JSON form) answer in the same shape; directives in the
     * prompt apply. */
    send_to(&x, m, "/v1/images/edits",
            "{\"prompt\":\"hat [mock status=500 times=1]\",\"images\":"
            "[{\"image_url\":\"https://x/a.png\"}]}",
            NULL, NULL);
    j = answer(&x, 500, "x-request-id");
    json_decref(j);
    plm_test_xfer_free(&x);
    send_to(&x, m, "/v1/images/edits",
            "{\"prompt\":\"hat [mock status=500 times=1]\",\"images\":"
            "[{\"image_url\":\"https://x/a.png\"}]}",
            NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    assert_non_null(plm_test_jstr(j, "data.0.b64_json"));
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

/* fault=cut on a stream: a 200 event stream that stops halfway (no
 * [DONE]); with times=1 the next attempt gets the whole stream. */
static void test_mock_sdk__stream_cut(void **state)
{
    static const char body[] =
        "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
        "\"content\":\"a longer text to stream [mock fault=cut times=1]\"}]}";
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    char ct[64];

    (void)state;
    send_to(&x, m, "/v1/chat/completions", body, NULL, NULL);
    assert_int_equal(x.status, 200);
    assert_non_null(plm_test_xfer_header(&x, "content-type", ct, sizeof ct));
    assert_string_equal(ct, "text/event-stream");
    assert_non_null(strstr(x.body.p, "data: {"));
    assert_null(strstr(x.body.p, "[DONE]"));
    assert_null(strstr(x.body.p, "\"finish_reason\":\"stop\""));
    plm_test_xfer_free(&x);
    send_to(&x, m, "/v1/chat/completions", body, NULL, NULL);
    assert_int_equal(x.status, 200);
    assert_non_null(strstr(x.body.p, "data: [DONE]"));
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

/* One error path: status, provider shape and request id header. */
static void check_error(plm_mock *m, const char *path, const char *body,
                        const char *h1, long status, int anthropic)
{
    plm_test_xfer x;
    json_t *j;

    send_to(&x, m, path, body, h1, NULL);
    j = answer(&x, status, anthropic ? "request-id" : "x-request-id");
    if (anthropic) {
        assert_string_equal(plm_test_jstr(j, "type"), "error");
        assert_non_null(plm_test_jstr(j, "error.type"));
        assert_non_null(plm_test_jstr(j, "error.message"));
    } else {
        json_t *e = json_object_get(j, "error");

        assert_non_null(plm_test_jstr(j, "error.message"));
        assert_non_null(plm_test_jstr(j, "error.type"));
        assert_non_null(json_object_get(e, "param"));
        assert_non_null(json_object_get(e, "code"));
    }
    json_decref(j);
    plm_test_xfer_free(&x);
}

static void test_mock_sdk__json_errors_everywhere(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    const char *av = "anthropic-version: 2023-06-01";

    (void)state;
    check_error(m, "/v1/nope", "{}", NULL, 404, 0);
    check_error(m, "/v1/nope", "{}", av, 404, 1);
    check_error(m, "/v1/chat/completions", NULL, NULL, 405, 0);
    check_error(m, "/v1/messages", NULL, av, 405, 1);
    check_error(m, "/v1/chat/completions", "{not json", NULL, 400, 0);
    check_error(m, "/v1/messages", "[1]", av, 400, 1);
    check_error(m, "/v1/messages", "{}", av, 401, 1);
    check_error(m, "/v1/messages", "{}", "x-api-key: k", 400, 1);
    check_error(m, "/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":"
                "\"[mock status=503]\"}]}",
                NULL, 503, 0);
    plm_mock_free(m);
}

static void test_mock_sdk__n_choices(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    char *b = plm_test_chat_body("two", "{\"n\":2}");
    plm_test_xfer x;
    json_t *j;

    (void)state;
    send_to(&x, m, "/v1/chat/completions", b, NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    assert_int_equal(json_array_size(json_object_get(j, "choices")), 2);
    assert_int_equal(plm_test_jint(j, "choices.1.index"), 1);
    assert_string_equal(plm_test_jstr(j, "choices.1.message.content"),
                        "mock reply: two");
    json_decref(j);
    plm_test_xfer_free(&x);
    free(b);

    send_to(&x, m, "/v1/completions", "{\"prompt\":\"p\",\"n\":3}", NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    assert_int_equal(json_array_size(json_object_get(j, "choices")), 3);
    assert_string_equal(plm_test_jstr(j, "choices.2.text"), "mock reply: p");
    json_decref(j);
    plm_test_xfer_free(&x);

    b = plm_test_chat_body("two", "{\"n\":2,\"stream\":true}");
    send_to(&x, m, "/v1/chat/completions", b, NULL, NULL);
    assert_int_equal(x.status, 200);
    assert_non_null(strstr(x.body.p, "{\"index\":1,\"delta\":{\"role\""));
    assert_non_null(strstr(x.body.p, "\"index\":1,\"delta\":{},"
                                     "\"finish_reason\":\"stop\""));
    plm_test_xfer_free(&x);
    free(b);
    plm_mock_free(m);
}

/* Sends a chat request with the tools and checks the tool it calls
 * (NULL: a text answer). */
static void chat_tool(plm_mock *m, const char *user, const char *extra,
                      const char *want)
{
    char *b = plm_test_chat_body(user, extra);
    plm_test_xfer x;
    json_t *j, *args;

    send_to(&x, m, "/v1/chat/completions", b, NULL, NULL);
    j = answer(&x, 200, "x-request-id");
    if (want == NULL) {
        assert_string_equal(plm_test_jstr(j, "choices.0.finish_reason"),
                            "stop");
    } else {
        assert_string_equal(plm_test_jstr(j, "choices.0.finish_reason"),
                            "tool_calls");
        assert_true(json_is_null(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0),
                            "message"),
            "content")));
        assert_string_equal(
            plm_test_jstr(j, "choices.0.message.tool_calls.0.type"),
            "function");
        assert_string_equal(
            plm_test_jstr(j, "choices.0.message.tool_calls.0.function.name"),
            want);
        args = plm_test_json(
            plm_test_jstr(j,
                          "choices.0.message.tool_calls.0.function.arguments"));
        assert_true(json_is_object(args));
        if (strcmp(want, "get_w") == 0) {
            assert_string_equal(plm_test_jstr(args, "city"), "mock");
            assert_int_equal(plm_test_jint(args, "days"), 1);
        }
        json_decref(args);
    }
    json_decref(j);
    plm_test_xfer_free(&x);
    free(b);
}

static void test_mock_sdk__tool_calls(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    plm_test_xfer x;
    json_t *j;

    (void)state;
    chat_tool(m, "weather? [mock tool_call]", "{" TOOLS_OPENAI "}", "get_w");
    chat_tool(m, "weather?", "{" TOOLS_OPENAI "}", NULL);
    chat_tool(m, "weather?", "{" TOOLS_OPENAI ",\"tool_choice\":\"required\"}",
              "get_w");
    chat_tool(m, "weather?",
              "{" TOOLS_OPENAI ",\"tool_choice\":{\"type\":\"function\","
              "\"function\":{\"name\":\"other\"}}}",
              "other");
    chat_tool(m, "w [mock tool_call]",
              "{" TOOLS_OPENAI ",\"tool_choice\":\"none\"}", NULL);

    plm_test_anthropic(&x, m, "weather? [mock tool_call]",
                       "{" TOOLS_ANTHROPIC "}");
    j = answer(&x, 200, "request-id");
    assert_string_equal(plm_test_jstr(j, "stop_reason"), "tool_use");
    assert_string_equal(plm_test_jstr(j, "content.0.type"), "tool_use");
    assert_string_equal(plm_test_jstr(j, "content.0.name"), "get_w");
    assert_string_equal(plm_test_jstr(j, "content.0.input.city"), "mock");
    assert_non_null(plm_test_jstr(j, "content.0.id"));
    json_decref(j);
    plm_test_xfer_free(&x);

    plm_test_anthropic(&x, m, "weather?",
                       "{" TOOLS_ANTHROPIC ",\"tool_choice\":{\"type\":"
                       "\"any\"}}");
    j = answer(&x, 200, "request-id");
    assert_string_equal(plm_test_jstr(j, "stop_reason"), "tool_use");
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

/* Concatenates every "key":"..." string value of the SSE body. */
static void join_values(const char *body, const char *key, char *out,
                        size_t len)
{
    const char *p = body;
    size_t klen = strlen(key);

    out[0] = '\0';
    while ((p = strstr(p, "data: ")) != NULL) {
        char *line = strndup(p + 6, strcspn(p + 6, "\n"));
        const char *at = strstr(line, key);

        if (at != NULL && at[klen] == ':' && at[klen + 1] == '"') {
            /* Decode the JSON string through jansson. */
            json_t *j = json_loads(line, 0, NULL);
            json_t *v = NULL;

            assert_non_null(j);
            v = json_object_get(j, "delta");
            if (v == NULL) {
                json_t *c = json_array_get(json_object_get(j, "choices"), 0);
                json_t *tc = json_array_get(
                    json_object_get(json_object_get(c, "delta"), "tool_calls"),
                    0);

                v = json_object_get(json_object_get(tc, "function"),
                                    "arguments");
            } else {
                v = json_object_get(v, "partial_json");
            }
            if (json_is_string(v))
                snprintf(out + strlen(out), len - strlen(out), "%s",
                         json_string_value(v));
            json_decref(j);
        }
        free(line);
        p += 6;
    }
}

static void test_mock_sdk__tool_calls_streamed(void **state)
{
    plm_mock *m = plm_test_mock_start(NULL);
    char *b = plm_test_chat_body("w [mock tool_call]",
                                 "{\"stream\":true," TOOLS_OPENAI "}");
    plm_test_xfer x;
    char args[512];
    json_t *j;

    (void)state;
    send_to(&x, m, "/v1/chat/completions", b, NULL, NULL);
    assert_int_equal(x.status, 200);
    assert_non_null(strstr(x.body.p, "\"name\":\"get_w\""));
    assert_non_null(strstr(x.body.p, "\"finish_reason\":\"tool_calls\""));
    join_values(x.body.p, "\"arguments\"", args, sizeof args);
    j = plm_test_json(args);
    assert_string_equal(plm_test_jstr(j, "city"), "mock");
    json_decref(j);
    plm_test_xfer_free(&x);
    free(b);

    plm_test_anthropic(&x, m, "w [mock tool_call]",
                       "{\"stream\":true," TOOLS_ANTHROPIC "}");
    assert_int_equal(x.status, 200);
    assert_non_null(strstr(x.body.p, "\"type\":\"tool_use\""));
    assert_non_null(strstr(x.body.p, "\"stop_reason\":\"tool_use\""));
    join_values(x.body.p, "\"partial_json\"", args, sizeof args);
    j = plm_test_json(args);
    assert_string_equal(plm_test_jstr(j, "city"), "mock");
    json_decref(j);
    plm_test_xfer_free(&x);
    plm_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mock_sdk__anthropic_bearer_any_version),
        cmocka_unit_test(test_mock_sdk__embeddings_base64_dimensions),
        cmocka_unit_test(test_mock_sdk__responses_stream_sequence),
        cmocka_unit_test(test_mock_sdk__models),
        cmocka_unit_test(test_mock_sdk__moderations),
        cmocka_unit_test(test_mock_sdk__json_errors_everywhere),
        cmocka_unit_test(test_mock_sdk__n_choices),
        cmocka_unit_test(test_mock_sdk__tool_calls),
        cmocka_unit_test(test_mock_sdk__tool_calls_streamed),
        cmocka_unit_test(test_mock_sdk__images),
        cmocka_unit_test(test_mock_sdk__stream_cut),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
