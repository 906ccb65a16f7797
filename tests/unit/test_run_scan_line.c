/* The strict scan that reads a Batch input line without jansson's tree
 * (cli_json_scan_object in cli/json_text.c) and the fast path of
 * run_input_parse built on it: a line the scan vouches for is one jansson
 * accepts under JSON_REJECT_DUPLICATES, the body goes out as the line
 * spells it, and every line the scan declines gets jansson's verdict and
 * the same error message as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "../../cli/idset.c"
#include "../../cli/json_text.c"
#include "../../cli/jsonl_input.c"

#define LINE(body)                                                             \
    "{\"custom_id\":\"c1\",\"method\":\"POST\",\"url\":"                       \
    "\"/v1/chat/completions\",\"body\":" body "}"

/* Lines the scan must vouch for, with the body as the line spells it. */
static const struct {
    const char *line;
    const char *body;
} good[] = {
    { LINE("{\"model\":\"m\"}"), "{\"model\":\"m\"}" },
    /* Unicode escapes (a surrogate pair), escaped quotes and slashes. */
    { LINE("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
           "\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/\"}]}"),
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
      "\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/\"}]}" },
    /* Whitespace of every kind a line may hold, nested objects, numbers
     * spelled in ways a dump would change. */
    { "{ \"custom_id\" : \"c1\" ,\t\"method\":\"POST\",\"url\":"
      "\"/v1/chat/completions\", \"body\" : { \"model\" :\t\"m\" , "
      "\"metadata\": {\"a\": {\"b\": [1, 2.50, -0e+0, 1E5, {\"c\": null}]}},"
      " \"max_tokens\": 8 } }\r",
      "{ \"model\" :\t\"m\" , \"metadata\": {\"a\": {\"b\": [1, 2.50, -0e+0, "
      "1E5, {\"c\": null}]}}, \"max_tokens\": 8 }" },
    /* UTF-8 as it is; the same key in two different objects. */
    { LINE("{\"model\":\"na\xc3\xafve \xe6\x97\xa5\",\"a\":{\"model\":1},"
           "\"b\":[{\"x\":1},{\"x\":2}]}"),
      "{\"model\":\"na\xc3\xafve \xe6\x97\xa5\",\"a\":{\"model\":1},"
      "\"b\":[{\"x\":1},{\"x\":2}]}" },
    /* Members in another order, extra members at the top. */
    { "{\"body\":{},\"url\":\"/v1/messages\",\"x\":[true,false,null],"
      "\"method\":\"POST\",\"custom_id\":\"c1\"}",
      "{}" },
};

/* Lines the scan must leave to jansson, valid or not. */
static const char *const unsure[] = {
    LINE("{\"a\":1,\"a\":2}"),                 /* duplicate in the body */
    LINE("{\"a\":{\"b\":1,\"c\":2,\"b\":3}}"), /* deeper duplicate */
    "{\"custom_id\":\"c1\",\"custom_id\":\"c2\",\"method\":\"POST\","
    "\"url\":\"/v1/chat/completions\",\"body\":{}}",
    LINE("{\"a\\u0062\":1}"),                /* a key spelled with escapes */
    LINE("{\"a\":\"\\u0000\"}"),             /* NUL, which jansson refuses */
    LINE("{\"a\":\"\\ud800\"}"),             /* lone surrogate */
    LINE("{\"a\":\"tab\there\"}"),           /* a raw control byte */
    LINE("{\"a\":\"\xc3\"}"),                /* not UTF-8 */
    LINE("{\"a\":\"\xc0\xaf\"}"),            /* overlong */
    LINE("{\"a\":12345678901234567890123}"), /* too big for jansson */
    LINE("{\"a\":1e400}"),                   /* overflows a double */
    LINE("{\"a\":01}"),
    LINE("{\"a\":1.}"),
    LINE("{\"a\":tru}"),
    LINE("{\"a\":[1,]}"),
    LINE("{\"a\":1,}"),
    LINE("{\"a\":1}") " x",    /* trailing bytes */
    "\xef\xbb\xbf" LINE("{}"), /* a byte order mark past line 1 */
    "[1]",
    "",
};

static void test_scan__vouches_only_for_what_jansson_reads(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *line = good[i].line;
        cli_json_member m[2] = { { "body", NULL, 0, 0 },
                                 { "custom_id", NULL, 0, 0 } };
        assert_int_equal(cli_json_scan_object(line, strlen(line), m, 2), 1);
        assert_non_null(m[0].value);
        assert_int_equal(m[0].len, strlen(good[i].body));
        assert_memory_equal(m[0].value, good[i].body, m[0].len);
        assert_int_equal(m[1].len, 4);
        assert_memory_equal(m[1].value, "\"c1\"", 4);
        json_t *root = json_loadb(line, strlen(line), JSON_REJECT_DUPLICATES,
                                  NULL);
        assert_non_null(root);
        json_decref(root);
    }
    for (size_t i = 0; i < sizeof unsure / sizeof unsure[0]; i++) {
        cli_json_member m = { "body", NULL, 0, 0 };
        assert_int_equal(cli_json_scan_object(unsure[i], strlen(unsure[i]), &m,
                                              1),
                         0);
    }
    /* An object of more keys than the scan follows: jansson decides. */
    size_t cap = 16 * 600 + 64, n = 0;
    char *wide = malloc(cap);
    assert_non_null(wide);
    n += (size_t)sprintf(wide + n, "{");
    for (int i = 0; i < 600; i++)
        n += (size_t)sprintf(wide + n, "%s\"k%d\":%d", i ? "," : "", i, i);
    n += (size_t)sprintf(wide + n, "}");
    assert_int_equal(cli_json_scan_object(wide, n, NULL, 0), 0);
    free(wide);
}

static void test_scan__fast_item_is_the_full_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        run_input_item it;
        const char *line = good[i].line;
        json_t *root = json_loadb(line, strlen(line), 0, NULL);
        assert_int_equal(run_input_parse(line, strlen(line), 0, 2, &it), 0);
        assert_string_equal(it.error, "");
        assert_string_equal(it.custom_id, "c1");
        assert_int_equal(it.synthetic_id, 0);
        assert_string_equal(it.method, "POST");
        assert_string_equal(it.url,
                            json_string_value(json_object_get(root, "url")));
        /* What the server gets: the bytes the line holds. */
        assert_string_equal(it.body, good[i].body);
        json_t *sent = json_loads(it.body, 0, NULL);
        assert_true(json_equal(sent, json_object_get(root, "body")));
        json_decref(sent);
        run_input_item_clear(&it);
        json_decref(root);
    }
}

/* A line the fast path declines still becomes a request, its custom_id
 * decoded and its body sent as written. */
static void test_scan__escaped_id_takes_the_full_path(void **state)
{
    static const char line[] =
        "{\"custom_id\":\"a\\u0062\\n\",\"method\":\"POST\",\"url\":"
        "\"/v1/embeddings\",\"body\":{\"input\": [\"x\", \"y\"]}}";
    run_input_item it;

    (void)state;
    assert_int_equal(run_input_parse(line, strlen(line), 0, 4, &it), 0);
    assert_string_equal(it.error, "");
    assert_string_equal(it.custom_id, "ab\n");
    assert_string_equal(it.url, "/v1/embeddings");
    assert_string_equal(it.body, "{\"input\": [\"x\", \"y\"]}");
    run_input_item_clear(&it);
}

/* Every refusal reads as jansson and the checks word it. */
static void test_scan__errors_are_unchanged(void **state)
{
    static const struct {
        const char *line;
        const char *error;
    } bad[] = {
        { LINE("{\"a\":1,\"a\":2}"), NULL },
        { LINE("{\"a\":{\"b\":1,\"b\":2}}"), NULL },
        { LINE("{\"a\":\"\\u0000\"}"), NULL },
        { LINE("{\"a\":12345678901234567890123}"), NULL },
        { LINE("[]"), "line 9: body is not a JSON object" },
        { LINE("\"text\""), "line 9: body is not a JSON object" },
        { "{\"custom_id\":\"c1\",\"method\":\"GET\",\"url\":"
          "\"/v1/chat/completions\",\"body\":{}}",
          "line 9: method must be \"POST\"" },
        { "{\"custom_id\":\"c1\",\"method\":\"POST\",\"url\":"
          "\"/v1/chat\",\"body\":{}}",
          "line 9: unsupported url" },
        { "{\"custom_id\":\"\",\"method\":\"POST\",\"url\":"
          "\"/v1/chat/completions\",\"body\":{}}",
          "line 9: custom_id is empty" },
        { "{\"custom_id\":7,\"method\":\"POST\",\"url\":"
          "\"/v1/chat/completions\",\"body\":{}}",
          "line 9: custom_id is not a string" },
        { "{\"custom_id\":\"c1\",\"method\":\"POST\",\"url\":"
          "\"/v1/chat/completions\"}",
          "line 9: missing body" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_input_item it;
        char want[512];
        const char *line = bad[i].line;
        if (!bad[i].error) {
            json_error_t jerr;
            json_t *root = json_loadb(line, strlen(line),
                                      JSON_REJECT_DUPLICATES, &jerr);
            assert_null(root);
            snprintf(want, sizeof want, "line 9: invalid JSON: %s (column %d)",
                     jerr.text, jerr.column);
        } else {
            snprintf(want, sizeof want, "%s", bad[i].error);
        }
        assert_int_equal(run_input_parse(line, strlen(line), 0, 9, &it), 0);
        assert_true(strncmp(it.error, want, strlen(want)) == 0);
        run_input_item_clear(&it);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan__vouches_only_for_what_jansson_reads),
        cmocka_unit_test(test_scan__fast_item_is_the_full_paths),
        cmocka_unit_test(test_scan__escaped_id_takes_the_full_path),
        cmocka_unit_test(test_scan__errors_are_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
