/*
 * The compact writer for request bodies (src/proto/json_write.c): each
 * case is checked against the text json_dumps writes, spelled out here,
 * and against json_dumps itself; then the cases the writer leaves to
 * jansson (strings that are not UTF-8, deep nesting, a cycle) and the
 * bodies the providers send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_write.h"
#include "parallm.h"
#include "request.h"

/* The writer's text for v is expected, as json_dumps's is; frees v. */
static void writes(json_t *v, const char *expected)
{
    size_t len = 0;
    char *mine, *theirs;

    assert_non_null(v);
    mine = plm__json_write_compact(v, &len);
    theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(mine);
    assert_non_null(theirs);
    assert_string_equal(theirs, expected);
    assert_string_equal(mine, expected);
    assert_int_equal(len, strlen(expected));
    free(mine);
    free(theirs);
    json_decref(v);
}

/* The writer does what json_dumps does for v (NULL or the same text). */
static void same_as_jansson(const json_t *v)
{
    size_t len = 0;
    char *mine = plm__json_write_compact(v, &len);
    char *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    if (!theirs) {
        assert_null(mine);
        return;
    }
    assert_non_null(mine);
    assert_string_equal(mine, theirs);
    assert_int_equal(len, strlen(theirs));
    free(mine);
    free(theirs);
}

static void test_json_write__control_characters(void **state)
{
    char all[32];

    (void)state;
    for (int i = 0; i < 32; i++)
        all[i] = (char)i;
    writes(json_stringn(all, sizeof all),
           "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
           "\\b\\t\\n\\u000B\\f\\r\\u000E\\u000F"
           "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
           "\\u0018\\u0019\\u001A\\u001B\\u001C\\u001D\\u001E\\u001F\"");
    writes(json_stringn("a\0b", 3), "\"a\\u0000b\"");
}

static void test_json_write__strings(void **state)
{
    (void)state;
    writes(json_string("a\"b\\c/d\x7f e"), "\"a\\\"b\\\\c/d\x7f e\"");
    writes(json_string(""), "\"\"");
    writes(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
           "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    writes(json_string("line\xe2\x80\xa8sep\xe2\x80\xa9"),
           "\"line\xe2\x80\xa8sep\xe2\x80\xa9\"");
    writes(json_pack("{s:s}", "k\n\"", "v"), "{\"k\\n\\\"\":\"v\"}");
}

static void test_json_write__containers(void **state)
{
    json_t *o;

    (void)state;
    writes(json_object(), "{}");
    writes(json_array(), "[]");
    writes(json_pack("{s:{s:[[],{},[{}]]},s:[b,b,n]}", "a", "b", "c", 1, 0),
           "{\"a\":{\"b\":[[],{},[{}]]},\"c\":[true,false,null]}");
    /* Members in the order they were set, as json_dumps writes them. */
    o = json_object();
    json_object_set_new(o, "z", json_integer(1));
    json_object_set_new(o, "a", json_integer(2));
    json_object_set_new(o, "m", json_integer(3));
    json_object_set_new(o, "z", json_integer(4));
    writes(o, "{\"z\":4,\"a\":2,\"m\":3}");
}

static void test_json_write__numbers(void **state)
{
    (void)state;
    writes(json_pack("[i,i,i,I,I]", 0, -1, 42, (json_int_t)INT64_MAX,
                     (json_int_t)INT64_MIN),
           "[0,-1,42,9223372036854775807,-9223372036854775808]");
    writes(json_real(1.0), "1.0");
    writes(json_real(0.1), "0.10000000000000001");
    writes(json_real(1e300), "1.0000000000000001e300");
    writes(json_real(-0.0), "-0.0");
    writes(json_real(1e-7), "9.9999999999999995e-8");
    writes(json_real(0.7), "0.69999999999999996");
    writes(json_real(123456789.0), "123456789.0");
    writes(json_real(1e17), "1e17");
}

/* A buffer larger than the first estimate: 4,000 escapes. */
static void test_json_write__grows(void **state)
{
    char *s = malloc(4001);
    json_t *v;

    (void)state;
    assert_non_null(s);
    memset(s, '\n', 4000);
    s[4000] = '\0';
    v = json_pack("{s:s,s:[s]}", "a", s, "b", s);
    assert_non_null(v);
    same_as_jansson(v);
    json_decref(v);
    free(s);
}

/* Strings that are not UTF-8 (only _nocheck makes them), nesting past
 * the writer's depth and a cycle are json_dumps's to write. */
static void test_json_write__left_to_jansson(void **state)
{
    json_t *v, *a, *b;

    (void)state;
    v = json_stringn_nocheck("a\xff", 2);
    assert_null(plm__json_write_compact(v, NULL));
    json_decref(v);
    v = json_object();
    json_object_set_nocheck(v, "\xc3(", json_true());
    same_as_jansson(v);
    json_decref(v);
    v = json_integer(7);
    for (int i = 0; i < 200; i++)
        v = json_pack("[o]", v);
    assert_non_null(v);
    same_as_jansson(v);
    json_decref(v);
    a = json_array();
    b = json_array();
    json_array_append(a, b);
    json_array_append(b, a);
    assert_null(plm__json_write_compact(a, NULL));
    json_array_clear(b);
    json_decref(b);
    json_decref(a);
}

/* What a request sends is what json_dumps wrote before. */
static void test_json_write__request_bodies(void **state)
{
    plm_request *req;
    char *dumped;

    (void)state;
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, "m"),
                     PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", "caf\xc3\xa9\n\t"),
                     PLM_OK);
    assert_int_equal(plm_request_set_temperature(req, 0.7), PLM_OK);
    assert_int_equal(plm__request_serialize(req), PLM_OK);
    dumped = json_dumps(req->body, JSON_COMPACT);
    assert_string_equal(req->body_text, dumped);
    assert_int_equal(req->body_len, strlen(dumped));
    free(dumped);
    plm_request_free(req);

    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_ANTHROPIC,
                                          "claude"),
                     PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", "\"hi\""), PLM_OK);
    assert_int_equal(plm__request_serialize(req), PLM_OK);
    dumped = json_dumps(req->body, JSON_COMPACT);
    assert_string_equal(req->body_text, dumped);
    assert_int_equal(req->body_len, strlen(dumped));
    free(dumped);
    assert_int_equal(plm_request_set_json_response(req, 1), PLM_OK);
    assert_int_equal(plm__request_serialize(req), PLM_OK);
    assert_non_null(strstr(req->body_text, "\"system\":\""));
    assert_int_equal(req->body_len, strlen(req->body_text));
    plm_request_free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_write__control_characters),
        cmocka_unit_test(test_json_write__strings),
        cmocka_unit_test(test_json_write__containers),
        cmocka_unit_test(test_json_write__numbers),
        cmocka_unit_test(test_json_write__grows),
        cmocka_unit_test(test_json_write__left_to_jansson),
        cmocka_unit_test(test_json_write__request_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
