/* A Batch line asking for a stream (cli/jsonl_input.c): chat and
 * completions lines without stream_options get include_usage spliced
 * into their body text, every other byte as written; lines that set
 * stream_options, do not stream, or go to another endpoint are left as
 * they are. */
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

static void parse_line(const char *line, run_input_item *it)
{
    assert_int_equal(run_input_parse(line, strlen(line), 0, 1, it), 0);
    assert_string_equal(it->error, "");
}

static void test_stream_line__usage_spliced(void **state)
{
    static const char line[] =
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/chat/completions\",\"body\": {\"model\": \"m\", "
        "\"temperature\": 0.7, \"stream\": true} }";
    run_input_item it;

    (void)state;
    parse_line(line, &it);
    /* The numbers keep their spelling (a dump would write
     * 0.69999999999999996), the whitespace stays where it was. */
    assert_string_equal(it.body,
                        "{\"model\": \"m\", \"temperature\": 0.7, \"stream\": "
                        "true,\"stream_options\":{\"include_usage\":true}}");
    assert_true(json_is_true(
        json_object_get(json_object_get(it.body_json, "stream_options"),
                        "include_usage")));
    json_t *sent = json_loads(it.body, 0, NULL);
    assert_true(json_equal(sent, it.body_json));
    json_decref(sent);
    run_input_item_clear(&it);
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
        /* a stream on an endpoint without stream_options */
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/responses\",\"body\":{\"stream\":true,\"input\":\"x\"}}",
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/messages\",\"body\":{\"stream\":true,\"max_tokens\":5}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        run_input_item it;
        const char *body = strstr(lines[i], "\"body\":") + 7;

        parse_line(lines[i], &it);
        assert_memory_equal(it.body, body, strlen(body) - 1);
        assert_int_equal(strlen(it.body), strlen(body) - 1);
        run_input_item_clear(&it);
    }
}

static void test_stream_line__completions_too(void **state)
{
    static const char line[] =
        "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":"
        "\"/v1/completions\",\"body\":{\"stream\":true}}";
    run_input_item it;

    (void)state;
    parse_line(line, &it);
    assert_string_equal(it.body, "{\"stream\":true,\"stream_options\":{"
                                 "\"include_usage\":true}}");
    run_input_item_clear(&it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_line__usage_spliced),
        cmocka_unit_test(test_stream_line__left_alone),
        cmocka_unit_test(test_stream_line__completions_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
