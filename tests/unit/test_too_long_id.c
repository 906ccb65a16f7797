/*
 * The custom_id of an input line too long to hold (over 16 MiB): read
 * from the line's first bytes when they show the whole string value of a
 * top-level "custom_id" (escapes decoded, as JSON reads it), else the
 * error line's synthetic id line-N.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "../../cli/idset.c"
#include "../../cli/json_text.c"
#include "../../cli/jsonl_input.c"

/* The id a too-long line starting with `start` is reported under. */
static void check(const char *start, const char *want)
{
    run_input_item it;
    assert_int_equal(run_input_parse(start, strlen(start), 1, 7, &it), 0);
    assert_non_null(it.custom_id);
    assert_string_equal(it.custom_id, want);
    assert_int_equal(it.synthetic_id, strcmp(want, "line-7") == 0);
    assert_string_equal(it.error, "line 7: line longer than 16777216 bytes");
    run_input_item_clear(&it);
}

static void test_too_long__id_from_the_start(void **state)
{
    (void)state;
    check("{\"custom_id\": \"req-1\", \"body\": {\"x\": \"aaaa", "req-1");
    /* Escapes are decoded as JSON reads them. */
    check("{\"custom_id\":\"a\\\"b\\u00e9\\\\\",\"body\":{", "a\"b\xc3\xa9\\");
    check("{ \"custom_id\" :\t\"sp\" ,", "sp");
    /* Only the top-level member counts, wherever it stands. */
    check("{\"body\": {\"custom_id\": \"inner\", \"t\": \"{[\"}, "
          "\"custom_id\": \"outer\", \"x\": \"",
          "outer");
    check("{\"note\": \"custom_id\", \"custom_id\": \"x\", \"body\": {", "x");
    check("{\"a\": \"q\\\\\", \"custom_id\": \"after-escape\", \"b\": [",
          "after-escape");
}

static void test_too_long__else_line_n(void **state)
{
    (void)state;
    check("", "line-7");
    /* The value is cut by the end of what was kept. */
    check("{\"custom_id\": \"abc", "line-7");
    /* Not a string, empty, not UTF-8, a NUL: not an id. */
    check("{\"custom_id\": 5, \"body\": {", "line-7");
    check("{\"custom_id\": \"\", \"body\": {", "line-7");
    check("{\"custom_id\": \"\xff\xfe\", \"body\": {", "line-7");
    check("{\"custom_id\": \"a\\u0000b\", \"body\": {", "line-7");
    /* Only nested, or no id before the cut. */
    check("{\"body\": {\"custom_id\": \"inner\", \"x\": \"", "line-7");
    check("{\"body\": {\"messages\": [\"", "line-7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_too_long__id_from_the_start),
        cmocka_unit_test(test_too_long__else_line_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
