/*
 * Test HTTP client on libcurl: single transfers, header lookup, and a
 * curl multi run on its own thread (so a test can block on a server-side
 * condition while the transfers progress).
 */
#include "http_xfer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define XFER_TIMEOUT_MS 30000L

size_t plm_test_buf_append(char *p, size_t size, size_t n, void *arg)
{
    plm_test_buf *b = arg;
    size_t k = size * n;
    char *q = realloc(b->p, b->len + k + 1);

    if (q == NULL)
        return 0;
    memcpy(q + b->len, p, k);
    b->p = q;
    b->len += k;
    b->p[b->len] = '\0';
    return k;
}

int plm_test_xfer_init(plm_test_xfer *x, const char *url, const char *body,
                       const char *const *headers)
{
    memset(x, 0, sizeof *x);
    x->h = curl_easy_init();
    if (x->h == NULL)
        return -1;
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    /* A bound, so a broken server fails the test instead of hanging it. */
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, XFER_TIMEOUT_MS);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, plm_test_buf_append);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, plm_test_buf_append);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, &x->head);
    if (body != NULL) {
        x->post = strdup(body);
        if (x->post == NULL)
            return -1;
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->post);
    }
    x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        x->hdrs = curl_slist_append(x->hdrs, headers[i]);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    return 0;
}

static void finish(plm_test_xfer *x, CURLcode rc)
{
    x->rc = rc;
    x->status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
}

void plm_test_xfer_run(plm_test_xfer *x)
{
    finish(x, curl_easy_perform(x->h));
}

void plm_test_xfer_clear(plm_test_xfer *x)
{
    free(x->body.p);
    free(x->head.p);
    memset(&x->body, 0, sizeof x->body);
    memset(&x->head, 0, sizeof x->head);
    x->status = 0;
    x->rc = CURLE_OK;
}

void plm_test_xfer_free(plm_test_xfer *x)
{
    curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdrs);
    free(x->post);
    free(x->body.p);
    free(x->head.p);
    memset(x, 0, sizeof *x);
}

const char *plm_test_xfer_header(const plm_test_xfer *x, const char *name,
                                 char *out, size_t len)
{
    const char *p = x->head.p, *found = NULL;
    size_t nl = strlen(name), found_len = 0;

    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);

        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            found = p + nl + 1;
            while (*found == ' ')
                found++;
            found_len = (size_t)(p + ll - found);
            while (found_len > 0 && (found[found_len - 1] == '\r' ||
                                     found[found_len - 1] == ' '))
                found_len--;
        }
        p = eol ? eol + 1 : NULL;
    }
    if (found == NULL || len == 0)
        return NULL;
    if (found_len >= len)
        found_len = len - 1;
    memcpy(out, found, found_len);
    out[found_len] = '\0';
    return out;
}

static void *multi_main(void *arg)
{
    plm_test_multi *r = arg;
    CURLM *mh = curl_multi_init();
    int running = 1, left;
    CURLMsg *msg;

    if (mh == NULL)
        return NULL;
    for (int i = 0; i < r->n; i++)
        curl_multi_add_handle(mh, r->xs[i].h);
    while (running > 0) {
        if (curl_multi_perform(mh, &running) != CURLM_OK)
            break;
        while ((msg = curl_multi_info_read(mh, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            for (int i = 0; i < r->n; i++)
                if (r->xs[i].h == msg->easy_handle)
                    finish(&r->xs[i], msg->data.result);
        }
        if (running > 0)
            curl_multi_poll(mh, NULL, 0, 1000, NULL);
    }
    for (int i = 0; i < r->n; i++)
        curl_multi_remove_handle(mh, r->xs[i].h);
    curl_multi_cleanup(mh);
    return NULL;
}

int plm_test_multi_start(plm_test_multi *r, plm_test_xfer *xs, int n)
{
    r->xs = xs;
    r->n = n;
    return pthread_create(&r->thread, NULL, multi_main, r) == 0 ? 0 : -1;
}

void plm_test_multi_join(plm_test_multi *r)
{
    pthread_join(r->thread, NULL);
}
