/*
 * The mock's server-sent event streams, event for event what the
 * providers send and the official SDKs' stream parsers accumulate: OpenAI
 * chat and completion chunks (n choices, tool-call deltas, the usage
 * chunk), Anthropic's message events (text or tool_use blocks), and the
 * responses API's full sequence with sequence numbers.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock_internal.h"

/* Emits one JSON event; returns -1 if it could not be built. */
static int emit_json(plm__mock_sse_emit emit, void *arg, const char *event,
                     json_t *o, int simulated)
{
    char *s = plm__mock_dump(o, simulated);

    if (s == NULL)
        return -1;
    emit(arg, event, s);
    free(s);
    return 0;
}

/* Splits text into pieces of up to 16 bytes without cutting a UTF-8
 * sequence, so clients reassemble real deltas. */
static size_t piece_len(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0' && n < 16)
        n++;
    while (s[n] != '\0' && ((unsigned char)s[n] & 0xC0) == 0x80)
        n++;
    return n;
}

static const char *model_of(const plm__mock_parsed *p)
{
    return p->model ? p->model : "mock-model";
}

/* What every OpenAI chunk of one stream shares. */
typedef struct chunk_ctx {
    const plm__mock_parsed *p;
    const char *id;
    const char *object;
    json_int_t now;
    int simulated;
    plm__mock_sse_emit emit;
    void *arg;
} chunk_ctx;

/* One chunk carrying one choice (NULL: none, for the usage chunk). */
static int chunk(const chunk_ctx *c, json_t *choice, json_t *usage)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:[]}", "id", c->id, "object",
                          c->object, "created", c->now, "model", model_of(c->p),
                          "choices");

    if (o == NULL) {
        json_decref(choice);
        json_decref(usage);
        return -1;
    }
    if (choice != NULL)
        json_array_append_new(json_object_get(o, "choices"), choice);
    if (usage != NULL)
        json_object_set_new(o, "usage", usage);
    return emit_json(c->emit, c->arg, NULL, o, c->simulated);
}

static int chat_tool_deltas(const chunk_ctx *c, int i, uint64_t seq)
{
    const char *s = c->p->tool_args;
    char tid[64];
    int rc;

    snprintf(tid, sizeof tid, "call_mock_%llu_%d", (unsigned long long)seq, i);
    rc = chunk(c,
               json_pack("{s:i, s:{s:s, s:n, s:[{s:i, s:s, s:s, s:{s:s, "
                         "s:s}}]}, s:n}",
                         "index", i, "delta", "role", "assistant", "content",
                         "tool_calls", "index", 0, "id", tid, "type",
                         "function", "function", "name", c->p->tool_name,
                         "arguments", "", "finish_reason"),
               NULL);
    while (*s != '\0' && rc == 0) {
        size_t n = piece_len(s);

        rc = chunk(c,
                   json_pack("{s:i, s:{s:[{s:i, s:{s:s%}}]}, s:n}", "index", i,
                             "delta", "tool_calls", "index", 0, "function",
                             "arguments", s, n, "finish_reason"),
                   NULL);
        s += n;
    }
    return rc;
}

static int choice_deltas(const chunk_ctx *c, int i, const char *text,
                         uint64_t seq)
{
    int chat = strcmp(c->object, "chat.completion.chunk") == 0;
    const char *s = text;
    int rc = 0;

    if (chat && c->p->tool_name != NULL)
        return chat_tool_deltas(c, i, seq);
    if (chat)
        rc = chunk(c,
                   json_pack("{s:i, s:{s:s, s:s}, s:n}", "index", i, "delta",
                             "role", "assistant", "content", "",
                             "finish_reason"),
                   NULL);
    while (*s != '\0' && rc == 0) {
        size_t n = piece_len(s);

        if (chat)
            rc = chunk(c,
                       json_pack("{s:i, s:{s:s%}, s:n}", "index", i, "delta",
                                 "content", s, n, "finish_reason"),
                       NULL);
        else
            rc = chunk(c,
                       json_pack("{s:i, s:s%, s:n, s:n}", "index", i, "text", s,
                                 n, "logprobs", "finish_reason"),
                       NULL);
        s += n;
    }
    return rc;
}

static int sse_openai(plm__mock_endpoint ep, const plm__mock_parsed *p,
                      const char *id, const char *text, uint64_t seq,
                      int64_t ct, int simulated, plm__mock_sse_emit emit,
                      void *arg)
{
    int chat = ep == PLM__MOCK_EP_CHAT;
    chunk_ctx c = { p,
                    id,
                    chat ? "chat.completion.chunk" : "text_completion",
                    (json_int_t)time(NULL),
                    simulated,
                    emit,
                    arg };
    const char *finish = p->tool_name && chat ? "tool_calls" : "stop";
    json_int_t pt = p->prompt_tokens, all = (json_int_t)ct * p->n_choices;
    int rc = 0;

    for (int i = 0; i < p->n_choices && rc == 0; i++)
        rc = choice_deltas(&c, i, text, seq);
    for (int i = 0; i < p->n_choices && rc == 0; i++) {
        if (chat)
            rc = chunk(&c,
                       json_pack("{s:i, s:{}, s:s}", "index", i, "delta",
                                 "finish_reason", finish),
                       NULL);
        else
            rc = chunk(&c,
                       json_pack("{s:i, s:s, s:n, s:s}", "index", i, "text", "",
                                 "logprobs", "finish_reason", finish),
                       NULL);
    }
    if (p->include_usage && rc == 0)
        rc = chunk(&c, NULL,
                   json_pack("{s:I, s:I, s:I}", "prompt_tokens", pt,
                             "completion_tokens", all, "total_tokens",
                             pt + all));
    if (rc == 0)
        emit(arg, NULL, "[DONE]");
    return rc ? -1 : 0;
}

/* The content block's start and deltas: text, or a tool_use whose input
 * arrives as partial JSON. */
static int anthropic_block(const plm__mock_parsed *p, uint64_t seq,
                           const char *text, int simulated,
                           plm__mock_sse_emit emit, void *arg)
{
    int tool = p->tool_name != NULL;
    const char *s = tool ? p->tool_args : text;
    char tid[64];
    json_t *block;
    int rc;

    snprintf(tid, sizeof tid, "toolu_mock_%llu", (unsigned long long)seq);
    block = tool ? json_pack("{s:s, s:s, s:s, s:{}}", "type", "tool_use", "id",
                             tid, "name", p->tool_name, "input")
                 : json_pack("{s:s, s:s}", "type", "text", "text", "");
    rc = emit_json(emit, arg, "content_block_start",
                   json_pack("{s:s, s:i, s:o}", "type", "content_block_start",
                             "index", 0, "content_block", block),
                   simulated);
    while (*s != '\0' && rc == 0) {
        size_t n = piece_len(s);

        rc = emit_json(emit, arg, "content_block_delta",
                       json_pack("{s:s, s:i, s:{s:s, s:s%}}", "type",
                                 "content_block_delta", "index", 0, "delta",
                                 "type",
                                 tool ? "input_json_delta" : "text_delta",
                                 tool ? "partial_json" : "text", s, n),
                       simulated);
        s += n;
    }
    return rc;
}

static int sse_anthropic(const plm__mock_parsed *p, const char *id,
                         uint64_t seq, const char *text, int64_t ct,
                         int simulated, plm__mock_sse_emit emit, void *arg)
{
    int rc = 0;

    rc |= emit_json(emit, arg, "message_start",
                    json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:[], s:n, s:n, "
                              "s:{s:I, s:i}}}",
                              "type", "message_start", "message", "id", id,
                              "type", "message", "role", "assistant", "model",
                              model_of(p), "content", "stop_reason",
                              "stop_sequence", "usage", "input_tokens",
                              (json_int_t)p->prompt_tokens, "output_tokens", 1),
                    simulated);
    if (rc == 0)
        rc = anthropic_block(p, seq, text, simulated, emit, arg);
    rc |= emit_json(emit, arg, "content_block_stop",
                    json_pack("{s:s, s:i}", "type", "content_block_stop",
                              "index", 0),
                    simulated);
    rc |= emit_json(emit, arg, "message_delta",
                    json_pack("{s:s, s:{s:s, s:n}, s:{s:I}}", "type",
                              "message_delta", "delta", "stop_reason",
                              p->tool_name ? "tool_use" : "end_turn",
                              "stop_sequence", "usage", "output_tokens",
                              (json_int_t)ct),
                    simulated);
    rc |= emit_json(emit, arg, "message_stop",
                    json_pack("{s:s}", "type", "message_stop"), simulated);
    return rc ? -1 : 0;
}

/* What every responses event shares: its type and sequence number. */
typedef struct resp_ctx {
    int seq;
    int simulated;
    plm__mock_sse_emit emit;
    void *arg;
} resp_ctx;

/* Emits o (owned) as event `type` with the next sequence_number, after
 * setting the item's coordinates when item_id is given. */
static int resp_event(resp_ctx *c, const char *type, json_t *o,
                      const char *item_id)
{
    if (o == NULL)
        return -1;
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "sequence_number", json_integer(c->seq++));
    if (item_id != NULL) {
        json_object_set_new(o, "item_id", json_string(item_id));
        json_object_set_new(o, "output_index", json_integer(0));
        json_object_set_new(o, "content_index", json_integer(0));
    }
    return emit_json(c->emit, c->arg, type, o, c->simulated);
}

static json_t *text_part(const char *text)
{
    return json_pack("{s:s, s:s, s:[]}", "type", "output_text", "text", text,
                     "annotations");
}

/* The message item's events: added, its text part, deltas, and done. */
static int resp_item(resp_ctx *c, json_t *item, const char *text)
{
    const char *s = text;
    json_t *open = json_deep_copy(item);
    int rc;

    json_object_set_new(open, "status", json_string("in_progress"));
    json_object_set_new(open, "content", json_array());
    rc = resp_event(c, "response.output_item.added",
                    json_pack("{s:i, s:o}", "output_index", 0, "item", open),
                    NULL);
    rc |= resp_event(c, "response.content_part.added",
                     json_pack("{s:o}", "part", text_part("")), "msg_mock");
    while (*s != '\0' && rc == 0) {
        size_t n = piece_len(s);

        rc = resp_event(c, "response.output_text.delta",
                        json_pack("{s:s%, s:[]}", "delta", s, n, "logprobs"),
                        "msg_mock");
        s += n;
    }
    rc |= resp_event(c, "response.output_text.done",
                     json_pack("{s:s, s:[]}", "text", text, "logprobs"),
                     "msg_mock");
    rc |= resp_event(c, "response.content_part.done",
                     json_pack("{s:o}", "part", text_part(text)), "msg_mock");
    rc |= resp_event(c, "response.output_item.done",
                     json_pack("{s:i, s:O}", "output_index", 0, "item", item),
                     NULL);
    return rc;
}

/* The responses API's events: created, in_progress, the output item
 * with its content part and text deltas, and the completed response
 * (the same object a non-streamed call returns). */
static int sse_responses(const plm__mock_parsed *p, uint64_t seq,
                         const char *text, int64_t ct, int simulated,
                         plm__mock_sse_emit emit, void *arg)
{
    char *full = plm__mock_reply_body(PLM__MOCK_EP_RESPONSES, p, seq, ct, 0);
    json_t *done = full ? json_loads(full, 0, NULL) : NULL;
    json_t *open = done ? json_deep_copy(done) : NULL;
    resp_ctx c = { 0, simulated, emit, arg };
    int rc = -1;

    free(full);
    if (open == NULL)
        goto out;
    json_object_set_new(open, "status", json_string("in_progress"));
    json_object_set_new(open, "output", json_array());
    json_object_set_new(open, "usage", json_null());
    rc = resp_event(&c, "response.created",
                    json_pack("{s:O}", "response", open), NULL);
    rc |= resp_event(&c, "response.in_progress",
                     json_pack("{s:O}", "response", open), NULL);
    if (rc == 0)
        rc = resp_item(&c, json_array_get(json_object_get(done, "output"), 0),
                       text);
    if (simulated)
        json_object_set_new(done, "simulated", json_true());
    rc |= resp_event(&c, "response.completed",
                     json_pack("{s:O}", "response", done), NULL);
out:
    json_decref(open);
    json_decref(done);
    return rc ? -1 : 0;
}

int plm__mock_reply_sse(plm__mock_endpoint ep, const plm__mock_parsed *p,
                        uint64_t seq, int64_t completion_tokens, int simulated,
                        plm__mock_sse_emit emit, void *arg)
{
    char id[64];
    char *text = plm__mock_reply_text(p);
    int rc;

    if (text == NULL)
        return -1;
    if (ep == PLM__MOCK_EP_RESPONSES) {
        rc = sse_responses(p, seq, text, completion_tokens, simulated, emit,
                           arg);
    } else if (ep == PLM__MOCK_EP_MESSAGES) {
        snprintf(id, sizeof id, "msg_mock_%llu", (unsigned long long)seq);
        rc = sse_anthropic(p, id, seq, text, completion_tokens, simulated, emit,
                           arg);
    } else {
        snprintf(id, sizeof id, "%s-mock-%llu",
                 ep == PLM__MOCK_EP_CHAT ? "chatcmpl" : "cmpl",
                 (unsigned long long)seq);
        rc = sse_openai(ep, p, id, text, seq, completion_tokens, simulated,
                        emit, arg);
    }
    free(text);
    return rc;
}
