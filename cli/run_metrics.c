/*
 * `parallm run --metrics-file / --metrics-listen / --metrics-linger /
 * --trace` (see run_metrics.h). The listener is libevent's evhttp on a
 * thread of its own, with its own event base; the run's thread hands it
 * finished snapshots (the metrics text and the /api/state JSON) under a
 * mutex and stops it through a pipe, so no libevent object is shared
 * between threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "assets.h"
#include "cli_args.h"
#include "run_metrics.h"

/* The metrics file is rewritten at most this often during the run. */
#define FILE_EVERY_S 2.0

struct run_metrics {
    const run_options *opt;
    run_trace *trace;
    /* The listener. */
    int listen_fd;
    int stop_pipe[2];
    struct event_base *base;
    struct evhttp *http;
    struct event *stop_ev;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *text;     /* latest metrics text (lock) */
    char *state;    /* latest /api/state JSON (lock) */
    int final;      /* the snapshots are the run's last (lock) */
    int scraped;    /* /metrics served since final was set (lock) */
    double file_at; /* run_now() of the last metrics file */
    /* The metrics file's writer: a thread of its own, so the fsync of a
     * periodic rewrite never holds the run's thread. */
    pthread_t writer;
    int writer_started;
    pthread_cond_t writer_cond;
    char *file_text;  /* the next text to write (lock) */
    int writer_stop;  /* (lock) */
    int writer_errno; /* the first failure, said at the end (lock) */
};

/* ---- the listener (its own thread) ---- */

static void serve(struct evhttp_request *req, const char *type,
                  const char *body)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      type);
    evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    run_metrics *m = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    int metrics = path && strcmp(path, "/metrics") == 0;
    int state = path && strcmp(path, "/api/state") == 0;

    if (path && strcmp(path, "/") == 0) {
        /* The live dashboard: a constant page that polls /api/state. */
        serve(req, "text/html; charset=utf-8", cli_dashboard_html);
        return;
    }
    if (!metrics && !state) {
        evhttp_send_error(req, HTTP_NOTFOUND,
                          "not found: try /, /metrics or /api/state");
        return;
    }
    pthread_mutex_lock(&m->lock);
    if (metrics)
        serve(req, "text/plain; version=0.0.4; charset=utf-8",
              m->text ? m->text : "");
    else
        serve(req, "application/json", m->state ? m->state : "{}");
    if (metrics && m->final) {
        m->scraped = 1;
        pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    run_metrics *m = arg;
    (void)fd;
    (void)what;
    event_base_loopbreak(m->base);
}

static void *listener_main(void *arg)
{
    run_metrics *m = arg;
    event_base_dispatch(m->base);
    return NULL;
}

/* "PORT" (loopback), "HOST:PORT" or "[V6]:PORT" into host and port. */
static int split_address(const char *text, char *host, size_t hostlen,
                         char *port, size_t portlen)
{
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hl;
    int p;

    if (!colon) {
        snprintf(host, hostlen, "127.0.0.1");
        colon = text - 1;
        hl = 0;
    } else {
        hl = (size_t)(colon - text);
        if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
            h = text + 1;
            hl -= 2;
        }
        if (hl == 0 || hl >= hostlen)
            return -1;
        memcpy(host, h, hl);
        host[hl] = '\0';
    }
    if (cli_parse_int(colon + 1, 0, 65535, &p) != 0)
        return -1;
    snprintf(port, portlen, "%d", p);
    return 0;
}

/* A listening socket on addr, or -1 after saying why. */
static int listen_on(const char *addr)
{
    char host[256], port[16];
    struct addrinfo hints, *ai = NULL, *a;
    int fd = -1, err = 0, one = 1, rc;

    if (split_address(addr, host, sizeof host, port, sizeof port) != 0) {
        fprintf(stderr,
                "parallm run: invalid value for --metrics-listen: '%s' "
                "(PORT or HOST:PORT)\n",
                addr);
        return -1;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "parallm run: cannot listen on %s: %s\n", addr,
                gai_strerror(rc));
        return -1;
    }
    for (a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        fprintf(stderr, "parallm run: cannot listen on %s: %s\n", addr,
                strerror(err));
    return fd;
}

/* Says where the listener is (the port the system chose for port 0). */
static void say_address(int fd, int quiet)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (quiet || getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port,
                    sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return;
    const char *lb = ss.ss_family == AF_INET6 ? "[" : "";
    const char *rb = ss.ss_family == AF_INET6 ? "]" : "";
    fprintf(stderr,
            "parallm run: dashboard on http://%s%s%s:%s/, metrics on "
            "http://%s%s%s:%s/metrics\n",
            lb, host, rb, port, lb, host, rb, port);
}

static int start_listener(run_metrics *m)
{
    m->listen_fd = listen_on(m->opt->metrics_listen);
    if (m->listen_fd < 0)
        return -1;
    say_address(m->listen_fd, m->opt->quiet);
    if (pipe2(m->stop_pipe, O_CLOEXEC) != 0)
        goto fail;
    m->base = event_base_new();
    m->http = m->base ? evhttp_new(m->base) : NULL;
    m->stop_ev = m->base
                     ? event_new(m->base, m->stop_pipe[0], EV_READ, on_stop, m)
                     : NULL;
    if (!m->http || !m->stop_ev || event_add(m->stop_ev, NULL) != 0)
        goto fail;
    evutil_make_socket_nonblocking(m->listen_fd);
    if (!evhttp_accept_socket_with_handle(m->http, m->listen_fd))
        goto fail;
    m->listen_fd = -1; /* evhttp's now */
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    /* What a client may send is capped, and an idle one dropped. */
    evhttp_set_max_headers_size(m->http, 16384);
    evhttp_set_max_body_size(m->http, 1024);
    evhttp_set_timeout(m->http, 30);
    evhttp_set_gencb(m->http, on_request, m);
    if (pthread_create(&m->thread, NULL, listener_main, m) != 0)
        goto fail;
    m->thread_started = 1;
    return 0;
fail:
    fprintf(stderr, "parallm run: cannot start the metrics listener: %s\n",
            strerror(errno ? errno : ENOMEM));
    return -1;
}

/* ---- the metrics file ---- */

/* The temporary file beside path (same directory, so rename is atomic). */
static void tmp_name(const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s.tmp.%ld", path, (long)getpid());
}

/* Refuses a metrics file whose directory is missing or not writable. */
static int check_metrics_file(const char *path)
{
    char tmp[4096];
    int fd;

    tmp_name(path, tmp, sizeof tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "parallm run: cannot write --metrics-file %s: %s\n",
                path, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(tmp);
    return 0;
}

/* Writes text to path atomically: a temporary file, fsync, rename. */
static int write_metrics_file(const char *path, const char *text)
{
    char tmp[4096];
    size_t len = strlen(text), done = 0;
    int fd;

    tmp_name(path, tmp, sizeof tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done < len || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void *writer_main(void *arg)
{
    run_metrics *m = arg;

    pthread_mutex_lock(&m->lock);
    for (;;) {
        char *text;
        while (!m->file_text && !m->writer_stop)
            pthread_cond_wait(&m->writer_cond, &m->lock);
        if (!m->file_text)
            break;
        text = m->file_text;
        m->file_text = NULL;
        pthread_mutex_unlock(&m->lock);
        int failed = write_metrics_file(m->opt->metrics_file, text) != 0;
        int err = errno;
        free(text);
        pthread_mutex_lock(&m->lock);
        if (failed && !m->writer_errno)
            m->writer_errno = err ? err : EIO;
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* Stops the writer after the text it was given; the error it met, or 0. */
static int writer_join(run_metrics *m)
{
    int err;
    if (!m->writer_started)
        return 0;
    pthread_mutex_lock(&m->lock);
    m->writer_stop = 1;
    pthread_cond_signal(&m->writer_cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->writer, NULL);
    m->writer_started = 0;
    err = m->writer_errno;
    m->writer_errno = 0;
    return err;
}

/* ---- snapshots ---- */

static void put_opt_number(char *buf, size_t len, double v)
{
    if (v > 0)
        snprintf(buf, len, "%.17g", v);
    else
        snprintf(buf, len, "null");
}

/* The /api/state JSON (docs/metrics.md); final: the run is over.
 * malloc'd, NULL on failure. */
static char *state_json(run_ctx *ctx, const plm_stats *st, int final)
{
    const run_counts *k = &ctx->counts;
    plm_metrics_summary sum;
    double elapsed = run_now() - k->started;
    uint64_t done = k->succeeded + k->failed;
    uint64_t prior = k->skipped + k->kept_invalid;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    char total[32], eta[32], tpm[32], out[2048];
    size_t o = 0;
    int i;

    plm_client_metrics_summary(ctx->client, &sum);
    /* The input is read as the run goes: its size is known once read to
     * its end (or when progress counted it beforehand). */
    uint64_t all = ctx->input_eof       ? k->sent + k->invalid + prior
                   : k->total_estimated ? 0
                                        : k->total;
    if (all > 0)
        snprintf(total, sizeof total, "%llu", (unsigned long long)all);
    else
        snprintf(total, sizeof total, "null");
    if (all > 0 && rate > 0 && all >= done + prior)
        snprintf(eta, sizeof eta, "%.1f", (double)(all - done - prior) / rate);
    else
        snprintf(eta, sizeof eta, "null");
    put_opt_number(tpm, sizeof tpm, ctx->opt->tpm);
#define PUT(...)                                                               \
    do {                                                                       \
        int n_ = snprintf(out + o, sizeof out - o, __VA_ARGS__);               \
        if (n_ < 0 || (size_t)n_ >= sizeof out - o)                            \
            return NULL;                                                       \
        o += (size_t)n_;                                                       \
    } while (0)
    PUT("{\"elapsed_s\":%.3f,\"total\":%s,\"done\":%llu,\"succeeded\":%llu,"
        "\"failed\":%llu,\"in_flight\":%llu,\"waiting\":%llu,"
        "\"concurrency_limit\":%d,\"requests_per_s\":%.3f",
        elapsed, total, (unsigned long long)(done + prior),
        (unsigned long long)k->succeeded, (unsigned long long)k->failed,
        (unsigned long long)st->in_flight, (unsigned long long)st->waiting,
        st->concurrency_limit, rate);
    if (sum.latency_p50_s < 0)
        PUT(",\"latency_ms\":{\"p50\":null,\"p95\":null,\"p99\":null}");
    else
        PUT(",\"latency_ms\":{\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f}",
            sum.latency_p50_s * 1000, sum.latency_p95_s * 1000,
            sum.latency_p99_s * 1000);
    PUT(",\"retries\":{");
    for (i = PLM_WAIT_RETRY_AFTER; i <= PLM_WAIT_BREAKER; i++)
        PUT("%s\"%s\":%llu", i > PLM_WAIT_RETRY_AFTER ? "," : "",
            plm_wait_reason_name((plm_wait_reason)i),
            (unsigned long long)sum.retries[i]);
    PUT("},\"errors\":{");
    for (i = PLM_CLASS_NETWORK; i <= PLM_CLASS_LOCAL; i++)
        PUT("%s\"%s\":%llu", i > PLM_CLASS_NETWORK ? "," : "",
            plm_error_class_name((plm_error_class)i),
            (unsigned long long)sum.requests[i]);
    PUT("},\"tokens_per_min\":%.1f,\"tpm_limit\":%s,\"eta_s\":%s,"
        "\"finished\":%s}\n",
        elapsed > 0
            ? (double)(st->prompt_tokens + st->completion_tokens) / elapsed * 60
            : 0.0,
        tpm, eta, final ? "true" : "false");
#undef PUT
    return strdup(out);
}

/* Renders both snapshots and hands them to the listener; returns the
 * metrics text's copy for the file (caller frees), or NULL. */
static char *publish(run_metrics *m, run_ctx *ctx, const plm_stats *st,
                     int final)
{
    char *text = NULL, *state = NULL, *copy;

    if (plm_client_metrics_text(ctx->client, &text, NULL) != PLM_OK)
        return NULL;
    if (!m->thread_started)
        return text;
    state = state_json(ctx, st, final);
    copy = strdup(text);
    pthread_mutex_lock(&m->lock);
    free(m->text);
    free(m->state);
    m->text = text;
    m->state = state;
    if (final) {
        m->final = 1;
        m->scraped = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return copy;
}

/* ---- the run's side ---- */

int run_metrics_open(run_metrics **out, const run_options *opt)
{
    run_metrics *m;

    *out = NULL;
    if (!opt->metrics_file && !opt->metrics_listen && !opt->trace)
        return 0;
    m = calloc(1, sizeof *m);
    if (!m) {
        fprintf(stderr, "parallm run: out of memory\n");
        return -1;
    }
    m->opt = opt;
    m->listen_fd = -1;
    m->stop_pipe[0] = m->stop_pipe[1] = -1;
    pthread_mutex_init(&m->lock, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&m->cond, &ca);
        pthread_cond_init(&m->writer_cond, NULL);
        pthread_condattr_destroy(&ca);
    }
    *out = m;
    if (opt->metrics_file && check_metrics_file(opt->metrics_file) != 0)
        return -1;
    if (opt->metrics_file) {
        if (pthread_create(&m->writer, NULL, writer_main, m) != 0) {
            fprintf(stderr, "parallm run: cannot start a thread\n");
            return -1;
        }
        m->writer_started = 1;
    }
    if (opt->trace && !(m->trace = run_trace_open(opt->trace)))
        return -1;
    if (opt->metrics_listen && start_listener(m) != 0)
        return -1;
    return 0;
}

int run_metrics_attach(run_metrics *m, run_ctx *ctx)
{
    plm_stats st;
    char *text;

    if (!m)
        return 0;
    if (m->trace) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (run_trace_begin(m->trace, ctx->opt,
                            (double)now.tv_sec + (double)now.tv_nsec / 1e9) !=
                0 ||
            plm_client_set_trace(ctx->client, run_trace_attempt, m->trace) !=
                PLM_OK) {
            fprintf(stderr, "parallm run: cannot write --trace %s\n",
                    ctx->opt->trace);
            return -1;
        }
    }
    plm_client_stats(ctx->client, &st);
    text = publish(m, ctx, &st, 0);
    free(text);
    m->file_at = run_now();
    return 0;
}

void run_metrics_tick(run_metrics *m, run_ctx *ctx, const plm_stats *st)
{
    char *text;
    int file_due;

    if (!m)
        return;
    file_due = m->opt->metrics_file && run_now() - m->file_at >= FILE_EVERY_S;
    if (!m->thread_started && !file_due)
        return;
    text = publish(m, ctx, st, 0);
    if (text && file_due && m->writer_started) {
        /* The writer takes it; a text it has not started on is replaced. */
        m->file_at = run_now();
        pthread_mutex_lock(&m->lock);
        free(m->file_text);
        m->file_text = text;
        text = NULL;
        pthread_cond_signal(&m->writer_cond);
        pthread_mutex_unlock(&m->lock);
    }
    free(text);
}

/* Keeps the listener up until /metrics was served with the final
 * snapshot, or --metrics-linger passed. */
static void linger(run_metrics *m)
{
    struct timespec until;
    int64_t ms = m->opt->metrics_linger_ms;

    if (!m->thread_started || ms <= 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    while (!m->scraped)
        if (pthread_cond_timedwait(&m->cond, &m->lock, &until) != 0)
            break;
    pthread_mutex_unlock(&m->lock);
}

int run_metrics_finish(run_metrics *m, run_ctx *ctx)
{
    plm_stats st;
    char *text;
    int rc = 0;

    if (!m)
        return 0;
    int err = writer_join(m);
    plm_client_stats(ctx->client, &st);
    text = publish(m, ctx, &st, 1);
    /* The last rewrite is the run's own, after the writer's: it decides
     * the outcome; a failure during the run that this one mended is only
     * a warning. */
    if (m->opt->metrics_file &&
        (!text || write_metrics_file(m->opt->metrics_file, text) != 0)) {
        fprintf(stderr, "parallm run: cannot write --metrics-file %s: %s\n",
                m->opt->metrics_file, strerror(errno ? errno : EIO));
        rc = -1;
    } else if (err) {
        fprintf(stderr,
                "parallm run: warning: --metrics-file %s could not be "
                "rewritten during the run (%s); the final one was\n",
                m->opt->metrics_file, strerror(err));
    }
    free(text);
    plm_client_set_trace(ctx->client, NULL, NULL);
    if (run_trace_close(m->trace) != 0)
        rc = -1;
    m->trace = NULL;
    linger(m);
    return rc;
}

void run_metrics_free(run_metrics *m)
{
    if (!m)
        return;
    if (m->thread_started) {
        char c = 1;
        while (write(m->stop_pipe[1], &c, 1) < 0 && errno == EINTR)
            ;
        pthread_join(m->thread, NULL);
    }
    writer_join(m);
    free(m->file_text);
    if (m->stop_ev)
        event_free(m->stop_ev);
    if (m->http)
        evhttp_free(m->http);
    if (m->base)
        event_base_free(m->base);
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    if (m->stop_pipe[0] >= 0)
        close(m->stop_pipe[0]);
    if (m->stop_pipe[1] >= 0)
        close(m->stop_pipe[1]);
    run_trace_close(m->trace);
    free(m->text);
    free(m->state);
    pthread_cond_destroy(&m->cond);
    pthread_cond_destroy(&m->writer_cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
