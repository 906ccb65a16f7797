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
#include "url_handles.h"
#include "xfer_finish.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
/* Plain-http transfers in flight per lane, and the most lanes. */
#ifndef PLM__LANE_CONNECTS
#define PLM__LANE_CONNECTS 32
#endif
#define PLM__LANES_MAX 32

/*
 * A lane: one curl multi handle, with its own connection cache, and the
 * timer it asks for. To reuse a connection, libcurl 7.88 walks the host's
 * whole list of connections, busy or not (ConnectionExists), about 60
 * instructions for each one ahead of an idle one: at 1,000 in flight,
 * 27,000 instructions per request, the client's largest single cost. So
 * plain-http transfers are spread over lanes of about 32 each (the least
 * busy lane takes the next one), which keeps every walk short. https
 * transfers all go to lane 0, where HTTP/2 multiplexes them onto a few
 * connections; lanes would each open their own.
 */
typedef struct plm__lane {
    plm__transport *t;
    CURLM *multi;
    plm__timer timer;
    size_t in_flight; /* transfers given this lane and not yet finished */
} plm__lane;

struct plm__transport {
    plm__loop *loop;
    /* lanes[0, nlanes) take new transfers; lanes[0] always exists. A lane
     * past nlanes is one a smaller run left with transfers in flight; it
     * is freed once they are done (at the next set_concurrency). */
    plm__lane *lanes[PLM__LANES_MAX];
    size_t nlanes;
    uint64_t connects; /* connections opened (CURLINFO_NUM_CONNECTS) */
    CURLSH *share;
    plm__url_handles urls;
    /* No proxy variable in the environment when the transport was made:
     * curl is told so once per easy handle instead of reading five
     * variables on every transfer. */
    int no_proxy_env;
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

static void check_done(plm__lane *lane);

static void on_socket_event(int fd, int events, void *user_data)
{
    plm__lane *lane = user_data;
    int running = 0, mask = 0;

    if (events & PLM__LOOP_READ)
        mask |= CURL_CSELECT_IN;
    if (events & PLM__LOOP_WRITE)
        mask |= CURL_CSELECT_OUT;
    curl_multi_socket_action(lane->multi, fd, mask, &running);
    check_done(lane);
}

static void on_timer(plm__timer *timer, void *user_data)
{
    plm__lane *lane = user_data;
    int running = 0;
    (void)timer;
    curl_multi_socket_action(lane->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(lane);
}

/* CURLMOPT_SOCKETFUNCTION: curl says which sockets to watch. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
    plm__lane *lane = userp;
    plm__transport *t = lane->t;
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
    if (plm__loop_watch(t->loop, s, events, on_socket_event, lane) != 0 &&
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
    plm__lane *lane = userp;
    (void)multi;

    if (timeout_ms < 0) {
        plm__timer_stop(lane->t->loop, &lane->timer);
        return 0;
    }
    return plm__timer_start(lane->t->loop, &lane->timer, timeout_ms) == 0 ? 0
                                                                          : -1;
}

static plm__lane *lane_new(plm__transport *t)
{
    plm__lane *lane = calloc(1, sizeof *lane);

    if (!lane)
        return NULL;
    lane->t = t;
    lane->multi = curl_multi_init();
    if (!lane->multi) {
        free(lane);
        return NULL;
    }
    plm__timer_init(&lane->timer, on_timer, lane);
    curl_multi_setopt(lane->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(lane->multi, CURLMOPT_SOCKETDATA, lane);
    curl_multi_setopt(lane->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(lane->multi, CURLMOPT_TIMERDATA, lane);
    curl_multi_setopt(lane->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(lane->multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
                      (long)PLM__H2_STREAMS);
    curl_multi_setopt(lane->multi, CURLMOPT_MAXCONNECTS,
                      (long)PLM__MIN_CONNECTS);
    return lane;
}

/* Closing the multi handle closes the cached connections, which calls
 * close_socket_cb: the loop must still exist. */
static void lane_free(plm__lane *lane)
{
    if (!lane)
        return;
    plm__timer_stop(lane->t->loop, &lane->timer);
    curl_multi_cleanup(lane->multi);
    plm__timer_stop(lane->t->loop, &lane->timer);
    free(lane);
}

/* How many lanes for n transfers in flight (0: no limit). */
static size_t lanes_for(int n)
{
    int want;

    if (n <= 0)
        return PLM__LANES_MAX;
    want = (n + PLM__LANE_CONNECTS - 1) / PLM__LANE_CONNECTS;
    return want > PLM__LANES_MAX ? PLM__LANES_MAX : (size_t)want;
}

/* The lane for a new transfer: lane 0 for https (see plm__lane), else
 * the one with the fewest in flight, the first of those tied. */
static plm__lane *lane_pick(plm__transport *t, int https)
{
    plm__lane *best = t->lanes[0];
    size_t i;

    if (https)
        return best;
    for (i = 1; i < t->nlanes && best->in_flight > 0; i++)
        if (t->lanes[i]->in_flight < best->in_flight)
            best = t->lanes[i];
    return best;
}

/* A transfer leaves its lane: finished, cancelled or refused. */
static void lane_leave(plm__xfer *x)
{
    if (x->lane) {
        x->lane->in_flight--;
        x->lane = NULL;
    }
}

static void on_feed(plm__timer *timer, void *user_data);

/* Whether any variable libcurl 7.88 reads for a proxy is set (it reads
 * them on every transfer; with none set, the transport tells curl "no
 * proxy" once per handle, which is what it would conclude anyway). */
static int proxy_env_set(void)
{
    static const char *const names[] = { "http_proxy",  "HTTP_PROXY",
                                         "https_proxy", "HTTPS_PROXY",
                                         "all_proxy",   "ALL_PROXY",
                                         "no_proxy",    "NO_PROXY" };
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i]))
            return 1;
    return 0;
}

int plm__transport_new(plm__transport **out, plm__loop *loop,
                       const plm__transport_config *cfg)
{
    plm__transport *t = calloc(1, sizeof *t);
    if (!t)
        return PLM_ENOMEM;
    t->loop = loop;
    t->free_limit = PLM__MIN_CONNECTS;
    plm__timer_init(&t->feed, on_feed, t);
    t->insecure = cfg->insecure_skip_verify;
    t->no_proxy_env = !proxy_env_set();
    t->connect_timeout_ms = cfg->connect_timeout_ms;
    t->max_response_bytes = cfg->max_response_bytes;
    if (cfg->ca_file) {
        t->ca_file = strdup(cfg->ca_file);
        if (!t->ca_file)
            goto fail;
    }
    t->lanes[0] = lane_new(t);
    t->nlanes = 1;
    t->share = curl_share_init();
    if (!t->lanes[0] || !t->share)
        goto fail;
    /* The loop thread is the only user, so the share needs no locks. TLS
     * sessions and DNS answers are shared by every lane. */
    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(t->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
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
    plm__timer_stop(t->loop, &t->feed);
    for (i = t->pend_head; i < t->pend_len; i++) {
        curl_easy_cleanup(t->pend[i]->easy);
        t->pend[i]->easy = NULL;
    }
    free(t->pend);
    for (i = 0; i < t->nfree; i++)
        curl_easy_cleanup(t->free_list[i]);
    free(t->free_list);
    for (i = 0; i < PLM__LANES_MAX; i++)
        lane_free(t->lanes[i]);
    if (t->share)
        curl_share_cleanup(t->share);
    free(t->owned);
    plm__url_handles_free(&t->urls);
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
 * transfer (CURLE_WRITE_ERROR, mapped in plm__xfer_finish). */
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

/* Lanes for n in flight: the missing ones are made (as many as can be),
 * idle ones no longer wanted are freed. */
static void lanes_size(plm__transport *t, int n)
{
    size_t want = lanes_for(n), i;

    for (i = 1; i < want; i++)
        if (!t->lanes[i] && !(t->lanes[i] = lane_new(t)))
            break;
    want = i;
    for (; i < PLM__LANES_MAX; i++) {
        if (t->lanes[i] && t->lanes[i]->in_flight == 0) {
            lane_free(t->lanes[i]);
            t->lanes[i] = NULL;
        }
    }
    t->nlanes = want;
}

/* Each lane's connection cache: lane 0 may hold them all (every https
 * transfer runs there), the others their share. A lane never holds more
 * connections than it had transfers at once, so this bounds only what
 * idles between runs. */
static void lanes_cache(plm__transport *t, long connects)
{
    long share = (connects + (long)t->nlanes - 1) / (long)t->nlanes;
    size_t i;

    for (i = 0; i < t->nlanes; i++)
        curl_multi_setopt(t->lanes[i]->multi, CURLMOPT_MAXCONNECTS,
                          i == 0 ? connects : share);
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
    lanes_size(t, n);
    lanes_cache(t, connects);
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
        curl_multi_setopt(t->lanes[0]->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          0L);
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
        lanes_cache(t, (long)cap);
}

uint64_t plm__transport_connects(const plm__transport *t)
{
    return t->connects;
}

size_t plm__transport_lanes(const plm__transport *t)
{
    return t->nlanes;
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
                       const plm__xfer_params *p, int fresh, int https)
{
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;
    CURLU *uh;

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
        if (t->no_proxy_env) {
            SET(CURLOPT_PROXY, "");
            SET(CURLOPT_NOPROXY, "");
        }
    }
    uh = plm__url_handle(&t->urls, p->url);
    /* A handle's CURLU wins over its URL text: a recycled handle that
     * had one is given NULL when this URL has none. */
    SET(CURLOPT_CURLU, uh);
    if (!uh)
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
    SET(CURLOPT_PIPEWAIT, https ? 1L : 0L);
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
    if (curl_multi_add_handle(x->lane->multi, x->easy) != CURLM_OK) {
        snprintf(x->message, sizeof x->message, "could not start the transfer");
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        lane_leave(x);
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
    int rc, fresh, https = strncmp(p->url, "https:", 6) == 0;

    plm__xfer_clear(x);
    x->limit = t->max_response_bytes;
    x->transport = t;
    x->easy = easy_get(t, &fresh);
    if (!x->easy) {
        snprintf(x->message, sizeof x->message, "out of memory");
        return PLM_ENOMEM;
    }
    rc = set_options(t, x, p, fresh, https);
    if (rc != PLM_OK) {
        snprintf(x->message, sizeof x->message,
                 "could not configure the transfer");
        /* Its options may be half set: not fit for the free-list. */
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        return rc;
    }
    x->lane = lane_pick(t, https);
    x->lane->in_flight++;
    if (t->h2_cap_armed && https) {
        t->h2_cap_armed = 0;
        t->h2_cap_on = 1;
        curl_multi_setopt(t->lanes[0]->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          t->h2_cap);
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
        curl_multi_remove_handle(x->lane->multi, x->easy);
    lane_leave(x);
    easy_put(t, x->easy);
    x->easy = NULL;
    x->error = PLM_ECANCELLED;
    snprintf(x->message, sizeof x->message, "cancelled");
}

static void check_done(plm__lane *lane)
{
    plm__transport *t = lane->t;
    CURLMsg *msg;
    int left;

    for (;;) {
        plm__xfer *x = NULL;
        CURL *easy;
        CURLcode cc;
        long connects = 0;

        msg = curl_multi_info_read(lane->multi, &left);
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
                curl_multi_setopt(t->lanes[0]->multi,
                                  CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
            }
        }
        cc = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
        t->connects += connects > 0 ? (uint64_t)connects : 0;
        plm__xfer_finish(x, cc);
        curl_multi_remove_handle(lane->multi, easy);
        lane_leave(x);
        easy_put(t, easy);
        x->easy = NULL;
        if (t->done)
            t->done(x, t->done_data);
    }
}
