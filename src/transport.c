/*
 * The libcurl side of the engine: a multi handle whose sockets and timeout
 * are watched by plm__loop, easy handles recycled from a free-list, and the
 * per-attempt plumbing (response body into one capped growable buffer,
 * response headers into plm__headers, curl errors mapped to plm codes).
 *
 * TLS: verification is on unless insecure_skip_verify is set, which turns
 * off both VERIFYPEER and VERIFYHOST. ca_file is given to CURLOPT_CAINFO,
 * which REPLACES curl's default bundle file rather than adding to it. The
 * default CA directory (CURLOPT_CAPATH, /etc/ssl/certs on Debian's libcurl)
 * is left alone, so where libcurl was built with one the system CAs stay
 * trusted; elsewhere a ca_file must hold every CA the servers need.
 * TLS sessions are shared through a CURLSH so a recycled easy handle (or a
 * new one) resumes sessions; connections live in the multi handle's cache.
 * Against the loopback mock the free-list measured no faster than a fresh
 * handle per attempt (the machine's noise dominates); it is kept because
 * it saves an allocation and curl's per-handle set-up on every attempt.
 */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallm.h"

/* Per-transfer receive buffer. LLM answers are small and many transfers
 * run at once, so curl's 16 KiB default is mostly idle memory. Against the
 * mock (5,000 requests, 100 in parallel, loopback) 4, 8 and 16 KiB gave
 * the same throughput within noise (13-15k requests/s); 8 KiB keeps reads
 * of a typical answer to one or two calls. */
#ifndef PLM__RECV_BUFFER
#define PLM__RECV_BUFFER 8192
#endif
/* Idle easy handles kept for reuse: one per parallel attempt of the run
 * (each holds its receive buffer), at most this many. */
#define PLM__FREE_MAX 1024
/* Connection cache floor; raised to the run's concurrency. */
#define PLM__MIN_CONNECTS 32

struct plm__transport {
    plm__loop *loop;
    CURLM *multi;
    CURLSH *share;
    plm__timer timer;
    plm__xfer_done_fn done;
    void *done_data;
    char *ca_file;
    int insecure;
    int64_t connect_timeout_ms;
    size_t max_response_bytes;
    CURL **free_list;
    size_t nfree, free_cap, free_limit;
};

static void check_done(plm__transport *t);

static void on_socket_event(int fd, int events, void *user_data)
{
    plm__transport *t = user_data;
    int running = 0, mask = 0;

    if (events & PLM__LOOP_READ)
        mask |= CURL_CSELECT_IN;
    if (events & PLM__LOOP_WRITE)
        mask |= CURL_CSELECT_OUT;
    curl_multi_socket_action(t->multi, fd, mask, &running);
    check_done(t);
}

static void on_timer(plm__timer *timer, void *user_data)
{
    plm__transport *t = user_data;
    int running = 0;
    (void)timer;
    curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(t);
}

/* CURLMOPT_SOCKETFUNCTION: curl says which sockets to watch. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
    plm__transport *t = userp;
    int events = 0;
    (void)easy;
    (void)socketp;

    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= PLM__LOOP_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= PLM__LOOP_WRITE;
    /* CURL_POLL_REMOVE leaves events at 0: stop watching. */
    if (plm__loop_watch(t->loop, s, events, on_socket_event, t) != 0 &&
        events != 0)
        return -1; /* curl fails the transfers on this socket */
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl asks to be called back after timeout_ms. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    plm__transport *t = userp;
    (void)multi;

    if (timeout_ms < 0) {
        plm__timer_stop(t->loop, &t->timer);
        return 0;
    }
    return plm__timer_start(t->loop, &t->timer, timeout_ms) == 0 ? 0 : -1;
}

int plm__transport_new(plm__transport **out, plm__loop *loop,
                       const plm__transport_config *cfg)
{
    plm__transport *t = calloc(1, sizeof *t);
    if (!t)
        return PLM_ENOMEM;
    t->loop = loop;
    t->free_limit = PLM__MIN_CONNECTS;
    plm__timer_init(&t->timer, on_timer, t);
    t->insecure = cfg->insecure_skip_verify;
    t->connect_timeout_ms = cfg->connect_timeout_ms;
    t->max_response_bytes = cfg->max_response_bytes;
    if (cfg->ca_file) {
        t->ca_file = strdup(cfg->ca_file);
        if (!t->ca_file)
            goto fail;
    }
    t->multi = curl_multi_init();
    t->share = curl_share_init();
    if (!t->multi || !t->share)
        goto fail;
    /* The loop thread is the only user, so the share needs no locks. */
    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS,
                      (long)PLM__MIN_CONNECTS);
    *out = t;
    return PLM_OK;
fail:
    plm__transport_free(t);
    return PLM_ENOMEM;
}

void plm__transport_free(plm__transport *t)
{
    size_t i;
    if (!t)
        return;
    plm__timer_stop(t->loop, &t->timer);
    for (i = 0; i < t->nfree; i++)
        curl_easy_cleanup(t->free_list[i]);
    free(t->free_list);
    /* Closing the multi handle closes the cached connections, which calls
     * socket_cb with CURL_POLL_REMOVE: the loop must still exist. */
    if (t->multi)
        curl_multi_cleanup(t->multi);
    if (t->share)
        curl_share_cleanup(t->share);
    free(t->ca_file);
    free(t);
}

void plm__transport_set_done(plm__transport *t, plm__xfer_done_fn fn,
                             void *user_data)
{
    t->done = fn;
    t->done_data = user_data;
}

void plm__transport_set_concurrency(plm__transport *t, int n)
{
    long connects = PLM__MIN_CONNECTS;
    /* Keep one idle connection per possible parallel attempt, or the
     * cache closes connections that the next batch would reuse.
     * CURLMOPT_MAX_HOST_CONNECTIONS stays 0 (no limit): the engine's
     * concurrency limit is the one bound, and a second one here would
     * queue transfers inside curl where the engine cannot see them. */
    if (n <= 0)
        connects = 1024;
    else if (n > connects)
        connects = n;
    curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, connects);
    t->free_limit = connects < PLM__FREE_MAX ? (size_t)connects
                                             : PLM__FREE_MAX;
    /* A smaller run than the last gives back the spare handles. */
    while (t->nfree > t->free_limit)
        curl_easy_cleanup(t->free_list[--t->nfree]);
}

void plm__xfer_clear(plm__xfer *x)
{
    free(x->body);
    x->body = NULL;
    x->body_len = x->body_cap = 0;
    plm__headers_clear(&x->headers);
    x->http_status = 0;
    x->error = 0;
    x->too_big = 0;
    x->no_memory = 0;
    x->message[0] = '\0';
    x->curl_error[0] = '\0';
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    plm__xfer *x = userp;
    size_t n = size * nmemb;

    if (n > x->limit - x->body_len) {
        x->too_big = 1;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    if (x->body_len + n + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 4096;
        char *p;
        while (cap < x->body_len + n + 1)
            cap *= 2;
        if (cap > x->limit + 1)
            cap = x->limit + 1;
        p = realloc(x->body, cap);
        if (!p) {
            x->no_memory = 1;
            return 0;
        }
        x->body = p;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, data, n);
    x->body_len += n;
    x->body[x->body_len] = '\0';
    return n;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    plm__xfer *x = userp;
    size_t n = size * nmemb, len = n;

    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    /* A status line starts a new header block (after 100 Continue or a
     * redirect): only the final response's headers count. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        plm__headers_clear(&x->headers);
    else if (len > 0)
        plm__headers_take(&x->headers, data, len);
    return n;
}

static CURL *easy_get(plm__transport *t)
{
    if (t->nfree > 0)
        return t->free_list[--t->nfree];
    return curl_easy_init();
}

static void easy_put(plm__transport *t, CURL *easy)
{
    if (t->nfree == t->free_cap && t->free_cap < t->free_limit) {
        size_t cap = t->free_cap ? t->free_cap * 2 : 64;
        CURL **p = realloc(t->free_list, cap * sizeof *p);
        if (p) {
            t->free_list = p;
            t->free_cap = cap;
        }
    }
    if (t->nfree < t->free_cap && t->nfree < t->free_limit) {
        curl_easy_reset(easy);
        t->free_list[t->nfree++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

static int set_options(plm__transport *t, plm__xfer *x,
                       const plm__xfer_params *p)
{
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                       \
    do {                                                                    \
        if (rc == CURLE_OK)                                                 \
            rc = curl_easy_setopt(e, opt, val);                             \
    } while (0)

    SET(CURLOPT_URL, p->url);
    SET(CURLOPT_PRIVATE, x);
    SET(CURLOPT_SHARE, t->share);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Waiting for a connection that might multiplex pays off only where
     * ALPN settles it at the handshake; on plain http:// curl would hold
     * every new transfer until the first answer arrives. */
    if (strncmp(p->url, "https:", 6) == 0)
        SET(CURLOPT_PIPEWAIT, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_BUFFERSIZE, (long)PLM__RECV_BUFFER);
    SET(CURLOPT_USERAGENT, "parallm/" PLM_VERSION_STRING);
    SET(CURLOPT_ERRORBUFFER, x->curl_error);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, header_cb);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_HTTPHEADER, p->headers);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_response_bytes);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)t->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)(p->timeout_ms > 0 ? p->timeout_ms : 0));
    if (t->ca_file)
        SET(CURLOPT_CAINFO, t->ca_file);
    if (t->insecure) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (strcmp(p->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        /* POSTFIELDS does not copy: the body is the request's serialized
         * text, which stays put until the request completes. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
        SET(CURLOPT_POSTFIELDS, p->body ? p->body : "");
        if (strcmp(p->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, p->method);
    }
#undef SET
    return rc == CURLE_OK ? PLM_OK : PLM_EINVAL;
}

int plm__transport_start(plm__transport *t, plm__xfer *x,
                         const plm__xfer_params *p)
{
    int rc;

    plm__xfer_clear(x);
    x->limit = t->max_response_bytes;
    x->easy = easy_get(t);
    if (!x->easy) {
        snprintf(x->message, sizeof x->message, "out of memory");
        return PLM_ENOMEM;
    }
    rc = set_options(t, x, p);
    if (rc != PLM_OK) {
        snprintf(x->message, sizeof x->message,
                 "could not configure the transfer");
        goto fail;
    }
    if (curl_multi_add_handle(t->multi, x->easy) != CURLM_OK) {
        snprintf(x->message, sizeof x->message,
                 "could not start the transfer");
        rc = PLM_ENOMEM;
        goto fail;
    }
    return PLM_OK;
fail:
    easy_put(t, x->easy);
    x->easy = NULL;
    return rc;
}

void plm__transport_cancel(plm__transport *t, plm__xfer *x)
{
    if (!x->easy)
        return;
    curl_multi_remove_handle(t->multi, x->easy);
    easy_put(t, x->easy);
    x->easy = NULL;
    x->error = PLM_ECANCELLED;
    snprintf(x->message, sizeof x->message, "cancelled");
}

/* Maps a finished transfer's curl code to a plm code and message. The
 * message holds curl's error text, which may name the host but never a
 * header, so the API key cannot leak through it. */
static void finish_xfer(plm__xfer *x, CURLcode cc)
{
    const char *detail;
    long status = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    x->http_status = (int)status;
    if (cc == CURLE_OK) {
        x->error = 0;
        x->message[0] = '\0';
        return;
    }
    detail = x->curl_error[0] ? x->curl_error : curl_easy_strerror(cc);
    if (x->no_memory) {
        x->error = PLM_ENOMEM;
        snprintf(x->message, sizeof x->message,
                 "out of memory for the response body");
    } else if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        x->error = PLM_ETOOBIG;
        snprintf(x->message, sizeof x->message,
                 "response body larger than %zu bytes", x->limit);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        x->error = PLM_ETIMEOUT;
        snprintf(x->message, sizeof x->message, "timed out: %s", detail);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        x->error = PLM_ECANCELLED;
        snprintf(x->message, sizeof x->message, "cancelled");
    } else {
        x->error = PLM_ENETWORK;
        snprintf(x->message, sizeof x->message, "network error: %s",
                 detail);
    }
    /* A failed transfer's partial answer is not the server's reply. */
    x->http_status = 0;
}

static void check_done(plm__transport *t)
{
    CURLMsg *msg;
    int left;

    for (;;) {
        plm__xfer *x = NULL;
        CURL *easy;
        CURLcode cc;

        msg = curl_multi_info_read(t->multi, &left);
        if (!msg)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        easy = msg->easy_handle;
        cc = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        finish_xfer(x, cc);
        curl_multi_remove_handle(t->multi, easy);
        easy_put(t, easy);
        x->easy = NULL;
        if (t->done)
            t->done(x, t->done_data);
    }
}
