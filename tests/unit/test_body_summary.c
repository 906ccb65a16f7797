/* A raw body given as text (plm__request_new_raw_text): what the library
 * reads of it without a tree (src/proto/body_summary.c) equals what it
 * reads from jansson's tree of the same text (model, stream flag, token
 * estimates), for bodies the scan decides and for bodies it leaves to
 * jansson; the text goes out as given. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

static const char chat[] = "/v1/chat/completions";

/* A request from the text; *summarized says whether it was read without
 * jansson. */
static plm_request *from_text(const char *text, const char *path,
                              int *summarized)
{
    plm_request *req = NULL;
    char *copy = strdup(text);

    assert_non_null(copy);
    assert_int_equal(plm__request_new_raw_text(&req, PLM_PROVIDER_OPENAI,
                                               "POST", path, copy,
                                               strlen(copy)),
                     PLM_OK);
    *summarized = req->summarized;
    assert_true(req->summarized ? req->body == NULL : req->body != NULL);
    assert_string_equal(plm_request_body(req), text);
    return req;
}

/* The same request read through jansson's tree, as before. */
static plm_request *from_tree(const char *text, const char *path)
{
    plm_request *req = NULL;

    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                         path, text),
                     PLM_OK);
    return req;
}

/* Checks both ways agree; returns the text request's token estimate. */
static int64_t check(const char *text, const char *path, int want_summary)
{
    int summarized;
    plm_request *a = from_text(text, path, &summarized);
    plm_request *b = from_tree(text, path);
    const char *ma = plm__request_model(a), *mb = plm__request_model(b);
    int64_t est = plm__request_estimate_tokens(a);

    assert_int_equal(summarized, want_summary);
    assert_int_equal(est, plm__request_estimate_tokens(b));
    assert_int_equal(plm__request_prompt_bytes(a),
                     plm__request_prompt_bytes(b));
    assert_int_equal(plm__request_estimate_output_tokens(a),
                     plm__request_estimate_output_tokens(b));
    assert_int_equal(a->stream, b->stream);
    if (mb)
        assert_string_equal(ma, mb);
    else
        assert_null(ma);
    plm_request_free(a);
    plm_request_free(b);
    return est;
}

/* The prompt bytes of a body the scan reads. */
static uint64_t bytes_of(const char *text)
{
    int summarized;
    plm_request *req = from_text(text, chat, &summarized);
    uint64_t n = plm__request_prompt_bytes(req);

    assert_true(summarized);
    plm_request_free(req);
    return n;
}

static void test_summary__escaped_content(void **state)
{
    (void)state;
    /* a " b \ n é: 6 bytes, 2 tokens, plus 10. */
    assert_int_equal(check("{\"model\":\"gpt\",\"messages\":[{\"role\":"
                           "\"user\",\"content\":\"a\\\"b\\\\n\\u00e9\"}],"
                           "\"max_tokens\":10}",
                           chat, 1),
                     12);
    assert_int_equal(bytes_of("{\"prompt\":\"\\u0041\\u00e9\\u20ac\"}"), 6);
    assert_int_equal(bytes_of("{\"prompt\":\"a\\\"\\/\\b\\f\\n\\r\\t\\\\\"}"),
                     9);
    /* \u escapes of one, two and three bytes; the other escapes. */
    assert_int_equal(check("{\"prompt\":\"\\u0041\\u00e9\\u20ac\\/\\b\\f\\n"
                           "\\r\\t\",\"max_tokens\":0}",
                           "/v1/completions", 1),
                     3);
    /* Raw UTF-8 counts its bytes. */
    assert_int_equal(check("{\"input\":\"\xc3\xa9\xe2\x82\xac\","
                           "\"max_output_tokens\":1}",
                           "/v1/responses", 1),
                     3);
}

static void test_summary__content_parts(void **state)
{
    (void)state;
    /* 4 + 2 + 1 + 8 = 15 bytes (the number, null and nested array count
     * nothing): 4 tokens, plus the default output. */
    assert_int_equal(
        check("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
              "\"text\",\"text\":\"abcd\"},\"xy\",{\"content\":[\"z\"]},5,"
              "null,[\"nested\"]]},\"not an object\",7],"
              "\"system\":[{\"text\":\"12345678\"}]}",
              chat, 1),
        4 + 1024);
    /* Parts whose text is an array of parts, and instructions. */
    check("{\"instructions\":\"abc\",\"input\":[{\"content\":[{\"text\":"
          "\"x\",\"content\":\"yy\"}]}],\"messages\":{\"content\":\"no\"}}",
          "/v1/responses", 1);
}

static void test_summary__surrogates_to_jansson(void **state)
{
    (void)state;
    /* A surrogate pair is left to jansson: 4 bytes either way. */
    assert_int_equal(check("{\"model\":\"m\",\"messages\":[{\"content\":"
                           "\"\\ud83d\\ude00\"}],\"max_tokens\":3}",
                           chat, 0),
                     1 + 3);
    /* A key with an escape, too. */
    check("{\"\\u006dodel\":\"m\",\"stream\":true}", chat, 0);
}

static void test_summary__limits_and_n(void **state)
{
    (void)state;
    assert_int_equal(check("{\"model\":\"m\"}", chat, 1), 1024);
    assert_int_equal(check("{\"input\":\"x\"}", "/v1/embeddings", 1), 1);
    assert_int_equal(check("{\"max_tokens\":-5,\"max_completion_tokens\":7}",
                           chat, 1),
                     7);
    assert_int_equal(check("{\"max_tokens\":2.5,\"max_output_tokens\":8}", chat,
                           1),
                     8);
    assert_int_equal(check("{\"max_tokens\":\"9\"}", chat, 1), 1024);
    assert_int_equal(check("{\"max_tokens\":10,\"n\":5}", chat, 1), 50);
    assert_int_equal(check("{\"max_tokens\":10,\"n\":1000}", chat, 1), 1280);
    assert_int_equal(check("{\"max_tokens\":10,\"n\":-3}", chat, 1), 10);
    assert_int_equal(check("{\"max_tokens\":10,\"n\":2.0}", chat, 1), 10);
    /* 18 digits: read by the scan, capped by the estimate. */
    check("{\"max_tokens\":999999999999999999,\"n\":100}", chat, 1);
    /* 19 digits: left to jansson. */
    check("{\"max_tokens\":9223372036854775807}", chat, 0);
    check("{\"n\":-9223372036854775808,\"max_tokens\":1}", chat, 0);
}

static void test_summary__stream_and_model(void **state)
{
    (void)state;
    check("{\"stream\":true,\"model\":\"m\\u00e9\"}", chat, 1);
    check("{\"stream\":false,\"model\":5}", chat, 1);
    check("{\"stream\":\"true\",\"model\":null}", chat, 1);
    check("{\"stream\":1,\"model\":[\"m\"]}", chat, 1);
    check("{\"stream\":{}}", chat, 1);
}

static void test_summary__nested_and_duplicates(void **state)
{
    (void)state;
    /* Members of nested objects are not the body's. */
    assert_int_equal(
        check("{\"meta\":{\"model\":\"x\",\"stream\":true,\"messages\":[{"
              "\"content\":\"zzzzzzzz\"}],\"max_tokens\":1},\"model\":\"real\","
              "\"max_tokens\":2,\"list\":[{\"n\":9},[[]],{}]}",
              chat, 1),
        2);
    /* A repeated key the library reads goes to jansson (the last one
     * counts); one it does not read is no matter. */
    check("{\"model\":\"a\",\"model\":\"b\"}", chat, 0);
    check("{\"messages\":[{\"content\":\"a\",\"content\":\"bbbbbbbbb\"}]}",
          chat, 0);
    check("{\"input\":[{\"text\":\"a\",\"text\":\"bbbbbbbbb\"}]}",
          "/v1/responses", 0);
    check("{\"x\":1,\"x\":2,\"model\":\"m\"}", chat, 1);
}

static void test_summary__refused(void **state)
{
    static const char *const bad[] = { "{\"a\":}", "[1]", "\"s\"", "",
                                       "{} {}" };
    plm_request *req = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *copy = strdup(bad[i]);
        assert_int_equal(plm__request_new_raw_text(&req, PLM_PROVIDER_OPENAI,
                                                   "POST", chat, copy,
                                                   strlen(copy)),
                         PLM_EINVAL);
        assert_null(req);
    }
    /* A NUL inside the text, which jansson skips after a number: the
     * text is one C string, as the public constructor's. */
    char *nul = malloc(9);
    assert_non_null(nul);
    memcpy(nul, "{\"a\":1\0}", 9);
    assert_int_equal(plm__request_new_raw_text(&req, PLM_PROVIDER_OPENAI,
                                               "POST", chat, nul, 8),
                     PLM_EINVAL);
    /* Bad method or path: refused, the text freed. */
    assert_int_equal(plm__request_new_raw_text(&req, PLM_PROVIDER_OPENAI,
                                               "PO ST", chat, strdup("{}"), 2),
                     PLM_EINVAL);
    assert_int_equal(plm__request_new_raw_text(&req, PLM_PROVIDER_OPENAI,
                                               "POST", "v1", strdup("{}"), 2),
                     PLM_EINVAL);
}

/* What needs the tree still works: the stream flag set on a body read
 * from its text. */
static void test_summary__tree_on_demand(void **state)
{
    plm_request *req = NULL;
    char *copy = strdup("{\"model\": \"m\",\"max_tokens\":4}");

    (void)state;
    assert_int_equal(plm__request_new_raw_text(&req, PLM_PROVIDER_OPENAI,
                                               "POST", chat, copy,
                                               strlen(copy)),
                     PLM_OK);
    assert_true(req->summarized);
    assert_int_equal(plm_request_set_stream(req, 1), PLM_OK);
    assert_false(req->summarized);
    assert_int_equal(req->stream, 1);
    assert_string_equal(plm_request_body(req),
                        "{\"model\":\"m\",\"max_tokens\":4,\"stream\":true}");
    assert_string_equal(plm__request_model(req), "m");
    assert_int_equal(plm__request_estimate_tokens(req), 4);
    /* The chat builders still refuse a raw request. */
    assert_int_equal(plm_request_add_message(req, "user", "x"), PLM_EINVAL);
    plm_request_free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary__escaped_content),
        cmocka_unit_test(test_summary__content_parts),
        cmocka_unit_test(test_summary__surrogates_to_jansson),
        cmocka_unit_test(test_summary__limits_and_n),
        cmocka_unit_test(test_summary__stream_and_model),
        cmocka_unit_test(test_summary__nested_and_duplicates),
        cmocka_unit_test(test_summary__refused),
        cmocka_unit_test(test_summary__tree_on_demand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
