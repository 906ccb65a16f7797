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
 * Recycled handles are not reset: the options every attempt shares are
 * set once per handle, which with the free-list saves curl's per-handle
 * set-up and about a third of the setopt calls on every attempt.
 */
#include "transport.h"

#include "buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

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
/* Streams libcurl multiplexes on one HTTP/2 connection (its default,
 * set explicitly because the HTTP/2 connection cap counts on it; a server that
 * allows fewer lowers it per connection). */
#define PLM__H2_STREAMS 100
/* Transfers handed to curl per loop round; the rest wait for the next
 * round (see plm__transport_start). */
#ifndef PLM__START_BATCH
#define PLM__START_BATCH 64
#endif

struct plm__transport {
    plm__loop *loop;
    CURLM *multi;
    CURLSH *share;
    plm__timer timer;
    plm__xfer_done_fn done;
    void *done_data;
    plm__xfer_data_fn data;
    void *data_user;
    char *ca_file;
    int insecure;
    int64_t connect_timeout_ms;
    size_t max_response_bytes;
    CURL **free_list;
    size_t nfree, free_cap, free_limit;
    /* Configured transfers not yet handed to curl, oldest first from
     * pend_head; the feed timer hands them over, a batch per round. */
    plm__xfer **pend;
    size_t pend_head, pend_len, pend_cap;
    size_t started; /* handed to curl since the feed timer ran */
    plm__timer feed;
    /* HTTP/2 connection cap (see plm__transport_set_concurrency): the
     * per-host connection limit, whether it is yet to be applied (at the
     * run's first https transfer), and whether it is in force. */
    long h2_cap;
    int h2_cap_armed, h2_cap_on;
    /* owned[fd]: a connection socket this transport opened and will be
     * told about before it is closed, which makes it safe to park. */
    unsigned char *owned;
    size_t nowned;
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
    /* CURL_POLL_REMOVE: stop watching. A connection going back to the
     * cache is parked instead: the next request on it usually watches
     * it for the same events, and a DEL and an ADD per request were a
     * tenth of the client's system calls at 1,000 in flight. Sockets
     * curl closes without telling (its resolver's) are really removed. */
    if (events == 0 && s >= 0 && (size_t)s < t->nowned && t->owned[s]) {
        plm__loop_park(t->loop, s);
        return 0;
    }
    if (plm__loop_watch(t->loop, s, events, on_socket_event, t) != 0 &&
        events != 0)
        return -1; /* curl fails the transfers on this socket */
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: curl's own socket(), plus close-on-exec
 * and a note that the number is ours until close_socket_cb. Its data is
 * the attempt (set on every attempt), which learns of EMFILE here. */
static curl_socket_t open_socket_cb(void *userp, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    plm__xfer *x = userp;
    plm__transport *t = x->transport;
    int fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC,
                    addr->protocol);
    (void)purpose;

    if (fd < 0) {
        /* Out of descriptors: this process's limit, not the server. */
        if (errno == EMFILE || errno == ENFILE)
            x->no_descriptor = errno;
        return CURL_SOCKET_BAD;
    }
    /* Whatever the loop knew of this number was about a closed file. */
    plm__loop_forget(t->loop, fd);
    if ((size_t)fd >= t->nowned) {
        size_t old = t->nowned;

        if (PLM__ARRAY_RESERVE(t->owned, t->nowned, (size_t)fd + 1, 256) != 0)
            return fd; /* not owned: never parked, only slower */
        memset(t->owned + old, 0, t->nowned - old);
    }
    t->owned[fd] = 1;
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: a parked socket leaves the epoll set
 * before its number can be reused. */
static int close_socket_cb(void *userp, curl_socket_t fd)
{
    plm__transport *t = userp;

    if (fd >= 0 && (size_t)fd < t->nowned)
        t->owned[fd] = 0;
    plm__loop_watch(t->loop, fd, 0, NULL, NULL);
    return close(fd);
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

static void on_feed(plm__timer *timer, void *user_data);

int plm__transport_new(plm__transport **out, plm__loop *loop,
                       const plm__transport_config *cfg)
{
    plm__transport *t = calloc(1, sizeof *t);
    if (!t)
        return PLM_ENOMEM;
    t->loop = loop;
    t->free_limit = PLM__MIN_CONNECTS;
    plm__timer_init(&t->timer, on_timer, t);
    plm__timer_init(&t->feed, on_feed, t);
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
    curl_multi_setopt(t->multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
                      (long)PLM__H2_STREAMS);
    curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)PLM__MIN_CONNECTS);
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
    plm__timer_stop(t->loop, &t->feed);
    for (i = t->pend_head; i < t->pend_len; i++) {
        curl_easy_cleanup(t->pend[i]->easy);
        t->pend[i]->easy = NULL;
    }
    free(t->pend);
    for (i = 0; i < t->nfree; i++)
        curl_easy_cleanup(t->free_list[i]);
    free(t->free_list);
    /* Closing the multi handle closes the cached connections, which calls
     * socket_cb with CURL_POLL_REMOVE: the loop must still exist. */
    if (t->multi)
        curl_multi_cleanup(t->multi);
    if (t->share)
        curl_share_cleanup(t->share);
    free(t->owned);
    free(t->ca_file);
    free(t);
}

void plm__transport_set_done(plm__transport *t, plm__xfer_done_fn fn,
                             void *user_data)
{
    t->done = fn;
    t->done_data = user_data;
}

void plm__transport_set_data(plm__transport *t, plm__xfer_data_fn fn,
                             void *user_data)
{
    t->data = fn;
    t->data_user = user_data;
}

int plm__xfer_response_code(const plm__xfer *x)
{
    long status = 0;

    if (x->easy)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    return (int)status;
}

/* Hands a body piece to the data callback; its refusal ends the
 * transfer (CURLE_WRITE_ERROR, mapped in finish_xfer). */
static size_t data_out(plm__xfer *x, const char *data, size_t n)
{
    plm__transport *t = x->transport;
    int rc;

    if (!t || !t->data)
        return n;
    rc = t->data(x, data, n, t->data_user);
    if (rc == 0)
        return n;
    x->data_error = rc;
    return 0;
}

void plm__transport_set_concurrency(plm__transport *t, int n)
{
    long connects = PLM__MIN_CONNECTS;
    /* Keep one idle connection per possible parallel attempt, or the
     * cache closes connections that the next batch would reuse.
     * CURLMOPT_MAX_HOST_CONNECTIONS stays 0 (no limit) but for the HTTP/2
     * connection cap below: the engine's concurrency limit is the one bound,
     * and a second one here would queue transfers inside curl where the engine
     * cannot see them. */
    if (n <= 0)
        connects = 1024;
    else if (n > connects)
        connects = n;
    curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, connects);
    t->free_limit = connects < PLM__FREE_MAX ? (size_t)connects : PLM__FREE_MAX;
    /* The HTTP/2 connection cap. libcurl 7.88 waits (PIPEWAIT) for the
     * first connection's ALPN, but once that connection's streams are
     * taken it opens a new connection for every further transfer rather
     * than multiplexing onto those still in their handshake: at -c 300
     * against a server allowing 100 streams, 201 TLS connections instead
     * of 3, and twice the client CPU. So once a run starts an https
     * transfer, each host may have at most enough connections for n
     * multiplexed transfers, plus one (for a connection the server is
     * closing); the rest wait in curl for those handshakes. The first
     * transfer that ends other than over HTTP/2 lifts the cap: a server
     * that answers HTTP/1.1 over TLS costs the transfers beyond it one
     * answer's latency, once a run. A server allowing fewer than 100
     * streams would hold some transfers in curl for the whole run. */
    if (t->h2_cap_on) {
        t->h2_cap_on = 0;
        curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    }
    t->h2_cap = n > 0 ? (n + PLM__H2_STREAMS - 1) / PLM__H2_STREAMS + 1 : 0;
    t->h2_cap_armed = t->h2_cap > 0;
    /* A smaller run than the last gives back the spare handles. */
    while (t->nfree > t->free_limit)
        curl_easy_cleanup(t->free_list[--t->nfree]);
}

void plm__transport_cap_connections(plm__transport *t, int cap)
{
    if (cap > 0)
        curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)cap);
}

/* Descriptors open now: /proc/self/fd, else a probe of the first ones. */
static int64_t fds_in_use(int64_t soft)
{
    int64_t n = 0;
    DIR *d = opendir("/proc/self/fd");

    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
    }
    if (soft < 0 || soft > 65536)
        soft = 65536;
    for (int fd = 0; fd < soft; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static int64_t fd_reserve(int64_t soft)
{
    return PLM__FD_RESERVE_MIN + soft / 16;
}

int plm__fd_room_get(int64_t wanted, plm__fd_room *r)
{
    struct rlimit rl;

    memset(r, 0, sizeof *r);
    r->room = -1;
    if (wanted < 0 || wanted > INT32_MAX)
        wanted = INT32_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    r->soft = (int64_t)rl.rlim_cur;
    r->hard = rl.rlim_max == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_max;
    r->in_use = fds_in_use(r->soft);
    if (r->in_use + fd_reserve(r->soft) + wanted > r->soft &&
        rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max;
        /* Linux refuses an infinite soft limit on open files. */
        if (setrlimit(RLIMIT_NOFILE, &up) != 0 &&
            rl.rlim_max == RLIM_INFINITY && rl.rlim_cur < 65536) {
            up.rlim_cur = 65536;
            if (setrlimit(RLIMIT_NOFILE, &up) != 0)
                up.rlim_cur = rl.rlim_cur;
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
            (int64_t)rl.rlim_cur > r->soft) {
            r->raised = 1;
            r->soft = rl.rlim_cur == RLIM_INFINITY ? INT64_MAX / 2
                                                   : (int64_t)rl.rlim_cur;
        }
    }
    r->reserve = fd_reserve(r->soft);
    r->room = r->soft - r->in_use - r->reserve;
    if (r->room < 1)
        r->room = 1;
    return 1;
}

void plm__xfer_clear(plm__xfer *x)
{
    free(x->body);
    x->body = NULL;
    x->body_len = x->body_cap = 0;
    plm__headers_clear(&x->headers);
    x->http_status = 0;
    x->error = 0;
    x->unreachable = 0;
    x->too_big = 0;
    x->data_error = 0;
    x->no_memory = 0;
    x->in_headers = 0;
    x->no_descriptor = 0;
    x->message[0] = '\0';
    x->curl_error[0] = '\0';
    x->first_byte_us = -1;
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
        /* Most answers are a few hundred bytes: start small, where
         * malloc serves from its per-thread cache; a 4 KiB first block
         * went through malloc's large-request path (and consolidation)
         * on every attempt. */
        size_t cap = x->body_cap ? x->body_cap : 512;
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
    return data_out(x, data, n);
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    plm__xfer *x = userp;
    size_t n = size * nmemb, len = n;

    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    /* A status line starts a new header block (after 100 Continue or a
     * redirect): only the final response's headers count. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        plm__headers_clear(&x->headers);
        x->in_headers = 1;
    } else if (len == 0) {
        x->in_headers = 0;
    } else
        plm__headers_take(&x->headers, data, len);
    return n;
}

/* *fresh says whether the handle is new, without the options that every
 * attempt shares. */
static CURL *easy_get(plm__transport *t, int *fresh)
{
    *fresh = t->nfree == 0;
    if (t->nfree > 0)
        return t->free_list[--t->nfree];
    return curl_easy_init();
}

static void easy_put(plm__transport *t, CURL *easy)
{
    /* A failure to grow only means this handle is not recycled. */
    if (t->nfree == t->free_cap && t->free_cap < t->free_limit)
        (void)PLM__ARRAY_RESERVE(t->free_list, t->free_cap, t->nfree + 1, 64);
    /* No curl_easy_reset: the options every attempt shares stay set and
     * set_options overwrites all the others. */
    if (t->nfree < t->free_cap && t->nfree < t->free_limit) {
        t->free_list[t->nfree++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

/*
 * Options are set in two groups: those shared by every attempt of this
 * transport, once per new easy handle, and those of this attempt, every
 * time. A recycled handle keeps the first group (it is not reset), so the
 * second must set every option that any attempt sets, including back to
 * its default (PIPEWAIT, CUSTOMREQUEST).
 */
static int set_options(plm__transport *t, plm__xfer *x,
                       const plm__xfer_params *p, int fresh)
{
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                          \
    do {                                                                       \
        if (rc == CURLE_OK)                                                    \
            rc = curl_easy_setopt(e, opt, val);                                \
    } while (0)

    if (fresh) {
        SET(CURLOPT_SHARE, t->share);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_TCP_NODELAY, 1L);
        SET(CURLOPT_BUFFERSIZE, (long)PLM__RECV_BUFFER);
        SET(CURLOPT_USERAGENT, "parallm/" PLM_VERSION_STRING);
        SET(CURLOPT_WRITEFUNCTION, write_cb);
        SET(CURLOPT_HEADERFUNCTION, header_cb);
        SET(CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
        SET(CURLOPT_CLOSESOCKETFUNCTION, close_socket_cb);
        SET(CURLOPT_CLOSESOCKETDATA, t);
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_response_bytes);
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long)t->connect_timeout_ms);
        if (t->ca_file)
            SET(CURLOPT_CAINFO, t->ca_file);
        if (t->insecure) {
            SET(CURLOPT_SSL_VERIFYPEER, 0L);
            SET(CURLOPT_SSL_VERIFYHOST, 0L);
        } else {
            SET(CURLOPT_SSL_VERIFYPEER, 1L);
            SET(CURLOPT_SSL_VERIFYHOST, 2L);
        }
    }
    SET(CURLOPT_URL, p->url);
    SET(CURLOPT_PRIVATE, x);
    SET(CURLOPT_ERRORBUFFER, x->curl_error);
    SET(CURLOPT_OPENSOCKETDATA, x);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_HTTPHEADER, p->headers);
    SET(CURLOPT_TIMEOUT_MS, (long)(p->timeout_ms > 0 ? p->timeout_ms : 0));
    /* Waiting for a connection that might multiplex pays off only where
     * ALPN settles it at the handshake; on plain http:// curl would hold
     * every new transfer until the first answer arrives. */
    SET(CURLOPT_PIPEWAIT, strncmp(p->url, "https:", 6) == 0 ? 1L : 0L);
    if (strcmp(p->method, "GET") == 0) {
        /* A previous attempt's body pointer is dropped, not left behind. */
        SET(CURLOPT_POSTFIELDS, NULL);
        SET(CURLOPT_HTTPGET, 1L);
        SET(CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        /* POSTFIELDS does not copy: the body is the request's serialized
         * text, which stays put until the request completes. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
        SET(CURLOPT_POSTFIELDS, p->body ? p->body : "");
        SET(CURLOPT_CUSTOMREQUEST,
            strcmp(p->method, "POST") != 0 ? p->method : NULL);
    }
#undef SET
    return rc == CURLE_OK ? PLM_OK : PLM_EINVAL;
}

/* Hands a configured transfer to curl. On failure the handle is freed
 * and x->message says why. */
static int add_to_multi(plm__transport *t, plm__xfer *x)
{
    if (curl_multi_add_handle(t->multi, x->easy) != CURLM_OK) {
        snprintf(x->message, sizeof x->message, "could not start the transfer");
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        return PLM_ENOMEM;
    }
    t->started++;
    return PLM_OK;
}

/* Queues a configured transfer for the feed timer; 0 if it could. */
static int pend_push(plm__transport *t, plm__xfer *x)
{
    if (t->pend_head > 0 && t->pend_len == t->pend_cap) {
        memmove(t->pend, t->pend + t->pend_head,
                (t->pend_len - t->pend_head) * sizeof *t->pend);
        t->pend_len -= t->pend_head;
        t->pend_head = 0;
    }
    if (PLM__ARRAY_RESERVE(t->pend, t->pend_cap, t->pend_len + 1, 64) != 0)
        return -1;
    t->pend[t->pend_len++] = x;
    if (!plm__timer_active(&t->feed) &&
        plm__timer_start(t->loop, &t->feed, 0) != 0) {
        t->pend_len--;
        return -1;
    }
    return 0;
}

/* Once per loop round: the next batch of queued transfers goes to curl.
 * One that curl refuses ends at once as a failed transfer. */
static void on_feed(plm__timer *timer, void *user_data)
{
    plm__transport *t = user_data;
    (void)timer;

    t->started = 0;
    while (t->pend_head < t->pend_len && t->started < PLM__START_BATCH) {
        plm__xfer *x = t->pend[t->pend_head++];
        if (add_to_multi(t, x) != PLM_OK) {
            x->error = PLM_ENOMEM;
            if (t->done)
                t->done(x, t->done_data);
        }
    }
    if (t->pend_head == t->pend_len)
        t->pend_head = t->pend_len = 0;
    else
        plm__timer_start(t->loop, &t->feed, 0);
}

/*
 * Starting a transfer configures it at once but hands at most
 * PLM__START_BATCH of them per loop round to curl. curl opens every new
 * connection it has been given in one pass and sends a request only when
 * the loop reports the connection writable, so with 1,000 transfers
 * started together no request left before all 1,000 connects had been
 * made (about 50 ms, as long as the whole 50 ms answer latency); in
 * batches, connects, sends and answers overlap. A transfer waiting for
 * its batch counts as in flight (its timeout may start up to a few loop
 * rounds early).
 */
int plm__transport_start(plm__transport *t, plm__xfer *x,
                         const plm__xfer_params *p)
{
    int rc, fresh;

    plm__xfer_clear(x);
    x->limit = t->max_response_bytes;
    x->transport = t;
    x->easy = easy_get(t, &fresh);
    if (!x->easy) {
        snprintf(x->message, sizeof x->message, "out of memory");
        return PLM_ENOMEM;
    }
    rc = set_options(t, x, p, fresh);
    if (rc != PLM_OK) {
        snprintf(x->message, sizeof x->message,
                 "could not configure the transfer");
        /* Its options may be half set: not fit for the free-list. */
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        return rc;
    }
    if (t->h2_cap_armed && strncmp(p->url, "https:", 6) == 0) {
        t->h2_cap_armed = 0;
        t->h2_cap_on = 1;
        curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, t->h2_cap);
    }
    if ((t->pend_head < t->pend_len || t->started >= PLM__START_BATCH) &&
        pend_push(t, x) == 0)
        return PLM_OK;
    return add_to_multi(t, x);
}

void plm__transport_cancel(plm__transport *t, plm__xfer *x)
{
    size_t i;
    int queued = 0;

    if (!x->easy)
        return;
    for (i = t->pend_head; i < t->pend_len && !queued; i++) {
        if (t->pend[i] != x)
            continue;
        memmove(t->pend + i, t->pend + i + 1,
                (t->pend_len - i - 1) * sizeof *t->pend);
        t->pend_len--;
        queued = 1;
    }
    if (!queued)
        curl_multi_remove_handle(t->multi, x->easy);
    easy_put(t, x->easy);
    x->easy = NULL;
    x->error = PLM_ECANCELLED;
    snprintf(x->message, sizeof x->message, "cancelled");
}

/* What curl 7.8x says when all the headers together pass its cap. */
#define PLM__HEADERS_TOO_LARGE "Too large response headers: "

/* curl fails a header line over CURL_MAX_HTTP_HEADER with
 * CURLE_OUT_OF_MEMORY (and no error text), and a header block over its
 * total cap with CURLE_RECV_ERROR. Either is the server's answer being
 * too large, not a lack of memory here. */
static int header_too_big(const plm__xfer *x, CURLcode cc)
{
    /* Only between a status line and the end of its headers: before
     * any answer, an allocation failure is just that. */
    if (!x->in_headers)
        return 0;
    if (cc == CURLE_OUT_OF_MEMORY)
        return 1;
    return cc == CURLE_RECV_ERROR &&
           strncmp(x->curl_error, PLM__HEADERS_TOO_LARGE,
                   strlen(PLM__HEADERS_TOO_LARGE)) == 0;
}

/* The first byte's time comes from curl's own timer (read once, at the
 * end), so the write path stays untouched. 0 means nothing arrived. */
static void first_byte_time(plm__xfer *x)
{
    curl_off_t us = 0;

    x->first_byte_us = -1;
    if (curl_easy_getinfo(x->easy, CURLINFO_STARTTRANSFER_TIME_T, &us) ==
            CURLE_OK &&
        us > 0)
        x->first_byte_us = (int64_t)us;
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
    first_byte_time(x);
    if (cc == CURLE_OK) {
        x->error = 0;
        x->message[0] = '\0';
        return;
    }
    detail = x->curl_error[0] ? x->curl_error : curl_easy_strerror(cc);
    if (!x->no_descriptor && cc == CURLE_COULDNT_CONNECT) {
        long os_errno = 0;
        curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == EMFILE || os_errno == ENFILE)
            x->no_descriptor = (int)os_errno;
    }
    if (x->no_descriptor) {
        /* PLM_ENETWORK for the code; no_descriptor tells the engine it is
         * local (retried, never the provider's failure). */
        x->error = PLM_ENETWORK;
        snprintf(x->message, sizeof x->message,
                 "could not open a connection: %s (this process's limit "
                 "on open files, not the server)",
                 strerror(x->no_descriptor));
    } else if (x->data_error) {
        x->error = x->data_error;
        snprintf(x->message, sizeof x->message,
                 "aborted while reading the response body: %s",
                 x->data_error == PLM_ENOMEM ? "out of memory" : "refused");
    } else if (x->no_memory) {
        x->error = PLM_ENOMEM;
        snprintf(x->message, sizeof x->message,
                 "out of memory for the response body");
    } else if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        x->error = PLM_ETOOBIG;
        snprintf(x->message, sizeof x->message,
                 "response body larger than %zu bytes", x->limit);
    } else if (header_too_big(x, cc)) {
        /* Same class as an oversized body (not retried: the same request
         * gets the same answer). */
        x->error = PLM_ETOOBIG;
        if (cc == CURLE_OUT_OF_MEMORY)
            snprintf(x->message, sizeof x->message,
                     "response header line larger than curl's cap of %d "
                     "bytes (CURL_MAX_HTTP_HEADER)",
                     CURL_MAX_HTTP_HEADER);
        else
            snprintf(x->message, sizeof x->message,
                     "response headers too large (%s bytes, curl's cap)",
                     x->curl_error + strlen(PLM__HEADERS_TOO_LARGE));
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        x->error = PLM_ETIMEOUT;
        snprintf(x->message, sizeof x->message, "timed out: %s", detail);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        x->error = PLM_ECANCELLED;
        snprintf(x->message, sizeof x->message, "cancelled");
    } else {
        x->error = PLM_ENETWORK;
        x->unreachable = cc == CURLE_COULDNT_CONNECT ||
                         cc == CURLE_COULDNT_RESOLVE_HOST ||
                         cc == CURLE_COULDNT_RESOLVE_PROXY ||
                         cc == CURLE_SSL_CONNECT_ERROR ||
                         cc == CURLE_PEER_FAILED_VERIFICATION ||
                         cc == CURLE_SSL_CACERT_BADFILE;
        snprintf(x->message, sizeof x->message, "network error: %s", detail);
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
        if (t->h2_cap_on) {
            long version = 0;
            curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
            if (version != CURL_HTTP_VERSION_2_0) {
                t->h2_cap_on = 0;
                curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
            }
        }
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
