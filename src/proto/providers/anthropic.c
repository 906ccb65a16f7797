/*
 * The Anthropic Messages protocol: its defaults, the x-api-key and
 * anthropic-version headers, the chat body (a top-level system prompt that
 * also takes system-role messages, a required max_tokens), its error codes,
 * and reading a successful answer, as JSON or as a stream of server-sent
 * events (message_start, content_block_delta, message_delta, message_stop,
 * and an "error" event when the provider fails mid-stream). Text blocks
 * are joined; tool-use and thinking blocks are skipped.
 *
 * Anthropic has no JSON response mode; when asked for one, the serialized
 * body gets an instruction appended to its system prompt (the documented
 * way to ask Claude for JSON), without changing the body the caller built.
 */
#include <stdlib.h>
#include <string.h>

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
static char *dump_with_instruction(json_t *body)
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
    out = json_dumps(body, JSON_COMPACT);
    if (saved)
        json_object_set(body, "system", saved);
    else
        json_object_del(body, "system");
out:
    json_decref(saved);
    return out;
}

static char *serialize(json_t *body, int json_response)
{
    if (json_response)
        return dump_with_instruction(body);
    return json_dumps(body, JSON_COMPACT);
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

static int parse_json(const char *path, const char *body, size_t len,
                      plm_result *res)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const json_t *content, *block;
    plm__buf text = { 0 };
    int rc = PLM_OK, any = 0;
    size_t i;

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
    } else if (strcmp(type, "message_start") == 0) {
        message = json_object_get(ev, "message");
        take_usage(st->res, json_object_get(message, "usage"));
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

static int parse_sse(const char *body, size_t len, plm_result *res)
{
    return plm__sse_collect(body, len, on_event, res, "Anthropic stream");
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
    .parse_sse = parse_sse,
    .error_fields = error_fields,
};
