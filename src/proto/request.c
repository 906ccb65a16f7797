/*
 * The request object. A chat request keeps its body as a jansson object in
 * the provider's own shape while the caller builds it, so that serializing
 * it is one walk of the tree when the engine takes it (json_write.c, which
 * writes what json_dumps would); the text is cached until the next builder
 * call. A raw request carries a caller-given method, path
 * and JSON object (one batch input line) and only its policy fields
 * (timeout, retries, user data, stream) may change. A raw body given
 * as text (plm__request_new_raw_text, one `parallm run` line's) is kept
 * as that text plus a summary of the few fields the library reads
 * (body_summary.c), with no tree unless the scanner leaves it to jansson
 * or a tree is needed later (need_tree); the readers go through
 * plm__request_model, plm__request_prompt_bytes, choices and
 * output_limit, which read whichever the request holds.
 *
 * What differs between providers (the chat path, where the system prompt
 * goes, default fields, JSON-response and stream fields, extra text added
 * at serialization) comes from the provider's operations (provider.h);
 * this file checks arguments and keeps the cached text in step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "provider.h"
#include "request.h"

#include "check.h"
#include "defaults.h"

/* Cap on "n" in the estimate, so a silly value cannot overflow it. */
#define PLM_ESTIMATE_MAX_N 128

static void invalidate(plm_request *req)
{
    free(req->body_text);
    req->body_text = NULL;
    req->body_len = 0;
}

/* RFC 9110 token characters: what an HTTP method may contain. */
static int is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                 (c >= 'A' && c <= 'Z') || (c && strchr(extra, c));

        if (!ok)
            return 0;
    }
    return 1;
}

/* A path goes into the URL: no spaces or control bytes, which could split
 * the request line or inject a header. */
static int is_path(const char *s)
{
    if (!s || s[0] != '/')
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* JSON strings must be valid UTF-8 (jansson refuses others): checked up
 * front so that bad text is PLM_EINVAL, not a mysterious PLM_ENOMEM.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static int is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (!s)
        return 0;
    while (*p) {
        unsigned c = *p;
        unsigned min, cp;
        int n;

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 1, min = 0x80, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 2, min = 0x800, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

static plm_request *request_alloc(plm_provider provider)
{
    plm_request *req = calloc(1, sizeof *req);

    if (!req)
        return NULL;
    req->provider = provider;
    req->max_retries = -1;
    return req;
}

int plm_request_new_chat(plm_request **out, plm_provider provider,
                         const char *model)
{
    const plm__provider_ops *ops;
    plm_request *req = NULL;
    int rc = PLM_ENOMEM;

    if (!out)
        return PLM_EINVAL;
    *out = NULL;
    ops = plm__provider_get(provider);
    if (!model || !*model || !is_utf8(model) || !ops)
        return PLM_EINVAL;
    req = request_alloc(provider);
    if (!req)
        goto fail;
    req->method = strdup("POST");
    req->path = strdup(ops->chat_path);
    req->body = json_object();
    if (!req->method || !req->path || !req->body)
        goto fail;
    if (json_object_set_new(req->body, "model", json_string(model)) ||
        json_object_set_new(req->body, "messages", json_array()))
        goto fail;
    if (ops->chat_init && ops->chat_init(req->body) != PLM_OK)
        goto fail;
    *out = req;
    return PLM_OK;
fail:
    plm_request_free(req);
    return rc;
}

int plm__request_new_raw_take(plm_request **out, plm_provider provider,
                              const char *method, const char *path,
                              json_t *body, char *body_text)
{
    plm_request *req = NULL;
    int rc = PLM_EINVAL;

    if (!out)
        goto fail;
    *out = NULL;
    if (!plm__provider_get(provider) || !is_token(method) || !is_path(path) ||
        !json_is_object(body))
        goto fail;
    req = request_alloc(provider);
    if (!req) {
        rc = PLM_ENOMEM;
        goto fail;
    }
    req->is_raw = 1;
    req->body = body;
    body = NULL;
    if (body_text) {
        req->body_text = body_text;
        req->body_len = strlen(body_text);
        body_text = NULL;
    }
    req->method = strdup(method);
    req->path = strdup(path);
    if (!req->method || !req->path) {
        rc = PLM_ENOMEM;
        goto fail;
    }
    req->stream = json_is_true(json_object_get(req->body, "stream"));
    *out = req;
    return PLM_OK;
fail:
    json_decref(body);
    free(body_text);
    plm_request_free(req);
    return rc;
}

int plm__request_new_raw_text(plm_request **out, plm_provider provider,
                              const char *method, const char *path,
                              char *body_text, size_t len)
{
    plm_request *req = NULL;
    json_t *body;
    int rc = PLM_EINVAL, got;

    if (!out)
        goto fail;
    *out = NULL;
    if (!plm__provider_get(provider) || !is_token(method) || !is_path(path) ||
        !body_text)
        goto fail;
    req = request_alloc(provider);
    if (!req) {
        rc = PLM_ENOMEM;
        goto fail;
    }
    got = plm__body_summarize(body_text, len, &req->sum);
    if (got == 0) {
        /* What the scan leaves to jansson reads as the tree reads. */
        plm_request_free(req);
        req = NULL;
        /* jansson reads a NUL as the end of some texts: the text must be
         * one C string, as the public constructor's is. */
        if (memchr(body_text, '\0', len))
            goto fail;
        body = json_loadb(body_text, len, 0, NULL);
        if (!body)
            goto fail;
        return plm__request_new_raw_take(out, provider, method, path, body,
                                         body_text);
    }
    req->summarized = got == 1;
    req->is_raw = 1;
    req->body_text = body_text;
    req->body_len = len;
    body_text = NULL;
    req->method = strdup(method);
    req->path = strdup(path);
    if (got < 0 || !req->method || !req->path) {
        rc = PLM_ENOMEM;
        goto fail;
    }
    req->stream = req->sum.stream;
    *out = req;
    return PLM_OK;
fail:
    free(body_text);
    plm_request_free(req);
    return rc;
}

/* The tree of a summarized body, for what only a tree can do: parsed
 * from its text on demand (the scan vouched that jansson reads it, so a
 * failure is out of memory). */
static int need_tree(plm_request *req)
{
    if (!req->summarized)
        return PLM_OK;
    req->body = json_loadb(req->body_text, req->body_len, 0, NULL);
    if (!req->body)
        return PLM_ENOMEM;
    plm__body_summary_clear(&req->sum);
    req->summarized = 0;
    return PLM_OK;
}

int plm__request_ask_stream_usage(plm_request *req)
{
    static const char member[] = ",\"stream_options\":{\"include_usage\":true}";
    size_t len;
    char *spliced;

    if (!req || !req->is_raw)
        return PLM_EINVAL;
    if (req->summarized ? !req->sum.stream || req->sum.has_stream_options
                        : !json_is_true(json_object_get(req->body, "stream")) ||
                              json_object_get(req->body, "stream_options"))
        return PLM_OK;
    if (req->body &&
        json_object_set_new(req->body, "stream_options",
                            json_pack("{s:b}", "include_usage", 1)) != 0)
        return PLM_ENOMEM;
    if (!req->body_text)
        return PLM_OK; /* serialized from the tree when sent */
    /* The text is one object, its closing brace last but for blanks; it
     * is not empty, since it has "stream". */
    len = req->body_len;
    while (len > 0 && req->body_text[len - 1] != '}')
        len--;
    if (len == 0)
        return PLM_OK;
    spliced = malloc(len + sizeof member);
    if (!spliced)
        return PLM_ENOMEM;
    memcpy(spliced, req->body_text, len - 1);
    memcpy(spliced + len - 1, member, sizeof member - 1);
    memcpy(spliced + len - 1 + sizeof member - 1, "}", 2);
    free(req->body_text);
    req->body_text = spliced;
    req->body_len = len + sizeof member - 1;
    req->sum.has_stream_options = req->summarized;
    return PLM_OK;
}

const char *plm__request_model(const plm_request *req)
{
    if (req->summarized)
        return req->sum.model;
    return json_string_value(json_object_get(req->body, "model"));
}

int plm_request_new_raw(plm_request **out, plm_provider provider,
                        const char *method, const char *path,
                        const char *body_json)
{
    json_t *body;

    if (!out)
        return PLM_EINVAL;
    *out = NULL;
    if (!plm__provider_get(provider) || !is_token(method) || !is_path(path) ||
        !body_json)
        return PLM_EINVAL;
    body = json_loads(body_json, 0, NULL);
    if (!body)
        return PLM_EINVAL;
    return plm__request_new_raw_take(out, provider, method, path, body, NULL);
}

/* The chat builders' common precondition. */
static int chat_ok(const plm_request *req)
{
    return req && !req->is_raw && json_is_object(req->body);
}

/* The provider's operations. A request's provider was checked when it
 * was made; code that may see a request changed since checks for NULL. */
static const plm__provider_ops *ops_of(const plm_request *req)
{
    return plm__provider_get(req->provider);
}

int plm_request_set_system(plm_request *req, const char *text)
{
    if (!chat_ok(req) || !is_utf8(text))
        return PLM_EINVAL;
    invalidate(req);
    return ops_of(req)->set_system(req->body, text);
}

int plm__chat_append_message(json_t *body, const char *role,
                             const char *content)
{
    json_t *messages = json_object_get(body, "messages");
    json_t *msg = json_object();

    /* Both strings were checked as UTF-8 by the caller: no second check
     * (json_pack's format parsing and checks cost more than the rest). */
    if (!msg ||
        json_object_set_new_nocheck(msg, "role", json_string_nocheck(role)) ||
        json_object_set_new_nocheck(msg, "content",
                                    json_string_nocheck(content))) {
        json_decref(msg);
        return PLM_ENOMEM;
    }
    return json_array_append_new(messages, msg) ? PLM_ENOMEM : PLM_OK;
}

int plm_request_add_message(plm_request *req, const char *role,
                            const char *content)
{
    const plm__provider_ops *ops;

    if (!chat_ok(req) || !role || !*role || !is_utf8(role) || !is_utf8(content))
        return PLM_EINVAL;
    invalidate(req);
    ops = ops_of(req);
    if (ops->add_message)
        return ops->add_message(req->body, role, content);
    return plm__chat_append_message(req->body, role, content);
}

int plm_request_set_temperature(plm_request *req, double temperature)
{
    if (!chat_ok(req) || !isfinite(temperature) || temperature < 0.0 ||
        temperature > 2.0)
        return PLM_EINVAL;
    invalidate(req);
    return json_object_set_new(req->body, "temperature", json_real(temperature))
               ? PLM_ENOMEM
               : PLM_OK;
}

int plm_request_set_max_tokens(plm_request *req, int max_tokens)
{
    if (!chat_ok(req) || max_tokens <= 0)
        return PLM_EINVAL;
    invalidate(req);
    return json_object_set_new(req->body, "max_tokens",
                               json_integer(max_tokens))
               ? PLM_ENOMEM
               : PLM_OK;
}

int plm_request_set_json_response(plm_request *req, int on)
{
    const plm__provider_ops *ops;

    if (!chat_ok(req))
        return PLM_EINVAL;
    invalidate(req);
    req->json_response = on ? 1 : 0;
    ops = ops_of(req);
    if (!ops->set_json_response)
        return PLM_OK; /* applied when serializing, if at all */
    return ops->set_json_response(req->body, req->json_response);
}

int plm_request_set_stream(plm_request *req, int on)
{
    const plm__provider_ops *ops;

    if (!req || (!req->summarized && !json_is_object(req->body)))
        return PLM_EINVAL;
    if (need_tree(req) != PLM_OK)
        return PLM_ENOMEM;
    invalidate(req);
    req->stream = on ? 1 : 0;
    if (on && json_object_set_new(req->body, "stream", json_true()))
        return PLM_ENOMEM;
    if (!on)
        json_object_del(req->body, "stream");
    /* A raw body is the caller's: only "stream" follows the flag. */
    ops = ops_of(req);
    if (req->is_raw || !ops || !ops->set_stream)
        return PLM_OK;
    return ops->set_stream(req->body, req->stream);
}

int plm_request_set_timeout_ms(plm_request *req, int64_t timeout_ms)
{
    int rc;

    if ((rc = plm__check_not_null("req", req)) ||
        (rc = plm__check_duration_ms("timeout_ms", timeout_ms)))
        return rc;
    req->timeout_ms = timeout_ms;
    return PLM_OK;
}

int plm_request_set_max_retries(plm_request *req, int max_retries)
{
    if (!req || max_retries < -1)
        return PLM_EINVAL;
    req->max_retries = max_retries;
    return PLM_OK;
}

void plm_request_set_user_data(plm_request *req, void *user_data)
{
    if (req)
        req->user_data = user_data;
}

void *plm_request_user_data(const plm_request *req)
{
    return req ? req->user_data : NULL;
}

int plm__request_serialize(plm_request *req)
{
    const plm__provider_ops *ops;
    size_t len = 0;
    char *text;

    if (!req || (!req->body && !req->body_text))
        return PLM_EINVAL;
    if (req->body_text)
        return PLM_OK;
    ops = ops_of(req);
    if (!req->is_raw && ops && ops->serialize)
        text = ops->serialize(req->body, req->json_response, &len);
    else
        text = plm__json_write_compact(req->body, &len);
    if (!text)
        return PLM_ENOMEM;
    req->body_text = text;
    req->body_len = len;
    return PLM_OK;
}

const char *plm_request_body(plm_request *req)
{
    if (plm__request_serialize(req) != PLM_OK)
        return NULL;
    return req->body_text;
}

int plm_request_set_delta_callback(plm_request *req, plm_delta_fn fn,
                                   void *user_data)
{
    if (!req)
        return PLM_EINVAL;
    req->delta_fn = fn;
    req->delta_user_data = fn ? user_data : NULL;
    return PLM_OK;
}

void plm_request_free(plm_request *req)
{
    if (!req)
        return;
    free(req->method);
    free(req->path);
    json_decref(req->body);
    free(req->body_text);
    plm__body_summary_clear(&req->sum);
    free(req);
}

/* Bytes of prompt text in a value: a string, or an array of strings or of
 * content parts ({"type":"text","text":...}), as the APIs accept. */
static int64_t text_bytes(const json_t *v)
{
    int64_t total = 0;
    size_t i;
    json_t *item;

    if (json_is_string(v))
        return (int64_t)json_string_length(v);
    if (!json_is_array(v))
        return 0;
    json_array_foreach(v, i, item)
    {
        if (json_is_string(item))
            total += (int64_t)json_string_length(item);
        else if (json_is_object(item))
            total += text_bytes(json_object_get(item, "text")) +
                     text_bytes(json_object_get(item, "content"));
    }
    return total;
}

/* The output limit a body asks for, under any of the APIs' names; -1
 * when it sets none. */
static int64_t body_output_limit(const plm_request *req)
{
    static const char *const names[] = { "max_tokens", "max_completion_tokens",
                                         "max_output_tokens" };

    if (req->summarized)
        return req->sum.max_output;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *v = json_object_get(req->body, names[i]);

        if (json_is_integer(v) && json_integer_value(v) >= 0)
            return json_integer_value(v);
    }
    return -1;
}

/* The body's output limit, else what the endpoint implies. */
static int64_t output_limit(const plm_request *req)
{
    int64_t set = body_output_limit(req);

    if (set >= 0)
        return set;
    /* Embeddings and moderations produce no output tokens. */
    if (req->path &&
        (strstr(req->path, "/embeddings") || strstr(req->path, "/moderations")))
        return 0;
    return PLM__DEFAULT_MAX_TOKENS;
}

/*
 * Estimate: UTF-8 bytes of every message's content, the system prompt and
 * the raw APIs' "input"/"prompt"/"instructions", divided by 4 and rounded
 * up, plus the output limit (max_tokens, max_completion_tokens or
 * max_output_tokens; 1024 when absent, 0 for embeddings and
 * moderations) times n. Bytes
 * rather than characters: non-ASCII text costs more tokens per character,
 * so this errs on the safe side of a budget.
 */
int64_t plm__token_estimate(uint64_t prompt_bytes, int64_t max_output,
                            int64_t n)
{
    uint64_t prompt = prompt_bytes / 4 + (prompt_bytes % 4 != 0);
    uint64_t per = max_output > 0 ? (uint64_t)max_output : 0;
    uint64_t count = n > 1 ? (uint64_t)n : 1;

    if (prompt > (uint64_t)INT64_MAX)
        return INT64_MAX;
    if (per != 0 && count > ((uint64_t)INT64_MAX - prompt) / per)
        return INT64_MAX;
    return (int64_t)(prompt + per * count);
}

/* The body's "n" (choices), capped so a silly value cannot dominate. */
static int64_t choices(const plm_request *req)
{
    json_t *nval;
    int64_t n;

    if (req->summarized) {
        n = req->sum.n;
    } else {
        nval = json_object_get(req->body, "n");
        n = json_is_integer(nval) ? json_integer_value(nval) : 1;
    }
    if (n <= 1)
        return 1;
    return n > PLM_ESTIMATE_MAX_N ? PLM_ESTIMATE_MAX_N : n;
}

/* The output limit per choice, capped so that times n it stays far from
 * overflowing the sums the budget makes with it. */
static int64_t capped_output(const plm_request *req, int64_t n)
{
    static const int64_t cap = INT64_MAX / 4;
    int64_t out = output_limit(req);

    return out > cap / n ? cap / n : out;
}

uint64_t plm__request_prompt_bytes(const plm_request *req)
{
    json_t *messages, *msg;
    int64_t bytes = 0;
    size_t i;

    if (!req)
        return 0;
    if (req->summarized)
        return req->sum.prompt_bytes;
    messages = json_object_get(req->body, "messages");
    json_array_foreach(messages, i, msg)
    {
        bytes += text_bytes(json_object_get(msg, "content"));
    }
    bytes += text_bytes(json_object_get(req->body, "system"));
    bytes += text_bytes(json_object_get(req->body, "input"));
    bytes += text_bytes(json_object_get(req->body, "prompt"));
    bytes += text_bytes(json_object_get(req->body, "instructions"));
    return (uint64_t)bytes;
}

int64_t plm__request_estimate_tokens(const plm_request *req)
{
    const plm__provider_ops *ops;
    uint64_t bytes;
    int64_t n;

    if (!req || (!req->summarized && !json_is_object(req->body)))
        return 0;
    bytes = plm__request_prompt_bytes(req);
    ops = ops_of(req);
    if (!req->is_raw && ops && ops->estimate_extra_bytes)
        bytes += (uint64_t)ops->estimate_extra_bytes(req->json_response);
    n = choices(req);
    return plm__token_estimate(bytes, capped_output(req, n), n);
}

int64_t plm__request_estimate_output_tokens(const plm_request *req)
{
    int64_t n;

    if (!req || (!req->summarized && !json_is_object(req->body)))
        return 0;
    n = choices(req);
    return plm__token_estimate(0, capped_output(req, n), n);
}
