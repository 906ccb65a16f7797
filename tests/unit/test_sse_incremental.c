/* Server-sent event streams read as they arrive (src/proto/sse.c's
 * plm__sse_reader and plm__sse_stream, provider.c's plm__provider_stream):
 * the same stream fed whole, split at every byte position, byte by byte
 * and in random pieces gives the same events and the same result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "provider.h"
#include "provider_parse.h"
#include "result.h"

/* An OpenAI chat stream with two tool calls whose arguments arrive in
 * pieces, CRLF line ends, a comment, a keep-alive "data:" and a
 * multi-line data field's neighbour events. */
static const char chat_tools[] =
    ": keep-alive\r\n\r\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,"
    "\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\","
    "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]},"
    "\"finish_reason\":null}]}\r\n\r\n"
    "data:\r\n\r\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"{\\\"x\\\":\"}},{\"index\":1,\"id\":\"call_b\","
    "\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":"
    "\"{}\"}}]},\"finish_reason\":null}]}\r\n\r\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"1}\"}}]},\"finish_reason\":null}]}\r\n\r\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9,"
    "\"total_tokens\":14}}\n\n"
    "data: [DONE]\n\n";

/* An OpenAI chat stream with text (content assembled from deltas), one
 * event's JSON split over two data lines. */
static const char chat_text[] =
    "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\n"
    "data: \"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo, \"},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"choices\":"
    "[{\"index\":0,\"delta\":{\"content\":\"world\"},"
    "\"finish_reason\":\"stop\"}]}\n\n"
    "data: [DONE]\n\n";

/* A Responses stream: named events, the completed response at the end. */
static const char responses[] =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\","
    "\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"m1\","
    "\"output_index\":0,\"content_index\":0,\"delta\":\"Hi \"}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"m1\","
    "\"output_index\":0,\"content_index\":0,\"delta\":\"there\"}\n\n"
    "event: response.completed\n"
    "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\","
    "\"object\":\"response\",\"status\":\"completed\",\"output\":[{"
    "\"type\":\"message\",\"id\":\"m1\",\"role\":\"assistant\",\"content\":"
    "[{\"type\":\"output_text\",\"text\":\"Hi there\"}]}],\"usage\":{"
    "\"input_tokens\":3,\"output_tokens\":2,\"total_tokens\":5}}}\n\n";

/* An Anthropic stream: text, then a tool use whose input arrives as
 * JSON pieces. */
static const char anthropic[] =
    "event: message_start\r\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\","
    "\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":11,"
    "\"output_tokens\":1}}}\r\n\r\n"
    "event: content_block_start\r\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
    "{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n"
    "event: ping\r\ndata: {\"type\":\"ping\"}\r\n\r\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
    "\"type\":\"text_delta\",\"text\":\"Let me \"}}\r\n\r\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
    "\"type\":\"text_delta\",\"text\":\"check.\"}}\r\n\r\n"
    "event: content_block_stop\r\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\n"
    "event: content_block_start\r\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
    "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"w\",\"input\":{}}}"
    "\r\n\r\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{"
    "\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"ci\"}}\r\n\r\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{"
    "\"type\":\"input_json_delta\",\"partial_json\":"
    "\"ty\\\":\\\"Paris\\\"}\"}}\r\n\r\n"
    "event: content_block_stop\r\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\r\n\r\n"
    "event: message_delta\r\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}"
    "\r\n\r\n"
    "event: message_stop\r\n"
    "data: {\"type\":\"message_stop\"}\r\n\r\n";

typedef struct stream_case {
    plm_provider provider;
    const char *body;
} stream_case;

static const stream_case cases[] = {
    { PLM_PROVIDER_OPENAI, chat_tools },
    { PLM_PROVIDER_OPENAI, chat_text },
    { PLM_PROVIDER_OPENAI, responses },
    { PLM_PROVIDER_ANTHROPIC, anthropic },
};
#define NCASES (sizeof cases / sizeof cases[0])

/* ---- the splitter's events ---- */

/* Every event as "name\x1f" + data + "\x1e", appended to a buffer. */
static int record(const char *event, const char *data, size_t len, void *ctx)
{
    plm__buf *b = ctx;

    if (plm__buf_append(b, event, strlen(event)) ||
        plm__buf_append(b, "\x1f", 1) || plm__buf_append(b, data, len) ||
        plm__buf_append(b, "\x1e", 1))
        return PLM_ENOMEM;
    return 0;
}

/* The events of body fed in pieces whose ends are cuts[0..ncuts-1]. */
static void events_in_pieces(const char *body, const size_t *cuts, size_t ncuts,
                             plm__buf *out)
{
    plm__sse_reader r;
    size_t from = 0, i;

    plm__sse_reader_init(&r, record, out);
    for (i = 0; i < ncuts; i++) {
        assert_int_equal(plm__sse_reader_feed(&r, body + from, cuts[i] - from),
                         0);
        from = cuts[i];
    }
    assert_int_equal(plm__sse_reader_feed(&r, body + from, strlen(body) - from),
                     0);
    assert_int_equal(plm__sse_reader_finish(&r), 0);
    plm__sse_reader_free(&r);
}

static void test_sse_incremental__events_split_anywhere(void **state)
{
    size_t c, i;

    (void)state;
    for (c = 0; c < NCASES; c++) {
        const char *body = cases[c].body;
        size_t len = strlen(body);
        plm__buf whole = { 0 };

        assert_int_equal(plm__sse_each(body, len, record, &whole), 0);
        assert_true(whole.len > 0);
        for (i = 0; i <= len; i++) {
            plm__buf got = { 0 };

            events_in_pieces(body, &i, 1, &got);
            assert_int_equal(got.len, whole.len);
            assert_memory_equal(got.data, whole.data, whole.len);
            plm__buf_free(&got);
        }
        plm__buf_free(&whole);
    }
}

/* A last line without its newline, and a pending event at the end, are
 * read by finish whatever the pieces. */
static void test_sse_incremental__end_without_newline(void **state)
{
    static const char body[] = "event: a\r\ndata: x\r\n\r\nevent: b\r\ndata: y";
    size_t i;

    (void)state;
    for (i = 0; i <= sizeof body - 1; i++) {
        plm__buf got = { 0 };

        events_in_pieces(body, &i, 1, &got);
        assert_int_equal(got.len, 8);
        assert_memory_equal(got.data,
                            "a\x1fx\x1e"
                            "b\x1fy\x1e",
                            8);
        plm__buf_free(&got);
    }
}

/* ---- the provider's assembled result ---- */

static plm_result *whole_result(const stream_case *sc)
{
    plm__headers h = { .content_type = (char *)"text/event-stream" };
    plm_result *res = plm__result_new(NULL);

    assert_non_null(res);
    plm__provider_parse(sc->provider, "/v1/x", 200, &h, sc->body,
                        strlen(sc->body), res);
    return res;
}

/* The result of sc's stream fed in pieces ending at cuts (sorted). */
static plm_result *pieces_result(const stream_case *sc, const size_t *cuts,
                                 size_t ncuts)
{
    plm__headers h = { .content_type = (char *)"text/event-stream" };
    plm_result *res = plm__result_new(NULL);
    plm__provider_stream *s;
    size_t from = 0, len = strlen(sc->body), i;

    assert_non_null(res);
    assert_int_equal(plm__provider_sniff_sse(&h, sc->body, len), 1);
    s = plm__provider_stream_open(sc->provider, res);
    assert_non_null(s);
    for (i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;

        assert_int_equal(plm__provider_stream_feed(s, sc->body + from,
                                                   to - from),
                         PLM_OK);
        from = to;
    }
    plm__provider_stream_close(s, 200, &h, sc->body, len);
    return res;
}

static void assert_str_same(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_same_result(const plm_result *a, const plm_result *b)
{
    assert_int_equal(a->code, b->code);
    assert_int_equal(a->http_status, b->http_status);
    assert_str_same(a->content, b->content);
    assert_str_same(a->finish_reason, b->finish_reason);
    assert_str_same(a->error_message, b->error_message);
    assert_int_equal(a->prompt_tokens, b->prompt_tokens);
    assert_int_equal(a->completion_tokens, b->completion_tokens);
    assert_str_same(a->assembled, b->assembled);
}

static void test_sse_incremental__result_split_at_every_byte(void **state)
{
    size_t c, i;

    (void)state;
    for (c = 0; c < NCASES; c++) {
        plm_result *whole = whole_result(&cases[c]);

        assert_int_equal(whole->code, PLM_OK);
        assert_non_null(whole->assembled);
        for (i = 0; i <= strlen(cases[c].body); i++) {
            plm_result *got = pieces_result(&cases[c], &i, 1);

            assert_same_result(got, whole);
            plm_result_free(got);
        }
        plm_result_free(whole);
    }
}

/* Byte by byte, then random piece sizes (1..64) from a fixed seed. */
static void test_sse_incremental__result_in_random_pieces(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t c, round;

    (void)state;
    for (c = 0; c < NCASES; c++) {
        size_t len = strlen(cases[c].body), n, at;
        size_t *cuts = malloc(len * sizeof *cuts);
        plm_result *whole = whole_result(&cases[c]), *got;

        assert_non_null(cuts);
        for (n = 0; n + 1 < len; n++)
            cuts[n] = n + 1;
        got = pieces_result(&cases[c], cuts, n);
        assert_same_result(got, whole);
        /* Parsed as it came: all but the last event before the last
         * byte; a whole body counts none. */
        assert_true(got->stream_events_early > 0);
        assert_int_equal(whole->stream_events_early, 0);
        plm_result_free(got);
        for (round = 0; round < 200; round++) {
            for (n = 0, at = 0;;) {
                seed = seed * 6364136223846793005u + 1442695040888963407u;
                at += 1 + (size_t)((seed >> 33) % 64);
                if (at >= len)
                    break;
                cuts[n++] = at;
            }
            got = pieces_result(&cases[c], cuts, n);
            assert_same_result(got, whole);
            plm_result_free(got);
        }
        free(cuts);
        plm_result_free(whole);
    }
}

/* A stream cut short reads as cut short whatever the pieces, and a
 * stream dropped before its end frees what it held (ASan checks). */
static void test_sse_incremental__cut_short_and_dropped(void **state)
{
    stream_case cut = { PLM_PROVIDER_ANTHROPIC, NULL };
    char *half = strndup(anthropic, strlen(anthropic) / 2);
    plm_result *whole, *got, *res;
    plm__provider_stream *s;
    size_t i;

    (void)state;
    assert_non_null(half);
    cut.body = half;
    whole = whole_result(&cut);
    assert_int_equal(whole->code, PLM_EPARSE);
    for (i = 0; i <= strlen(half); i += 7) {
        got = pieces_result(&cut, &i, 1);
        assert_same_result(got, whole);
        plm_result_free(got);
    }
    res = plm__result_new(NULL);
    s = plm__provider_stream_open(PLM_PROVIDER_OPENAI, res);
    assert_non_null(s);
    assert_int_equal(plm__provider_stream_feed(s, chat_tools, 400), PLM_OK);
    plm__provider_stream_free(s);
    plm_result_free(res);
    plm_result_free(whole);
    free(half);
}

/* The sniff: the content type, or the first bytes once there are enough
 * of them to tell. */
static void test_sse_incremental__sniff(void **state)
{
    plm__headers h = { 0 };

    (void)state;
    assert_int_equal(plm__provider_sniff_sse(&h, "", 0), -1);
    assert_int_equal(plm__provider_sniff_sse(&h, "\n da", 4), -1);
    assert_int_equal(plm__provider_sniff_sse(&h, "even", 4), -1);
    assert_int_equal(plm__provider_sniff_sse(&h, "data:", 5), 1);
    assert_int_equal(plm__provider_sniff_sse(&h, "event:", 6), 1);
    assert_int_equal(plm__provider_sniff_sse(&h, "{", 1), 0);
    assert_int_equal(plm__provider_sniff_sse(&h, "dat{", 4), 0);
    assert_int_equal(plm__provider_sniff_sse(&h, "eventx", 6), 0);
    h.content_type = strdup("text/event-stream; charset=utf-8");
    assert_int_equal(plm__provider_sniff_sse(&h, "", 0), 1);
    plm__headers_clear(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_incremental__events_split_anywhere),
        cmocka_unit_test(test_sse_incremental__end_without_newline),
        cmocka_unit_test(test_sse_incremental__result_split_at_every_byte),
        cmocka_unit_test(test_sse_incremental__result_in_random_pieces),
        cmocka_unit_test(test_sse_incremental__cut_short_and_dropped),
        cmocka_unit_test(test_sse_incremental__sniff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
