/*
 * Request URLs, as the official SDKs build them from a base URL: the base
 * as given (a bare host gets "/v1"), the endpoint path after it, a
 * deployment segment for services that route by deployment (Azure), and
 * a query for every request. Rules in provider.h (plm__urlbase).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "provider.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Bytes that stay as they are in a path segment (RFC 3986 unreserved). */
static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* 1 when the path [p, end) has a segment "deployments" (openai-node does
 * not insert a deployment again then). */
static int has_deployment_segment(const char *p, const char *end)
{
    static const char seg[] = "deployments";
    const size_t n = sizeof seg - 1;

    while (p < end) {
        const char *s = p + 1, *e = s;

        while (e < end && *e != '/')
            e++;
        if ((size_t)(e - s) == n && memcmp(s, seg, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* Appends q (its leading '?' and '&' dropped) after '&', or after lead
 * ("?" in a URL, "" in a query alone) for the first part. */
static int add_query(plm__buf *b, int *first, const char *lead, const char *q,
                     size_t n)
{
    while (n && (*q == '?' || *q == '&')) {
        q++;
        n--;
    }
    if (!n)
        return PLM_OK;
    if (plm__buf_append(b, *first ? lead : "&", *first ? strlen(lead) : 1))
        return PLM_ENOMEM;
    *first = 0;
    return plm__buf_append(b, q, n);
}

int plm__urlbase_init(plm__urlbase *ep, const char *base_url, const char *query,
                      int deployment_paths)
{
    const char *start, *end, *qmark, *host, *path;
    plm__buf q = { 0 };
    int first = 1;

    memset(ep, 0, sizeof *ep);
    ep->deployment_paths = deployment_paths;
    start = base_url ? base_url : "";
    while (is_blank(*start))
        start++;
    end = start + strlen(start);
    while (end > start && is_blank(end[-1]))
        end--;
    /* A fragment is never sent; a query in the base goes to every URL. */
    qmark = memchr(start, '#', (size_t)(end - start));
    if (qmark)
        end = qmark;
    qmark = memchr(start, '?', (size_t)(end - start));
    if (qmark &&
        add_query(&q, &first, "", qmark + 1, (size_t)(end - qmark - 1)))
        goto nomem;
    if (qmark)
        end = qmark;
    while (end > start && end[-1] == '/')
        end--;
    /* Only a "/" after the host starts the path, never one in "://". */
    host = strstr(start, "://");
    host = host && host < end ? host + 3 : start;
    path = host;
    while (path < end && *path != '/')
        path++;
    ep->origin_len = (size_t)(path - start);
    ep->base_has_deployment = has_deployment_segment(path, end);
    if (query && add_query(&q, &first, "", query, strlen(query)))
        goto nomem;
    /* A bare host means its /v1, as the SDKs' default bases say. */
    ep->base = malloc((size_t)(end - start) + 4);
    if (!ep->base)
        goto nomem;
    memcpy(ep->base, start, (size_t)(end - start));
    strcpy(ep->base + (end - start), path == end ? "/v1" : "");
    ep->query = q.data; /* NULL when nothing was appended */
    return PLM_OK;
nomem:
    plm__buf_free(&q);
    plm__urlbase_clear(ep);
    return PLM_ENOMEM;
}

void plm__urlbase_clear(plm__urlbase *ep)
{
    if (!ep)
        return;
    free(ep->base);
    free(ep->query);
    ep->base = NULL;
    ep->query = NULL;
}

static int is_deployment_path(const plm__provider_ops *ops, const char *rest,
                              size_t n)
{
    for (const char *const *p = ops->deployment_paths; p && *p; p++)
        if (strlen(*p) == n && memcmp(*p, rest, n) == 0)
            return 1;
    return 0;
}

/* "/deployments/" + model, percent-encoded. */
static int add_deployment(plm__buf *b, const char *model)
{
    char esc[4];

    if (plm__buf_append(b, "/deployments/", 13))
        return PLM_ENOMEM;
    for (const unsigned char *m = (const unsigned char *)model; *m; m++) {
        if (is_unreserved(*m)) {
            if (plm__buf_append(b, (const char *)m, 1))
                return PLM_ENOMEM;
            continue;
        }
        snprintf(esc, sizeof esc, "%%%02X", *m);
        if (plm__buf_append(b, esc, 3))
            return PLM_ENOMEM;
    }
    return PLM_OK;
}

char *plm__urlbase_url(const plm__urlbase *ep, plm_provider provider,
                       const char *method, const char *path, const char *model)
{
    const plm__provider_ops *ops = plm__provider_get(provider);
    plm__buf b = { 0 };
    size_t plen;
    const char *pq;
    int first = 1;

    if (!ops || !ep || !ep->base || !path)
        return NULL;
    pq = strchr(path, '?');
    plen = pq ? (size_t)(pq - path) : strlen(path);
    if (plen >= 3 && memcmp(path, "/v1", 3) == 0 &&
        (plen == 3 || path[3] == '/')) {
        /* Under the API's version: relative to the base. */
        path += 3;
        plen -= 3;
        if (plm__buf_append(&b, ep->base, strlen(ep->base)))
            goto nomem;
        if (ep->deployment_paths && !ep->base_has_deployment && model &&
            *model && method && strcmp(method, "POST") == 0 &&
            is_deployment_path(ops, path, plen) && add_deployment(&b, model))
            goto nomem;
    } else if (plm__buf_append(&b, ep->base, ep->origin_len)) {
        goto nomem;
    }
    if (plm__buf_append(&b, path, plen) ||
        (pq && add_query(&b, &first, "?", pq + 1, strlen(pq + 1))) ||
        (ep->query && add_query(&b, &first, "?", ep->query, strlen(ep->query))))
        goto nomem;
    if (!b.data && plm__buf_append(&b, "", 0))
        goto nomem;
    return b.data;
nomem:
    plm__buf_free(&b);
    return NULL;
}
