/*
 * The client: resolves options (defaults, environment variables), builds
 * the per-provider header lists once, owns the event loop and transport,
 * and implements logging, interrupts, statistics, hook registration and
 * the public plm_client_run wrapper. Runs themselves are in engine.c.
 */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "defaults.h"
#include "errdetail.h"
#include "observe.h"
#include "policy.h"
#include "provider.h"
#include "request.h"
#include "service.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

/* curl_global_init is not thread-safe in curl 7.88: run it once. */
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static const char *pick(const char *given, const char *env_name,
                        const char *fallback)
{
    const char *v;
    if (given && given[0])
        return given;
    v = getenv(env_name);
    if (v && v[0])
        return v;
    return fallback;
}

static int is_http_url(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 ||
           strncasecmp(url, "https://", 8) == 0;
}

static int copy_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return PLM_OK;
    *dst = strdup(src);
    return *dst ? PLM_OK : PLM_ENOMEM;
}

/* The client's own options (the limit options are checked by the
 * policy); each failure names its field in plm_last_error(). */
static int validate(const plm_client_options *o)
{
    int rc;

    if ((rc = plm__check_version("plm_client_options", o->version,
                                 PLM_CLIENT_OPTIONS_VERSION)) ||
        (rc = plm__check_range("max_retries", o->max_retries, -1, INT32_MAX)) ||
        (rc = plm__check_duration_ms("request_timeout_ms",
                                     o->request_timeout_ms)) ||
        (rc = plm__check_duration_ms("connect_timeout_ms",
                                     o->connect_timeout_ms)) ||
        (rc = plm__check_duration_ms("retry_base_ms", o->retry_base_ms)) ||
        (rc = plm__check_duration_ms("retry_max_ms", o->retry_max_ms)) ||
        (rc = plm__check_duration_ms("retry_after_max_ms",
                                     o->retry_after_max_ms)) ||
        (rc = plm__check_range("retry_time_ms", o->retry_time_ms, -1,
                               INT64_C(604800000))) ||
        (rc = plm__check_range("log_level", o->log_level, 0, PLM_LOG_DEBUG)))
        return rc;
    return PLM_OK;
}

/* A CA file that cannot be read would fail every request later: open it
 * now (no check-then-open race; the transport opens it again by name). */
static int check_ca_file(const char *path)
{
    FILE *f;

    if (!path)
        return PLM_OK;
    f = fopen(path, "r");
    if (!f)
        return plm__error_set(PLM_EINVAL, "ca_file", "cannot read %.200s: %s",
                              path, strerror(errno));
    fclose(f);
    return PLM_OK;
}

/* A base URL the transport could never use. */
static int check_base_url(const char *field, const char *url)
{
    if (is_http_url(url))
        return PLM_OK;
    return plm__error_set(PLM_EINVAL, field,
                          "must start with http:// or https://, got "
                          "\"%.200s\"",
                          url);
}

/* A header name (RFC 9110 token): anything else would split or forge a
 * header line. */
static int is_header_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
            return 0;
    return 1;
}

/* A query goes into the request line as it is. */
static int is_query(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c >= 0x7f || c == '#')
            return 0;
    }
    return 1;
}

/* The provider's addressing options (key header, query, deployment
 * paths), checked. PLM_OK or PLM_EINVAL. */
static int url_options(const plm__provider_ops *ops,
                       const plm_client_options *o, const char **key_header,
                       const char **query, int *deployments)
{
    char field[64];

    *key_header = *query = NULL;
    *deployments = 0;
    if (!ops->client_url_options)
        return PLM_OK;
    ops->client_url_options(o, key_header, query, deployments);
    if (*key_header && !is_header_name(*key_header)) {
        snprintf(field, sizeof field, "%s_api_key_header", ops->name);
        return plm__error_set(PLM_EINVAL, field,
                              "must be a header name, got \"%.64s\"",
                              *key_header);
    }
    if (*query && !is_query(*query)) {
        snprintf(field, sizeof field, "%s_query", ops->name);
        return plm__error_set(PLM_EINVAL, field,
                              "must not hold spaces, control bytes or '#'");
    }
    return PLM_OK;
}

static int build_headers(plm_client *c, const plm_client_options *o,
                         plm_provider p)
{
    struct curl_slist *list = NULL, *tmp;
    const char *key_header, *query;
    int deployments;

    (void)url_options(plm__provider_get(p), o, &key_header, &query,
                      &deployments);
    /* Given as a header of the list rather than CURLOPT_USERAGENT, which
     * libcurl 7.88 formats twice per request with its own printf, a
     * byte at a time (curl_maprintf, then again into the request). The
     * provider's list adds the empty "Expect:". */
    tmp = curl_slist_append(list, "User-Agent: parallm/" PLM_VERSION_STRING);
    if (!tmp)
        return PLM_ENOMEM;
    list = plm__provider_headers_keyed(p, c->api_key[p], key_header, tmp);
    if (!list)
        return PLM_ENOMEM;
    c->headers[p] = list;
    return PLM_OK;
}

/* Each provider's key and base URL: the option, else its environment
 * variable, else (base URL only) its default. All keys first, then all
 * base URLs, then the scheme check: PLM_ENOMEM or PLM_EINVAL. */
static int resolve_endpoints(plm_client *c, const plm_client_options *o)
{
    const char *key[PLM__PROVIDER_COUNT] = { 0 };
    const char *base[PLM__PROVIDER_COUNT] = { 0 };
    int i;

    for (i = 0; i < PLM__PROVIDER_COUNT; i++) {
        const plm__provider_ops *ops = plm__provider_get((plm_provider)i);

        if (ops->client_options)
            ops->client_options(o, &key[i], &base[i]);
        if (copy_opt(&c->api_key[i], pick(key[i], ops->env_api_key, NULL)))
            return PLM_ENOMEM;
    }
    for (i = 0; i < PLM__PROVIDER_COUNT; i++) {
        const plm__provider_ops *ops = plm__provider_get((plm_provider)i);
        const char *url = pick(base[i], ops->env_base_url,
                               ops->default_base_url);
        const char *key_header, *query;
        int deployments, rc;

        if ((rc = url_options(ops, o, &key_header, &query, &deployments)))
            return rc;
        c->base_url[i] = plm__base_url_normalize(url);
        if (!c->base_url[i] || plm__urlbase_init(&c->urlbase[i], url, query,
                                                 deployments) != PLM_OK)
            return PLM_ENOMEM;
    }
    /* Only http(s) (the transport refuses other schemes anyway; saying so
     * here is clearer than a network error per request). */
    for (i = 0; i < PLM__PROVIDER_COUNT; i++) {
        char field[64];
        int rc;

        snprintf(field, sizeof field, "%s_base_url",
                 plm__provider_get((plm_provider)i)->name);
        if ((rc = check_base_url(field, c->base_url[i])))
            return rc;
    }
    return PLM_OK;
}

char *plm__client_url(const plm_client *c, const plm_request *req)
{
    const char *model = plm__request_model(req);

    return plm__urlbase_url(&c->urlbase[req->provider], req->provider,
                            req->method, req->path, model);
}

/* The policy logs through the client's sink, filtered by its level. */
static void policy_log(void *data, plm_log_level level, const char *message)
{
    plm__log((const plm_client *)data, level, "%s", message);
}

/* Creates the limit policy with the narrow environment it may see and
 * registers its hooks. */
static int attach_policy(plm_client *c, const plm_client_options *o)
{
    plm__policy_env env;
    plm__engine_hooks h;
    int rc;

    memset(&env, 0, sizeof env);
    for (int i = 0; i < PLM__PROVIDER_COUNT; i++)
        env.base_url[i] = c->base_url[i];
    env.retry_base_ms = c->retry_base_ms;
    env.retry_after_max_ms = c->retry_after_max_ms;
    env.log_level = c->log_level;
    env.log = policy_log;
    env.log_data = c;
    env.loop = c->loop;
    rc = plm__policy_new(&c->policy, &env, o);
    if (rc != PLM_OK)
        return rc;
    plm__policy_hooks(c->policy, &h);
    return plm__client_add_hooks(c, &h);
}

int plm_client_new(plm_client **out, const plm_client_options *opts)
{
    plm_client_options defaults;
    const plm_client_options *o = opts;
    plm__transport_config tc;
    plm_client *c = NULL;
    int rc;

    plm__error_clear();
    if (!out)
        return plm__check_not_null("out", out);
    *out = NULL;
    if (!o) {
        memset(&defaults, 0, sizeof defaults);
        defaults.version = PLM_CLIENT_OPTIONS_VERSION;
        o = &defaults;
    }
    rc = validate(o);
    if (rc != PLM_OK)
        return rc;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != 0)
        return PLM_ENOMEM;
    c = calloc(1, sizeof *c);
    if (!c)
        return PLM_ENOMEM;
    rc = PLM_ENOMEM;
    atomic_init(&c->running, 0);
    atomic_init(&c->interrupt_level, 0);
    atomic_init(&c->loop_thread_set, 0);
    atomic_init(&c->loop_thread, 0);
    pthread_mutex_init(&c->stats_mu, NULL);
    pthread_mutex_init(&c->svc_mu, NULL);

    rc = resolve_endpoints(c, o);
    if (rc != PLM_OK)
        goto fail;
    if ((rc = check_ca_file(o->ca_file)))
        goto fail;
    rc = PLM_ENOMEM;

    c->max_retries = o->max_retries == 0  ? PLM__DEFAULT_MAX_RETRIES
                     : o->max_retries < 0 ? 0
                                          : o->max_retries;
    c->request_timeout_ms = o->request_timeout_ms
                                ? o->request_timeout_ms
                                : PLM__DEFAULT_REQUEST_TIMEOUT_MS;
    c->connect_timeout_ms = o->connect_timeout_ms
                                ? o->connect_timeout_ms
                                : PLM__DEFAULT_CONNECT_TIMEOUT_MS;
    c->max_response_bytes = o->max_response_bytes
                                ? o->max_response_bytes
                                : PLM__DEFAULT_MAX_RESPONSE_BYTES;
    c->retry_base_ms = o->retry_base_ms ? o->retry_base_ms
                                        : PLM__DEFAULT_RETRY_BASE_MS;
    c->retry_max_ms = o->retry_max_ms ? o->retry_max_ms
                                      : PLM__DEFAULT_RETRY_MAX_MS;
    c->retry_after_max_ms = o->retry_after_max_ms
                                ? o->retry_after_max_ms
                                : PLM__DEFAULT_RETRY_AFTER_MAX_MS;
    c->retry_time_ms = o->retry_time_ms == 0  ? PLM__DEFAULT_RETRY_TIME_MS
                       : o->retry_time_ms < 0 ? 0
                                              : o->retry_time_ms;
    c->log = o->log;
    c->log_user_data = o->log_user_data;
    c->log_level = o->log_level;
    c->log_batches = o->log_batches;

    for (int i = 0; i < PLM__PROVIDER_COUNT; i++)
        if (build_headers(c, o, (plm_provider)i) != PLM_OK)
            goto fail;
    if (plm__loop_new(&c->loop) != 0)
        goto fail;
    memset(&tc, 0, sizeof tc);
    tc.ca_file = o->ca_file;
    tc.insecure_skip_verify = o->insecure_skip_verify;
    tc.connect_timeout_ms = c->connect_timeout_ms;
    tc.max_response_bytes = c->max_response_bytes;
    rc = plm__transport_new(&c->transport, c->loop, &tc);
    if (rc != PLM_OK)
        goto fail;
    rc = attach_policy(c, o);
    if (rc != PLM_OK)
        goto fail;
    *out = c;
    return PLM_OK;
fail:
    plm_client_free(c);
    return rc;
}

/* Does not leave a secret in freed memory. */
static void wipe(char *s)
{
    volatile char *p = s;
    if (!s)
        return;
    while (*p)
        *p++ = '\0';
}

void plm_client_free(plm_client *client)
{
    int i;
    if (!client)
        return;
    /* Outstanding shared calls complete as cancelled first. */
    plm__service_shutdown(client);
    /* The transport closes its connections through the loop: free it
     * first. */
    plm__transport_free(client->transport);
    /* The policy's shared limits watch a socket and timers of the loop. */
    plm__policy_free(client->policy);
    plm__obs_client_free(client);
    plm__loop_free(client->loop);
    for (i = 0; i < PLM__PROVIDER_COUNT; i++) {
        struct curl_slist *h;
        /* The auth header holds the key too. */
        for (h = client->headers[i]; h; h = h->next)
            wipe(h->data);
        curl_slist_free_all(client->headers[i]);
        free(client->base_url[i]);
        plm__urlbase_clear(&client->urlbase[i]);
        wipe(client->api_key[i]);
        free(client->api_key[i]);
    }
    pthread_mutex_destroy(&client->stats_mu);
    pthread_mutex_destroy(&client->svc_mu);
    free(client);
}

void plm_client_interrupt(plm_client *client, int level)
{
    int cur;
    /* Only lock-free atomics and write(): safe in a signal handler. */
    if (!client || level < 1 || !atomic_load(&client->running))
        return;
    if (level > 2)
        level = 2;
    cur = atomic_load(&client->interrupt_level);
    while (cur < level &&
           !atomic_compare_exchange_weak(&client->interrupt_level, &cur, level))
        ;
    plm__loop_wake(client->loop);
}

void plm_client_stats(const plm_client *client, plm_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!client)
        return;
    if (!plm__client_on_loop_thread(client) &&
        atomic_load(&client->loop_thread_set)) {
        /* Another thread runs the loop: read its last published copy. */
        plm_client *c = (plm_client *)client;
        int64_t started, ended;
        pthread_mutex_lock(&c->stats_mu);
        *out = c->stats_pub;
        started = c->pub_started_ns;
        ended = c->pub_ended_ns;
        pthread_mutex_unlock(&c->stats_mu);
        if (started && !ended)
            out->elapsed = (double)(plm__now_ns() - started) / 1e9;
        return;
    }
    *out = client->stats;
    if (client->run_started_ns && !client->run_ended_ns)
        out->elapsed = (double)(plm__now_ns() - client->run_started_ns) / 1e9;
}

void plm__client_publish_stats(plm_client *c)
{
    pthread_mutex_lock(&c->stats_mu);
    c->stats_pub = c->stats;
    c->pub_started_ns = c->run_started_ns;
    c->pub_ended_ns = c->run_ended_ns;
    pthread_mutex_unlock(&c->stats_mu);
}

/* pthread_t is an unsigned long on the platforms parallm builds on
 * (Linux: epoll, eventfd): kept in an atomic, the check costs no lock. */
_Static_assert(sizeof(pthread_t) == sizeof(unsigned long),
               "pthread_t must fit an atomic unsigned long");

void plm__client_set_loop_thread(plm_client *c)
{
    atomic_store(&c->loop_thread, (unsigned long)pthread_self());
    atomic_store(&c->loop_thread_set, 1);
}

void plm__client_clear_loop_thread(plm_client *c)
{
    atomic_store(&c->loop_thread_set, 0);
}

int plm__client_on_loop_thread(const plm_client *c)
{
    plm_client *m = (plm_client *)c;
    return atomic_load(&m->loop_thread_set) &&
           pthread_equal((pthread_t)atomic_load(&m->loop_thread),
                         pthread_self());
}

static const char *level_name(plm_log_level level)
{
    switch (level) {
    case PLM_LOG_ERROR: return "error";
    case PLM_LOG_WARN: return "warn";
    case PLM_LOG_INFO: return "info";
    case PLM_LOG_DEBUG: return "debug";
    }
    return "log";
}

void plm__log_emit(const plm_client *client, plm_log_level level,
                   const char *message)
{
    if (client->log)
        client->log(level, message, client->log_user_data);
    else
        fprintf(stderr, "parallm: %s: %s\n", level_name(level), message);
}

void plm__log(const plm_client *client, plm_log_level level, const char *fmt,
              ...)
{
    char buf[1024];
    va_list ap;

    if ((int)level > client->log_level)
        return;
    /* Without a callback, only a log level above "errors" asks for
     * output on stderr: a library stays quiet unless told. */
    if (!client->log && client->log_level == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    plm__log_emit(client, level, buf);
}

/* ---- hooks and the public run ---- */

int plm__client_add_hooks(plm_client *client, const plm__engine_hooks *h)
{
    if (!client || !h)
        return PLM_EINVAL;
    if (atomic_load(&client->running))
        return PLM_ESTATE;
    if (client->nhooks >= PLM__MAX_HOOKS)
        return PLM_EINVAL;
    client->hooks[client->nhooks++] = *h;
    return PLM_OK;
}

/* ---- the public face ---- */

typedef struct public_run {
    plm_source_fn source;
    plm_complete_fn complete;
    void *user_data;
} public_run;

static int public_source(plm_request **out, void **tag, void *user_data)
{
    public_run *p = user_data;
    *tag = NULL;
    return p->source(out, p->user_data);
}

static int public_complete(plm_request *req, void *tag, plm_result *res,
                           void *user_data)
{
    public_run *p = user_data;
    (void)tag;
    return p->complete(req, res, p->user_data);
}

int plm_client_run(plm_client *client, plm_source_fn source,
                   plm_complete_fn complete, const plm_run_options *opts,
                   void *user_data)
{
    public_run p;
    if (!source || !complete)
        return PLM_EINVAL;
    p.source = source;
    p.complete = complete;
    p.user_data = user_data;
    return plm__engine_run(client, public_source, public_complete, opts, &p,
                           user_data);
}

/*
 * Never asks for more connections than the process may open: the run's
 * concurrency is capped at the room plm__fd_room_get() finds (after
 * raising the soft RLIMIT_NOFILE to the hard limit when the run needs
 * more); the engine caps curl's connection cache to match.
 */
int plm__client_cap_to_descriptors(plm_client *c, int *max_concurrent,
                                   int64_t batch_size)
{
    int64_t wanted = *max_concurrent > 0 ? *max_concurrent
                     : batch_size >= 0   ? batch_size
                                         : INT32_MAX;
    plm__fd_room r;

    if (!plm__fd_room_get(wanted, &r))
        return 0;
    if (r.raised)
        plm__log(c, PLM_LOG_INFO,
                 "raised the soft RLIMIT_NOFILE to %lld "
                 "(the hard limit) for up to %lld connections",
                 (long long)r.soft, (long long)wanted);
    if (r.room >= wanted)
        return 0;
    *max_concurrent = (int)r.room;
    /* An unknown number of requests at unlimited concurrency is capped
     * quietly while the cap is generous. */
    plm__log(c,
             batch_size < 0 && wanted == INT32_MAX && r.room >= 1024
                 ? PLM_LOG_DEBUG
                 : PLM_LOG_WARN,
             "concurrency capped at %lld connections: RLIMIT_NOFILE allows "
             "%lld open files (hard limit %lld), %lld are open and %lld are "
             "kept in reserve",
             (long long)r.room, (long long)r.soft, (long long)r.hard,
             (long long)r.in_use, (long long)r.reserve);
    return 1;
}

/* N is the batch's size: what the caller gave (gather, executor), else
 * what was taken from the source; never the completions, which a deadline
 * or a stop cuts short. */
void plm__client_log_batch(plm_client *c, int64_t batch_size)
{
    uint64_t n = batch_size >= 0 ? (uint64_t)batch_size : c->stats.submitted;
    plm__client_log_batch_line(c, n, c->stats.elapsed);
}

void plm__client_log_batch_line(const plm_client *c, uint64_t n, double total)
{
    double avg = n > 0 ? total / (double)n : 0.0;
    char line[160];

    if (!c->log_batches)
        return;
    snprintf(line, sizeof line,
             "Executed %llu LLM requests in parallel: %.2fs "
             "(avg: %.2fs per request)",
             (unsigned long long)n, total, avg);
    /* Asked for explicitly, so not filtered by log_level. */
    plm__log_emit(c, PLM_LOG_INFO, line);
}
