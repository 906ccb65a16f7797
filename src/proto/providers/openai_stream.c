/*
 * An OpenAI stream assembled into the object the endpoint returns without
 * streaming, so that `"stream": true` answers can be recorded in the
 * Batch output's shape: chat chunks become a chat.completion (every
 * choice, its message with content, refusal and tool calls, logprobs,
 * finish_reason, and usage when the stream reported it), legacy
 * completion chunks a text_completion, a Responses API stream its final
 * response object, and an image stream its final image as an images
 * answer. Fields the chunks share (id, created, model,
 * system_fingerprint, service_tier) are taken from them as they come.
 */
#include <stdlib.h>
#include <string.h>

#include "openai_stream.h"

static int set(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new(obj, key, value) ? PLM_ENOMEM : PLM_OK;
}

/* Copies the chunk's string or integer member key into answer when the
 * chunk has one (the first chunks carry them; later ones repeat them). */
static int take_member(json_t *answer, const json_t *chunk, const char *key)
{
    json_t *v = json_object_get(chunk, key);

    if (!json_is_string(v) && !json_is_integer(v))
        return PLM_OK;
    return json_object_set(answer, key, v) ? PLM_ENOMEM : PLM_OK;
}

static int is_chat(const json_t *chunk)
{
    const char *object = json_string_value(json_object_get(chunk, "object"));
    const json_t *choice = json_array_get(json_object_get(chunk, "choices"), 0);

    if (object)
        return strcmp(object, "text_completion") != 0;
    return !json_object_get(choice, "text");
}

static json_t *answer_new(const json_t *chunk, int chat)
{
    return json_pack("{s:O?, s:s, s:O?, s:O?, s:[]}", "id",
                     json_object_get(chunk, "id"), "object",
                     chat ? "chat.completion" : "text_completion", "created",
                     json_object_get(chunk, "created"), "model",
                     json_object_get(chunk, "model"), "choices");
}

/* The answer's choice idx, created in the endpoint's shape on first use. */
static json_t *choice_slot(plm__sse_state *st, json_int_t idx)
{
    json_t *choices = json_object_get(st->answer, "choices");
    json_t *slot = plm__json_find_index(choices, idx);

    if (slot)
        return slot;
    if (st->kind == PLM__OPENAI_STREAM_CHAT)
        slot = json_pack("{s:I, s:{s:s, s:n}, s:n, s:n}", "index", idx,
                         "message", "role", "assistant", "content", "logprobs",
                         "finish_reason");
    else
        slot = json_pack("{s:s, s:I, s:n, s:n}", "text", "", "index", idx,
                         "logprobs", "finish_reason");
    if (!slot || json_array_append_new(choices, slot))
        return NULL;
    return slot;
}

/* Logprobs arrive per chunk as objects of arrays ({"content": [...]} in
 * chat, {"tokens": [...], "token_logprobs": [...], ...} in completions);
 * the answer's are the arrays joined. */
static int merge_logprobs(json_t *slot, const json_t *lp)
{
    json_t *have = json_object_get(slot, "logprobs"), *v, *into;
    const char *key;

    if (!json_is_object(lp))
        return PLM_OK;
    if (!json_is_object(have)) {
        have = json_object();
        if (set(slot, "logprobs", have))
            return PLM_ENOMEM;
    }
    json_object_foreach((json_t *)lp, key, v)
    {
        into = json_object_get(have, key);
        if (json_is_array(v) && json_is_array(into)) {
            if (json_array_extend(into, v))
                return PLM_ENOMEM;
        } else if (json_object_set(have, key, v)) {
            return PLM_ENOMEM;
        }
    }
    return PLM_OK;
}

/* One tool call's delta: the first names it (id, type, function name),
 * the later ones carry pieces of its arguments. */
static int tool_call_delta(json_t *message, const json_t *d, size_t pos)
{
    json_t *calls = json_object_get(message, "tool_calls"), *call, *fn;
    const json_t *index = json_object_get(d, "index");
    const json_t *dfn = json_object_get(d, "function");
    json_int_t idx = json_is_integer(index) ? json_integer_value(index)
                                            : (json_int_t)pos;

    if (!json_is_array(calls)) {
        calls = json_array();
        if (set(message, "tool_calls", calls))
            return PLM_ENOMEM;
    }
    call = plm__json_find_index(calls, idx);
    if (!call) {
        call = json_pack("{s:I, s:n, s:s, s:{s:s, s:[]}}", "index", idx, "id",
                         "type", "function", "function", "name", "",
                         "arguments");
        if (!call || json_array_append_new(calls, call))
            return PLM_ENOMEM;
    }
    fn = json_object_get(call, "function");
    if ((json_is_string(json_object_get(d, "id")) &&
         json_object_set(call, "id", json_object_get(d, "id"))) ||
        (json_is_string(json_object_get(d, "type")) &&
         json_object_set(call, "type", json_object_get(d, "type"))) ||
        (json_is_string(json_object_get(dfn, "name")) &&
         json_string_length(json_object_get(dfn, "name")) > 0 &&
         json_object_set(fn, "name", json_object_get(dfn, "name"))))
        return PLM_ENOMEM;
    return plm__pieces_add(fn, "arguments", json_object_get(dfn, "arguments"));
}

/* A chat choice's delta: role, content and refusal pieces, tool calls,
 * and the deprecated function_call. */
static int chat_delta(json_t *slot, const json_t *delta)
{
    json_t *message = json_object_get(slot, "message");
    const json_t *calls = json_object_get(delta, "tool_calls");
    const json_t *fc = json_object_get(delta, "function_call"), *d;
    json_t *have;
    size_t i;

    if (json_is_string(json_object_get(delta, "role")) &&
        json_object_set(message, "role", json_object_get(delta, "role")))
        return PLM_ENOMEM;
    if (plm__pieces_add(message, "content", json_object_get(delta, "content")))
        return PLM_ENOMEM;
    if (plm__pieces_add(message, "refusal", json_object_get(delta, "refusal")))
        return PLM_ENOMEM;
    json_array_foreach(calls, i, d)
    {
        if (tool_call_delta(message, d, i))
            return PLM_ENOMEM;
    }
    if (json_is_object(fc)) {
        have = json_object_get(message, "function_call");
        if (!have) {
            have = json_pack("{s:s, s:[]}", "name", "", "arguments");
            if (set(message, "function_call", have))
                return PLM_ENOMEM;
        }
        if ((json_is_string(json_object_get(fc, "name")) &&
             json_string_length(json_object_get(fc, "name")) > 0 &&
             json_object_set(have, "name", json_object_get(fc, "name"))) ||
            plm__pieces_add(have, "arguments",
                            json_object_get(fc, "arguments")))
            return PLM_ENOMEM;
    }
    return PLM_OK;
}

static int choice_delta(plm__sse_state *st, const json_t *choice, size_t pos)
{
    const json_t *index = json_object_get(choice, "index");
    const json_t *finish = json_object_get(choice, "finish_reason");
    json_int_t idx = json_is_integer(index) ? json_integer_value(index)
                                            : (json_int_t)pos;
    json_t *slot = choice_slot(st, idx);

    if (!slot)
        return PLM_ENOMEM;
    if (st->kind == PLM__OPENAI_STREAM_CHAT) {
        if (chat_delta(slot, json_object_get(choice, "delta")))
            return PLM_ENOMEM;
    } else if (plm__pieces_add(slot, "text", json_object_get(choice, "text"))) {
        return PLM_ENOMEM;
    }
    if (json_is_string(finish) &&
        json_object_set(slot, "finish_reason", (json_t *)finish))
        return PLM_ENOMEM;
    return merge_logprobs(slot, json_object_get(choice, "logprobs"));
}

int plm__openai_stream_chunk(plm__sse_state *st, const json_t *chunk)
{
    const json_t *choice, *usage = json_object_get(chunk, "usage");
    size_t i;

    if (st->kind == PLM__OPENAI_STREAM_RESPONSES ||
        st->kind == PLM__OPENAI_STREAM_IMAGE)
        return PLM_OK;
    if (!st->answer) {
        int chat = is_chat(chunk);

        st->answer = answer_new(chunk, chat);
        if (!st->answer)
            return PLM_ENOMEM;
        st->kind = chat ? PLM__OPENAI_STREAM_CHAT
                        : PLM__OPENAI_STREAM_COMPLETIONS;
    }
    if (take_member(st->answer, chunk, "id") ||
        take_member(st->answer, chunk, "created") ||
        take_member(st->answer, chunk, "model") ||
        take_member(st->answer, chunk, "system_fingerprint") ||
        take_member(st->answer, chunk, "service_tier"))
        return PLM_ENOMEM;
    json_array_foreach(json_object_get(chunk, "choices"), i, choice)
    {
        if (choice_delta(st, choice, i))
            return PLM_ENOMEM;
    }
    if (json_is_object(usage) &&
        json_object_set(st->answer, "usage", (json_t *)usage))
        return PLM_ENOMEM;
    return PLM_OK;
}

int plm__openai_stream_response(plm__sse_state *st, const json_t *response)
{
    if (!json_is_object(response))
        return PLM_OK;
    json_decref(st->answer);
    st->answer = json_incref((json_t *)response);
    st->kind = PLM__OPENAI_STREAM_RESPONSES;
    return PLM_OK;
}

int plm__openai_stream_image(plm__sse_state *st, const json_t *ev)
{
    static const char *const keys[] = { "background", "output_format",
                                        "quality", "size", "usage" };
    json_t *answer = json_pack("{s:O?, s:[{s:O?}]}", "created",
                               json_object_get(ev, "created_at"), "data",
                               "b64_json", json_object_get(ev, "b64_json"));

    if (!answer)
        return PLM_ENOMEM;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(ev, keys[i]);

        if (v && json_object_set(answer, keys[i], v)) {
            json_decref(answer);
            return PLM_ENOMEM;
        }
    }
    json_decref(st->answer);
    st->answer = answer;
    st->kind = PLM__OPENAI_STREAM_IMAGE;
    return PLM_OK;
}

/* A message's pieces joined; tool calls lose the "index" the deltas
 * needed (a non-streamed message has none), and a message without
 * refusal pieces has "refusal": null, as the endpoint writes it. */
static int finish_message(json_t *message)
{
    json_t *call;
    size_t i;

    if (plm__pieces_join(message, "content") ||
        plm__pieces_join(message, "refusal") ||
        plm__pieces_join(json_object_get(message, "function_call"),
                         "arguments"))
        return PLM_ENOMEM;
    if (!json_object_get(message, "refusal") &&
        set(message, "refusal", json_null()))
        return PLM_ENOMEM;
    json_array_foreach(json_object_get(message, "tool_calls"), i, call)
    {
        json_object_del(call, "index");
        if (plm__pieces_join(json_object_get(call, "function"), "arguments"))
            return PLM_ENOMEM;
    }
    return PLM_OK;
}

static int by_index(const void *a, const void *b)
{
    json_int_t x = json_integer_value(
        json_object_get(*(json_t *const *)a, "index"));
    json_int_t y = json_integer_value(
        json_object_get(*(json_t *const *)b, "index"));

    return (x > y) - (x < y);
}

/* Choices in index order (with n > 1 their chunks interleave). */
static int sort_choices(json_t *answer)
{
    json_t *choices = json_object_get(answer, "choices"), *sorted;
    size_t n = json_array_size(choices);
    json_t **items;
    int rc = PLM_ENOMEM;

    if (n < 2)
        return PLM_OK;
    items = malloc(n * sizeof *items);
    sorted = json_array();
    if (!items || !sorted)
        goto out;
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(choices, i);
    qsort(items, n, sizeof *items, by_index);
    for (size_t i = 0; i < n; i++) {
        if (json_array_append(sorted, items[i]))
            goto out;
    }
    rc = set(answer, "choices", sorted);
    sorted = NULL;
out:
    json_decref(sorted);
    free(items);
    return rc;
}

json_t *plm__openai_stream_finish(plm__sse_state *st)
{
    json_t *answer = st->answer, *choice;
    size_t i;

    if (!answer)
        return NULL;
    st->answer = NULL;
    if (st->kind == PLM__OPENAI_STREAM_RESPONSES ||
        st->kind == PLM__OPENAI_STREAM_IMAGE)
        return answer;
    json_array_foreach(json_object_get(answer, "choices"), i, choice)
    {
        /* Without [DONE], a finished choice 0 is not enough: with n > 1
         * another choice may have been cut midway. */
        if (!st->ended &&
            json_is_null(json_object_get(choice, "finish_reason"))) {
            json_decref(answer);
            plm__result_set_error(st->res, PLM_EPARSE, PLM_CLASS_PARSE,
                                  "unparseable OpenAI stream response "
                                  "(stream ended early: choice %d "
                                  "unfinished)",
                                  (int)json_integer_value(
                                      json_object_get(choice, "index")));
            return NULL;
        }
        if (st->kind == PLM__OPENAI_STREAM_CHAT
                ? finish_message(json_object_get(choice, "message"))
                : plm__pieces_join(choice, "text"))
            goto nomem;
    }
    if (sort_choices(answer))
        goto nomem;
    return answer;
nomem:
    json_decref(answer);
    plm__result_set_error(st->res, PLM_ENOMEM, PLM_CLASS_LOCAL,
                          "out of memory assembling the stream");
    return NULL;
}
