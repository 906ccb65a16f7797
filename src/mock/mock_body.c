/*
 * Request reading and answer building for the mock server: pulls the user
 * text, system prompt and token estimate out of OpenAI and Anthropic request
 * bodies, and builds the providers' success and error bodies (mock_sse.c
 * has the server-sent event streams). Replies name the request
 * ("mock reply: <user text>") so tests can match answers to requests.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock_internal.h"

#define REPLY_PREFIX "mock reply: "

/* Appends the text of a message "content" (a string or an array of
 * {type:"text"|"input_text", text} parts) to *acc. */
static int append_content(char **acc, size_t *len, json_t *content)
{
    const char *parts[64];
    size_t n = 0, add = 0;
    char *p;

    if (json_is_string(content)) {
        parts[n++] = json_string_value(content);
    } else if (json_is_array(content)) {
        size_t i;
        json_t *it;

        json_array_foreach(content, i, it)
        {
            json_t *t = json_object_get(it, "text");

            if (json_is_string(t) && n < 64)
                parts[n++] = json_string_value(t);
        }
    }
    for (size_t i = 0; i < n; i++)
        add += strlen(parts[i]);
    if (n == 0)
        return 0;
    p = realloc(*acc, *len + add + 1);
    if (p == NULL)
        return -1;
    *acc = p;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(parts[i]);

        memcpy(p + *len, parts[i], k);
        *len += k;
    }
    p[*len] = '\0';
    return 0;
}

static size_t content_chars(json_t *content)
{
    size_t total = 0;

    if (json_is_string(content))
        return json_string_length(content);
    if (json_is_array(content)) {
        size_t i;
        json_t *it;

        json_array_foreach(content, i, it)
        {
            json_t *t = json_object_get(it, "text");

            if (json_is_string(t))
                total += json_string_length(t);
        }
    }
    return total;
}

/* Reads a messages array: the last user message's text and the
 * character count of every message. */
static int read_messages(json_t *msgs, char **user, size_t *chars)
{
    json_t *last = NULL, *it;
    size_t i, len = 0;

    if (!json_is_array(msgs))
        return 0;
    json_array_foreach(msgs, i, it)
    {
        const char *role = json_string_value(json_object_get(it, "role"));

        *chars += content_chars(json_object_get(it, "content"));
        if (role != NULL && strcmp(role, "user") == 0)
            last = it;
    }
    if (last == NULL)
        return 0;
    if (*user == NULL) {
        *user = strdup("");
        if (*user == NULL)
            return -1;
    }
    return append_content(user, &len, json_object_get(last, "content"));
}

/* Reads an "input" that is a string, an array of strings or an array of
 * messages (embeddings, completions' prompt, responses). */
static int read_input(json_t *in, plm__mock_parsed *p, size_t *chars)
{
    size_t i;
    json_t *it;

    if (json_is_string(in)) {
        *chars += json_string_length(in);
        p->n_inputs = 1;
        p->user_text = strdup(json_string_value(in));
        return p->user_text ? 0 : -1;
    }
    if (!json_is_array(in))
        return 0;
    p->n_inputs = (int)json_array_size(in);
    json_array_foreach(in, i, it)
    {
        if (json_is_string(it)) {
            *chars += json_string_length(it);
            free(p->user_text);
            p->user_text = strdup(json_string_value(it));
            if (p->user_text == NULL)
                return -1;
        }
    }
    if (p->user_text != NULL)
        return 0;
    /* An array of messages (the responses API). */
    if (read_messages(in, &p->user_text, chars) != 0)
        return -1;
    return 0;
}

static int64_t int_field(json_t *body, const char *k)
{
    json_t *v = json_object_get(body, k);

    return json_is_integer(v) && json_integer_value(v) >= 0
               ? (int64_t)json_integer_value(v)
               : -1;
}

/* n, embeddings' encoding_format and dimensions, moderations' input. */
static void read_options(json_t *body, plm__mock_parsed *out)
{
    const char *fmt = json_string_value(
        json_object_get(body, "encoding_format"));
    int64_t n = int_field(body, "n"), dims = int_field(body, "dimensions");

    out->n_choices = n < 1                       ? 1
                     : n > PLM__MOCK_MAX_CHOICES ? PLM__MOCK_MAX_CHOICES
                                                 : (int)n;
    out->embed_base64 = fmt != NULL && strcmp(fmt, "base64") == 0;
    out->dimensions = dims < 1 ? 8 : dims > 4096 ? 4096 : (int)dims;
    out->input = json_object_get(body, "input");
    fmt = json_string_value(json_object_get(body, "response_format"));
    out->image_url = fmt != NULL && strcmp(fmt, "url") == 0;
}

int plm__mock_parse_body(plm__mock_endpoint ep, json_t *body,
                         plm__mock_parsed *out)
{
    size_t chars = 0, slen = 0;
    json_t *sys, *fmt;

    memset(out, 0, sizeof *out);
    out->max_tokens = -1;
    out->model = json_string_value(json_object_get(body, "model"));
    out->stream = json_is_true(json_object_get(body, "stream"));
    out->include_usage = json_is_true(
        json_object_get(json_object_get(body, "stream_options"),
                        "include_usage"));
    fmt = json_object_get(json_object_get(body, "response_format"), "type");
    out->want_json = json_is_string(fmt) &&
                     strcmp(json_string_value(fmt), "json_object") == 0;

    switch (ep) {
    case PLM__MOCK_EP_CHAT:
    case PLM__MOCK_EP_MESSAGES:
        if (read_messages(json_object_get(body, "messages"), &out->user_text,
                          &chars) != 0)
            goto fail;
        break;
    case PLM__MOCK_EP_COMPLETIONS:
    case PLM__MOCK_EP_IMAGES:
        if (read_input(json_object_get(body, "prompt"), out, &chars) != 0)
            goto fail;
        break;
    case PLM__MOCK_EP_EMBEDDINGS:
    case PLM__MOCK_EP_RESPONSES:
    case PLM__MOCK_EP_MODERATIONS:
        if (read_input(json_object_get(body, "input"), out, &chars) != 0)
            goto fail;
        break;
    default: break;
    }
    /* Anthropic's top-level system, OpenAI's system/developer messages
     * and the responses API's instructions all count as the system. */
    sys = json_object_get(body, ep == PLM__MOCK_EP_RESPONSES ? "instructions"
                                                             : "system");
    if (sys != NULL) {
        chars += content_chars(sys);
        if (append_content(&out->system_text, &slen, sys) != 0)
            goto fail;
    }
    if (ep == PLM__MOCK_EP_CHAT) {
        json_t *msgs = json_object_get(body, "messages"), *it;
        size_t i;

        json_array_foreach(msgs, i, it)
        {
            const char *r = json_string_value(json_object_get(it, "role"));

            if (r != NULL &&
                (strcmp(r, "system") == 0 || strcmp(r, "developer") == 0) &&
                append_content(&out->system_text, &slen,
                               json_object_get(it, "content")) != 0)
                goto fail;
        }
    }
    out->prompt_tokens = (int64_t)(chars / 4);
    if (out->prompt_tokens < 1)
        out->prompt_tokens = 1;
    out->max_tokens = int_field(body, "max_completion_tokens");
    if (out->max_tokens < 0)
        out->max_tokens = int_field(body, "max_tokens");
    if (out->max_tokens < 0)
        out->max_tokens = int_field(body, "max_output_tokens");
    {
        /* A request for a JSON description of a file names both keys. */
        const char *u = out->user_text ? out->user_text : "";
        const char *s = out->system_text ? out->system_text : "";

        if ((strcasestr(u, "summary") || strcasestr(s, "summary")) &&
            (strcasestr(u, "references") || strcasestr(s, "references")))
            out->want_json = 2;
    }
    read_options(body, out);
    if (plm__mock_pick_tool(ep, body, out) != 0)
        goto fail;
    return 0;
fail:
    plm__mock_parsed_free(out);
    return -1;
}

void plm__mock_parsed_free(plm__mock_parsed *p)
{
    free(p->user_text);
    free(p->system_text);
    free(p->tool_args);
    p->user_text = NULL;
    p->system_text = NULL;
    p->tool_args = NULL;
}

/* The assistant's text: plain, or a JSON object when JSON was asked for. */
char *plm__mock_reply_text(const plm__mock_parsed *p)
{
    const char *u = p->user_text ? p->user_text : "";
    json_t *o = NULL;
    char *s = NULL;

    if (!p->want_json) {
        size_t n = strlen(u);

        s = malloc(sizeof(REPLY_PREFIX) + n);
        if (s != NULL) {
            memcpy(s, REPLY_PREFIX, sizeof(REPLY_PREFIX) - 1);
            memcpy(s + sizeof(REPLY_PREFIX) - 1, u, n + 1);
        }
        return s;
    }
    if (p->want_json == 2) {
        /* Name the first non-empty line of the text (the file's start). */
        const char *line = u;
        size_t n;
        char summary[256];

        while (*line == '\n' || *line == '\r')
            line++;
        n = strcspn(line, "\r\n");
        if (n > 160) {
            n = 160;
            /* Not inside a UTF-8 sequence: json_pack refuses the text. */
            while (n > 0 && ((unsigned char)line[n] & 0xC0) == 0x80)
                n--;
        }
        snprintf(summary, sizeof summary, "mock summary of: %.*s", (int)n,
                 line);
        o = json_pack("{s:s, s:[]}", "summary", summary, "references");
    } else {
        size_t n = strlen(u);
        char *full = malloc(sizeof(REPLY_PREFIX) + n);

        if (full == NULL)
            return NULL;
        memcpy(full, REPLY_PREFIX, sizeof(REPLY_PREFIX) - 1);
        memcpy(full + sizeof(REPLY_PREFIX) - 1, u, n + 1);
        o = json_pack("{s:s}", "reply", full);
        free(full);
    }
    if (o != NULL)
        s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static const char *model_of(const plm__mock_parsed *p)
{
    return p->model ? p->model : "mock-model";
}

static char *dump(json_t *o, int simulated)
{
    char *s = NULL;

    if (o == NULL)
        return NULL;
    if (simulated)
        json_object_set_new(o, "simulated", json_true());
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* s as a JSON string literal, quotes included (jansson escapes it). */
static char *quoted(const char *s)
{
    json_t *j = json_string(s);
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

    json_decref(j);
    return q;
}

/*
 * The chat completion answer, the one benchmarks ask for by the thousand:
 * the fixed structure is formatted directly and only the two strings from
 * the request go through jansson. Building the object and dumping it took
 * 40% of the mock's CPU per request (jansson formats every container's
 * address for its cycle check), enough to make the mock the slower side
 * at 20,000 requests per second. Same fields, same order as json_pack.
 */
static char *chat_reply(const char *id, json_int_t now, const char *model,
                        const char *text, json_int_t pt, json_int_t ct,
                        int simulated)
{
    static const char fmt[] =
        "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%lld,"
        "\"model\":%s,\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":%s},\"logprobs\":null,"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%lld,"
        "\"completion_tokens\":%lld,\"total_tokens\":%lld}%s}";
    char *qm = quoted(model), *qt = quoted(text), *out = NULL;
    const char *sim = simulated ? ",\"simulated\":true" : "";
    int n;

    if (qm == NULL || qt == NULL)
        goto out;
    n = snprintf(NULL, 0, fmt, id, (long long)now, qm, qt, (long long)pt,
                 (long long)ct, (long long)(pt + ct), sim);
    if (n < 0)
        goto out;
    out = malloc((size_t)n + 1);
    if (out != NULL)
        snprintf(out, (size_t)n + 1, fmt, id, (long long)now, qm, qt,
                 (long long)pt, (long long)ct, (long long)(pt + ct), sim);
out:
    free(qm);
    free(qt);
    return out;
}

/* The assistant message of choice i: text, or a call of the tool. */
static json_t *chat_message(const plm__mock_parsed *p, const char *text,
                            uint64_t seq, int i)
{
    char id[64];

    if (p->tool_name == NULL)
        return json_pack("{s:s, s:s, s:n}", "role", "assistant", "content",
                         text, "refusal");
    snprintf(id, sizeof id, "call_mock_%llu_%d", (unsigned long long)seq, i);
    return json_pack("{s:s, s:n, s:n, s:[{s:s, s:s, s:{s:s, s:s}}]}", "role",
                     "assistant", "content", "refusal", "tool_calls", "id", id,
                     "type", "function", "function", "name", p->tool_name,
                     "arguments", p->tool_args);
}

/* Chat with n choices or a tool call, through jansson. */
static json_t *chat_full(const plm__mock_parsed *p, const char *id,
                         json_int_t now, const char *text, uint64_t seq,
                         json_int_t pt, json_int_t ct)
{
    json_t *choices = json_array();
    const char *finish = p->tool_name ? "tool_calls" : "stop";

    for (int i = 0; choices != NULL && i < p->n_choices; i++)
        json_array_append_new(choices,
                              json_pack("{s:i, s:o, s:n, s:s}", "index", i,
                                        "message",
                                        chat_message(p, text, seq, i),
                                        "logprobs", "finish_reason", finish));
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:{s:I, s:I, s:I}}", "id", id,
                     "object", "chat.completion", "created", now, "model",
                     model_of(p), "choices", choices, "usage", "prompt_tokens",
                     pt, "completion_tokens", ct * p->n_choices, "total_tokens",
                     pt + ct * p->n_choices);
}

static json_t *messages_full(const plm__mock_parsed *p, const char *id,
                             const char *text, uint64_t seq, json_int_t pt,
                             json_int_t ct)
{
    json_t *block;

    if (p->tool_name != NULL) {
        char tid[64];

        snprintf(tid, sizeof tid, "toolu_mock_%llu", (unsigned long long)seq);
        block = json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", tid,
                          "name", p->tool_name, "input",
                          json_loads(p->tool_args, 0, NULL));
    } else {
        block = json_pack("{s:s, s:s}", "type", "text", "text", text);
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:[o], s:s, s:n, s:{s:I, s:I}}",
                     "id", id, "type", "message", "role", "assistant", "model",
                     model_of(p), "content", block, "stop_reason",
                     p->tool_name ? "tool_use" : "end_turn", "stop_sequence",
                     "usage", "input_tokens", pt, "output_tokens", ct);
}

static json_t *completions_full(const plm__mock_parsed *p, const char *id,
                                json_int_t now, const char *text, json_int_t pt,
                                json_int_t ct)
{
    json_t *choices = json_array();

    for (int i = 0; choices != NULL && i < p->n_choices; i++)
        json_array_append_new(choices, json_pack("{s:s, s:i, s:n, s:s}", "text",
                                                 text, "index", i, "logprobs",
                                                 "finish_reason", "stop"));
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:{s:I, s:I, s:I}}", "id", id,
                     "object", "text_completion", "created", now, "model",
                     model_of(p), "choices", choices, "usage", "prompt_tokens",
                     pt, "completion_tokens", ct * p->n_choices, "total_tokens",
                     pt + ct * p->n_choices);
}

/* The bodies that do not echo the user's text. */
static char *other_body(plm__mock_endpoint ep, const plm__mock_parsed *p,
                        uint64_t seq, int64_t completion_tokens, int simulated)
{
    switch (ep) {
    case PLM__MOCK_EP_IMAGES:
        return plm__mock_images_body(p, seq, completion_tokens, simulated);
    case PLM__MOCK_EP_EMBEDDINGS:
        return plm__mock_embeddings_body(p, simulated);
    case PLM__MOCK_EP_MODERATIONS:
        return plm__mock_moderations_body(p, seq, simulated);
    case PLM__MOCK_EP_MODELS: return plm__mock_models_body(p, NULL, simulated);
    case PLM__MOCK_EP_MODEL:
        return plm__mock_models_body(p, model_of(p), simulated);
    default: return NULL;
    }
}

char *plm__mock_reply_body(plm__mock_endpoint ep, const plm__mock_parsed *p,
                           uint64_t seq, int64_t completion_tokens,
                           int simulated)
{
    char id[64];
    char *text = NULL;
    json_t *o = NULL;
    json_int_t now = (json_int_t)time(NULL);
    json_int_t pt = p->prompt_tokens, ct = completion_tokens;

    if (ep != PLM__MOCK_EP_CHAT && ep != PLM__MOCK_EP_MESSAGES &&
        ep != PLM__MOCK_EP_COMPLETIONS && ep != PLM__MOCK_EP_RESPONSES)
        return other_body(ep, p, seq, completion_tokens, simulated);
    text = plm__mock_reply_text(p);
    if (text == NULL)
        return NULL;
    switch (ep) {
    case PLM__MOCK_EP_CHAT:
        snprintf(id, sizeof id, "chatcmpl-mock-%llu", (unsigned long long)seq);
        if (p->n_choices > 1 || p->tool_name != NULL) {
            o = chat_full(p, id, now, text, seq, pt, ct);
            break;
        }
        {
            char *body = chat_reply(id, now, model_of(p), text, pt, ct,
                                    simulated);
            free(text);
            return body;
        }
    case PLM__MOCK_EP_MESSAGES:
        snprintf(id, sizeof id, "msg_mock_%llu", (unsigned long long)seq);
        o = messages_full(p, id, text, seq, pt, ct);
        break;
    case PLM__MOCK_EP_COMPLETIONS:
        snprintf(id, sizeof id, "cmpl-mock-%llu", (unsigned long long)seq);
        o = completions_full(p, id, now, text, pt, ct);
        break;
    case PLM__MOCK_EP_RESPONSES:
        snprintf(id, sizeof id, "resp_mock_%llu", (unsigned long long)seq);
        o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[{s:s, s:s, s:s, s:s, "
                      "s:[{s:s, s:s, s:[]}]}], s:{s:I, s:I, s:I}}",
                      "id", id, "object", "response", "created_at", now,
                      "status", "completed", "model", model_of(p), "output",
                      "type", "message", "id", "msg_mock", "status",
                      "completed", "role", "assistant", "content", "type",
                      "output_text", "text", text, "annotations", "usage",
                      "input_tokens", pt, "output_tokens", ct, "total_tokens",
                      pt + ct);
        break;
    default: break;
    }
    free(text);
    return dump(o, simulated);
}

static const char *openai_type(int status)
{
    if (status == 429)
        return "requests";
    if (status == 401)
        return "authentication_error";
    if (status == 403)
        return "permission_error";
    if (status == 404)
        return "not_found_error";
    if (status >= 500)
        return "server_error";
    return "invalid_request_error";
}

static const char *anthropic_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

char *plm__mock_error_body(int anthropic, int status, const char *message,
                           const char *error_code, int simulated)
{
    json_t *o;

    if (anthropic) {
        o = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
                      anthropic_type(status), "message", message);
    } else {
        const char *type = openai_type(status);
        const char *code = error_code;

        if (code == NULL || *code == '\0')
            code = status == 429 ? "rate_limit_exceeded" : NULL;
        if (status == 429 && code != NULL &&
            strcmp(code, "insufficient_quota") == 0)
            type = "insufficient_quota";
        o = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", message,
                      "type", type, "param", "code", code);
    }
    return dump(o, simulated);
}
