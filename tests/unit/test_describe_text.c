/*
 * The prompt and answer rules of `parallm describe` (cli/describe_text.c):
 * which answers count as a description, the reason given for those that do
 * not, and the UTF-8 repairs that keep file contents and paths sendable as
 * JSON. The command is not a library, so its source is compiled in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../cli/describe_text.c"

/* Parses answer; returns the compact JSON of the description (caller
 * frees) or NULL with the reason in err. */
static char *parsed(const char *answer, char *err, size_t errlen)
{
    json_t *d = describe_parse(answer, err, errlen);
    char *text;

    if (d == NULL)
        return NULL;
    text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    return text;
}

static void expect_ok(const char *answer, const char *want)
{
    char err[256] = "";
    char *got = parsed(answer, err, sizeof err);

    if (got == NULL)
        fail_msg("'%s' refused: %s", answer, err);
    assert_string_equal(got, want);
    free(got);
}

static void expect_refused(const char *answer, const char *reason_part)
{
    char err[256] = "";
    char *got = parsed(answer, err, sizeof err);

    if (got != NULL)
        fail_msg("'%s' accepted as %s", answer, got);
    if (strstr(err, reason_part) == NULL)
        fail_msg("reason '%s' lacks '%s'", err, reason_part);
}

static void test_describe_text__accepts_shape(void **state)
{
    (void)state;
    expect_ok("{\"summary\": \"s\", \"references\": [\"a.h\"]}",
              "{\"summary\":\"s\",\"references\":[\"a.h\"]}");
    /* Extra fields are dropped; order of input fields does not matter. */
    expect_ok("  {\"references\": [], \"x\": 1, \"summary\": \"s\"}\n",
              "{\"summary\":\"s\",\"references\":[]}");
    expect_ok("```json\n{\"summary\": \"f\", \"references\": []}\n```",
              "{\"summary\":\"f\",\"references\":[]}");
    expect_ok("\n```\n{\"summary\": \"f\", \"references\": []}```\n",
              "{\"summary\":\"f\",\"references\":[]}");
}

static void test_describe_text__refuses_with_reason(void **state)
{
    (void)state;
    expect_refused("", "empty");
    expect_refused("```json", "empty code block");
    expect_refused("Sure! {\"summary\": \"s\"}", "not JSON");
    expect_refused("[1, 2]", "not a JSON object");
    expect_refused("{\"references\": []}", "\"summary\" is missing");
    expect_refused("{\"summary\": 5, \"references\": []}",
                   "\"summary\" is not a string");
    expect_refused("{\"summary\": \"s\"}", "\"references\" is missing");
    expect_refused("{\"summary\": \"s\", \"references\": \"a.h\"}",
                   "not an array");
    expect_refused("{\"summary\": \"s\", \"references\": [\"a\", 3]}",
                   "\"references\"[1] is not a string");
    expect_refused("{\"summary\": \"s\", \"references\": []} trailing",
                   "not JSON");
}

static void test_describe_text__utf8_fix(void **state)
{
    (void)state;
    char *s = describe_utf8_fix("h\xC3\xA9llo", 6);
    assert_string_equal(s, "h\xC3\xA9llo"); /* valid text untouched */
    free(s);
    s = describe_utf8_fix("a\xFF"
                          "b",
                          3);
    assert_string_equal(s, "a\xEF\xBF\xBD"
                           "b");
    free(s);
    /* Overlong, surrogate and cut sequences are each replaced. */
    s = describe_utf8_fix("\xC0\xAF|\xED\xA0\x80|\xE2\x82", 9);
    assert_string_equal(s, "\xEF\xBF\xBD\xEF\xBF\xBD|"
                           "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|"
                           "\xEF\xBF\xBD\xEF\xBF\xBD");
    free(s);
}

static void test_describe_text__utf8_cut(void **state)
{
    (void)state;
    const char *euro = "ab\xE2\x82\xAC"; /* "ab" + U+20AC, 5 bytes */
    assert_int_equal(describe_utf8_cut(euro, 5), 5);
    assert_int_equal(describe_utf8_cut(euro, 4), 2);
    assert_int_equal(describe_utf8_cut(euro, 3), 2);
    assert_int_equal(describe_utf8_cut(euro, 2), 2);
    assert_int_equal(describe_utf8_cut("\xF0\x9F\x98\x80", 4), 4);
    assert_int_equal(describe_utf8_cut("\xF0\x9F\x98\x80", 3), 0);
    assert_int_equal(describe_utf8_cut("", 0), 0);
}

static void test_describe_text__prompt(void **state)
{
    (void)state;
    char *p = describe_prompt("src/a\xFF.c", "int x;\n", 7, -1);
    assert_non_null(p);
    assert_non_null(strstr(p, "\"summary\""));
    assert_non_null(strstr(p, "\"references\""));
    assert_non_null(strstr(p, "src/a\xEF\xBF\xBD.c"));
    assert_non_null(strstr(p, "```\nint x;\n\n```"));
    assert_null(strstr(p, "only its first"));
    free(p);
    p = describe_prompt("big.c", "XXXX", 4, 1000);
    assert_non_null(strstr(p, "1000 bytes long; only its first 4 bytes"));
    free(p);
    p = describe_reask("\"summary\" is missing");
    assert_string_equal(p, "Your answer was not valid: \"summary\" is "
                           "missing. Reply with only the JSON object, "
                           "{\"summary\": \"...\", \"references\": [...]}.");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_text__accepts_shape),
        cmocka_unit_test(test_describe_text__refuses_with_reason),
        cmocka_unit_test(test_describe_text__utf8_fix),
        cmocka_unit_test(test_describe_text__utf8_cut),
        cmocka_unit_test(test_describe_text__prompt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
