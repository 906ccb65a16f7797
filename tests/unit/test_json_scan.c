/*
 * The tree-less JSON scanner (src/proto/json_scan.c): what it accepts and
 * what it leaves to jansson, the values it reads, and the providers'
 * answers read through it giving what jansson's path gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "headers.h"
#include "json_scan.h"
#include "provider.h"
#include "result.h"

static int accepts(const char *text)
{
    plm__jscan_doc doc;
    plm__jspan root;
    return plm__jscan_object(text, strlen(text), &doc, &root);
}

static void test_json_scan__accepts_valid_objects(void **state)
{
    (void)state;
    assert_true(accepts("{}"));
    assert_true(accepts(" \t\r\n{ } \n"));
    assert_true(accepts("{\"a\":[1,-2,3.5,-0.25e-3,1E+2,true,false,null],"
                        "\"b\":{\"c\":\"d\\n\\u00e9\\\"\"}}"));
    assert_true(
        accepts("{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"));
    assert_true(accepts("{\"n\":123456789012345678}"));
}

/* {"a":[[...]]} with levels arrays, in buf. */
static const char *nested(char *buf, int levels)
{
    char *p = buf + sprintf(buf, "{\"a\":");

    memset(p, '[', (size_t)levels);
    memset(p + levels, ']', (size_t)levels);
    strcpy(p + 2 * levels, "}");
    return buf;
}

/* Invalid JSON, and valid JSON the scanner leaves to jansson. */
static void test_json_scan__leaves_the_rest_to_jansson(void **state)
{
    static const char *const refused[] = {
        "",
        "[]",
        "\"x\"",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":-}",
        "{\"a\":tru}",
        "{\"a\":1} x",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":\"\xe2\x82\"}",
        /* valid, but decided by jansson: */
        "{\"\\u0061\":1}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud83d\\ude00\"}",
        "{\"a\":1234567890123456789}",
        "{\"a\":1e400}",
    };
    char deep[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        plm__jscan_doc doc;
        plm__jspan root;
        if (plm__jscan_object(refused[i], strlen(refused[i]), &doc, &root))
            fail_msg("accepted: %s", refused[i]);
    }
    /* The object and 63 arrays in it are the scanner's; one more level
     * is jansson's. */
    assert_true(accepts(nested(deep, 63)));
    assert_false(accepts(nested(deep, 64)));
}

static void test_json_scan__reads_values(void **state)
{
    const char *text = "{ \"s\" : \"a\\tb\\u00e9\\u20ac\\/\\\\\" , \"i\":-42,"
                       "\"r\":2.0,\"o\":{\"x\":[10, 20 ,30]},\"d\":1,\"d\":2}";
    static const char *const keys[] = { "s", "i", "r", "o" };
    plm__jscan_doc doc;
    plm__jspan root, v[4], x, it = { NULL, 0, NULL };
    int64_t n;
    size_t len;
    int oom, count = 0;
    char *s;

    (void)state;
    assert_true(plm__jscan_object(text, strlen(text), &doc, &root));
    assert_int_equal(plm__jscan_members(root, keys, 4, v), 0);
    s = plm__jscan_string(v[0], &len, &oom);
    assert_non_null(s);
    assert_string_equal(s, "a\tb\xc3\xa9\xe2\x82\xac/\\");
    assert_int_equal(len, strlen(s));
    free(s);
    assert_true(plm__jscan_integer(v[1], &n));
    assert_int_equal(n, -42);
    assert_false(plm__jscan_integer(v[2], &n)); /* a real, as in jansson */
    assert_int_equal(plm__jscan_kind(v[2]), '0');
    assert_int_equal(plm__jscan_member(v[3], "x", &x), 1);
    while (plm__jscan_next(x, &it)) {
        assert_true(plm__jscan_integer(it, &n));
        assert_int_equal(n, 10 * ++count);
    }
    assert_int_equal(count, 3);
    assert_int_equal(plm__jscan_member(root, "missing", &x), 0);
    assert_null(x.p);
    /* A repeated key is the caller's to leave to jansson. */
    assert_int_equal(plm__jscan_member(root, "d", &x), -1);
    assert_null(plm__jscan_string(v[1], &len, &oom)); /* not a string */
    assert_int_equal(oom, 0);
}

/* Lookups past the containers a scan records (PLM__JSCAN_VALUES), and in
 * a span without the scan's record, walk the text to the same values. */
static void test_json_scan__reads_past_the_record(void **state)
{
    char text[2048], *p = text, key[16];
    plm__jscan_doc doc;
    plm__jspan root, v, x, bare, it = { NULL, 0, NULL };
    int64_t n;
    int count = PLM__JSCAN_VALUES + 8;

    (void)state;
    p += sprintf(p, "{");
    for (int i = 0; i < count; i++)
        p += sprintf(p, "\"a%d\": {\"v\": [%d, {}]}, ", i, i);
    sprintf(p, "\"z\":{\"w\":[[1],\"]\",2]}}");
    assert_true(plm__jscan_object(text, strlen(text), &doc, &root));
    bare = root;
    bare.doc = NULL;
    for (int i = 0; i < count; i++) {
        snprintf(key, sizeof key, "a%d", i);
        assert_int_equal(plm__jscan_member(i % 2 ? root : bare, key, &v), 1);
        assert_int_equal(plm__jscan_member(v, "v", &x), 1);
        it.p = NULL;
        assert_true(plm__jscan_next(x, &it));
        assert_true(plm__jscan_integer(it, &n));
        assert_int_equal(n, i);
        assert_true(plm__jscan_next(x, &it));
        assert_int_equal(plm__jscan_kind(it), '{');
        assert_int_equal(it.n, 2);
        assert_false(plm__jscan_next(x, &it));
    }
    assert_int_equal(plm__jscan_member(root, "z", &v), 1);
    assert_int_equal(plm__jscan_member(v, "w", &x), 1);
    assert_int_equal(x.n, strlen("[[1],\"]\",2]"));
}

static plm_result *parse(plm_provider provider, const char *path,
                         const char *body)
{
    plm__headers h;
    plm_result *res = plm__result_new(NULL);

    memset(&h, 0, sizeof h);
    assert_non_null(res);
    plm__provider_parse(provider, path, 200, &h, body, strlen(body), res);
    return res;
}

static void test_json_scan__openai_answers(void **state)
{
    plm_result *res;

    (void)state;
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions",
                "{\"choices\":[{\"index\":0,\"message\":{\"role\":"
                "\"assistant\",\"content\":\"line\\none \\u263a\"},"
                "\"finish_reason\":\"stop\"},{\"message\":{\"content\":"
                "\"second\"}}],\"usage\":{\"prompt_tokens\":7,"
                "\"completion_tokens\":3,\"total_tokens\":10}}");
    assert_int_equal(plm_result_code(res), PLM_OK);
    assert_string_equal(plm_result_content(res), "line\none \xe2\x98\xba");
    assert_string_equal(plm_result_finish_reason(res), "stop");
    assert_int_equal(plm_result_prompt_tokens(res), 7);
    assert_int_equal(plm_result_completion_tokens(res), 3);
    plm_result_free(res);

    /* Legacy completions; a null content; a negative or real count is
     * not taken. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/completions",
                "{\"choices\":[{\"text\":\"done\",\"finish_reason\":null}],"
                "\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":2.0}}");
    assert_string_equal(plm_result_content(res), "done");
    assert_null(plm_result_finish_reason(res));
    assert_int_equal(plm_result_prompt_tokens(res), -1);
    assert_int_equal(plm_result_completion_tokens(res), -1);
    plm_result_free(res);

    /* A repeated key goes to jansson, whose last value wins. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions",
                "{\"choices\":[{\"message\":{\"content\":\"a\","
                "\"content\":\"b\"}}],\"usage\":{\"prompt_tokens\":1},"
                "\"usage\":{\"prompt_tokens\":2}}");
    assert_string_equal(plm_result_content(res), "b");
    assert_int_equal(plm_result_prompt_tokens(res), 2);
    plm_result_free(res);

    /* Not JSON: jansson's error, as before. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", "{\"choices\":[");
    assert_int_equal(plm_result_code(res), PLM_EPARSE);
    assert_non_null(strstr(plm_result_error_message(res), "invalid JSON"));
    plm_result_free(res);
}

static void test_json_scan__anthropic_answers(void **state)
{
    plm_result *res;

    (void)state;
    res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages",
                "{\"type\":\"message\",\"content\":[{\"type\":\"text\","
                "\"text\":\"one \"},{\"type\":\"tool_use\",\"text\":\"no\"},"
                "{\"type\":\"te\\u0078t\",\"text\":\"two\"},7],"
                "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":"
                "11,\"output_tokens\":5}}");
    assert_int_equal(plm_result_code(res), PLM_OK);
    assert_string_equal(plm_result_content(res), "one two");
    assert_string_equal(plm_result_finish_reason(res), "end_turn");
    assert_int_equal(plm_result_prompt_tokens(res), 11);
    assert_int_equal(plm_result_completion_tokens(res), 5);
    plm_result_free(res);

    /* An empty text block still makes content "". */
    res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages",
                "{\"content\":[{\"type\":\"text\",\"text\":\"\"}]}");
    assert_non_null(plm_result_content(res));
    assert_string_equal(plm_result_content(res), "");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages", "{\"id\":\"x\"}");
    assert_int_equal(plm_result_code(res), PLM_EPARSE);
    assert_non_null(strstr(plm_result_error_message(res), "no content"));
    plm_result_free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_scan__accepts_valid_objects),
        cmocka_unit_test(test_json_scan__leaves_the_rest_to_jansson),
        cmocka_unit_test(test_json_scan__reads_values),
        cmocka_unit_test(test_json_scan__reads_past_the_record),
        cmocka_unit_test(test_json_scan__openai_answers),
        cmocka_unit_test(test_json_scan__anthropic_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
