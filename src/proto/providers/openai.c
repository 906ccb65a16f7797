/*
 * The OpenAI protocol (and that of every compatible server): its defaults,
 * a bearer token, the chat body (the system prompt as the first message,
 * response_format for JSON answers, stream_options for usage in streams),
 * and reading a successful answer: chat completions, legacy completions,
 * embeddings, moderations, images and the Responses API as JSON, and the
 * streams of chat, legacy completions and Responses (assembled into their
 * non-streamed object by openai_stream.c). The parser takes what it knows
 * and ignores the rest, so new fields never break it; only a body that is
 * not JSON, or a known endpoint's answer without its defining field, is a
 * parse error. Error answers use the shared reader.
 */
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "openai_stream.h"
#include "provider.h"
#include "provider_parse.h"

static struct curl_slist *request_headers(const char *api_key,
                                          struct curl_slist *list)
{
    if (!api_key)
        return list;
    return plm__header_append_secret(list, "Authorization: Bearer ", api_key);
}

/* OpenAI keeps the system prompt as the first message; the caller may set
 * it after adding messages, so it replaces or prepends that message. */
static int set_system(json_t *body, const char *text)
{
    json_t *messages = json_object_get(body, "messages");
    json_t *first = json_array_get(messages, 0);
    json_t *msg;

    if (first && json_is_string(json_object_get(first, "role")) &&
        strcmp(json_string_value(json_object_get(first, "role")), "system") ==
            0)
        return json_object_set_new(first, "content", json_string(text))
                   ? PLM_ENOMEM
                   : PLM_OK;
    msg = json_pack("{s:s, s:s}", "role", "system", "content", text);
    if (!msg)
        return PLM_ENOMEM;
    return json_array_insert_new(messages, 0, msg) ? PLM_ENOMEM : PLM_OK;
}

static int set_json_response(json_t *body, int on)
{
    if (!on) {
        json_object_del(body, "response_format");
        return PLM_OK;
    }
    return json_object_set_new(body, "response_format",
                               json_pack("{s:s}", "type", "json_object"))
               ? PLM_ENOMEM
               : PLM_OK;
}

/* Without include_usage a streamed OpenAI answer reports no tokens, and
 * the rate budget could never be reconciled. */
static int set_stream(json_t *body, int on)
{
    if (!on) {
        json_object_del(body, "stream_options");
        return PLM_OK;
    }
    return json_object_set_new(body, "stream_options",
                               json_pack("{s:b}", "include_usage", 1))
               ? PLM_ENOMEM
               : PLM_OK;
}

static void take_usage(plm_result *res, const json_t *usage)
{
    if (!json_is_object(usage))
        return;
    plm__json_take_tokens(&res->prompt_tokens,
                          json_object_get(usage, "prompt_tokens"));
    plm__json_take_tokens(&res->completion_tokens,
                          json_object_get(usage, "completion_tokens"));
    /* The Responses API names them after Anthropic's. */
    plm__json_take_tokens(&res->prompt_tokens,
                          json_object_get(usage, "input_tokens"));
    plm__json_take_tokens(&res->completion_tokens,
                          json_object_get(usage, "output_tokens"));
}

/* choices[0]: message.content (chat; null for a tool call) or text
 * (legacy completions), and finish_reason. */
static void take_choice(plm_result *res, const json_t *choice)
{
    const json_t *message = json_object_get(choice, "message");

    if (json_is_object(message))
        plm__json_take_string(&res->content,
                              json_object_get(message, "content"));
    else
        plm__json_take_string(&res->content, json_object_get(choice, "text"));
    plm__json_take_string(&res->finish_reason,
                          json_object_get(choice, "finish_reason"));
}

/* Responses API: the text of every output_text part of every output item,
 * joined. Returns PLM_OK or PLM_ENOMEM. */
static int take_responses_output(plm_result *res, const json_t *output)
{
    plm__buf text = { 0 };
    const json_t *item, *part;
    size_t i, j;
    int any = 0;

    json_array_foreach(output, i, item)
    {
        json_array_foreach(json_object_get(item, "content"), j, part)
        {
            const json_t *t = json_object_get(part, "text");
            const char *type = json_string_value(json_object_get(part, "type"));

            if (!type || strcmp(type, "output_text") != 0 || !json_is_string(t))
                continue;
            if (plm__buf_append(&text, json_string_value(t),
                                json_string_length(t))) {
                plm__buf_free(&text);
                return PLM_ENOMEM;
            }
            any = 1;
        }
    }
    if (any) {
        free(res->content);
        res->content = text.data;
    } else {
        plm__buf_free(&text);
    }
    return PLM_OK;
}

static int is_images(const char *path)
{
    return plm__path_is(path, "/v1/images/generations") ||
           plm__path_is(path, "/v1/images/edits");
}

/* A scanned value into *dst (replacing it) when it is a string, as
 * plm__json_take_string does; -1 when out of memory. */
static int scan_take_string(plm__jspan v, char **dst)
{
    int oom;
    char *text;

    if (plm__jscan_kind(v) != '"')
        return 0;
    text = plm__jscan_string(v, NULL, &oom);
    if (!text)
        return -1;
    free(*dst);
    *dst = text;
    return 0;
}

/* A token count as plm__json_take_tokens takes it. */
static void scan_take_tokens(plm__jspan v, int64_t *dst)
{
    int64_t n;

    if (plm__jscan_integer(v, &n) && n >= 0)
        *dst = n;
}

/* choices[0] as take_choice reads it; -1 when the scanner cannot say (a
 * repeated key) or out of memory. */
static int scan_choice(plm__jspan choices, char **content, char **finish)
{
    static const char *const keys[] = { "message", "text", "finish_reason" };
    static const char *const content_key[] = { "content" };
    plm__jspan choice = { NULL, 0, NULL }, v[3], c;

    if (!plm__jscan_next(choices, &choice) || plm__jscan_kind(choice) != '{')
        return 0;
    if (plm__jscan_members(choice, keys, 3, v) < 0)
        return -1;
    if (plm__jscan_kind(v[0]) == '{') {
        if (plm__jscan_members(v[0], content_key, 1, &c) < 0 ||
            scan_take_string(c, content) < 0)
            return -1;
    } else if (scan_take_string(v[1], content) < 0) {
        return -1;
    }
    return scan_take_string(v[2], finish);
}

/*
 * A chat or legacy completions answer (the common case by far) read with
 * json_scan.c instead of a jansson tree: the same fields as take_choice
 * and take_usage. 1 when done; 0, with res untouched, for any other
 * shape or whatever the scanner leaves to jansson.
 */
static int parse_fast(const char *body, size_t len, plm_result *res)
{
    static const char *const keys[] = { "choices", "usage" };
    static const char *const usage_keys[] = { "prompt_tokens",
                                              "completion_tokens",
                                              "input_tokens", "output_tokens" };
    plm__jscan_doc doc;
    plm__jspan root, top[2], u[4];
    char *content = NULL, *finish = NULL;
    int64_t prompt = res->prompt_tokens, completion = res->completion_tokens;

    if (!plm__jscan_object(body, len, &doc, &root) ||
        plm__jscan_members(root, keys, 2, top) < 0 ||
        plm__jscan_kind(top[0]) != '[')
        return 0;
    if (scan_choice(top[0], &content, &finish) < 0 ||
        plm__jscan_members(top[1], usage_keys, 4, u) < 0) {
        free(content);
        free(finish);
        return 0;
    }
    /* In take_usage's order: the Responses API's names come last. */
    scan_take_tokens(u[0], &prompt);
    scan_take_tokens(u[1], &completion);
    scan_take_tokens(u[2], &prompt);
    scan_take_tokens(u[3], &completion);
    if (content) {
        free(res->content);
        res->content = content;
    }
    if (finish) {
        free(res->finish_reason);
        res->finish_reason = finish;
    }
    res->prompt_tokens = prompt;
    res->completion_tokens = completion;
    return 1;
}

static int parse_json(const char *path, const char *body, size_t len,
                      plm_result *res)
{
    json_t *root;
    const json_t *choices, *output, *details;
    int rc = PLM_OK;

    if (parse_fast(body, len, res))
        return PLM_OK;
    root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root)) {
        plm__parse_fail(res, "OpenAI",
                        root ? "not a JSON object" : "invalid JSON", body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    choices = json_object_get(root, "choices");
    output = json_object_get(root, "output");
    if (json_is_array(choices)) {
        take_choice(res, json_array_get(choices, 0));
    } else if (json_is_array(output)) {
        if (take_responses_output(res, output) != PLM_OK) {
            plm__result_set_error(res, PLM_ENOMEM, PLM_CLASS_LOCAL,
                                  "out of memory reading the response");
            rc = PLM_ENOMEM;
            goto out;
        }
        /* "completed", or why it is incomplete ("max_output_tokens"). */
        details = json_object_get(root, "incomplete_details");
        plm__json_take_string(&res->finish_reason,
                              json_object_get(root, "status"));
        plm__json_take_string(&res->finish_reason,
                              json_object_get(details, "reason"));
    } else if (json_is_array(json_object_get(root, "data"))) {
        /* Embeddings produce no output; images report theirs in "usage"
         * (gpt-image models) or not at all. */
        if (!is_images(path))
            res->completion_tokens = 0;
    } else if (json_is_array(json_object_get(root, "results"))) {
        res->completion_tokens = 0; /* moderations: no usage, no output */
    } else if (plm__path_is(path, "/v1/chat/completions") ||
               plm__path_is(path, "/v1/completions")) {
        plm__parse_fail(res, "OpenAI", "no choices", body, len);
        rc = PLM_EPARSE;
        goto out;
    } else if (plm__path_is(path, "/v1/responses")) {
        plm__parse_fail(res, "OpenAI", "no output", body, len);
        rc = PLM_EPARSE;
        goto out;
    } else if (plm__path_is(path, "/v1/embeddings") || is_images(path)) {
        plm__parse_fail(res, "OpenAI", "no data", body, len);
        rc = PLM_EPARSE;
        goto out;
    } else if (plm__path_is(path, "/v1/moderations")) {
        plm__parse_fail(res, "OpenAI", "no results", body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    take_usage(res, json_object_get(root, "usage"));
out:
    json_decref(root);
    return rc;
}

/* The chunk's part of choice 0: with n > 1 every chunk carries one
 * choice, named by its index, and only the first answer is kept. */
static const json_t *first_choice(const json_t *choices)
{
    const json_t *choice, *index;
    size_t i;

    json_array_foreach(choices, i, choice)
    {
        index = json_object_get(choice, "index");
        if (!index ||
            (json_is_integer(index) && json_integer_value(index) == 0))
            return choice;
    }
    return NULL;
}

/* The Responses API streams typed events and no [DONE]: text arrives in
 * response.output_text.delta, usage and status in the final
 * response.completed (or .incomplete / .failed) event. Image streams
 * are typed too, and end with image_generation.completed (or
 * image_edit.completed). */
static int on_responses_event(plm__sse_state *st, const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const json_t *delta = json_object_get(ev, "delta");
    const json_t *response = json_object_get(ev, "response");

    if (strcmp(type, "response.output_text.delta") == 0 &&
        json_is_string(delta)) {
        if (plm__buf_append(&st->content, json_string_value(delta),
                            json_string_length(delta)))
            return PLM_ENOMEM;
        st->any_content = 1;
        return plm__sse_text_delta(st, PLM_DELTA_TEXT, 0, delta);
    } else if (strcmp(type, "response.reasoning_text.delta") == 0 ||
               strcmp(type, "response.reasoning_summary_text.delta") == 0) {
        return plm__sse_text_delta(st, PLM_DELTA_REASONING, 0, delta);
    } else if (strcmp(type, "response.completed") == 0 ||
               strcmp(type, "response.incomplete") == 0) {
        const json_t *details = json_object_get(response, "incomplete_details");

        take_usage(st->res, json_object_get(response, "usage"));
        if (plm__openai_stream_response(st, response))
            return PLM_ENOMEM;
        plm__json_take_string(&st->res->finish_reason,
                              json_object_get(response, "status"));
        plm__json_take_string(&st->res->finish_reason,
                              json_object_get(details, "reason"));
        st->ended = 1;
        return 1;
    } else if (strcmp(type, "image_generation.completed") == 0 ||
               strcmp(type, "image_edit.completed") == 0) {
        /* An image stream: partial images, then the final one. */
        take_usage(st->res, json_object_get(ev, "usage"));
        if (plm__openai_stream_image(st, ev))
            return PLM_ENOMEM;
        st->ended = 1;
        return 1;
    } else if (strcmp(type, "response.failed") == 0 ||
               strcmp(type, "error") == 0) {
        const json_t *error = json_object_get(response, "error");

        plm__stream_error(st->res, error ? error : ev);
        st->failed = 1;
        return 1;
    }
    return 0;
}

/* An int from a server's JSON index (out of range: -1). */
static int index_of(const json_t *v, size_t pos)
{
    json_int_t i = json_is_integer(v) ? json_integer_value(v) : (json_int_t)pos;

    return i >= 0 && i <= INT32_MAX ? (int)i : -1;
}

/* Hands a chat or completions chunk's pieces on, choice by choice:
 * reasoning (as OpenAI-compatible servers send it), text, tool call
 * fragments. 0, or 1 when the sink asked to stop. */
static int chunk_deltas(plm__sse_state *st, const json_t *chunk)
{
    const json_t *choice, *delta, *call, *fn, *reasoning;
    size_t i, k;
    int c;

    if (!st->delta)
        return 0;
    json_array_foreach(json_object_get(chunk, "choices"), i, choice)
    {
        c = index_of(json_object_get(choice, "index"), i);
        delta = json_object_get(choice, "delta");
        if (!json_is_object(delta)) {
            if (plm__sse_text_delta(st, PLM_DELTA_TEXT, c,
                                    json_object_get(choice, "text")))
                return 1;
            continue;
        }
        reasoning = json_object_get(delta, "reasoning_content");
        if (!json_is_string(reasoning))
            reasoning = json_object_get(delta, "reasoning");
        if (plm__sse_text_delta(st, PLM_DELTA_REASONING, c, reasoning) ||
            plm__sse_text_delta(st, PLM_DELTA_TEXT, c,
                                json_object_get(delta, "content")))
            return 1;
        json_array_foreach(json_object_get(delta, "tool_calls"), k, call)
        {
            fn = json_object_get(call, "function");
            if (plm__sse_tool_delta(st, c,
                                    index_of(json_object_get(call, "index"), k),
                                    json_object_get(call, "id"),
                                    json_object_get(fn, "name"),
                                    json_object_get(fn, "arguments")))
                return 1;
        }
    }
    return 0;
}

static int on_chunk(const char *event, const char *data, size_t len, void *ctx)
{
    plm__sse_state *st = ctx;
    json_t *chunk;
    const json_t *choice, *delta, *content;
    int rc;

    (void)event;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        st->ended = 1;
        return 1;
    }
    chunk = json_loadb(data, len, 0, NULL);
    if (!json_is_object(chunk)) {
        json_decref(chunk);
        plm__parse_fail(st->res, "OpenAI stream", "invalid JSON chunk", data,
                        len);
        st->failed = 1;
        return 1;
    }
    if (json_object_get(chunk, "error")) {
        plm__stream_error(st->res, json_object_get(chunk, "error"));
        json_decref(chunk);
        st->failed = 1;
        return 1;
    }
    if (json_is_string(json_object_get(chunk, "type"))) {
        rc = on_responses_event(st, chunk);
        json_decref(chunk);
        return rc;
    }
    if (plm__openai_stream_chunk(st, chunk)) {
        json_decref(chunk);
        return PLM_ENOMEM;
    }
    choice = first_choice(json_object_get(chunk, "choices"));
    delta = json_object_get(choice, "delta");
    content = json_object_get(delta, "content");
    /* Legacy completions carry their text in the choice, as unstreamed. */
    if (!delta)
        content = json_object_get(choice, "text");
    if (json_is_string(content)) {
        if (plm__buf_append(&st->content, json_string_value(content),
                            json_string_length(content))) {
            json_decref(chunk);
            return PLM_ENOMEM;
        }
        st->any_content = 1;
    }
    plm__json_take_string(&st->res->finish_reason,
                          json_object_get(choice, "finish_reason"));
    take_usage(st->res, json_object_get(chunk, "usage"));
    rc = chunk_deltas(st, chunk);
    json_decref(chunk);
    return rc;
}

static void client_options(const plm_client_options *o, const char **api_key,
                           const char **base_url)
{
    *api_key = o->openai_api_key;
    *base_url = o->openai_base_url;
}

/* An OpenAI-compatible service's own addressing (Azure OpenAI: "api-key",
 * "api-version=...", deployment paths). */
static void client_url_options(const plm_client_options *o,
                               const char **key_header, const char **query,
                               int *deployment_paths)
{
    *key_header = o->openai_api_key_header;
    *query = o->openai_query;
    *deployment_paths = o->openai_deployment_paths;
}

/* The endpoints openai-node's AzureOpenAI client sends to a deployment
 * (its _deployments_endpoints); the others (/responses, /files, ...) go
 * to the base as they are. */
static const char *const deployment_paths[] = {
    "/completions",        "/chat/completions",
    "/embeddings",         "/audio/transcriptions",
    "/audio/translations", "/audio/speech",
    "/images/generations", "/batches",
    "/images/edits",       NULL
};

const plm__provider_ops plm__provider_openai = {
    .id = PLM_PROVIDER_OPENAI,
    .name = "openai",
    .display_name = "OpenAI",
    .default_base_url = "https://api.openai.com/v1",
    .env_api_key = "OPENAI_API_KEY",
    .env_base_url = "OPENAI_BASE_URL",
    .chat_path = "/v1/chat/completions",
    .client_options = client_options,
    .client_url_options = client_url_options,
    .deployment_paths = deployment_paths,
    .request_headers = request_headers,
    .set_system = set_system,
    .set_json_response = set_json_response,
    .set_stream = set_stream,
    .parse_json = parse_json,
    .sse_event = on_chunk,
    .sse_finish = plm__openai_stream_finish,
    .sse_what = "OpenAI stream",
};
