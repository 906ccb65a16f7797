/*
 * The delta callback, against the mock's paced streams (interval=): each
 * piece of a streamed answer reaches the caller while the mock still has
 * chunks to send; the text deltas joined are the result's content and the
 * assembled answer's; tool call fragments joined are the assembled call's
 * arguments; usage and the time to first token are set; a stream that
 * fails after a delta is not retried and keeps its text; a callback that
 * asks to stop ends the transfer before the mock's last chunk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine_fixture.h"

#define MAX_CALLS 4

/* What a callback saw. */
typedef struct seen {
    plm_mock *mock;
    int64_t stop_at; /* return non-zero at this delta index; -1: never */
    int64_t n;
    char text[8192];
    size_t text_len;
    int bad;             /* an index, time or text that breaks the contract */
    int mock_busy_first; /* at delta 0 the mock had not finished its answer */
    int64_t last_elapsed;
    char args[MAX_CALLS][2048];
    size_t args_len[MAX_CALLS];
    char id[MAX_CALLS][128];
    char name[MAX_CALLS][128];
    int fragments[MAX_CALLS];
} seen;

static void seen_init(seen *s, plm_mock *mock, int64_t stop_at)
{
    memset(s, 0, sizeof *s);
    s->mock = mock;
    s->stop_at = stop_at;
}

static void on_tool(seen *s, const plm_delta *d)
{
    int i = d->tool_index;

    if (i < 0 || i >= MAX_CALLS) {
        s->bad = 1;
        return;
    }
    if (s->fragments[i] == 0) {
        if (!d->tool_id || !d->tool_name)
            s->bad = 1;
        else {
            snprintf(s->id[i], sizeof s->id[i], "%s", d->tool_id);
            snprintf(s->name[i], sizeof s->name[i], "%s", d->tool_name);
        }
    } else if (d->tool_id || d->tool_name) {
        s->bad = 1;
    }
    if (!d->tool_arguments ||
        s->args_len[i] + d->tool_arguments_len >= sizeof s->args[i]) {
        s->bad = 1;
        return;
    }
    memcpy(s->args[i] + s->args_len[i], d->tool_arguments,
           d->tool_arguments_len);
    s->args_len[i] += d->tool_arguments_len;
    s->fragments[i]++;
}

static int on_delta(const plm_delta *d, void *user_data)
{
    seen *s = user_data;

    if (d->index != s->n || d->elapsed_ns < s->last_elapsed ||
        d->elapsed_ns < 0)
        s->bad = 1;
    s->last_elapsed = d->elapsed_ns;
    if (d->index == 0) {
        plm_mock_stats st;

        /* The mock books a paced stream just before its last chunk: not
         * yet booked means chunks were still to come. */
        plm_mock_get_stats(s->mock, &st);
        s->mock_busy_first = st.answered_2xx == 0 && st.in_flight == 1;
    }
    if (d->kind == PLM_DELTA_TEXT) {
        if (!d->text || d->text_len == 0 || strlen(d->text) != d->text_len ||
            s->text_len + d->text_len >= sizeof s->text)
            s->bad = 1;
        else {
            memcpy(s->text + s->text_len, d->text, d->text_len);
            s->text_len += d->text_len;
        }
    } else if (d->kind == PLM_DELTA_TOOL_CALL) {
        on_tool(s, d);
    }
    s->n++;
    return s->stop_at >= 0 && d->index >= s->stop_at;
}

static plm_result *run_one(plm_fx *fx, plm_request *req, seen *s)
{
    plm_gather_options go;
    plm_result *res = NULL;

    plm_mock_reset(fx->mock);
    assert_int_equal(plm_request_set_delta_callback(req, on_delta, s), PLM_OK);
    memset(&go, 0, sizeof go);
    go.version = PLM_GATHER_OPTIONS_VERSION;
    go.return_errors = 1;
    assert_int_equal(plm_gather(fx->client, &req, 1, &res, &go), PLM_OK);
    return res;
}

/* A user text long enough for several chunks, with the directive. */
static plm_request *paced_chat(plm_provider provider, const char *directive)
{
    char text[512];
    plm_request *req;

    snprintf(text, sizeof text,
             "%s the deltas of this answer arrive one chunk at a time, "
             "each a piece of sixteen bytes or so %s",
             provider == PLM_PROVIDER_OPENAI ? "openai" : "anthropic",
             directive);
    req = plm_fx_chat(provider, text);
    assert_int_equal(plm_request_set_stream(req, 1), PLM_OK);
    return req;
}

/* The assembled answer's text: OpenAI choices[0].message.content or
 * Anthropic content[0].text. */
static char *assembled_text(const plm_result *res, plm_provider provider)
{
    size_t len;
    const char *body = plm_result_assembled_body(res, &len);
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL, *t;
    char *out = NULL;

    if (provider == PLM_PROVIDER_OPENAI)
        t = json_object_get(
            json_object_get(json_array_get(json_object_get(root, "choices"), 0),
                            "message"),
            "content");
    else
        t = json_object_get(json_array_get(json_object_get(root, "content"), 0),
                            "text");
    if (json_is_string(t))
        out = strdup(json_string_value(t));
    json_decref(root);
    return out;
}

static void check_joined(plm_provider provider)
{
    plm_fx fx;
    plm_request *req;
    plm_result *res;
    plm_timings t;
    seen s;
    char *assembled;
    int64_t ftt;

    plm_fx_start(&fx, NULL, NULL);
    seen_init(&s, fx.mock, -1);
    req = paced_chat(provider, "[mock interval=200]");
    res = run_one(&fx, req, &s);
    assert_int_equal(plm_result_code(res), PLM_OK);
    assert_false(s.bad);
    assert_true(s.n >= 3);
    assert_true(s.mock_busy_first);
    assert_non_null(plm_result_content(res));
    s.text[s.text_len] = '\0';
    assert_string_equal(s.text, plm_result_content(res));
    assembled = assembled_text(res, provider);
    assert_non_null(assembled);
    assert_string_equal(s.text, assembled);
    free(assembled);
    assert_true(plm_result_prompt_tokens(res) > 0);
    assert_true(plm_result_completion_tokens(res) > 0);
    assert_int_equal(plm_result_attempts(res), 1);
    assert_int_equal(plm_result_timings(res, &t), PLM_OK);
    ftt = plm_result_first_token_ns(res);
    assert_true(t.first_byte_ns > 0);
    assert_true(ftt >= t.first_byte_ns);
    assert_true(ftt <= t.done_ns);
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

static void test_stream_deltas__openai_joined(void **state)
{
    (void)state;
    check_joined(PLM_PROVIDER_OPENAI);
}

static void test_stream_deltas__anthropic_joined(void **state)
{
    (void)state;
    check_joined(PLM_PROVIDER_ANTHROPIC);
}

/* Without a callback the first token time is still recorded. */
static void test_stream_deltas__first_token_without_callback(void **state)
{
    plm_fx fx;
    plm_request *req;
    plm_result *res = NULL;
    plm_gather_options go;
    plm_timings t;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    req = paced_chat(PLM_PROVIDER_ANTHROPIC, "[mock interval=20]");
    memset(&go, 0, sizeof go);
    go.version = PLM_GATHER_OPTIONS_VERSION;
    go.return_errors = 1;
    assert_int_equal(plm_gather(fx.client, &req, 1, &res, &go), PLM_OK);
    assert_int_equal(plm_result_code(res), PLM_OK);
    assert_int_equal(plm_result_timings(res, &t), PLM_OK);
    assert_true(plm_result_first_token_ns(res) >= t.first_byte_ns);
    assert_true(plm_result_first_token_ns(res) <= t.done_ns);
    plm_result_free(res);
    plm_request_free(req);
    /* Not streamed: no token time. */
    req = plm_fx_chat(PLM_PROVIDER_OPENAI, "whole");
    assert_int_equal(plm_gather(fx.client, &req, 1, &res, &go), PLM_OK);
    assert_int_equal(plm_result_code(res), PLM_OK);
    assert_int_equal(plm_result_first_token_ns(res), -1);
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

/* Legacy completions and the Responses API stream their text too. */
static void test_stream_deltas__completions_and_responses(void **state)
{
    static const char *const paths[] = { "/v1/completions", "/v1/responses" };
    static const char *const bodies[] = {
        "{\"model\":\"gpt-test\",\"stream\":true,\"stream_options\":"
        "{\"include_usage\":true},\"prompt\":\"complete this prompt of "
        "some length [mock interval=10]\"}",
        "{\"model\":\"gpt-test\",\"stream\":true,\"input\":\"respond to "
        "this input of some length [mock interval=10]\"}"
    };
    plm_fx fx;
    plm_request *req = NULL;
    plm_result *res;
    seen s;
    int i;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    for (i = 0; i < 2; i++) {
        seen_init(&s, fx.mock, -1);
        assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                             paths[i], bodies[i]),
                         PLM_OK);
        res = run_one(&fx, req, &s);
        assert_int_equal(plm_result_code(res), PLM_OK);
        assert_false(s.bad);
        assert_true(s.n >= 2);
        s.text[s.text_len] = '\0';
        assert_non_null(plm_result_content(res));
        assert_string_equal(s.text, plm_result_content(res));
        assert_true(plm_result_prompt_tokens(res) > 0);
        assert_true(plm_result_completion_tokens(res) > 0);
        plm_result_free(res);
        plm_request_free(req);
    }
    plm_fx_stop(&fx);
}

static const char openai_tools[] =
    "{\"model\":\"gpt-test\",\"stream\":true,"
    "\"stream_options\":{\"include_usage\":true},"
    "\"messages\":[{\"role\":\"user\",\"content\":\"weather "
    "[mock interval=10]\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":"
    "{\"type\":\"string\"},\"days\":{\"type\":\"integer\"}},"
    "\"required\":[\"city\",\"days\"]}}}],\"tool_choice\":\"required\"}";

static const char anthropic_tools[] =
    "{\"model\":\"claude-test\",\"max_tokens\":64,\"stream\":true,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"weather "
    "[mock interval=10]\"}],"
    "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":"
    "\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":"
    "{\"type\":\"integer\"}},\"required\":[\"city\",\"days\"]}}],"
    "\"tool_choice\":{\"type\":\"any\"}}";

/* The assembled answer's first tool call: its arguments as JSON (a new
 * reference), id and name (borrowed from *root, the caller's to free). */
static json_t *assembled_call(const plm_result *res, plm_provider provider,
                              json_t **root_out, const char **id,
                              const char **name)
{
    size_t len;
    const char *body = plm_result_assembled_body(res, &len);
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *call = NULL, *args, *block;
    size_t i;

    assert_non_null(root);
    if (provider == PLM_PROVIDER_OPENAI) {
        call = json_array_get(
            json_object_get(
                json_object_get(json_array_get(json_object_get(root, "choices"),
                                               0),
                                "message"),
                "tool_calls"),
            0);
        *id = json_string_value(json_object_get(call, "id"));
        *name = json_string_value(
            json_object_get(json_object_get(call, "function"), "name"));
        args = json_object_get(json_object_get(call, "function"), "arguments");
        args = json_loads(json_string_value(args), 0, NULL);
    } else {
        json_array_foreach(json_object_get(root, "content"), i, block)
        {
            if (!call && json_is_string(json_object_get(block, "type")) &&
                strcmp(json_string_value(json_object_get(block, "type")),
                       "tool_use") == 0)
                call = block;
        }
        *id = json_string_value(json_object_get(call, "id"));
        *name = json_string_value(json_object_get(call, "name"));
        args = json_incref(json_object_get(call, "input"));
    }
    *root_out = root;
    return args;
}

static void check_tool_fragments(plm_provider provider, const char *body)
{
    plm_fx fx;
    plm_request *req = NULL;
    plm_result *res;
    seen s;
    json_t *want, *got, *root = NULL;
    const char *id = NULL, *name = NULL;
    int k, calls = 0;

    plm_fx_start(&fx, NULL, NULL);
    seen_init(&s, fx.mock, -1);
    assert_int_equal(plm_request_new_raw(&req, provider, "POST",
                                         provider == PLM_PROVIDER_OPENAI
                                             ? "/v1/chat/completions"
                                             : "/v1/messages",
                                         body),
                     PLM_OK);
    res = run_one(&fx, req, &s);
    assert_int_equal(plm_result_code(res), PLM_OK);
    assert_false(s.bad);
    for (k = 0; k < MAX_CALLS; k++) {
        if (s.fragments[k] == 0)
            continue;
        calls++;
        want = assembled_call(res, provider, &root, &id, &name);
        assert_non_null(id);
        assert_string_equal(s.id[k], id);
        assert_string_equal(s.name[k], name);
        assert_true(s.fragments[k] >= 2);
        s.args[k][s.args_len[k]] = '\0';
        got = json_loads(s.args[k], 0, NULL);
        assert_non_null(got);
        assert_true(json_equal(got, want));
        json_decref(got);
        json_decref(want);
        json_decref(root);
    }
    assert_int_equal(calls, 1);
    assert_true(plm_result_prompt_tokens(res) > 0);
    assert_true(plm_result_completion_tokens(res) > 0);
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

static void test_stream_deltas__openai_tool_fragments(void **state)
{
    (void)state;
    check_tool_fragments(PLM_PROVIDER_OPENAI, openai_tools);
}

static void test_stream_deltas__anthropic_tool_fragments(void **state)
{
    (void)state;
    check_tool_fragments(PLM_PROVIDER_ANTHROPIC, anthropic_tools);
}

/* A stream the mock cuts halfway, after some deltas: the failure is final
 * (one attempt, though retries are allowed), its message says so, and
 * the result keeps the text delivered. */
static void check_cut(plm_provider provider)
{
    plm_fx fx;
    plm_request *req;
    plm_result *res;
    seen s;

    plm_fx_start(&fx, NULL, NULL);
    seen_init(&s, fx.mock, -1);
    req = paced_chat(provider, "[mock fault=cut]");
    assert_int_equal(plm_request_set_max_retries(req, 2), PLM_OK);
    res = run_one(&fx, req, &s);
    assert_int_not_equal(plm_result_code(res), PLM_OK);
    assert_int_equal(plm_result_attempts(res), 1);
    assert_true(s.n > 0);
    assert_false(s.bad);
    assert_non_null(strstr(plm_result_error_message(res),
                           "not retried because deltas were delivered"));
    s.text[s.text_len] = '\0';
    assert_non_null(plm_result_content(res));
    assert_string_equal(plm_result_content(res), s.text);
    assert_null(plm_result_finish_reason(res));
    assert_true(plm_result_first_token_ns(res) >= 0);
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

static void test_stream_deltas__openai_cut_not_retried(void **state)
{
    (void)state;
    check_cut(PLM_PROVIDER_OPENAI);
}

static void test_stream_deltas__anthropic_cut_not_retried(void **state)
{
    (void)state;
    check_cut(PLM_PROVIDER_ANTHROPIC);
}

/* An attempt that times out after its first delta is not retried either;
 * one that fails before any delta is retried as always. */
static void test_stream_deltas__timeout_after_delta(void **state)
{
    plm_fx fx;
    plm_request *req;
    plm_result *res;
    seen s;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    seen_init(&s, fx.mock, -1);
    req = paced_chat(PLM_PROVIDER_OPENAI, "[mock interval=400]");
    assert_int_equal(plm_request_set_timeout_ms(req, 1000), PLM_OK);
    assert_int_equal(plm_request_set_max_retries(req, 2), PLM_OK);
    res = run_one(&fx, req, &s);
    assert_int_equal(plm_result_code(res), PLM_ETIMEOUT);
    assert_int_equal(plm_result_attempts(res), 1);
    assert_true(s.n > 0);
    s.text[s.text_len] = '\0';
    assert_string_equal(plm_result_content(res), s.text);
    assert_non_null(strstr(plm_result_error_message(res), "not retried"));
    plm_result_free(res);
    plm_request_free(req);

    seen_init(&s, fx.mock, -1);
    req = paced_chat(PLM_PROVIDER_ANTHROPIC,
                     "[mock status=500 times=1 key=before]");
    res = run_one(&fx, req, &s);
    assert_int_equal(plm_result_code(res), PLM_OK);
    assert_int_equal(plm_result_attempts(res), 2);
    s.text[s.text_len] = '\0';
    assert_string_equal(plm_result_content(res), s.text);
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

/* A callback that returns non-zero: the request completes cancelled with
 * the text so far, and the mock saw the connection close before its last
 * chunk. */
static void check_stop(plm_provider provider)
{
    plm_fx fx;
    plm_request *req;
    plm_result *res;
    plm_mock_record *recs = NULL;
    size_t n;
    seen s;

    plm_fx_start(&fx, NULL, NULL);
    seen_init(&s, fx.mock, 1);
    req = paced_chat(provider, "[mock interval=200]");
    res = run_one(&fx, req, &s);
    assert_int_equal(plm_result_code(res), PLM_ECANCELLED);
    assert_int_equal(plm_result_error_class(res), PLM_CLASS_CANCELLED);
    assert_int_equal(plm_result_attempts(res), 1);
    assert_int_equal(s.n, 2);
    s.text[s.text_len] = '\0';
    assert_true(s.text_len > 0);
    assert_string_equal(plm_result_content(res), s.text);
    assert_null(plm_result_finish_reason(res));
    assert_non_null(strstr(plm_result_error_message(res), "delta callback"));
    assert_int_equal(plm_mock_wait_done(fx.mock, 1, 10000), 0);
    n = plm_mock_get_records(fx.mock, &recs);
    assert_int_equal(n, 1);
    assert_int_equal(recs[0].status, 0);
    assert_true(recs[0].stream_chunks > 3);
    assert_true(recs[0].stream_chunks_sent < recs[0].stream_chunks);
    plm_mock_records_free(recs, n);
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

static void test_stream_deltas__openai_stop(void **state)
{
    (void)state;
    check_stop(PLM_PROVIDER_OPENAI);
}

static void test_stream_deltas__anthropic_stop(void **state)
{
    (void)state;
    check_stop(PLM_PROVIDER_ANTHROPIC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_deltas__openai_joined),
        cmocka_unit_test(test_stream_deltas__anthropic_joined),
        cmocka_unit_test(test_stream_deltas__first_token_without_callback),
        cmocka_unit_test(test_stream_deltas__completions_and_responses),
        cmocka_unit_test(test_stream_deltas__openai_tool_fragments),
        cmocka_unit_test(test_stream_deltas__anthropic_tool_fragments),
        cmocka_unit_test(test_stream_deltas__openai_cut_not_retried),
        cmocka_unit_test(test_stream_deltas__anthropic_cut_not_retried),
        cmocka_unit_test(test_stream_deltas__timeout_after_delta),
        cmocka_unit_test(test_stream_deltas__openai_stop),
        cmocka_unit_test(test_stream_deltas__anthropic_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
