/*
 * The mock server object: sets up the libevent base, the evhttp server
 * (with an explicit listener for a large backlog, size caps and optional
 * TLS through bufferevent_openssl), runs the loop on its own thread or on
 * the caller's, and serves the thread-safe snapshots of stats and records.
 * Shutdown wakes the loop with a pre-made event (no polling) and frees
 * everything in a fixed order so nothing leaks.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "mock_internal.h"

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static int threads_rc;

static void threads_init(void)
{
    threads_rc = evthread_use_pthreads();
}

static void fail_msg(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

static int copy_str(const char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

static void free_opts(plm_mock_options *o)
{
    free((char *)o->host);
    free((char *)o->tls_cert_file);
    free((char *)o->tls_key_file);
    free((char *)o->port_file);
    free((char *)o->log_file);
    free((char *)o->stats_file);
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
    plm_mock *m = arg;
    SSL *ssl = SSL_new(m->ssl_ctx);

    if (ssl == NULL)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl,
                                          BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static int setup_tls(plm_mock *m, char *errbuf, size_t errlen)
{
    m->ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (m->ssl_ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(m->ssl_ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(m->ssl_ctx, m->opts.tls_cert_file) !=
            1 ||
        SSL_CTX_use_PrivateKey_file(m->ssl_ctx, m->opts.tls_key_file,
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(m->ssl_ctx) != 1)
        goto fail;
    evhttp_set_bevcb(m->http, tls_bev, m);
    return 0;
fail : {
    /* OpenSSL has no reason text for some failures (a missing file is
     * a system error), so name the files either way. */
    const char *why = ERR_reason_error_string(ERR_peek_last_error());
    fail_msg(errbuf, errlen,
             "mock: TLS setup failed for certificate '%s' and key "
             "'%s': %s",
             m->opts.tls_cert_file, m->opts.tls_key_file,
             why ? why : "cannot read or use the files");
}
    ERR_clear_error();
    return -1;
}

static int bind_listener(plm_mock *m, char *errbuf, size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    char port[16];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%d", m->opts.port);
    rc = getaddrinfo(m->opts.host, port, &hints, &ai);
    if (rc != 0) {
        fail_msg(errbuf, errlen, "mock: cannot resolve %s: %s", m->opts.host,
                 gai_strerror(rc));
        return -1;
    }
    /* A large backlog: benchmarks open a thousand connections at once. */
    m->listener = evconnlistener_new_bind(m->base, NULL, NULL,
                                          LEV_OPT_REUSEABLE |
                                              LEV_OPT_CLOSE_ON_FREE |
                                              LEV_OPT_CLOSE_ON_EXEC,
                                          PLM__MOCK_BACKLOG, ai->ai_addr,
                                          (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (m->listener == NULL) {
        fail_msg(errbuf, errlen, "mock: cannot listen on %s:%d: %s",
                 m->opts.host, m->opts.port, strerror(errno));
        return -1;
    }
    if (evhttp_bind_listener(m->http, m->listener) == NULL) {
        evconnlistener_free(m->listener);
        m->listener = NULL;
        fail_msg(errbuf, errlen, "mock: cannot bind the HTTP server");
        return -1;
    }
    if (getsockname(evconnlistener_get_fd(m->listener), (struct sockaddr *)&ss,
                    &sl) != 0) {
        fail_msg(errbuf, errlen, "mock: getsockname: %s", strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_INET6)
        m->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        m->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

/* Written to a temporary name and renamed so a reader never sees a
 * partial port. */
static int write_port_file(plm_mock *m, char *errbuf, size_t errlen)
{
    size_t n = strlen(m->opts.port_file) + 32;
    char *tmp = malloc(n);
    FILE *f = NULL;
    int rc = -1;

    if (tmp == NULL)
        goto out;
    snprintf(tmp, n, "%s.tmp.%ld", m->opts.port_file, (long)getpid());
    f = fopen(tmp, "w");
    if (f == NULL)
        goto out;
    fprintf(f, "%d\n", m->port);
    if (fclose(f) != 0) {
        f = NULL;
        unlink(tmp);
        goto out;
    }
    f = NULL;
    if (rename(tmp, m->opts.port_file) != 0) {
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        fail_msg(errbuf, errlen, "mock: cannot write %s: %s", m->opts.port_file,
                 strerror(errno));
    if (f != NULL)
        fclose(f);
    free(tmp);
    return rc;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    plm_mock *m = arg;

    (void)fd;
    (void)what;
    event_base_loopbreak(m->base);
}

static void on_release(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    plm__mock_release_hung(arg);
}

/*
 * libevent reads CLOCK_MONOTONIC_COARSE by default, which ticks once per
 * jiffy (4 ms here): a 50 ms reply then waits for the coarse clock to pass
 * its due time and goes out up to 4 ms late, which is 8% of the latency a
 * benchmark measures against. The precise clock costs a vDSO call.
 */
static struct event_base *new_base(int changelist)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (cfg == NULL)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    /* evhttp switches a connection between reading and writing several
     * times per request; the changelist folds the switches made in one
     * loop iteration into one epoll_ctl (4.7 -> 2 per request). Only in
     * a process of the mock's own (see alone_in_process in mock.h). */
    if (changelist)
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

/* The stats_file line, written through a temporary name and renamed so
 * a reader never sees half of it. A failure is only a missing file. */
static void write_stats_file(plm_mock *m)
{
    const plm_mock_stats *s = &m->stats;
    size_t n = strlen(m->opts.stats_file) + 32;
    char *tmp = malloc(n);
    FILE *f;

    if (tmp == NULL)
        return;
    snprintf(tmp, n, "%s.tmp.%ld", m->opts.stats_file, (long)getpid());
    f = fopen(tmp, "w");
    if (f != NULL) {
        int bad = fprintf(f,
                          "{\"requests\":%llu,\"answered_2xx\":%llu,"
                          "\"answered_429\":%llu,\"answered_other\":%llu,"
                          "\"resets\":%llu,\"max_in_flight_seen\":%d}\n",
                          (unsigned long long)s->requests,
                          (unsigned long long)s->answered_2xx,
                          (unsigned long long)s->answered_429,
                          (unsigned long long)s->answered_other,
                          (unsigned long long)s->resets,
                          s->max_in_flight_seen) < 0;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, m->opts.stats_file) != 0)
            unlink(tmp);
    }
    free(tmp);
}

static void teardown(plm_mock *m)
{
    if (m == NULL)
        return;
    /* Only a server that listened has counters to report. */
    if (m->opts.stats_file != NULL && m->port > 0)
        write_stats_file(m);
    /* evhttp_free closes every connection; requests still pending are
     * dropped through their close callbacks, the rest just after. */
    if (m->http != NULL)
        evhttp_free(m->http);
    else if (m->listener != NULL)
        evconnlistener_free(m->listener);
    plm__mock_drop_live(m);
    if (m->stop_ev)
        event_free(m->stop_ev);
    if (m->release_ev)
        event_free(m->release_ev);
    if (m->sigint_ev)
        event_free(m->sigint_ev);
    if (m->sigterm_ev)
        event_free(m->sigterm_ev);
    if (m->base)
        event_base_free(m->base);
    if (m->ssl_ctx)
        SSL_CTX_free(m->ssl_ctx);
    plm_mock_records_free(m->records, m->n_records);
    plm__mock_limits_free(&m->limits);
    json_decref(m->attempts);
    if (m->log)
        fclose(m->log);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free_opts(&m->opts);
    free(m);
}

/* Builds a listening server; the loop is not running yet. */
static int create(plm_mock **out, const plm_mock_options *opts, char *errbuf,
                  size_t errlen)
{
    plm_mock *m = NULL;

    *out = NULL;
    if (opts == NULL) {
        fail_msg(errbuf, errlen, "mock: no options");
        return -1;
    }
    if ((opts->tls_cert_file == NULL) != (opts->tls_key_file == NULL)) {
        fail_msg(errbuf, errlen, "mock: TLS needs both cert and key");
        return -1;
    }
    pthread_once(&threads_once, threads_init);
    if (threads_rc != 0) {
        fail_msg(errbuf, errlen, "mock: libevent threads unavailable");
        return -1;
    }
    m = calloc(1, sizeof *m);
    if (m == NULL) {
        fail_msg(errbuf, errlen, "mock: out of memory");
        return -1;
    }
    pthread_mutex_init(&m->lock, NULL);
    {
        /* Monotonic, so plm_mock_wait_requests ignores clock changes. */
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&m->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    m->opts = *opts;
    if (copy_str(&m->opts.host, opts->host ? opts->host : "127.0.0.1") ||
        copy_str(&m->opts.tls_cert_file, opts->tls_cert_file) ||
        copy_str(&m->opts.tls_key_file, opts->tls_key_file) ||
        copy_str(&m->opts.port_file, opts->port_file) ||
        copy_str(&m->opts.log_file, opts->log_file) ||
        copy_str(&m->opts.stats_file, opts->stats_file))
        goto oom;
    m->rng = opts->seed ? opts->seed : 1;
    plm__mock_limits_init(&m->limits, opts->rpm, opts->tpm);
    m->attempts = json_object();
    m->base = new_base(opts->alone_in_process);
    if (m->attempts == NULL || m->base == NULL)
        goto oom;
    m->http = evhttp_new(m->base);
    m->stop_ev = event_new(m->base, -1, 0, on_stop, m);
    m->release_ev = event_new(m->base, -1, 0, on_release, m);
    if (m->http == NULL || m->stop_ev == NULL || m->release_ev == NULL)
        goto oom;
    evhttp_set_max_body_size(m->http, PLM__MOCK_MAX_BODY_HARD);
    /* evhttp's limits sit above the mock's, which the handler enforces
     * with JSON answers carrying a request id. */
    evhttp_set_max_headers_size(m->http, PLM__MOCK_MAX_HEADERS_HARD);
    /* Read an oversized body before answering 413 so the client sees the
     * answer instead of a broken pipe. */
    evhttp_set_flags(m->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_allowed_methods(m->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                   EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                   EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE |
                                   EVHTTP_REQ_CONNECT);
    evhttp_set_gencb(m->http, plm__mock_handle, m);
    if (m->opts.tls_cert_file != NULL && setup_tls(m, errbuf, errlen) != 0)
        goto fail;
    if (m->opts.log_file != NULL) {
        m->log = fopen(m->opts.log_file, "a");
        if (m->log == NULL) {
            fail_msg(errbuf, errlen, "mock: cannot open %s: %s",
                     m->opts.log_file, strerror(errno));
            goto fail;
        }
    }
    if (bind_listener(m, errbuf, errlen) != 0)
        goto fail;
    if (m->opts.port_file != NULL && write_port_file(m, errbuf, errlen) != 0)
        goto fail;
    *out = m;
    return 0;
oom:
    fail_msg(errbuf, errlen, "mock: out of memory");
fail:
    teardown(m);
    return -1;
}

static void *loop_main(void *arg)
{
    plm_mock *m = arg;

    event_base_loop(m->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int plm_mock_start(plm_mock **out, const plm_mock_options *opts, char *errbuf,
                   size_t errlen)
{
    plm_mock *m;
    sigset_t block, old;
    int rc;

    if (out == NULL)
        return -1;
    if (create(&m, opts, errbuf, errlen) != 0) {
        *out = NULL;
        return -1;
    }
    /* The loop thread never takes SIGPIPE: a client that closes early
     * must give EPIPE, not kill the process. It inherits this mask. */
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    rc = pthread_create(&m->thread, NULL, loop_main, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        fail_msg(errbuf, errlen, "mock: cannot start thread: %s", strerror(rc));
        teardown(m);
        *out = NULL;
        return -1;
    }
    m->thread_started = 1;
    *out = m;
    return 0;
}

int plm_mock_port(const plm_mock *mock)
{
    return mock ? mock->port : -1;
}

void plm_mock_free(plm_mock *mock)
{
    if (mock == NULL)
        return;
    if (mock->thread_started) {
        event_active(mock->stop_ev, EV_READ, 0);
        pthread_join(mock->thread, NULL);
    }
    teardown(mock);
}

void plm_mock_get_stats(plm_mock *mock, plm_mock_stats *out)
{
    if (mock == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&mock->lock);
    *out = mock->stats;
    pthread_mutex_unlock(&mock->lock);
}

static char *dup_opt(const char *s, int *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = 1;
    return d;
}

size_t plm_mock_get_records(plm_mock *mock, plm_mock_record **out)
{
    plm_mock_record *recs = NULL;
    size_t n;
    int oom = 0;

    *out = NULL;
    if (mock == NULL)
        return 0;
    pthread_mutex_lock(&mock->lock);
    n = mock->n_records;
    if (n > 0)
        recs = calloc(n, sizeof *recs);
    for (size_t i = 0; recs != NULL && i < n; i++) {
        const plm_mock_record *s = &mock->records[i];

        recs[i] = *s;
        recs[i].body = dup_opt(s->body, &oom);
        recs[i].authorization = dup_opt(s->authorization, &oom);
        recs[i].api_key = dup_opt(s->api_key, &oom);
        recs[i].anthropic_version = dup_opt(s->anthropic_version, &oom);
        recs[i].user_text = dup_opt(s->user_text, &oom);
    }
    pthread_mutex_unlock(&mock->lock);
    if (n > 0 && (recs == NULL || oom)) {
        plm_mock_records_free(recs, recs ? n : 0);
        return 0;
    }
    *out = recs;
    return n;
}

void plm_mock_records_free(plm_mock_record *recs, size_t n)
{
    if (recs == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(recs[i].body);
        free(recs[i].authorization);
        free(recs[i].api_key);
        free(recs[i].anthropic_version);
        free(recs[i].user_text);
    }
    free(recs);
}

void plm_mock_reset(plm_mock *mock)
{
    int in_flight;

    if (mock == NULL)
        return;
    pthread_mutex_lock(&mock->lock);
    plm_mock_records_free(mock->records, mock->n_records);
    mock->records = NULL;
    mock->n_records = 0;
    mock->cap_records = 0;
    mock->record_gen++;
    in_flight = mock->stats.in_flight;
    memset(&mock->stats, 0, sizeof mock->stats);
    mock->stats.in_flight = in_flight;
    mock->stats.max_in_flight_seen = in_flight;
    mock->handled = 0;
    mock->booked = 0;
    pthread_mutex_unlock(&mock->lock);
}

void plm_mock_release_hung(plm_mock *mock)
{
    if (mock != NULL && mock->release_ev != NULL)
        event_active(mock->release_ev, EV_READ, 0);
}

/* Waits until *count (guarded by the mock's lock) reaches n. */
static int wait_count(plm_mock *mock, const uint64_t *count, uint64_t n,
                      int64_t timeout_ms)
{
    struct timespec dl;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (time_t)(timeout_ms / 1000);
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&mock->lock);
    while (*count < n && rc == 0)
        rc = pthread_cond_timedwait(&mock->cond, &mock->lock, &dl);
    rc = *count >= n ? 0 : -1;
    pthread_mutex_unlock(&mock->lock);
    return rc;
}

int plm_mock_wait_done(plm_mock *mock, uint64_t n, int64_t timeout_ms)
{
    if (mock == NULL)
        return -1;
    return wait_count(mock, &mock->booked, n, timeout_ms);
}

int plm_mock_wait_requests(plm_mock *mock, uint64_t n, int64_t timeout_ms)
{
    if (mock == NULL)
        return -1;
    return wait_count(mock, &mock->handled, n, timeout_ms);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    plm_mock *m = arg;

    (void)sig;
    (void)what;
    event_base_loopbreak(m->base);
}

int plm_mock_serve(const plm_mock_options *opts, char *errbuf, size_t errlen)
{
    plm_mock_options alone = *opts; /* serving in its caller's thread */
    plm_mock *m;
    int rc = -1;

    alone.alone_in_process = 1;
    if (create(&m, &alone, errbuf, errlen) != 0)
        return -1;
    /* A command owns its process: ignoring SIGPIPE is its choice. */
    signal(SIGPIPE, SIG_IGN);
    m->sigint_ev = evsignal_new(m->base, SIGINT, on_signal, m);
    m->sigterm_ev = evsignal_new(m->base, SIGTERM, on_signal, m);
    if (m->sigint_ev == NULL || m->sigterm_ev == NULL ||
        evsignal_add(m->sigint_ev, NULL) != 0 ||
        evsignal_add(m->sigterm_ev, NULL) != 0) {
        fail_msg(errbuf, errlen, "mock: cannot watch signals");
        goto out;
    }
    if (event_base_loop(m->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0) {
        fail_msg(errbuf, errlen, "mock: event loop failed");
        goto out;
    }
    rc = 0;
out:
    teardown(m);
    return rc;
}
