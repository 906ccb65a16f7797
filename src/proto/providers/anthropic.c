/*
 * The Anthropic Messages protocol: its defaults, the x-api-key and
 * anthropic-version headers, the chat body (a top-level system prompt that
 * also takes system-role messages, a required max_tokens), its error codes,
 * and reading a successful answer, as JSON or as a stream of server-sent
 * events (message_start, content_block_delta, message_delta, message_stop,
 * and an "error" event when the provider fails mid-stream). Text blocks
 * are joined into the content; a stream is also assembled into the
 * message object the endpoint returns without streaming.
 *
 * Anthropic has no JSON response mode; when asked for one, the serialized
 * body gets an instruction appended to its system prompt (the documented
 * way to ask Claude for JSON), without changing the body the caller built.
 */
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "json_write.h"
#include "provider.h"
#include "provider_parse.h"

static const char json_instruction[] =
    "Respond with a single valid JSON object and nothing else.";

static struct curl_slist *request_headers(const char *api_key,
                                          struct curl_slist *list)
{
    struct curl_slist *next;

    next = curl_slist_append(list, "anthropic-version: 2023-06-01");
    if (!next || !api_key)
        return next;
    return plm__header_append_secret(next, "x-api-key: ", api_key);
}

/* Anthropic requires max_tokens: a chat body starts with the default. */
static int chat_init(json_t *body)
{
    return json_object_set_new(body, "max_tokens",
                               json_integer(PLM__DEFAULT_MAX_TOKENS))
               ? PLM_ENOMEM
               : PLM_OK;
}

static int set_system(json_t *body, const char *text)
{
    return json_object_set_new(body, "system", json_string(text)) ? PLM_ENOMEM
                                                                  : PLM_OK;
}

/* Anthropic has no "system" role in messages: such a message is appended
 * to the top-level system prompt instead, so callers can stay generic. */
static int add_message(json_t *body, const char *role, const char *content)
{
    const char *old;
    json_t *joined;

    if (strcmp(role, "system") != 0)
        return plm__chat_append_message(body, role, content);
    old = json_string_value(json_object_get(body, "system"));
    if (!old || !*old)
        joined = json_string(content);
    else
        joined = json_sprintf("%s\n\n%s", old, content);
    if (!joined)
        return PLM_ENOMEM;
    return json_object_set_new(body, "system", joined) ? PLM_ENOMEM : PLM_OK;
}

/* Dumps the body with the JSON instruction added to its system prompt;
 * the caller's "system" is put back afterwards. */
static char *dump_with_instruction(json_t *body, size_t *len_out)
{
    json_t *old = json_object_get(body, "system");
    const char *text = json_string_value(old);
    json_t *saved = old ? json_incref(old) : NULL;
    json_t *sys;
    char *out = NULL;

    if (text && *text)
        sys = json_sprintf("%s\n\n%s", text, json_instruction);
    else
        sys = json_string(json_instruction);
    if (!sys || json_object_set_new(body, "system", sys))
        goto out;
    out = plm__json_write_compact(body, len_out);
    if (saved)
        json_object_set(body, "system", saved);
    else
        json_object_del(body, "system");
out:
    json_decref(saved);
    return out;
}

static char *serialize(json_t *body, int json_response, size_t *len_out)
{
    if (json_response)
        return dump_with_instruction(body, len_out);
    return plm__json_write_compact(body, len_out);
}

static int64_t estimate_extra_bytes(int json_response)
{
    return json_response ? (int64_t)sizeof json_instruction : 0;
}

/* Anthropic's error.type ("rate_limit_error", ...) is its code. */
static void error_fields(plm_result *res, const json_t *error)
{
    plm__error_fields(res, error);
    if (!res->error_code)
        (void)plm__strdup_into(&res->error_code, res->error_type);
}

static void take_usage(plm_result *res, const json_t *usage)
{
    if (!json_is_object(usage))
        return;
    plm__json_take_tokens(&res->prompt_tokens,
                          json_object_get(usage, "input_tokens"));
    plm__json_take_tokens(&res->completion_tokens,
                          json_object_get(usage, "output_tokens"));
}

static int type_is(const json_t *obj, const char *want)
{
    const char *type = json_string_value(json_object_get(obj, "type"));

    return type && strcmp(type, want) == 0;
}

/* A scanned value decoded (malloc'd) into *out, or NULL when it is not
 * a string; -1 when out of memory. */
static int scan_string_value(plm__jspan v, char **out, size_t *len)
{
    int oom;

    *out = NULL;
    if (plm__jscan_kind(v) != '"')
        return 0;
    *out = plm__jscan_string(v, len, &oom);
    return *out ? 0 : -1;
}

static void scan_tokens(plm__jspan v, int64_t *dst)
{
    int64_t n;

    if (plm__jscan_integer(v, &n) && n >= 0)
        *dst = n;
}

/* The text blocks of content joined into *text (*any: at least one); -1
 * when the scanner cannot say (a repeated key) or out of memory. */
static int scan_text_blocks(plm__jspan content, plm__buf *text, int *any)
{
    static const char *const keys[] = { "type", "text" };
    plm__jspan block = { NULL, 0, NULL }, v[2];

    while (plm__jscan_next(content, &block)) {
        char *t;
        size_t n = 0;
        int bad;

        if (plm__jscan_members(block, keys, 2, v) < 0)
            return -1;
        /* type_is: a "type" string equal to "text" (its escapes, if any,
         * decoded first). */
        if (plm__jscan_kind(v[0]) != '"' || plm__jscan_kind(v[1]) != '"')
            continue;
        if (v[0].n != 6 || memcmp(v[0].p, "\"text\"", 6) != 0) {
            char *type;
            int other;

            if (!memchr(v[0].p, '\\', v[0].n))
                continue;
            if (scan_string_value(v[0], &type, NULL) < 0)
                return -1;
            other = strcmp(type, "text") != 0;
            free(type);
            if (other)
                continue;
        }
        if (scan_string_value(v[1], &t, &n) < 0)
            return -1;
        bad = plm__buf_append(text, t, n) ? -1 : 0;
        *any = 1;
        free(t);
        if (bad)
            return -1;
    }
    return 0;
}

/*
 * A messages answer (the common case by far) read with json_scan.c
 * instead of a jansson tree: the same fields as parse_json below. 1 when
 * done; 0, with res untouched, for any other shape or whatever the
 * scanner leaves to jansson.
 */
static int parse_fast(const char *body, size_t len, plm_result *res)
{
    static const char *const keys[] = { "content", "stop_reason", "usage",
                                        "input_tokens" };
    static const char *const usage_keys[] = { "input_tokens", "output_tokens" };
    plm__jscan_doc doc;
    plm__jspan root, top[4], u[2];
    plm__buf text = { 0 };
    char *stop = NULL;
    int64_t prompt = res->prompt_tokens, completion = res->completion_tokens;
    int any = 0;

    if (!plm__jscan_object(body, len, &doc, &root) ||
        plm__jscan_members(root, keys, 4, top) < 0 ||
        plm__jscan_kind(top[0]) != '[')
        return 0;
    if (scan_text_blocks(top[0], &text, &any) < 0 ||
        scan_string_value(top[1], &stop, NULL) < 0 ||
        plm__jscan_members(top[2], usage_keys, 2, u) < 0) {
        plm__buf_free(&text);
        free(stop);
        return 0;
    }
    scan_tokens(u[0], &prompt);
    scan_tokens(u[1], &completion);
    /* count_tokens answers {"input_tokens": n} at the top level. */
    scan_tokens(top[3], &prompt);
    if (any) {
        free(res->content);
        res->content = text.data;
    } else {
        plm__buf_free(&text);
    }
    if (stop) {
        free(res->finish_reason);
        res->finish_reason = stop;
    }
    res->prompt_tokens = prompt;
    res->completion_tokens = completion;
    return 1;
}

static int parse_json(const char *path, const char *body, size_t len,
                      plm_result *res)
{
    json_t *root;
    const json_t *content, *block;
    plm__buf text = { 0 };
    int rc = PLM_OK, any = 0;
    size_t i;

    if (parse_fast(body, len, res))
        return PLM_OK;
    root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root)) {
        plm__parse_fail(res, "Anthropic",
                        root ? "not a JSON object" : "invalid JSON", body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    content = json_object_get(root, "content");
    if (!json_is_array(content) && plm__path_is(path, "/v1/messages")) {
        plm__parse_fail(res, "Anthropic", "no content", body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    json_array_foreach(content, i, block)
    {
        const json_t *t = json_object_get(block, "text");

        if (!type_is(block, "text") || !json_is_string(t))
            continue;
        if (plm__buf_append(&text, json_string_value(t),
                            json_string_length(t))) {
            plm__result_set_error(res, PLM_ENOMEM, PLM_CLASS_LOCAL,
                                  "out of memory reading the response");
            rc = PLM_ENOMEM;
            goto out;
        }
        any = 1;
    }
    if (any) {
        free(res->content);
        res->content = text.data;
        text.data = NULL;
    }
    plm__json_take_string(&res->finish_reason,
                          json_object_get(root, "stop_reason"));
    take_usage(res, json_object_get(root, "usage"));
    /* count_tokens answers {"input_tokens": n} at the top level. */
    plm__json_take_tokens(&res->prompt_tokens,
                          json_object_get(root, "input_tokens"));
out:
    plm__buf_free(&text);
    json_decref(root);
    return rc;
}

/* Puts a copy of block at idx of the message's content; an index past
 * the end appends (a gap is not padded: the index comes from the
 * server). PLM_OK or PLM_ENOMEM. */
static int content_block_start(json_t *content, size_t idx, const json_t *block)
{
    json_t *copy = json_deep_copy(block);

    if (!copy)
        return PLM_ENOMEM;
    if (idx < json_array_size(content))
        return json_array_set_new(content, idx, copy) ? PLM_ENOMEM : PLM_OK;
    return json_array_append_new(content, copy) ? PLM_ENOMEM : PLM_OK;
}

static int block_delta(json_t *block, const json_t *delta)
{
    json_t *cites;

    if (!json_is_object(block))
        return PLM_OK;
    if (type_is(delta, "text_delta"))
        return plm__pieces_add(block, "text", json_object_get(delta, "text"));
    if (type_is(delta, "input_json_delta"))
        return plm__pieces_add(block, "input",
                               json_object_get(delta, "partial_json"));
    if (type_is(delta, "thinking_delta"))
        return plm__pieces_add(block, "thinking",
                               json_object_get(delta, "thinking"));
    if (type_is(delta, "signature_delta") &&
        json_is_string(json_object_get(delta, "signature")))
        return json_object_set(block, "signature",
                               json_object_get(delta, "signature"))
                   ? PLM_ENOMEM
                   : PLM_OK;
    if (type_is(delta, "citations_delta") &&
        json_object_get(delta, "citation")) {
        cites = json_object_get(block, "citations");
        if (!json_is_array(cites)) {
            cites = json_array();
            if (json_object_set_new(block, "citations", cites))
                return PLM_ENOMEM;
        }
        return json_array_append(cites, json_object_get(delta, "citation"))
                   ? PLM_ENOMEM
                   : PLM_OK;
    }
    return PLM_OK;
}

/* Sets every member of src that is not null into dst, but "content",
 * which the blocks build. */
static int merge_members(json_t *dst, const json_t *src)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)src, key, v)
    {
        if (!json_is_null(v) && strcmp(key, "content") != 0 &&
            json_object_set(dst, key, v))
            return PLM_ENOMEM;
    }
    return PLM_OK;
}

/*
 * The message the endpoint returns without streaming, assembled in
 * st->answer: message_start's message, each content block from its
 * content_block_start with its deltas' pieces (text, thinking, the tool
 * input's partial JSON, citations, signature), message_delta's stop
 * reason and usage (its counts are totals, not increments). PLM_OK or
 * PLM_ENOMEM.
 */
static int assemble(plm__sse_state *st, const char *type, const json_t *ev)
{
    const json_t *index = json_object_get(ev, "index");
    size_t idx = json_is_integer(index) && json_integer_value(index) >= 0
                     ? (size_t)json_integer_value(index)
                     : 0;
    json_t *msg = st->answer, *content, *usage;

    if (strcmp(type, "message_start") == 0) {
        if (!json_is_object(json_object_get(ev, "message")))
            return PLM_OK;
        json_decref(st->answer);
        st->answer = json_deep_copy(json_object_get(ev, "message"));
        if (!st->answer)
            return PLM_ENOMEM;
        if (!json_is_array(json_object_get(st->answer, "content")) &&
            json_object_set_new(st->answer, "content", json_array()))
            return PLM_ENOMEM;
        return PLM_OK;
    }
    if (!msg) {
        /* A server that skips message_start still gets a message. */
        msg = st->answer = json_pack("{s:s, s:s, s:[]}", "type", "message",
                                     "role", "assistant", "content");
        if (!msg)
            return PLM_ENOMEM;
    }
    content = json_object_get(msg, "content");
    if (!json_is_array(content))
        return PLM_OK;
    if (strcmp(type, "content_block_start") == 0 &&
        json_is_object(json_object_get(ev, "content_block")))
        return content_block_start(content, idx,
                                   json_object_get(ev, "content_block"));
    if (strcmp(type, "content_block_delta") == 0)
        return block_delta(json_array_get(content, idx),
                           json_object_get(ev, "delta"));
    if (strcmp(type, "message_delta") == 0) {
        if (json_is_object(json_object_get(ev, "delta")) &&
            merge_members(msg, json_object_get(ev, "delta")))
            return PLM_ENOMEM;
        usage = json_object_get(msg, "usage");
        if (json_is_object(json_object_get(ev, "usage")) &&
            json_is_object(usage) &&
            merge_members(usage, json_object_get(ev, "usage")))
            return PLM_ENOMEM;
    }
    return PLM_OK;
}

/* The plm__sse_finish_fn: every block's pieces joined, a tool input's
 * JSON text parsed back into the object (none: {}). */
static json_t *finish_message(plm__sse_state *st)
{
    json_t *msg = st->answer, *block, *input;
    size_t i;

    st->answer = NULL;
    json_array_foreach(json_object_get(msg, "content"), i, block)
    {
        int tool_input = json_is_array(json_object_get(block, "input"));

        if (plm__pieces_join(block, "text") ||
            plm__pieces_join(block, "thinking") ||
            plm__pieces_join(block, "input"))
            goto nomem;
        if (!tool_input)
            continue;
        input = json_object_get(block, "input");
        if (json_string_length(input) == 0) {
            if (json_object_set_new(block, "input", json_object()))
                goto nomem;
            continue;
        }
        input = json_loadb(json_string_value(input), json_string_length(input),
                           0, NULL);
        if (!json_is_object(input)) {
            json_decref(input);
            plm__parse_fail(st->res, "Anthropic stream",
                            "tool input is not a JSON object",
                            json_string_value(json_object_get(block, "input")),
                            json_string_length(
                                json_object_get(block, "input")));
            json_decref(msg);
            return NULL;
        }
        if (json_object_set_new(block, "input", input))
            goto nomem;
    }
    return msg;
nomem:
    json_decref(msg);
    plm__result_set_error(st->res, PLM_ENOMEM, PLM_CLASS_LOCAL,
                          "out of memory assembling the stream");
    return NULL;
}

/* A content block's index as a tool call's position (-1 if absurd). */
static int block_index(const json_t *ev)
{
    const json_t *index = json_object_get(ev, "index");
    json_int_t i = json_is_integer(index) ? json_integer_value(index) : 0;

    return i >= 0 && i <= INT32_MAX ? (int)i : -1;
}

/* A tool_use block's start is its call's first fragment (id, name). 0,
 * or 1 when the delta sink asked to stop. */
static int block_start_delta(plm__sse_state *st, const json_t *ev)
{
    const json_t *block = json_object_get(ev, "content_block");

    if (!type_is(block, "tool_use"))
        return 0;
    return plm__sse_tool_delta(st, 0, block_index(ev),
                               json_object_get(block, "id"),
                               json_object_get(block, "name"), NULL);
}

/* A content_block_delta's piece handed on: text, a tool input's partial
 * JSON, thinking. 0, or 1 when the delta sink asked to stop. */
static int block_delta_out(plm__sse_state *st, const json_t *ev)
{
    const json_t *delta = json_object_get(ev, "delta");

    if (type_is(delta, "text_delta"))
        return plm__sse_text_delta(st, PLM_DELTA_TEXT, 0,
                                   json_object_get(delta, "text"));
    if (type_is(delta, "input_json_delta"))
        return plm__sse_tool_delta(st, 0, block_index(ev), NULL, NULL,
                                   json_object_get(delta, "partial_json"));
    if (type_is(delta, "thinking_delta"))
        return plm__sse_text_delta(st, PLM_DELTA_REASONING, 0,
                                   json_object_get(delta, "thinking"));
    return 0;
}

static int on_event(const char *event, const char *data, size_t len, void *ctx)
{
    plm__sse_state *st = ctx;
    json_t *ev = json_loadb(data, len, 0, NULL);
    const json_t *delta, *message, *t;
    const char *type;
    int rc = 0;

    if (!json_is_object(ev)) {
        plm__parse_fail(st->res, "Anthropic stream", "invalid JSON event", data,
                        len);
        st->failed = 1;
        rc = 1;
        goto out;
    }
    /* The data's own "type" names the event; the event: line is the
     * fallback for servers that leave it out. */
    type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        type = event;
    if (strcmp(type, "error") == 0) {
        plm__stream_error(st->res, json_object_get(ev, "error"));
        st->failed = 1;
        rc = 1;
        goto out;
    }
    if (assemble(st, type, ev)) {
        rc = PLM_ENOMEM;
        goto out;
    }
    if (strcmp(type, "message_start") == 0) {
        message = json_object_get(ev, "message");
        take_usage(st->res, json_object_get(message, "usage"));
    } else if (strcmp(type, "content_block_start") == 0) {
        rc = block_start_delta(st, ev);
    } else if (strcmp(type, "content_block_delta") == 0) {
        delta = json_object_get(ev, "delta");
        t = json_object_get(delta, "text");
        if (type_is(delta, "text_delta") && json_is_string(t)) {
            if (plm__buf_append(&st->content, json_string_value(t),
                                json_string_length(t))) {
                rc = PLM_ENOMEM;
                goto out;
            }
            st->any_content = 1;
        }
        rc = block_delta_out(st, ev);
    } else if (strcmp(type, "message_delta") == 0) {
        delta = json_object_get(ev, "delta");
        plm__json_take_string(&st->res->finish_reason,
                              json_object_get(delta, "stop_reason"));
        /* output_tokens here is the running total, not an increment. */
        plm__json_take_tokens(&st->res->completion_tokens,
                              json_object_get(json_object_get(ev, "usage"),
                                              "output_tokens"));
    } else if (strcmp(type, "message_stop") == 0) {
        st->ended = 1;
        rc = 1;
    }
out:
    json_decref(ev);
    return rc;
}

static void client_options(const plm_client_options *o, const char **api_key,
                           const char **base_url)
{
    *api_key = o->anthropic_api_key;
    *base_url = o->anthropic_base_url;
}

const plm__provider_ops plm__provider_anthropic = {
    .id = PLM_PROVIDER_ANTHROPIC,
    .name = "anthropic",
    .display_name = "Anthropic",
    .default_base_url = "https://api.anthropic.com",
    .env_api_key = "ANTHROPIC_API_KEY",
    .env_base_url = "ANTHROPIC_BASE_URL",
    .chat_path = "/v1/messages",
    .client_options = client_options,
    .request_headers = request_headers,
    .chat_init = chat_init,
    .set_system = set_system,
    .add_message = add_message,
    .serialize = serialize,
    .estimate_extra_bytes = estimate_extra_bytes,
    .parse_json = parse_json,
    .sse_event = on_event,
    .sse_finish = finish_message,
    .sse_what = "Anthropic stream",
    .error_fields = error_fields,
};
