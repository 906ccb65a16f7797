/* Streamed answers assembled into the object each endpoint returns
 * without streaming (chat, legacy completions, Responses, images,
 * Anthropic messages), streams cut short, and the answers of the
 * moderations and images endpoints read as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "provider.h"
#include "result.h"

static plm_result *parse(plm_provider p, const char *path,
                         const char *content_type, const char *body)
{
    plm__headers h = { 0 };
    plm_result *res = plm__result_new(NULL);

    assert_non_null(res);
    if (content_type)
        h.content_type = strdup(content_type);
    plm__provider_parse(p, path, 200, &h, body, strlen(body), res);
    plm__headers_clear(&h);
    return res;
}

static plm_result *parse_sse(plm_provider p, const char *body)
{
    return parse(p, "/v1/x", "text/event-stream", body);
}

/* The assembled body as a JSON object (the test owns it). */
static json_t *assembled(const plm_result *res)
{
    size_t len = 0;
    const char *text = plm_result_assembled_body(res, &len);
    json_t *obj;

    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    obj = json_loadb(text, len, 0, NULL);
    assert_true(json_is_object(obj));
    return obj;
}

/* The string at a jansson path like "choices.0.message.content". */
static json_t *at(json_t *root, const char *path)
{
    char buf[256], *save = NULL, *part;
    json_t *v = root;

    snprintf(buf, sizeof buf, "%s", path);
    for (part = strtok_r(buf, ".", &save); part && v;
         part = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)atoi(part));
        else
            v = json_object_get(v, part);
    }
    return v;
}

static void assert_str_at(json_t *root, const char *path, const char *want)
{
    json_t *v = at(root, path);

    if (!json_is_string(v))
        fail_msg("%s is not a string", path);
    assert_string_equal(json_string_value(v), want);
}

static void assert_int_at(json_t *root, const char *path, json_int_t want)
{
    json_t *v = at(root, path);

    if (!json_is_integer(v))
        fail_msg("%s is not an integer", path);
    assert_int_equal(json_integer_value(v), want);
}

#define CHUNK(s) "data: " s "\n\n"

static void test_stream__chat_choices_tools_usage(void **state)
{
    /* Two choices interleaved, choice 1 first; choice 0 calls two tools
     * whose arguments arrive in pieces; logprobs per chunk; usage last. */
    static const char body[] = CHUNK(
        "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
        "\"created\":7,\"model\":\"g\",\"system_fingerprint\":\"fp\","
        "\"choices\":[{\"index\":1,\"delta\":{\"role\":\"assistant\","
        "\"content\":\"\"},\"finish_reason\":null}]}")
        CHUNK(
            "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
            "\"created\":7,\"model\":\"g\",\"choices\":[{\"index\":0,"
            "\"delta\":{\"role\":\"assistant\",\"content\":null,"
            "\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":"
            "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}"
            "]},\"finish_reason\":null}]}") CHUNK("{\"id\":\"c1\",\"object\":"
                                                  "\"chat.completion.chunk\","
                                                  "\"choices\":[{\"index\":1,"
                                                  "\"delta\":{\"content\":"
                                                  "\"Hel\"},"
                                                  "\"logprobs\":{\"content\":[{"
                                                  "\"token\":\"Hel\","
                                                  "\"logprob\":-1}]}"
                                                  ",\"finish_reason\":null}]}")
            CHUNK("{\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
                  "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
                  "\"index\":0,\"function\":{\"arguments\":\"{\\\"x\\\":\"}},{"
                  "\"index\":1,\"id\":\"call_b\",\"type\":\"function\","
                  "\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},"
                  "\"finish_reason\":null}]}")
                CHUNK(
                    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
                    "\"choices\":[{\"index\":1,\"delta\":{\"content\":\"lo\"},"
                    "\"logprobs\":{\"content\":[{\"token\":\"lo\",\"logprob\":-"
                    "2}]}"
                    ",\"finish_reason\":null}]}")
                    CHUNK(
                        "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
                        "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
                        "\"index\":0,\"function\":{\"arguments\":\"1}\"}}]},"
                        "\"finish_reason\":null}]}")
                        CHUNK("{\"id\":\"c1\",\"object\":\"chat.completion."
                              "chunk\","
                              "\"choices\":[{\"index\":0,\"delta\":{},\"finish_"
                              "reason\":"
                              "\"tool_calls\"}]}")
                            CHUNK("{\"id\":\"c1\",\"object\":\"chat.completion."
                                  "chunk\","
                                  "\"choices\":[{\"index\":1,\"delta\":{},"
                                  "\"finish_reason\":"
                                  "\"stop\"}]}")
                                CHUNK("{\"id\":\"c1\",\"object\":\"chat."
                                      "completion.chunk\","
                                      "\"choices\":[],\"usage\":{\"prompt_"
                                      "tokens\":5,"
                                      "\"completion_tokens\":9,\"total_"
                                      "tokens\":14}}") CHUNK("[DONE]");
    plm_result *res = parse_sse(PLM_PROVIDER_OPENAI, body);
    json_t *o;

    assert_int_equal(res->code, PLM_OK);
    o = assembled(res);
    assert_str_at(o, "id", "c1");
    assert_str_at(o, "object", "chat.completion");
    assert_int_at(o, "created", 7);
    assert_str_at(o, "model", "g");
    assert_str_at(o, "system_fingerprint", "fp");
    assert_int_equal(json_array_size(at(o, "choices")), 2);
    assert_int_at(o, "choices.0.index", 0);
    assert_true(json_is_null(at(o, "choices.0.message.content")));
    assert_str_at(o, "choices.0.message.role", "assistant");
    assert_str_at(o, "choices.0.finish_reason", "tool_calls");
    assert_int_equal(json_array_size(at(o, "choices.0.message.tool_calls")), 2);
    assert_str_at(o, "choices.0.message.tool_calls.0.id", "call_a");
    assert_str_at(o, "choices.0.message.tool_calls.0.type", "function");
    assert_str_at(o, "choices.0.message.tool_calls.0.function.name", "f");
    assert_str_at(o, "choices.0.message.tool_calls.0.function.arguments",
                  "{\"x\":1}");
    assert_null(at(o, "choices.0.message.tool_calls.0.index"));
    assert_str_at(o, "choices.0.message.tool_calls.1.id", "call_b");
    assert_str_at(o, "choices.0.message.tool_calls.1.function.name", "g");
    assert_str_at(o, "choices.0.message.tool_calls.1.function.arguments", "{}");
    assert_int_at(o, "choices.1.index", 1);
    assert_str_at(o, "choices.1.message.content", "Hello");
    assert_str_at(o, "choices.1.finish_reason", "stop");
    assert_int_equal(json_array_size(at(o, "choices.1.logprobs.content")), 2);
    assert_str_at(o, "choices.1.logprobs.content.1.token", "lo");
    assert_int_at(o, "usage.prompt_tokens", 5);
    assert_int_at(o, "usage.completion_tokens", 9);
    assert_int_at(o, "usage.total_tokens", 14);
    /* The result's own fields still come from choice 0. */
    assert_string_equal(res->finish_reason, "tool_calls");
    assert_int_equal(res->completion_tokens, 9);
    json_decref(o);
    plm_result_free(res);
}

static void test_stream__chat_without_usage_has_none(void **state)
{
    static const char body[] = CHUNK(
        "{\"id\":\"c2\",\"object\":\"chat.completion.chunk\","
        "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
        "\"refusal\":\"No\"},\"finish_reason\":null}]}")
        CHUNK("{\"id\":\"c2\",\"object\":\"chat.completion.chunk\","
              "\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"pe.\"},"
              "\"finish_reason\":\"stop\"}]}") CHUNK("[DONE]");
    plm_result *res = parse_sse(PLM_PROVIDER_OPENAI, body);
    json_t *o;

    assert_int_equal(res->code, PLM_OK);
    o = assembled(res);
    assert_null(at(o, "usage"));
    assert_str_at(o, "choices.0.message.refusal", "Nope.");
    assert_true(json_is_null(at(o, "choices.0.message.content")));
    json_decref(o);
    plm_result_free(res);
}

static void test_stream__completions(void **state)
{
    static const char body[] = CHUNK(
        "{\"id\":\"cmpl-1\",\"object\":\"text_completion\","
        "\"created\":3,\"model\":\"i\",\"choices\":[{\"text\":\"Hi\","
        "\"index\":0,\"logprobs\":{\"tokens\":[\"Hi\"],"
        "\"token_logprobs\":[-0.5]},\"finish_reason\":null}]}")
        CHUNK("{\"id\":\"cmpl-1\",\"object\":\"text_completion\","
              "\"created\":3,\"model\":\"i\",\"choices\":[{\"text\":\" you\","
              "\"index\":0,\"logprobs\":{\"tokens\":[\" you\"],"
              "\"token_logprobs\":[-0.25]},\"finish_reason\":\"length\"}]}")
            CHUNK("{\"id\":\"cmpl-1\",\"object\":\"text_completion\","
                  "\"choices\":[],\"usage\":{\"prompt_tokens\":2,"
                  "\"completion_tokens\":2,\"total_tokens\":4}}")
                CHUNK("[DONE]");
    plm_result *res = parse_sse(PLM_PROVIDER_OPENAI, body);
    json_t *o;

    assert_int_equal(res->code, PLM_OK);
    o = assembled(res);
    assert_str_at(o, "object", "text_completion");
    assert_str_at(o, "choices.0.text", "Hi you");
    assert_str_at(o, "choices.0.finish_reason", "length");
    assert_int_equal(json_array_size(at(o, "choices.0.logprobs.tokens")), 2);
    assert_int_equal(json_array_size(
                         at(o, "choices.0.logprobs.token_logprobs")),
                     2);
    assert_null(at(o, "choices.0.message"));
    assert_int_at(o, "usage.total_tokens", 4);
    json_decref(o);
    plm_result_free(res);
}

static void test_stream__responses_final_object(void **state)
{
    static const char body[] =
        "event: response.created\n"
        "data: {\"type\":\"response.created\",\"response\":{\"id\":\"r1\","
        "\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n"
        "\n"
        "event: response.output_text.delta\n"
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n"
        "\n"
        "event: response.completed\n"
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\","
        "\"object\":\"response\",\"status\":\"completed\",\"output\":[{"
        "\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
        "\"output_text\",\"text\":\"Hi\",\"annotations\":[]}]}],\"usage\":{"
        "\"input_tokens\":3,\"output_tokens\":1,\"total_tokens\":4}}}\n"
        "\n";
    plm_result *res = parse_sse(PLM_PROVIDER_OPENAI, body);
    json_t *o;

    assert_int_equal(res->code, PLM_OK);
    o = assembled(res);
    assert_str_at(o, "id", "r1");
    assert_str_at(o, "object", "response");
    assert_str_at(o, "status", "completed");
    assert_str_at(o, "output.0.content.0.text", "Hi");
    assert_int_at(o, "usage.output_tokens", 1);
    assert_null(at(o, "type"));
    json_decref(o);
    plm_result_free(res);
}

static void test_stream__image_stream(void **state)
{
    static const char body[] =
        "event: image_generation.partial_image\n"
        "data: {\"type\":\"image_generation.partial_image\",\"b64_json\":"
        "\"cGFy\",\"partial_image_index\":0}\n"
        "\n"
        "event: image_generation.completed\n"
        "data: {\"type\":\"image_generation.completed\",\"b64_json\":\"Zm9v\","
        "\"created_at\":9,\"size\":\"1024x1024\",\"quality\":\"low\","
        "\"background\":\"opaque\",\"output_format\":\"png\",\"usage\":{"
        "\"input_tokens\":4,\"output_tokens\":272,\"total_tokens\":276}}\n"
        "\n";
    plm_result *res = parse_sse(PLM_PROVIDER_OPENAI, body);
    json_t *o;

    assert_int_equal(res->code, PLM_OK);
    o = assembled(res);
    assert_int_at(o, "created", 9);
    assert_str_at(o, "data.0.b64_json", "Zm9v");
    assert_int_equal(json_array_size(at(o, "data")), 1);
    assert_str_at(o, "size", "1024x1024");
    assert_int_at(o, "usage.output_tokens", 272);
    assert_int_equal(res->prompt_tokens, 4);
    assert_int_equal(res->completion_tokens, 272);
    json_decref(o);
    plm_result_free(res);
}

#define EVENT(name, data) "event: " name "\ndata: " data "\n\n"

static void test_stream__anthropic_message(void **state)
{
    static const char body[] = EVENT(
        "message_start",
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\","
        "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}")
        EVENT("content_block_start",
              "{\"type\":\"content_block_start\",\"index\":0,"
              "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}")
            EVENT("content_block_delta",
                  "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
                  "\"type\":\"thinking_delta\",\"thinking\":\"Let me \"}}")
                EVENT(
                    "content_block_delta",
                    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
                    "\"type\":\"thinking_delta\",\"thinking\":\"think.\"}}")
                    EVENT("content_block_delta",
                          "{\"type\":\"content_block_delta\",\"index\":0,"
                          "\"delta\":{"
                          "\"type\":\"signature_delta\",\"signature\":\"sig\"}"
                          "}") EVENT("content_block_stop",
                                     "{\"type\":\"content_block_stop\","
                                     "\"index\":0}")
                        EVENT("content_block_start",
                              "{\"type\":\"content_block_start\",\"index\":1,"
                              "\"content_block\":{\"type\":\"text\",\"text\":"
                              "\"\"}}")
                            EVENT("content_block_delta",
                                  "{\"type\":\"content_block_delta\",\"index\":"
                                  "1,\"delta\":{"
                                  "\"type\":\"text_delta\",\"text\":\"Hello\"}"
                                  "}") EVENT("content_block_delta",
                                             "{\"type\":\"content_block_"
                                             "delta\",\"index\":1,\"delta\":{"
                                             "\"type\":\"citations_delta\","
                                             "\"citation\":{\"type\":"
                                             "\"char_location\",\"cited_text\":"
                                             "\"x\"}}}") EVENT("content_block_"
                                                               "delta",
                                                               "{\"type\":"
                                                               "\"content_"
                                                               "block_delta\","
                                                               "\"index\":1,"
                                                               "\"delta\":{"
                                                               "\"type\":"
                                                               "\"text_delta\","
                                                               "\"text\":\", "
                                                               "world\"}}")
                                EVENT(
                                    "content_block_stop",
                                    "{\"type\":"
                                    "\"content_block_"
                                    "stop\",\"index\":"
                                    "1}") EVENT("content_block_start",
                                                "{\"type\":\"content_block_"
                                                "start\","
                                                "\"index\":2,"
                                                "\"content_block\":{\"type\":"
                                                "\"tool_use\","
                                                "\"id\":\"toolu_1\","
                                                "\"name\":\"w\",\"input\":{}}}")
                                    EVENT("content_block_delta",
                                          "{\"type\":\"content_block_delta\","
                                          "\"index\":2,\"delta\":{"
                                          "\"type\":\"input_json_delta\","
                                          "\"partial_json\":\"{\\\"ci\"}}")
                                        EVENT("content_block_delta",
                                              "{\"type\":\"content_block_"
                                              "delta\",\"index\":2,\"delta\":{"
                                              "\"type\":\"input_json_delta\","
                                              "\"partial_json\":"
                                              "\"ty\\\":\\\"Paris\\\"}\"}}")
                                            EVENT("content_block_stop",
                                                  "{\"type\":\"content_block_"
                                                  "stop\",\"index\":2}")
                                                EVENT(
                                                    "content_block_start",
                                                    "{\"type\":\"content_block_"
                                                    "start\",\"index\":3,"
                                                    "\"content_block\":{"
                                                    "\"type\":\"tool_use\","
                                                    "\"id\":\"toolu_2\","
                                                    "\"name\":\"now\","
                                                    "\"input\":{}}}")
                                                    EVENT("content_block_stop",
                                                          "{\"type\":\"content_"
                                                          "block_stop\","
                                                          "\"index\":3}")
                                                        EVENT(
                                                            "message_delta",
                                                            "{\"type\":"
                                                            "\"message_delta\","
                                                            "\"delta\":{\"stop_"
                                                            "reason\":"
                                                            "\"tool_use\","
                                                            "\"stop_sequence\":"
                                                            "null},\"usage\":{"
                                                            "\"output_tokens\":"
                                                            "42}}")
                                                            EVENT(
                                                                "message_stop",
                                                                "{\"type\":"
                                                                "\"message_"
                                                                "stop\"}");
    plm_result *res = parse_sse(PLM_PROVIDER_ANTHROPIC, body);
    json_t *o;

    assert_int_equal(res->code, PLM_OK);
    o = assembled(res);
    assert_str_at(o, "id", "msg_1");
    assert_str_at(o, "type", "message");
    assert_str_at(o, "role", "assistant");
    assert_str_at(o, "stop_reason", "tool_use");
    assert_true(json_is_null(at(o, "stop_sequence")));
    assert_int_at(o, "usage.input_tokens", 12);
    assert_int_at(o, "usage.output_tokens", 42);
    assert_int_equal(json_array_size(at(o, "content")), 4);
    assert_str_at(o, "content.0.type", "thinking");
    assert_str_at(o, "content.0.thinking", "Let me think.");
    assert_str_at(o, "content.0.signature", "sig");
    assert_str_at(o, "content.1.text", "Hello, world");
    assert_str_at(o, "content.1.citations.0.cited_text", "x");
    assert_str_at(o, "content.2.id", "toolu_1");
    assert_str_at(o, "content.2.input.city", "Paris");
    assert_true(json_is_object(at(o, "content.3.input")));
    assert_int_equal(json_object_size(at(o, "content.3.input")), 0);
    assert_string_equal(res->content, "Hello, world");
    json_decref(o);
    plm_result_free(res);
}

static void test_stream__anthropic_bad_tool_input(void **state)
{
    static const char body[] = EVENT(
        "message_start",
        "{\"type\":\"message_start\",\"message\":{\"id\":\"m\","
        "\"content\":[],\"usage\":{\"input_tokens\":1}}}")
        EVENT("content_block_start",
              "{\"type\":\"content_block_start\",\"index\":0,"
              "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\","
              "\"name\":\"w\",\"input\":{}}}")
            EVENT(
                "content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
                "\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"ci\"}}")
                EVENT("message_delta",
                      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                      "\"tool_use\"},\"usage\":{\"output_tokens\":3}}")
                    EVENT("message_stop", "{\"type\":\"message_stop\"}");
    plm_result *res = parse_sse(PLM_PROVIDER_ANTHROPIC, body);

    assert_int_equal(res->code, PLM_EPARSE);
    assert_int_equal(res->error_class, PLM_CLASS_PARSE);
    assert_null(plm_result_assembled_body(res, NULL));
    plm_result_free(res);
}

/* A server that skips message_start: the message is built anyway. */
static void test_stream__anthropic_without_start(void **state)
{
    static const char body[] =
        EVENT("content_block_start",
              "{\"type\":\"content_block_start\",\"index\":5,"
              "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
            EVENT("content_block_delta",
                  "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
                  "\"type\":\"text_delta\",\"text\":\"Hi\"}}")
                EVENT("message_delta",
                      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                      "\"end_turn\",\"content\":7}}")
                    EVENT("message_stop", "{\"type\":\"message_stop\"}");
    plm_result *res = parse_sse(PLM_PROVIDER_ANTHROPIC, body);
    json_t *o;

    assert_int_equal(res->code, PLM_OK);
    o = assembled(res);
    assert_str_at(o, "type", "message");
    assert_str_at(o, "stop_reason", "end_turn");
    /* The far index appended, not padded; the delta's index 0 finds it. */
    assert_int_equal(json_array_size(at(o, "content")), 1);
    assert_str_at(o, "content.0.text", "Hi");
    json_decref(o);
    plm_result_free(res);
}

/* Every stream cut before its end is a parse error with nothing
 * assembled: retried, never taken for an answer. */
static void test_stream__cut_short_is_unusable(void **state)
{
    static const struct {
        plm_provider provider;
        const char *body;
    } cases[] = {
        { PLM_PROVIDER_OPENAI,
          CHUNK("{\"id\":\"c\",\"object\":\"chat.completion.chunk\","
                "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
                "\"finish_reason\":null}]}") },
        { PLM_PROVIDER_OPENAI,
          CHUNK("{\"id\":\"c\",\"object\":\"text_completion\",\"choices\":"
                "[{\"index\":0,\"text\":\"Hel\",\"finish_reason\":null}]}") },
        { PLM_PROVIDER_OPENAI, "data: {\"id\":\"c\",\"object\":\"chat.comp" },
        /* n = 2: choice 0 finished, choice 1 cut midway, no [DONE]. */
        { PLM_PROVIDER_OPENAI,
          CHUNK("{\"id\":\"c\",\"choices\":[{\"index\":1,\"delta\":{"
                "\"content\":\"Hel\"},\"finish_reason\":null}]}")
              CHUNK("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":"
                    "{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}") },
        { PLM_PROVIDER_OPENAI,
          "event: response.output_text.delta\n"
          "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n"
          "\n" },
        { PLM_PROVIDER_ANTHROPIC,
          EVENT("message_start",
                "{\"type\":\"message_start\",\"message\":{\"id\":\"m\","
                "\"content\":[],\"usage\":{\"input_tokens\":1}}}")
              EVENT("content_block_start",
                    "{\"type\":\"content_block_start\",\"index\":0,"
                    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
                  EVENT("content_block_delta",
                        "{\"type\":\"content_block_delta\",\"index\":0,"
                        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}"
                        "}") },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        plm_result *res = parse_sse(cases[i].provider, cases[i].body);

        assert_int_equal(res->code, PLM_EPARSE);
        assert_null(plm_result_assembled_body(res, NULL));
        plm_result_free(res);
    }
}

static void test_stream__json_answers_not_assembled(void **state)
{
    static const char chat[] =
        "{\"id\":\"c\",\"choices\":[{\"message\":{\"content\":\"hi\"},"
        "\"finish_reason\":\"stop\"}]}";
    plm_result *res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions",
                            "application/json", chat);
    size_t len = 7;

    assert_int_equal(res->code, PLM_OK);
    assert_null(plm_result_assembled_body(res, &len));
    assert_int_equal(len, 0);
    plm_result_free(res);
}

static void test_stream__moderations_and_images_json(void **state)
{
    plm_result *res;

    res = parse(PLM_PROVIDER_OPENAI, "/v1/moderations", "application/json",
                "{\"id\":\"modr-1\",\"model\":\"omni-moderation-latest\","
                "\"results\":[{\"flagged\":false,\"categories\":{}}]}");
    assert_int_equal(res->code, PLM_OK);
    assert_null(res->request_id); /* no request-id header */
    assert_int_equal(res->prompt_tokens, -1);
    assert_int_equal(res->completion_tokens, 0);
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/moderations", "application/json",
                "{\"id\":\"modr-1\",\"model\":\"m\"}");
    assert_int_equal(res->code, PLM_EPARSE);
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/images/generations",
                "application/json",
                "{\"created\":1,\"data\":[{\"b64_json\":\"Zm9v\"}],\"usage\":{"
                "\"input_tokens\":10,\"output_tokens\":272,"
                "\"total_tokens\":282}}");
    assert_int_equal(res->code, PLM_OK);
    assert_int_equal(res->prompt_tokens, 10);
    assert_int_equal(res->completion_tokens, 272);
    plm_result_free(res);

    /* DALL-E reports no usage: the tokens stay unknown, not 0. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/images/edits", "application/json",
                "{\"created\":1,\"data\":[{\"url\":\"https://x/y.png\"}]}");
    assert_int_equal(res->code, PLM_OK);
    assert_int_equal(res->completion_tokens, -1);
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/images/generations",
                "application/json", "{\"created\":1}");
    assert_int_equal(res->code, PLM_EPARSE);
    plm_result_free(res);
}

static void test_stream__reset_attempt_clears(void **state)
{
    plm_result *res = parse_sse(PLM_PROVIDER_OPENAI,
                                CHUNK("{\"id\":\"c\",\"choices\":[{\"index\":"
                                      "0,\"delta\":{\"content\":\"a\"},"
                                      "\"finish_reason\":\"stop\"}]}")
                                    CHUNK("[DONE]"));

    assert_non_null(plm_result_assembled_body(res, NULL));
    plm__result_reset_attempt(res);
    assert_null(plm_result_assembled_body(res, NULL));
    plm_result_free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream__chat_choices_tools_usage),
        cmocka_unit_test(test_stream__chat_without_usage_has_none),
        cmocka_unit_test(test_stream__completions),
        cmocka_unit_test(test_stream__responses_final_object),
        cmocka_unit_test(test_stream__image_stream),
        cmocka_unit_test(test_stream__anthropic_message),
        cmocka_unit_test(test_stream__anthropic_bad_tool_input),
        cmocka_unit_test(test_stream__anthropic_without_start),
        cmocka_unit_test(test_stream__cut_short_is_unusable),
        cmocka_unit_test(test_stream__json_answers_not_assembled),
        cmocka_unit_test(test_stream__moderations_and_images_json),
        cmocka_unit_test(test_stream__reset_attempt_clears),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
