/* Request building: provider body shapes, raw requests, validation,
 * serialization cache and token estimates. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

/* Parses the request's body as sent. */
static json_t *sent(plm_request *req)
{
    const char *text = plm_request_body(req);
    json_t *v;

    assert_non_null(text);
    assert_null(strchr(text, '\n')); /* compact */
    v = json_loads(text, 0, NULL);
    assert_non_null(v);
    return v;
}

static const char *str_at(json_t *root, const char *path)
{
    json_t *v = json_object_get(root, path);

    return json_string_value(v);
}

static void test_request__openai_chat_body(void **state)
{
    plm_request *req;
    json_t *b, *msgs;

    (void)state;
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI,
                                          "gpt-4o-mini"),
                     PLM_OK);
    assert_string_equal(req->path, "/v1/chat/completions");
    assert_string_equal(req->method, "POST");
    assert_int_equal(plm_request_add_message(req, "user", "Hi"), PLM_OK);
    assert_int_equal(plm_request_set_system(req, "Be brief."), PLM_OK);
    assert_int_equal(plm_request_set_system(req, "Be very brief."), PLM_OK);
    assert_int_equal(plm_request_set_temperature(req, 0.5), PLM_OK);
    assert_int_equal(plm_request_set_max_tokens(req, 64), PLM_OK);
    assert_int_equal(plm_request_set_json_response(req, 1), PLM_OK);
    assert_int_equal(plm_request_set_stream(req, 1), PLM_OK);
    b = sent(req);
    assert_string_equal(str_at(b, "model"), "gpt-4o-mini");
    msgs = json_object_get(b, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    assert_string_equal(str_at(json_array_get(msgs, 0), "role"), "system");
    assert_string_equal(str_at(json_array_get(msgs, 0), "content"),
                        "Be very brief.");
    assert_string_equal(str_at(json_array_get(msgs, 1), "role"), "user");
    assert_true(fabs(json_real_value(json_object_get(b, "temperature")) - 0.5) <
                1e-9);
    assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 64);
    assert_string_equal(str_at(json_object_get(b, "response_format"), "type"),
                        "json_object");
    assert_true(json_is_true(json_object_get(b, "stream")));
    assert_true(
        json_is_true(json_object_get(json_object_get(b, "stream_options"),
                                     "include_usage")));
    assert_int_equal(req->stream, 1);
    json_decref(b);

    assert_int_equal(plm_request_set_stream(req, 0), PLM_OK);
    assert_int_equal(plm_request_set_json_response(req, 0), PLM_OK);
    b = sent(req);
    assert_null(json_object_get(b, "stream"));
    assert_null(json_object_get(b, "stream_options"));
    assert_null(json_object_get(b, "response_format"));
    assert_int_equal(req->stream, 0);
    json_decref(b);
    plm_request_free(req);
}

static void test_request__anthropic_chat_body(void **state)
{
    plm_request *req;
    json_t *b, *msgs;
    const char *sys;

    (void)state;
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_ANTHROPIC,
                                          "claude-x"),
                     PLM_OK);
    assert_string_equal(req->path, "/v1/messages");
    b = sent(req);
    /* max_tokens is required by the API: a default is always sent. */
    assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")),
                     1024);
    json_decref(b);
    assert_int_equal(plm_request_set_system(req, "You are terse."), PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", "Hi"), PLM_OK);
    assert_int_equal(plm_request_add_message(req, "assistant", "Yo"), PLM_OK);
    assert_int_equal(plm_request_add_message(req, "system", "No emoji."),
                     PLM_OK);
    assert_int_equal(plm_request_set_max_tokens(req, 200), PLM_OK);
    assert_int_equal(plm_request_set_stream(req, 1), PLM_OK);
    b = sent(req);
    assert_string_equal(str_at(b, "system"), "You are terse.\n\nNo emoji.");
    msgs = json_object_get(b, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 200);
    assert_true(json_is_true(json_object_get(b, "stream")));
    assert_null(json_object_get(b, "stream_options"));
    assert_null(json_object_get(b, "response_format"));
    json_decref(b);

    /* JSON mode: an instruction in the sent system prompt only. */
    assert_int_equal(plm_request_set_json_response(req, 1), PLM_OK);
    b = sent(req);
    sys = str_at(b, "system");
    assert_non_null(strstr(sys, "You are terse."));
    assert_non_null(strstr(sys, "JSON"));
    assert_null(json_object_get(b, "response_format"));
    json_decref(b);
    assert_string_equal(str_at(req->body, "system"),
                        "You are terse.\n\nNo emoji.");
    plm_request_free(req);

    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_ANTHROPIC,
                                          "claude-x"),
                     PLM_OK);
    assert_int_equal(plm_request_set_json_response(req, 1), PLM_OK);
    b = sent(req);
    assert_non_null(strstr(str_at(b, "system"), "JSON"));
    json_decref(b);
    assert_null(json_object_get(req->body, "system"));
    plm_request_free(req);
}

static void test_request__serialize_cached_and_invalidated(void **state)
{
    plm_request *req;
    const char *first;

    (void)state;
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, "m"),
                     PLM_OK);
    assert_int_equal(plm__request_serialize(req), PLM_OK);
    first = req->body_text;
    assert_int_equal(req->body_len, strlen(first));
    assert_int_equal(plm__request_serialize(req), PLM_OK);
    assert_ptr_equal(req->body_text, first);
    assert_ptr_equal(plm_request_body(req), first);
    assert_int_equal(plm_request_add_message(req, "user", "x"), PLM_OK);
    assert_null(req->body_text);
    assert_non_null(strstr(plm_request_body(req), "\"x\""));
    /* Policy setters do not touch the body. */
    assert_int_equal(plm_request_set_timeout_ms(req, 5), PLM_OK);
    assert_non_null(req->body_text);
    plm_request_free(req);
}

static void test_request__chat_validation(void **state)
{
    plm_request *req = (plm_request *)&req;

    (void)state;
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, NULL),
                     PLM_EINVAL);
    assert_null(req);
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, ""),
                     PLM_EINVAL);
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, "\xfe"),
                     PLM_EINVAL);
    assert_int_equal(plm_request_new_chat(&req, (plm_provider)7, "m"),
                     PLM_EINVAL);
    assert_int_equal(plm_request_new_chat(NULL, PLM_PROVIDER_OPENAI, "m"),
                     PLM_EINVAL);
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, "m"),
                     PLM_OK);
    assert_int_equal(plm_request_add_message(req, NULL, "x"), PLM_EINVAL);
    assert_int_equal(plm_request_add_message(req, "", "x"), PLM_EINVAL);
    assert_int_equal(plm_request_add_message(req, "user", NULL), PLM_EINVAL);
    assert_int_equal(plm_request_set_system(req, NULL), PLM_EINVAL);
    /* Invalid UTF-8: stray continuation, overlong, surrogate, truncated. */
    assert_int_equal(plm_request_add_message(req, "user", "a\x80"), PLM_EINVAL);
    assert_int_equal(plm_request_add_message(req, "user", "\xc0\xaf"),
                     PLM_EINVAL);
    assert_int_equal(plm_request_add_message(req, "user", "\xed\xa0\x80"),
                     PLM_EINVAL);
    assert_int_equal(plm_request_add_message(req, "user", "\xe2\x82"),
                     PLM_EINVAL);
    assert_int_equal(plm_request_set_system(req, "\xff"), PLM_EINVAL);
    assert_int_equal(plm_request_add_message(req, "user",
                                             "\xe2\x82\xac \xf0\x9f\x98\x80"),
                     PLM_OK);
    assert_int_equal(plm_request_set_temperature(req, -0.1), PLM_EINVAL);
    assert_int_equal(plm_request_set_temperature(req, 2.5), PLM_EINVAL);
    assert_int_equal(plm_request_set_temperature(req, NAN), PLM_EINVAL);
    assert_int_equal(plm_request_set_max_tokens(req, 0), PLM_EINVAL);
    assert_int_equal(plm_request_set_max_tokens(req, -3), PLM_EINVAL);
    assert_int_equal(plm_request_set_timeout_ms(req, -1), PLM_EINVAL);
    assert_int_equal(plm_request_set_max_retries(req, -2), PLM_EINVAL);
    assert_int_equal(plm_request_set_max_retries(req, -1), PLM_OK);
    assert_int_equal(plm_request_set_max_retries(req, 7), PLM_OK);
    assert_int_equal(req->max_retries, 7);
    assert_int_equal(plm_request_set_timeout_ms(req, 1234), PLM_OK);
    assert_int_equal(req->timeout_ms, 1234);
    plm_request_set_user_data(req, &req);
    assert_ptr_equal(plm_request_user_data(req), &req);
    assert_int_equal(plm_request_add_message(NULL, "user", "x"), PLM_EINVAL);
    assert_null(plm_request_user_data(NULL));
    assert_null(plm_request_body(NULL));
    plm_request_free(req);
    plm_request_free(NULL);
}

static void test_request__raw(void **state)
{
    plm_request *req;
    json_t *b;

    (void)state;
    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                         "/v1/embeddings",
                                         "{\"model\":\"e\",\"input\":\"abc\"}"),
                     PLM_OK);
    assert_int_equal(req->is_raw, 1);
    assert_string_equal(req->method, "POST");
    assert_string_equal(req->path, "/v1/embeddings");
    assert_int_equal(req->max_retries, -1);
    assert_int_equal(plm_request_set_system(req, "x"), PLM_EINVAL);
    assert_int_equal(plm_request_add_message(req, "user", "x"), PLM_EINVAL);
    assert_int_equal(plm_request_set_temperature(req, 1), PLM_EINVAL);
    assert_int_equal(plm_request_set_max_tokens(req, 1), PLM_EINVAL);
    assert_int_equal(plm_request_set_json_response(req, 1), PLM_EINVAL);
    assert_int_equal(plm_request_set_timeout_ms(req, 10), PLM_OK);
    assert_int_equal(plm_request_set_max_retries(req, 1), PLM_OK);
    assert_int_equal(req->stream, 0);
    assert_int_equal(plm_request_set_stream(req, 1), PLM_OK);
    assert_int_equal(req->stream, 1);
    b = sent(req);
    assert_true(json_is_true(json_object_get(b, "stream")));
    assert_null(json_object_get(b, "stream_options"));
    assert_string_equal(str_at(b, "input"), "abc");
    json_decref(b);
    plm_request_free(req);

    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                         "/v1/chat/completions",
                                         "{\"stream\":true}"),
                     PLM_OK);
    assert_int_equal(req->stream, 1);
    plm_request_free(req);
}

static void test_request__raw_validation(void **state)
{
    static const char *const bad_methods[] = { NULL,      "",     "PO ST",
                                               "GET\r\n", "P(ST", "POST\n" };
    static const char *const bad_paths[] = {
        NULL, "", "v1/x", "http://h/x", "/v1/x y", "/v1\r\nX: 1", "/\x7f"
    };
    static const char *const bad_bodies[] = { NULL, "",  "[1]",      "\"s\"",
                                              "1",  "{", "{} extra", "null" };
    plm_request *req = NULL;
    const char *ok_body = "{}";

    (void)state;
    for (size_t i = 0; i < sizeof bad_methods / sizeof *bad_methods; i++)
        assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI,
                                             bad_methods[i], "/v1/x", ok_body),
                         PLM_EINVAL);
    for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++)
        assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                             bad_paths[i], ok_body),
                         PLM_EINVAL);
    for (size_t i = 0; i < sizeof bad_bodies / sizeof *bad_bodies; i++)
        assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_ANTHROPIC,
                                             "POST", "/v1/messages",
                                             bad_bodies[i]),
                         PLM_EINVAL);
    assert_null(req);
    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "GET",
                                         "/v1/models?x=1", ok_body),
                     PLM_OK);
    plm_request_free(req);
}

static void test_request__estimate_tokens(void **state)
{
    plm_request *req;

    (void)state;
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, "m"),
                     PLM_OK);
    /* Nothing yet: the default output allowance. */
    assert_int_equal(plm__request_estimate_tokens(req), 1024);
    assert_int_equal(plm_request_set_system(req, "12345678"), PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", "abc"), PLM_OK);
    assert_int_equal(plm_request_set_max_tokens(req, 100), PLM_OK);
    /* 11 bytes -> 3 tokens, + 100. */
    assert_int_equal(plm__request_estimate_tokens(req), 103);
    plm_request_free(req);

    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                         "/v1/chat/completions",
                                         "{\"messages\":[{\"role\":\"user\","
                                         "\"content\":[{\"type\":\"text\","
                                         "\"text\":\"abcdefgh\"}]}],"
                                         "\"max_completion_tokens\":10,"
                                         "\"n\":3}"),
                     PLM_OK);
    assert_int_equal(plm__request_estimate_tokens(req), 2 + 30);
    plm_request_free(req);

    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                         "/v1/embeddings",
                                         "{\"input\":[\"abcd\",\"e\"]}"),
                     PLM_OK);
    assert_int_equal(plm__request_estimate_tokens(req), 2);
    plm_request_free(req);

    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                         "/v1/completions",
                                         "{\"prompt\":\"abcd\",\"max_tokens\":"
                                         "9223372036854775807,\"n\":1000000}"),
                     PLM_OK);
    assert_true(plm__request_estimate_tokens(req) > 0); /* no overflow */
    plm_request_free(req);
    assert_int_equal(plm__request_estimate_tokens(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request__openai_chat_body),
        cmocka_unit_test(test_request__anthropic_chat_body),
        cmocka_unit_test(test_request__serialize_cached_and_invalidated),
        cmocka_unit_test(test_request__chat_validation),
        cmocka_unit_test(test_request__raw),
        cmocka_unit_test(test_request__raw_validation),
        cmocka_unit_test(test_request__estimate_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
