/*
 * Provider protocols, the parts all providers share: the request headers
 * every request sends, the base URL form, and the dispatch of a completed
 * answer to the provider's parser (JSON or SSE, through its operations
 * table). Also the helpers the providers' operations share.
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
#include "scrub.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
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
struct curl_slist *plm__header_append_secret(struct curl_slist *list,
                                             const char *prefix,
                                             const char *key)
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
    return plm__provider_headers_keyed(provider, api_key, NULL, list);
}

struct curl_slist *plm__provider_headers_keyed(plm_provider provider,
                                               const char *api_key,
                                               const char *key_header,
                                               struct curl_slist *list)
{
    const plm__provider_ops *ops = plm__provider_get(provider);
    struct curl_slist *next;
    int sendable = key_is_sendable(api_key);

    if (!ops)
        goto fail;
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
    if (key_header && sendable) {
        /* "name: KEY" in place of the provider's own auth header. */
        size_t n = strlen(key_header) + 3;
        char *prefix = malloc(n);

        if (!prefix)
            goto fail;
        snprintf(prefix, n, "%s: ", key_header);
        next = plm__header_append_secret(list, prefix, api_key);
        free(prefix);
        if (!next)
            goto fail;
        list = next;
        sendable = 0;
    }
    next = ops->request_headers(sendable ? api_key : NULL, list);
    if (!next)
        goto fail;
    return next;
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

/* An SSE answer: announced by its content type, or recognisable from its
 * first bytes when a proxy dropped the header. -1: too few bytes yet. */
int plm__provider_sniff_sse(const plm__headers *h, const char *body, size_t len)
{
    size_t i = 0, n;

    if (h && h->content_type &&
        strncasecmp(h->content_type, "text/event-stream", 17) == 0)
        return 1;
    while (i < len && is_blank(body[i]))
        i++;
    n = len - i;
    if ((n >= 5 && memcmp(body + i, "data:", 5) == 0) ||
        (n >= 6 && memcmp(body + i, "event:", 6) == 0))
        return 1;
    if (n < 6 && ((n < 5 && memcmp(body + i, "data:", n) == 0) ||
                  memcmp(body + i, "event:", n) == 0))
        return -1;
    return 0;
}

plm__provider_stream *plm__provider_stream_open(plm_provider provider,
                                                plm_result *res)
{
    const plm__provider_ops *ops = plm__provider_get(provider);
    plm__provider_stream *s;

    if (!ops || !res)
        return NULL;
    s = malloc(sizeof *s);
    if (s)
        plm__sse_stream_open(s, ops->sse_event, ops->sse_finish, ops->sse_what,
                             res);
    return s;
}

int plm__provider_stream_feed(plm__provider_stream *s, const char *bytes,
                              size_t n)
{
    return plm__sse_stream_feed(s, bytes, n);
}

void plm__provider_stream_set_delta(plm__provider_stream *s, plm__delta_sink fn,
                                    void *ctx)
{
    s->st.delta = fn;
    s->st.delta_ctx = ctx;
}

int plm__provider_stream_stopped(const plm__provider_stream *s)
{
    return s->st.stopped;
}

void plm__provider_stream_free(plm__provider_stream *s)
{
    if (!s)
        return;
    plm__sse_stream_drop(s);
    free(s);
}

static void take_status(plm_result *res, int http_status,
                        const plm__headers *headers)
{
    res->http_status = http_status;
    if (headers && headers->request_id)
        (void)plm__strdup_into(&res->request_id, headers->request_id);
}

void plm__provider_stream_close(plm__provider_stream *s, int http_status,
                                const plm__headers *headers, const char *body,
                                size_t len)
{
    take_status(s->st.res, http_status, headers);
    (void)plm__sse_stream_close(s, body ? body : "", body ? len : 0);
    free(s);
}

static void parse_error_answer(const plm__provider_ops *ops, int status,
                               const char *body, size_t len, plm_result *res)
{
    json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *error = json_object_get(root, "error");
    char quote[PLM_EXCERPT_MAX + 4];

    if (error) {
        if (ops->error_fields)
            ops->error_fields(res, error);
        else
            plm__error_fields(res, error);
    } else if (json_is_object(root)) {
        /* Compatible servers: {"message": ...} or FastAPI's {"detail"}. */
        if (json_is_string(json_object_get(root, "message")))
            plm__take_message(res, json_string_value(
                                       json_object_get(root, "message")));
        else if (json_is_string(json_object_get(root, "detail")))
            plm__take_message(res, json_string_value(
                                       json_object_get(root, "detail")));
    }
    json_decref(root);
    if (!res->error_message || !*res->error_message) {
        plm__excerpt(quote, sizeof quote, body, len);
        plm__result_set_error(res, res->code, res->error_class, "HTTP %d: %s",
                              status, len ? quote : "(empty body)");
    }
}

void plm__provider_parse(plm_provider provider, const char *path,
                         int http_status, const plm__headers *headers,
                         const char *body, size_t len, plm_result *res)
{
    const plm__provider_ops *ops = plm__provider_get(provider);

    if (!res)
        return;
    if (!ops) {
        plm__result_set_error(res, PLM_EINVAL, PLM_CLASS_BAD_REQUEST,
                              "unknown provider %d", (int)provider);
        return;
    }
    if (!body)
        len = 0;
    if (!body)
        body = "";
    take_status(res, http_status, headers);
    if (http_status < 200 || http_status > 299) {
        parse_error_answer(ops, http_status, body, len, res);
        return;
    }
    if (len == 0) {
        plm__parse_fail(res, ops->display_name, "empty body", body, len);
        return;
    }
    if (plm__provider_sniff_sse(headers, body, len) == 1)
        (void)plm__sse_collect(body, len, ops->sse_event, ops->sse_finish, res,
                               ops->sse_what);
    else
        ops->parse_json(path, body, len, res);
}
