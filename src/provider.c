/*
 * Provider protocols, the parts both providers share: which response
 * headers an attempt keeps, which request headers it sends, the base URL
 * form, and the dispatch of a completed answer to the right parser (JSON
 * or SSE, OpenAI or Anthropic). Also the helpers the two parsers share.
 * Everything here reads untrusted bytes from the network: every size is
 * capped and nothing assumes well-formed input.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider.h"
#include "provider_parse.h"

/* Cap on a kept header value: real ones are far shorter. */
#define PLM_HEADER_VALUE_MAX 1024

struct header_slot {
    const char *name;
    size_t len;                 /* strlen(name), for a cheap first test */
    size_t offset;
};

#define SLOT(n, f) { n, sizeof(n) - 1, offsetof(plm__headers, f) }

static const struct header_slot header_slots[] = {
    SLOT("content-type", content_type),
    SLOT("x-request-id", request_id),
    SLOT("request-id", request_id),
    SLOT("retry-after", retry_after),
    SLOT("retry-after-ms", retry_after_ms),
    SLOT("x-should-retry", should_retry),
    SLOT("x-ratelimit-limit-requests", rl_limit_requests),
    SLOT("x-ratelimit-remaining-requests", rl_remaining_requests),
    SLOT("x-ratelimit-reset-requests", rl_reset_requests),
    SLOT("x-ratelimit-limit-tokens", rl_limit_tokens),
    SLOT("x-ratelimit-remaining-tokens", rl_remaining_tokens),
    SLOT("x-ratelimit-reset-tokens", rl_reset_tokens),
    SLOT("anthropic-ratelimit-requests-limit", rl_limit_requests),
    SLOT("anthropic-ratelimit-requests-remaining", rl_remaining_requests),
    SLOT("anthropic-ratelimit-requests-reset", rl_reset_requests),
    SLOT("anthropic-ratelimit-tokens-limit", rl_limit_tokens),
    SLOT("anthropic-ratelimit-tokens-remaining", rl_remaining_tokens),
    SLOT("anthropic-ratelimit-tokens-reset", rl_reset_tokens),
    SLOT("anthropic-ratelimit-input-tokens-limit", rl_limit_input_tokens),
    SLOT("anthropic-ratelimit-input-tokens-remaining",
         rl_remaining_input_tokens),
    SLOT("anthropic-ratelimit-input-tokens-reset", rl_reset_input_tokens),
    SLOT("anthropic-ratelimit-output-tokens-limit", rl_limit_output_tokens),
    SLOT("anthropic-ratelimit-output-tokens-remaining",
         rl_remaining_output_tokens),
    SLOT("anthropic-ratelimit-output-tokens-reset", rl_reset_output_tokens),
};

#define N_SLOTS (sizeof(header_slots) / sizeof(header_slots[0]))

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void plm__headers_take(plm__headers *h, const char *line, size_t len)
{
    const char *colon, *value, *end;
    size_t name_len, value_len;
    char *copy;

    if (!h || !line)
        return;
    /* A status line starts a new header block (after a 1xx interim answer
     * or a redirect): what came before belongs to another response. */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        plm__headers_clear(h);
        return;
    }
    colon = memchr(line, ':', len);
    if (!colon)
        return; /* the status line, or the blank line after the headers */
    name_len = (size_t)(colon - line);
    while (name_len && is_blank(line[name_len - 1]))
        name_len--;
    value = colon + 1;
    end = line + len;
    while (value < end && is_blank(*value))
        value++;
    while (end > value && is_blank(end[-1]))
        end--;
    value_len = (size_t)(end - value);
    if (value_len > PLM_HEADER_VALUE_MAX)
        value_len = PLM_HEADER_VALUE_MAX;
    for (size_t i = 0; i < N_SLOTS; i++) {
        char **slot;

        if (header_slots[i].len != name_len ||
            strncasecmp(header_slots[i].name, line, name_len) != 0)
            continue;
        copy = strndup(value, value_len);
        if (!copy)
            return; /* out of memory: the header is simply not kept */
        slot = (char **)((char *)h + header_slots[i].offset);
        free(*slot);
        *slot = copy;
        return;
    }
}

void plm__headers_clear(plm__headers *h)
{
    if (!h)
        return;
    /* Two names share some slots: the second visit frees NULL. Called
     * several times per attempt, so no more work than this. */
    for (size_t i = 0; i < N_SLOTS; i++) {
        char **slot = (char **)((char *)h + header_slots[i].offset);
        free(*slot);
        *slot = NULL;
    }
}

/* A key containing a control byte would split the header it goes into and
 * inject another: such a key is not sent at all (the provider then answers
 * 401, which names the problem without echoing the key). */
static int key_is_sendable(const char *key)
{
    if (!key || !*key)
        return 0;
    for (; *key; key++) {
        unsigned char c = (unsigned char)*key;

        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Appends "prefix key", wiping the temporary copy of the key. */
static struct curl_slist *append_secret(struct curl_slist *list,
                                        const char *prefix, const char *key)
{
    size_t n = strlen(prefix) + strlen(key) + 1;
    char *line = malloc(n);
    struct curl_slist *next;

    if (!line)
        return NULL;
    snprintf(line, n, "%s%s", prefix, key);
    next = curl_slist_append(list, line);
    explicit_bzero(line, n);
    free(line);
    return next;
}

struct curl_slist *plm__provider_headers(plm_provider provider,
                                         const char *api_key,
                                         struct curl_slist *list)
{
    struct curl_slist *next;

    next = curl_slist_append(list, "Content-Type: application/json");
    if (!next)
        goto fail;
    list = next;
    /* An empty "Expect:" stops curl from waiting for 100-continue before
     * sending a large body: providers answer straight away. */
    next = curl_slist_append(list, "Expect:");
    if (!next)
        goto fail;
    list = next;
    if (provider == PLM_PROVIDER_ANTHROPIC) {
        next = curl_slist_append(list, "anthropic-version: 2023-06-01");
        if (!next)
            goto fail;
        list = next;
        if (key_is_sendable(api_key)) {
            next = append_secret(list, "x-api-key: ", api_key);
            if (!next)
                goto fail;
            list = next;
        }
    } else if (key_is_sendable(api_key)) {
        next = append_secret(list, "Authorization: Bearer ", api_key);
        if (!next)
            goto fail;
        list = next;
    }
    return list;
fail:
    curl_slist_free_all(list);
    return NULL;
}

char *plm__base_url_normalize(const char *url)
{
    const char *start, *end, *scheme, *path;
    size_t len;

    if (!url)
        return NULL;
    start = url;
    while (is_blank(*start))
        start++;
    end = start + strlen(start);
    while (end > start && is_blank(end[-1]))
        end--;
    while (end > start && end[-1] == '/')
        end--;
    /* Only a "/v1" in the path counts, never a host called "v1". */
    scheme = strstr(start, "://");
    path = scheme ? scheme + 3 : start;
    while (path < end && *path != '/')
        path++;
    len = (size_t)(end - start);
    if (len >= 3 && end - 3 >= path && strncmp(end - 3, "/v1", 3) == 0) {
        end -= 3;
        while (end > start && end[-1] == '/' && end - 1 > path)
            end--;
    }
    return strndup(start, (size_t)(end - start));
}

int plm__buf_append(plm__buf *b, const char *s, size_t n)
{
    if (n >= SIZE_MAX / 2 - b->len)
        return PLM_ENOMEM;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
            return PLM_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PLM_OK;
}

void plm__buf_free(plm__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int plm__sse_each(const char *body, size_t len, plm__sse_fn fn, void *ctx)
{
    plm__buf data = {0};
    char event[64] = "";
    int have_data = 0, rc = 0;
    size_t pos = 0;

    while (pos < len || have_data) {
        const char *line = body + pos, *nl, *colon, *value;
        size_t line_len, name_len, value_len;

        if (pos >= len) {
            line_len = 0; /* end of body dispatches a pending event */
        } else {
            nl = memchr(line, '\n', len - pos);
            line_len = nl ? (size_t)(nl - line) : len - pos;
            pos += line_len + (nl ? 1 : 0);
            if (line_len && line[line_len - 1] == '\r')
                line_len--;
        }
        if (line_len == 0) {
            if (have_data) {
                rc = fn(event, data.data ? data.data : "", data.len, ctx);
                if (rc)
                    goto out;
            }
            have_data = 0;
            data.len = 0;
            event[0] = '\0';
            continue;
        }
        if (line[0] == ':')
            continue; /* comment (keep-alive) */
        colon = memchr(line, ':', line_len);
        name_len = colon ? (size_t)(colon - line) : line_len;
        value = colon ? colon + 1 : line + line_len;
        if (value < line + line_len && *value == ' ')
            value++;
        value_len = (size_t)(line + line_len - value);
        if (name_len == 4 && memcmp(line, "data", 4) == 0) {
            if ((have_data && plm__buf_append(&data, "\n", 1)) ||
                plm__buf_append(&data, value, value_len)) {
                rc = PLM_ENOMEM;
                goto out;
            }
            have_data = 1;
        } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
            size_t n = value_len < sizeof(event) - 1 ? value_len
                                                     : sizeof(event) - 1;

            memcpy(event, value, n);
            event[n] = '\0';
        }
    }
out:
    plm__buf_free(&data);
    return rc;
}

void plm__json_take_string(char **dst, const json_t *v)
{
    if (json_is_string(v))
        (void)plm__strdup_into(dst, json_string_value(v));
}

void plm__json_take_tokens(int64_t *dst, const json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *dst = (int64_t)json_integer_value(v);
}

static int key_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Masks what looks like an API key ("sk-..." as OpenAI and Anthropic keys
 * begin) so that a provider echoing a key cannot leak it through us. */
static void scrub_keys(char *s)
{
    for (char *p = s; (p = strstr(p, "sk-")) != NULL;) {
        char *q = p + 3;
        size_t run = 0;

        while (key_char(q[run]))
            run++;
        if (run >= 8)
            memset(q, '*', run);
        p = q + run;
    }
}

/* out holds the first n bytes of a longer text whose next byte is `next`.
 * A key that the cut leaves too short for scrub_keys is masked too. */
static void mask_cut_key(char *out, size_t n, char next)
{
    size_t start = n;

    if (!key_char(next))
        return;
    while (start > 0 && key_char(out[start - 1]))
        start--;
    for (size_t i = start; i + 3 <= n; i++) {
        if (memcmp(out + i, "sk-", 3) == 0) {
            memset(out + i + 3, '*', n - i - 3);
            return;
        }
    }
}

/* A printable, key-free excerpt of at most PLM_EXCERPT_MAX bytes. */
static void excerpt(char *out, size_t out_size, const char *body,
                    size_t len)
{
    size_t n = len < PLM_EXCERPT_MAX ? len : PLM_EXCERPT_MAX;

    if (n > out_size - 4)
        n = out_size - 4;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];

        out[i] = (c < 0x20 || c == 0x7f) ? ' ' : c >= 0x80 ? '?' : (char)c;
    }
    out[n] = '\0';
    if (n < len) {
        mask_cut_key(out, n, body[n]);
        strcat(out, "...");
    }
    scrub_keys(out);
}

void plm__parse_fail(plm_result *res, const char *what, const char *reason,
                     const char *body, size_t len)
{
    char quote[PLM_EXCERPT_MAX + 4];

    excerpt(quote, sizeof(quote), body ? body : "", body ? len : 0);
    plm__result_set_error(res, PLM_EPARSE, PLM_CLASS_PARSE,
                          "unparseable %s response (%s): %s", what, reason,
                          len ? quote : "(empty body)");
}

/* Copies at most PLM_ERROR_MESSAGE_MAX bytes, not cutting a UTF-8
 * sequence, and scrubs keys. Scrubbing comes first: a key cut short by
 * the limit would be too short to be recognised as one. */
static void take_message(plm_result *res, const char *msg)
{
    size_t n;
    char *copy = strdup(msg);

    if (!copy)
        return;
    scrub_keys(copy);
    n = strlen(copy);
    if (n > PLM_ERROR_MESSAGE_MAX) {
        n = PLM_ERROR_MESSAGE_MAX;
        while (n && ((unsigned char)copy[n] & 0xC0) == 0x80)
            n--;
        copy[n] = '\0';
        /* Results may be kept by the thousand: hold only what is kept. */
        char *shrunk = realloc(copy, n + 1);
        if (shrunk)
            copy = shrunk;
    }
    free(res->error_message);
    res->error_message = copy;
}

void plm__error_fields(plm_result *res, const json_t *error)
{
    const json_t *code;
    char num[32];

    if (json_is_string(error)) {
        take_message(res, json_string_value(error));
        return;
    }
    if (!json_is_object(error))
        return;
    if (json_is_string(json_object_get(error, "message")))
        take_message(res, json_string_value(json_object_get(error,
                                                            "message")));
    plm__json_take_string(&res->error_type, json_object_get(error, "type"));
    code = json_object_get(error, "code");
    if (json_is_string(code)) {
        plm__json_take_string(&res->error_code, code);
    } else if (json_is_integer(code)) {
        snprintf(num, sizeof(num), "%lld",
                 (long long)json_integer_value(code));
        (void)plm__strdup_into(&res->error_code, num);
    }
}

void plm__stream_error(plm_result *res, const json_t *error)
{
    const char *type;
    int code = PLM_ESERVER;
    plm_error_class cls = PLM_CLASS_SERVER;

    plm__error_fields(res, error);
    type = res->error_type ? res->error_type : "";
    if (strstr(type, "overloaded")) {
        code = PLM_EOVERLOADED;
        cls = PLM_CLASS_OVERLOADED;
    } else if (strstr(type, "rate_limit")) {
        code = PLM_ERATELIMIT;
        cls = PLM_CLASS_RATE_LIMITED;
    }
    res->code = code;
    res->error_class = cls;
    if (!res->error_message)
        plm__result_set_error(res, code, cls, "error event in the stream");
}

int plm__path_is(const char *path, const char *want)
{
    size_t n = strlen(want);

    return path && strncmp(path, want, n) == 0 &&
           (path[n] == '\0' || path[n] == '?');
}

/* An SSE answer: announced by its content type, or recognisable from its
 * first bytes when a proxy dropped the header. */
static int is_sse(const plm__headers *h, const char *body, size_t len)
{
    size_t i = 0;

    if (h && h->content_type &&
        strncasecmp(h->content_type, "text/event-stream", 17) == 0)
        return 1;
    while (i < len && is_blank(body[i]))
        i++;
    return (len - i >= 5 && memcmp(body + i, "data:", 5) == 0) ||
           (len - i >= 6 && memcmp(body + i, "event:", 6) == 0);
}

static void parse_error_answer(plm_provider provider, int status,
                               const char *body, size_t len,
                               plm_result *res)
{
    json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *error = json_object_get(root, "error");
    char quote[PLM_EXCERPT_MAX + 4];

    if (error) {
        plm__error_fields(res, error);
        /* Anthropic's error.type ("rate_limit_error", ...) is its code. */
        if (provider == PLM_PROVIDER_ANTHROPIC && !res->error_code)
            (void)plm__strdup_into(&res->error_code, res->error_type);
    } else if (json_is_object(root)) {
        /* Compatible servers: {"message": ...} or FastAPI's {"detail"}. */
        if (json_is_string(json_object_get(root, "message")))
            take_message(res, json_string_value(json_object_get(root,
                                                                "message")));
        else if (json_is_string(json_object_get(root, "detail")))
            take_message(res, json_string_value(json_object_get(root,
                                                                "detail")));
    }
    json_decref(root);
    if (!res->error_message || !*res->error_message) {
        excerpt(quote, sizeof(quote), body, len);
        plm__result_set_error(res, res->code, res->error_class,
                              "HTTP %d: %s", status,
                              len ? quote : "(empty body)");
    }
}

void plm__provider_parse(plm_provider provider, const char *path,
                         int http_status, const plm__headers *headers,
                         const char *body, size_t len, plm_result *res)
{
    int anthropic = provider == PLM_PROVIDER_ANTHROPIC;

    if (!res)
        return;
    if (!body)
        len = 0;
    if (!body)
        body = "";
    res->http_status = http_status;
    if (headers && headers->request_id)
        (void)plm__strdup_into(&res->request_id, headers->request_id);
    if (http_status < 200 || http_status > 299) {
        parse_error_answer(provider, http_status, body, len, res);
        return;
    }
    if (len == 0) {
        plm__parse_fail(res, anthropic ? "Anthropic" : "OpenAI",
                        "empty body", body, len);
        return;
    }
    if (is_sse(headers, body, len)) {
        if (anthropic)
            plm__anthropic_parse_sse(body, len, res);
        else
            plm__openai_parse_sse(body, len, res);
    } else if (anthropic) {
        plm__anthropic_parse_json(path, body, len, res);
    } else {
        plm__openai_parse_json(path, body, len, res);
    }
}

int plm__sse_collect(const char *body, size_t len, plm__sse_fn fn,
                     plm_result *res, const char *what)
{
    plm__sse_state st = {0};
    int rc;

    st.res = res;
    rc = plm__sse_each(body, len, fn, &st);
    if (rc == PLM_ENOMEM) {
        plm__result_set_error(res, PLM_ENOMEM, PLM_CLASS_LOCAL,
                              "out of memory reading the stream");
        goto out;
    }
    if (st.failed) {
        rc = res->code;
        goto out;
    }
    /* A stream that stopped before its end marker and before any finish
     * reason was cut short: its text is incomplete. */
    if (!st.ended && !res->finish_reason) {
        plm__parse_fail(res, what, "stream ended early", body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    if (st.any_content) {
        free(res->content);
        res->content = st.content.data;
        st.content.data = NULL;
    }
    rc = PLM_OK;
out:
    plm__buf_free(&st.content);
    return rc;
}
