/* A Batch line asking for a stream: the line's body text is kept as
 * written (cli/jsonl_input.c), and a chat or completions request made
 * from it (plm_tool_request_ask_stream_usage, which `parallm run` calls
 * for those two endpoints) gets include_usage spliced into its text,
 * every other byte as written; bodies that set stream_options or do not
 * stream are left as they are, whether the library read the body from
 * its text or through jansson. */
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
#include "parallm_tool.h"

static void parse_line(const char *line, run_input_item *it)
{
    assert_int_equal(run_input_parse(line, strlen(line), 0, 1, it), 0);
    assert_string_equal(it->error, "");
}

/* The text a request made from the line and asked for usage sends. */
static char *sent_body(const char *line)
{
    run_input_item it;
    plm_request *req = NULL;
    const char *body = strstr(line, "\"body\":") + 7;
    char *text;

    body += strspn(body, " ");
    parse_line(line, &it);
    /* The line's body as written; then only blanks and the line's
     * closing brace. */
    assert_memory_equal(it.body, body, strlen(it.body));
    assert_int_equal(strspn(body + strlen(it.body), " "),
                     strlen(body) - strlen(it.body) - 1);
    assert_int_equal(plm_tool_request_new_raw_text(&req, it.provider, it.method,
                                                   it.url, it.body,
                                                   strlen(it.body)),
                     PLM_OK);
    it.body = NULL;
    assert_int_equal(plm_tool_request_ask_stream_usage(req), PLM_OK);
    /* Asking twice adds nothing more. */
    assert_int_equal(plm_tool_request_ask_stream_usage(req), PLM_OK);
    text = strdup(plm_request_body(req));
    assert_non_null(text);
    plm_request_free(req);
    run_input_item_clear(&it);
    return text;
}

static void test_stream_line__usage_spliced(void **state)
{
    static const char line[] =
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/chat/completions\",\"body\": {\"model\": \"m\", "
        "\"temperature\": 0.7, \"stream\": true} }";
    char *text;

    (void)state;
    text = sent_body(line);
    /* The numbers keep their spelling (a dump would write
     * 0.69999999999999996), the whitespace stays where it was. */
    assert_string_equal(text,
                        "{\"model\": \"m\", \"temperature\": 0.7, \"stream\": "
                        "true,\"stream_options\":{\"include_usage\":true}}");
    free(text);
}

static void test_stream_line__left_alone(void **state)
{
    static const char *const lines[] = {
        /* stream_options set by the line, even to false */
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/chat/completions\",\"body\":{\"stream\":true,"
        "\"stream_options\":{\"include_usage\":false}}}",
        /* not a stream */
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/completions\",\"body\":{\"stream\":false,\"prompt\":\"x\"}}",
        /* "stream" that is not true */
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/completions\",\"body\":{\"stream\":1,\"prompt\":\"x\"}}",
        /* the same, read by jansson (a key with an escape) */
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/chat/completions\",\"body\":{\"\\u0073tream\":true,"
        "\"stream_options\":{}}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *body = strstr(lines[i], "\"body\":") + 7;
        char *text = sent_body(lines[i]);

        assert_int_equal(strlen(text), strlen(body) - 1);
        assert_memory_equal(text, body, strlen(body) - 1);
        free(text);
    }
}

static void test_stream_line__completions_too(void **state)
{
    static const char line[] =
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/completions\",\"body\":{\"stream\":true}}";
    char *text;

    (void)state;
    text = sent_body(line);
    assert_string_equal(text, "{\"stream\":true,\"stream_options\":{"
                              "\"include_usage\":true}}");
    free(text);
}

/* A body the scan leaves to jansson (a key with an escape, a repeated
 * "stream") is spliced the same way, as jansson reads it. */
static void test_stream_line__jansson_path(void **state)
{
    static const char line1[] =
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/chat/completions\",\"body\":{\"\\u0073tream\":true}}";
    static const char line2[] =
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/chat/completions\",\"body\":{\"stream\":false,"
        "\"stream\":true}}";
    char *text;

    (void)state;
    text = sent_body(line1);
    assert_string_equal(text, "{\"\\u0073tream\":true,\"stream_options\":{"
                              "\"include_usage\":true}}");
    free(text);
    /* The line's scan refuses a repeated key: the full path refuses the
     * line. */
    run_input_item it;
    assert_int_equal(run_input_parse(line2, strlen(line2), 0, 1, &it), 0);
    assert_non_null(strstr(it.error, "duplicate"));
    run_input_item_clear(&it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_line__usage_spliced),
        cmocka_unit_test(test_stream_line__left_alone),
        cmocka_unit_test(test_stream_line__completions_too),
        cmocka_unit_test(test_stream_line__jansson_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
