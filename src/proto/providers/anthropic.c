/*
 * Reading a successful Anthropic Messages answer, as JSON or as a stream
 * of server-sent events (message_start, content_block_delta, message_delta,
 * message_stop, and an "error" event when the provider fails mid-stream).
 * Text blocks are joined; tool-use and thinking blocks are skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "provider_parse.h"

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

int plm__anthropic_parse_json(const char *path, const char *body,
                              size_t len, plm_result *res)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const json_t *content, *block;
    plm__buf text = {0};
    int rc = PLM_OK, any = 0;
    size_t i;

    if (!json_is_object(root)) {
        plm__parse_fail(res, "Anthropic", root ? "not a JSON object"
                                               : "invalid JSON",
                        body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    content = json_object_get(root, "content");
    if (!json_is_array(content) && plm__path_is(path, "/v1/messages")) {
        plm__parse_fail(res, "Anthropic", "no content", body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    json_array_foreach(content, i, block) {
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
    if (!res->request_id)
        plm__json_take_string(&res->request_id, json_object_get(root, "id"));
out:
    plm__buf_free(&text);
    json_decref(root);
    return rc;
}

static int on_event(const char *event, const char *data, size_t len,
                    void *ctx)
{
    plm__sse_state *st = ctx;
    json_t *ev = json_loadb(data, len, 0, NULL);
    const json_t *delta, *message, *t;
    const char *type;
    int rc = 0;

    if (!json_is_object(ev)) {
        plm__parse_fail(st->res, "Anthropic stream", "invalid JSON event",
                        data, len);
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
        if (!st->res->request_id)
            plm__json_take_string(&st->res->request_id,
                                  json_object_get(message, "id"));
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
        plm__json_take_tokens(
            &st->res->completion_tokens,
            json_object_get(json_object_get(ev, "usage"), "output_tokens"));
    } else if (strcmp(type, "message_stop") == 0) {
        st->ended = 1;
        rc = 1;
    }
out:
    json_decref(ev);
    return rc;
}

int plm__anthropic_parse_sse(const char *body, size_t len, plm_result *res)
{
    return plm__sse_collect(body, len, on_event, res, "Anthropic stream");
}
