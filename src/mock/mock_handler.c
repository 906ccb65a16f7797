/*
 * The mock server's request handler: reads a request, records it, decides
 * the answer (limits, directives, global faults, latency) and carries it
 * out, either at once or from a libevent timer, never by sleeping. Every
 * request that outlives the evhttp callback is a plm__mock_req on the
 * server's live list, so hanging requests can be released and shutdown
 * can free everything. Runs on the loop thread only.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "mock_internal.h"

#define DEFAULT_TOKENS 8

int64_t plm__mock_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rng_next(plm_mock *m)
{
    /* splitmix64: deterministic for a seed, good enough for jitter. */
    uint64_t z = (m->rng += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static double rng_unit(plm_mock *m)
{
    return (double)(rng_next(m) >> 11) / (double)(UINT64_C(1) << 53);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Appends a record for this request; returns its index or -1. Called
 * with the lock held. */
static int add_record(plm_mock *m, plm__mock_req *r, int64_t now, int in_flight,
                      struct evkeyvalq *in, const char *body)
{
    plm_mock_record *rec;

    if (m->n_records == m->cap_records) {
        size_t cap = m->cap_records ? m->cap_records * 2 : 256;
        plm_mock_record *p = realloc(m->records, cap * sizeof *p);

        if (p == NULL)
            return -1;
        m->records = p;
        m->cap_records = cap;
    }
    rec = &m->records[m->n_records];
    memset(rec, 0, sizeof *rec);
    rec->arrival_ns = now;
    rec->in_flight_at_arrival = in_flight;
    snprintf(rec->method, sizeof rec->method, "%s", r->method);
    snprintf(rec->path, sizeof rec->path, "%s", r->path);
    memcpy(rec->query, r->query, sizeof rec->query);
    memcpy(rec->auth_header, r->auth_header, sizeof rec->auth_header);
    rec->body = strdup(body);
    rec->authorization = dup_or_null(evhttp_find_header(in, "Authorization"));
    rec->api_key = dup_or_null(evhttp_find_header(in, "x-api-key"));
    rec->anthropic_version = dup_or_null(
        evhttp_find_header(in, "anthropic-version"));
    r->rec_index = m->n_records++;
    r->rec_gen = m->record_gen;
    r->has_record = 1;
    return 0;
}

static void write_log(plm_mock *m, plm__mock_req *r, int status, int in_flight)
{
    struct timespec ts;
    struct tm tm;
    char when[64];
    json_t *o;

    if (m->log == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + strlen(when), sizeof when - strlen(when), ".%03ldZ",
             ts.tv_nsec / 1000000);
    /* Only whether credentials were sent: their values never leave. */
    o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s?, s:b, s:b, s:s, s:s}", "time",
                  when, "method", r->method, "path", r->path, "status", status,
                  "in_flight", in_flight, "user_text", r->parsed.user_text,
                  "authorization_present", r->has_auth, "api_key_present",
                  r->has_api_key, "query", r->query, "auth_header",
                  r->auth_header);
    if (o == NULL)
        return;
    if (r->pace_chunks > 0 &&
        (json_object_set_new(o, "stream_chunks",
                             json_integer(r->pace_chunks)) ||
         json_object_set_new(o, "stream_chunks_sent",
                             json_integer(r->pace_sent)) ||
         json_object_set_new(o, "first_chunk_unix_ns",
                             json_integer(r->first_chunk_realtime_ns)))) {
        json_decref(o);
        return;
    }
    json_dumpf(o, m->log, JSON_COMPACT);
    fputc('\n', m->log);
    fflush(m->log);
    json_decref(o);
}

static void unlink_live(plm__mock_req *r)
{
    plm_mock *m = r->m;

    if (!r->on_list)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        m->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->on_list = 0;
}

static void link_live(plm__mock_req *r)
{
    plm_mock *m = r->m;

    r->next = m->live;
    r->prev = NULL;
    if (m->live)
        m->live->prev = r;
    m->live = r;
    r->on_list = 1;
}

void plm__mock_clear_closecb(plm__mock_req *r)
{
    struct evhttp_connection *c;

    if (r->req == NULL)
        return;
    c = evhttp_request_get_connection(r->req);
    if (c != NULL)
        evhttp_connection_set_closecb(c, NULL, NULL);
}

void plm__mock_book(plm__mock_req *r, int status, int reset)
{
    plm_mock *m = r->m;
    int in_flight;

    if (r->booked)
        return;
    r->booked = 1;
    pthread_mutex_lock(&m->lock);
    if (r->has_record && r->rec_gen == m->record_gen &&
        r->rec_index < m->n_records) {
        plm_mock_record *rec = &m->records[r->rec_index];

        rec->status = status;
        rec->done_ns = plm__mock_now_ns();
        rec->stream_chunks = r->pace_chunks;
        rec->stream_chunks_sent = r->pace_sent;
        rec->first_chunk_realtime_ns = r->first_chunk_realtime_ns;
    }
    if (reset)
        m->stats.resets++;
    else if (status >= 200 && status < 300)
        m->stats.answered_2xx++;
    else if (status == 429)
        m->stats.answered_429++;
    else if (status != 0)
        m->stats.answered_other++;
    if (r->counted)
        m->stats.in_flight--;
    in_flight = m->stats.in_flight;
    m->booked++;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    write_log(m, r, status, in_flight);
}

/* Books the outcome (unless already booked) and frees r. The evhttp
 * request must already be answered or handed back: r->req is not
 * touched. */
void plm__mock_finish(plm__mock_req *r, int status, int reset)
{
    plm__mock_book(r, status, reset);
    unlink_live(r);
    if (r->timer)
        event_free(r->timer);
    if (r->slow)
        evbuffer_free(r->slow);
    free(r->pace_ends);
    json_decref(r->body);
    plm__mock_parsed_free(&r->parsed);
    free(r);
}

/* The client went away (or the server is shutting down) while the answer
 * was pending. A request evhttp detached is ours to free; an attached one
 * is freed by evhttp with its connection. */
static void on_close(struct evhttp_connection *c, void *arg)
{
    plm__mock_req *r = arg;

    evhttp_connection_set_closecb(c, NULL, NULL);
    if (r->req != NULL && evhttp_request_get_connection(r->req) == NULL)
        evhttp_request_free(r->req);
    r->req = NULL;
    plm__mock_finish(r, 0, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    plm__mock_req *r = arg;

    (void)fd;
    (void)what;
    plm__mock_perform(r, r->dir.latency_ms >= 0 ? r->dir.latency_ms
                                                : r->m->opts.latency_ms);
}

static plm__mock_endpoint endpoint_of(const char *path, int *anthropic)
{
    *anthropic = 0;
    if (strcmp(path, "/v1/chat/completions") == 0)
        return PLM__MOCK_EP_CHAT;
    if (strcmp(path, "/v1/messages") == 0) {
        *anthropic = 1;
        return PLM__MOCK_EP_MESSAGES;
    }
    if (strcmp(path, "/v1/completions") == 0)
        return PLM__MOCK_EP_COMPLETIONS;
    if (strcmp(path, "/v1/embeddings") == 0)
        return PLM__MOCK_EP_EMBEDDINGS;
    if (strcmp(path, "/v1/responses") == 0)
        return PLM__MOCK_EP_RESPONSES;
    if (strcmp(path, "/v1/moderations") == 0)
        return PLM__MOCK_EP_MODERATIONS;
    if (strcmp(path, "/v1/images/generations") == 0 ||
        strcmp(path, "/v1/images/edits") == 0)
        return PLM__MOCK_EP_IMAGES;
    if (strcmp(path, "/v1/models") == 0)
        return PLM__MOCK_EP_MODELS;
    if (strncmp(path, "/v1/models/", 11) == 0 && path[11] != '\0')
        return PLM__MOCK_EP_MODEL;
    return PLM__MOCK_EP_UNKNOWN;
}

/* The bases of OpenAI-compatible services that stand for "/v1" ("*" is
 * one path segment: Azure's deployment). */
static const char *const base_prefixes[] = {
    "/v1beta/openai",        "/openai/v1", "/api/v1",
    "/openai/deployments/*", "/openai",    NULL
};

/* Reads path under a known base prefix as "/v1" + the rest into buf;
 * returns what to route by (path itself when no prefix matches). */
static const char *route_of(const char *path, char *buf, size_t len)
{
    for (const char *const *p = base_prefixes; *p; p++) {
        const char *star = strchr(*p, '*');
        size_t n = star ? (size_t)(star - *p) : strlen(*p);
        const char *rest = path + n;

        if (strncmp(path, *p, n) != 0)
            continue;
        if (star) {
            if (*rest == '/' || *rest == '\0')
                continue;
            rest += strcspn(rest, "/");
        }
        if (*rest != '/')
            continue;
        snprintf(buf, len, "/v1%s", rest);
        return buf;
    }
    return path;
}

/* A query parameter named like a key or token. */
static int names_secret(const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((n - i >= 3 && strncasecmp(name + i, "key", 3) == 0) ||
            (n - i >= 5 && strncasecmp(name + i, "token", 5) == 0))
            return 1;
    return 0;
}

/* The query, with the values of parameters that may be keys masked, and
 * the name of the header that carried a key. */
static void note_query_and_auth(plm__mock_req *r, const char *uri,
                                struct evkeyvalq *in)
{
    const char *q = uri ? strchr(uri, '?') : NULL;
    char *p, *amp;

    snprintf(r->query, sizeof r->query, "%.*s",
             q ? (int)strcspn(q + 1, "#") : 0, q ? q + 1 : "");
    for (p = r->query; *p; p = amp + (*amp != '\0')) {
        char *eq = strchr(p, '=');

        amp = p + strcspn(p, "&");
        if (eq && eq < amp && names_secret(p, (size_t)(eq - p)))
            memset(eq + 1, '*', (size_t)(amp - eq - 1));
    }
    snprintf(r->auth_header, sizeof r->auth_header, "%s",
             evhttp_find_header(in, "api-key")         ? "api-key"
             : evhttp_find_header(in, "x-api-key")     ? "x-api-key"
             : evhttp_find_header(in, "Authorization") ? "authorization"
                                                       : "");
}

static const char *method_name(enum evhttp_cmd_type c)
{
    switch (c) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

static void set_error(plm__mock_req *r, int status, const char *msg)
{
    r->act = PLM__MOCK_ACT_ERROR;
    r->immediate = 1;
    r->status = status;
    snprintf(r->message, sizeof r->message, "%s", msg);
}

/* Counts an attempt of the directive's identity; returns 1 while the
 * directive's fault still applies. */
static int directive_applies(plm_mock *m, plm__mock_req *r, const char *body,
                             size_t body_len)
{
    const char *id;
    size_t id_len;
    json_t *seen;
    json_int_t n;

    if (r->dir.times < 0)
        return 1;
    if (r->dir.key[0]) {
        id = r->dir.key;
        id_len = strlen(id);
    } else if (r->parsed.user_text != NULL) {
        id = r->parsed.user_text;
        id_len = strlen(id);
    } else {
        id = body;
        id_len = body_len;
    }
    seen = json_object_getn(m->attempts, id, id_len);
    n = (seen ? json_integer_value(seen) : 0) + 1;
    json_object_setn_new_nocheck(m->attempts, id, id_len, json_integer(n));
    return n <= r->dir.times;
}

static void apply_directive(plm__mock_req *r)
{
    plm__mock_directive *d = &r->dir;

    r->fault_applied = 1;
    switch (d->fault) {
    case PLM__MOCK_FAULT_RESET: r->act = PLM__MOCK_ACT_RESET; return;
    case PLM__MOCK_FAULT_HANG: r->act = PLM__MOCK_ACT_HANG; return;
    case PLM__MOCK_FAULT_BADJSON: r->act = PLM__MOCK_ACT_BADJSON; return;
    case PLM__MOCK_FAULT_BIG: r->act = PLM__MOCK_ACT_BIG; return;
    case PLM__MOCK_FAULT_SLOW: r->act = PLM__MOCK_ACT_SLOW; return;
    case PLM__MOCK_FAULT_CUT: r->act = PLM__MOCK_ACT_CUT; return;
    case PLM__MOCK_FAULT_NONE: break;
    }
    if (d->status >= 300) {
        char msg[96];

        snprintf(msg, sizeof msg, "mock: injected status %d", d->status);
        set_error(r, d->status, msg);
        r->immediate = 0;
    } else if (d->status > 0) {
        r->status = d->status;
    }
}

/* An injected error answer, sent after the usual latency, with a
 * Retry-After of `after` seconds when positive. */
static void inject_status(plm__mock_req *r, int status, double after)
{
    char msg[64];

    snprintf(msg, sizeof msg, "mock: injected status %d", status);
    set_error(r, status, msg);
    r->immediate = 0;
    if (after > 0) {
        snprintf(r->dir.retry_after, sizeof r->dir.retry_after, "%g", after);
        r->fault_applied = 1;
    }
}

/* The global faults: one draw from the seeded RNG picks the request's
 * slice of the fault mix, then of fault_rate; no draw when both are off,
 * so runs without faults keep their jitter sequence. */
static void draw_fault(plm_mock *m, plm__mock_req *r)
{
    const plm_mock_options *o = &m->opts;
    double mix = o->mix_429_rate + o->mix_500_rate + o->mix_529_rate +
                 o->mix_reset_rate + o->mix_cut_rate;
    double u, edge = 0;

    if (mix <= 0 && o->fault_rate <= 0)
        return;
    u = rng_unit(m);
    if (u < (edge += o->mix_429_rate)) {
        inject_status(r, 429, o->mix_429_retry_after);
    } else if (u < (edge += o->mix_500_rate)) {
        inject_status(r, 500, 0);
    } else if (u < (edge += o->mix_529_rate)) {
        inject_status(r, 529, 0);
    } else if (u < (edge += o->mix_reset_rate)) {
        r->act = PLM__MOCK_ACT_RESET;
    } else if (u < (edge += o->mix_cut_rate)) {
        r->act = PLM__MOCK_ACT_CUT;
    } else if (u < edge + o->fault_rate) {
        inject_status(r, o->fault_status > 0 ? o->fault_status : 429,
                      o->fault_retry_after);
        snprintf(r->message, sizeof r->message, "mock: injected fault");
    }
}

/* An Anthropic key: x-api-key, or the Authorization: Bearer that
 * current SDKs may send instead (the API takes both). */
static int has_anthropic_key(struct evkeyvalq *in)
{
    const char *auth = evhttp_find_header(in, "Authorization");

    return evhttp_find_header(in, "x-api-key") != NULL ||
           (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 &&
            auth[7] != '\0');
}

/* The GET endpoints have no body: what they read comes from the path
 * and headers. */
static int check_get(plm__mock_req *r, struct evkeyvalq *in)
{
    if (strcmp(r->method, "GET") != 0) {
        set_error(r, 405, "mock: only GET is supported here");
        return -1;
    }
    r->parsed.n_choices = 1;
    r->parsed.anthropic_shape = evhttp_find_header(in, "anthropic-version") !=
                                NULL;
    if (r->ep == PLM__MOCK_EP_MODEL)
        r->parsed.model = r->route + strlen("/v1/models/");
    return 0;
}

/* Routing, method, body and credentials; sets the error and returns -1
 * when the request cannot be served. */
static int check_request(plm__mock_req *r, struct evkeyvalq *in,
                         const char *body, size_t body_len)
{
    if (r->ep == PLM__MOCK_EP_UNKNOWN) {
        set_error(r, 404, "mock: unknown path");
        return -1;
    }
    if (r->ep == PLM__MOCK_EP_MODELS || r->ep == PLM__MOCK_EP_MODEL)
        return check_get(r, in);
    if (strcmp(r->method, "POST") != 0) {
        set_error(r, 405, "mock: only POST is supported");
        return -1;
    }
    r->body = json_loadb(body, body_len, 0, NULL);
    if (!json_is_object(r->body)) {
        set_error(r, 400, "mock: request body is not a JSON object");
        return -1;
    }
    if (r->anthropic && !has_anthropic_key(in)) {
        set_error(r, 401, "x-api-key header is required");
        return -1;
    }
    if (r->anthropic && evhttp_find_header(in, "anthropic-version") == NULL) {
        set_error(r, 400, "anthropic-version header is required");
        return -1;
    }
    if (plm__mock_parse_body(r->ep, r->body, &r->parsed) != 0) {
        set_error(r, 500, "mock: out of memory");
        return -1;
    }
    return 0;
}

/* Decides what r gets; everything but latency. */
static void decide(plm_mock *m, plm__mock_req *r, struct evkeyvalq *in,
                   const char *body, size_t body_len, int64_t now)
{
    const char *xmock = evhttp_find_header(in, "X-Mock");
    int64_t estimate;
    int admitted;

    if (check_request(r, in, body, body_len) != 0)
        return;
    if (xmock != NULL)
        plm__mock_directive_parse(xmock, strlen(xmock), &r->dir);
    else
        plm__mock_directive_find(r->parsed.user_text, &r->dir);
    r->completion_tokens = r->dir.tokens >= 0 ? r->dir.tokens : DEFAULT_TOKENS;
    estimate = r->parsed.prompt_tokens + (r->parsed.max_tokens >= 0
                                              ? r->parsed.max_tokens
                                              : r->completion_tokens);
    admitted = plm__mock_limits_admit(&m->limits, now, estimate, &r->limit);
    r->limit_headers = m->opts.send_ratelimit_headers || admitted == 0;
    if (admitted < 0) {
        set_error(r, 500, "mock: out of memory");
        return;
    }
    if (admitted == 0) {
        snprintf(r->message, sizeof r->message,
                 "Rate limit reached (mock): limit %" PRId64
                 " requests/min, %" PRId64 " tokens/min",
                 m->limits.rpm, m->limits.tpm);
        r->act = PLM__MOCK_ACT_ERROR;
        r->status = 429;
        r->immediate = 1;
        return;
    }
    if (r->dir.present) {
        if (directive_applies(m, r, body, body_len))
            apply_directive(r);
        return;
    }
    draw_fault(m, r);
}

static int64_t latency_of(plm_mock *m, plm__mock_req *r)
{
    int64_t ms;

    if (r->dir.latency_ms >= 0)
        return r->dir.latency_ms;
    ms = m->opts.latency_ms > 0 ? m->opts.latency_ms : 0;
    if (m->opts.jitter_ms > 0)
        ms += (int64_t)(rng_next(m) % (uint64_t)(m->opts.jitter_ms + 1));
    return ms;
}

/* Admits r into in_flight unless max_in_flight is reached, and records
 * it. Returns 0 admitted, 1 refused. */
static int arrive(plm_mock *m, plm__mock_req *r, int64_t now,
                  struct evkeyvalq *in, const char *body)
{
    int refused = 0, in_flight;

    pthread_mutex_lock(&m->lock);
    m->stats.requests++;
    r->seq = ++m->seq;
    if (m->opts.max_in_flight > 0 &&
        m->stats.in_flight >= m->opts.max_in_flight) {
        refused = 1;
        in_flight = m->stats.in_flight + 1;
    } else {
        r->counted = 1;
        in_flight = ++m->stats.in_flight;
        if (in_flight > m->stats.max_in_flight_seen)
            m->stats.max_in_flight_seen = in_flight;
    }
    if (m->opts.record)
        add_record(m, r, now, in_flight, in, body);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return refused;
}

static void set_user_text(plm_mock *m, plm__mock_req *r)
{
    pthread_mutex_lock(&m->lock);
    if (r->has_record && r->parsed.user_text != NULL &&
        r->rec_gen == m->record_gen && r->rec_index < m->n_records)
        m->records[r->rec_index].user_text = strdup(r->parsed.user_text);
    pthread_mutex_unlock(&m->lock);
}

/* The bytes evhttp counts against its header limit: the request line
 * and every header line, without their line ends. */
static size_t headers_size(struct evhttp_request *req, const char *method,
                           const char *uri)
{
    const struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    size_t n = strlen(method) + 1 + strlen(uri ? uri : "") +
               sizeof " HTTP/1.1" - 1;

    for (const struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next)
        n += strlen(kv->key) + 2 + strlen(kv->value);
    return n;
}

static void handle(plm_mock *m, struct evhttp_request *req)
{
    int64_t now = plm__mock_now_ns();
    struct evbuffer *inbuf = evhttp_request_get_input_buffer(req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    size_t body_len = evbuffer_get_length(inbuf);
    const char *uri = evhttp_request_get_uri(req);
    plm__mock_req *r = calloc(1, sizeof *r);
    /* An oversized body is answered 413 and never copied. */
    int too_big = body_len > PLM__MOCK_MAX_BODY;
    char *body = malloc(too_big ? 1 : body_len + 1);
    int64_t latency;
    size_t plen;

    if (r == NULL || body == NULL) {
        free(r);
        free(body);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_copyout(inbuf, body, too_big ? 0 : body_len);
    body[too_big ? 0 : body_len] = '\0';
    r->m = m;
    r->req = req;
    plm__mock_directive_init(&r->dir);
    r->parsed.max_tokens = -1;
    snprintf(r->method, sizeof r->method, "%s",
             method_name(evhttp_request_get_command(req)));
    plen = strcspn(uri ? uri : "", "?#");
    if (plen >= sizeof r->path)
        plen = sizeof r->path - 1;
    memcpy(r->path, uri ? uri : "", plen);
    r->path[plen] = '\0';
    note_query_and_auth(r, uri, in);
    r->route = route_of(r->path, r->route_buf, sizeof r->route_buf);
    r->ep = endpoint_of(r->route, &r->anthropic);
    /* Errors off the known paths answer in the shape the client's
     * headers point at. */
    if (r->ep == PLM__MOCK_EP_UNKNOWN || r->ep == PLM__MOCK_EP_MODELS ||
        r->ep == PLM__MOCK_EP_MODEL)
        r->anthropic = evhttp_find_header(in, "anthropic-version") != NULL;
    r->has_auth = evhttp_find_header(in, "Authorization") != NULL;
    r->has_api_key = evhttp_find_header(in, "x-api-key") != NULL;

    if (arrive(m, r, now, in, body)) {
        /* No rate-limit headers: the rpm/tpm window was not consulted. */
        set_error(r, 429, "mock: too many requests in flight");
    } else if (headers_size(req, r->method, uri) > PLM__MOCK_MAX_HEADERS) {
        set_error(r, 431, "mock: request headers too large");
    } else if (body_len > PLM__MOCK_MAX_BODY) {
        set_error(r, 413, "mock: request body too large");
    } else {
        decide(m, r, in, body, body_len, now);
    }
    set_user_text(m, r);
    free(body);

    /* A paced stream outlives this callback, as fault=slow does. */
    if (r->act == PLM__MOCK_ACT_REPLY && r->dir.interval_ms > 0 &&
        r->parsed.stream)
        r->act = PLM__MOCK_ACT_PACED;
    /* Refusals and request errors go out at once, like a provider's. */
    if (r->act == PLM__MOCK_ACT_ERROR && r->immediate) {
        plm__mock_perform(r, 0);
        return;
    }
    latency = latency_of(m, r);
    if (r->act == PLM__MOCK_ACT_SLOW) {
        r->dir.latency_ms = latency;
        latency = 0;
    }
    /* Faults that free the connection or stream run from the loop, not
     * from inside evhttp's callback. */
    if (latency == 0 &&
        (r->act == PLM__MOCK_ACT_REPLY || r->act == PLM__MOCK_ACT_ERROR ||
         r->act == PLM__MOCK_ACT_BADJSON || r->act == PLM__MOCK_ACT_CUT)) {
        plm__mock_perform(r, 0);
        return;
    }
    /* The answer outlives this callback. */
    link_live(r);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close,
                                  r);
    if (r->act == PLM__MOCK_ACT_HANG)
        return;
    r->timer = evtimer_new(m->base, on_timer, r);
    if (r->timer == NULL) {
        set_error(r, 500, "mock: out of memory");
        plm__mock_perform(r, 0);
        return;
    }
    {
        struct timeval tv = { (time_t)(latency / 1000),
                              (suseconds_t)((latency % 1000) * 1000) };

        evtimer_add(r->timer, &tv);
    }
}

void plm__mock_handle(struct evhttp_request *req, void *arg)
{
    plm_mock *m = arg;

    handle(m, req);
    /* Only now is the request's fate settled (answered or held), which
     * is what plm_mock_wait_requests waits for. */
    pthread_mutex_lock(&m->lock);
    m->handled++;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

void plm__mock_release_hung(plm_mock *m)
{
    plm__mock_req *r = m->live, *next;

    while (r != NULL) {
        next = r->next;
        if (r->act == PLM__MOCK_ACT_HANG)
            plm__mock_answer_reset(r);
        r = next;
    }
}

void plm__mock_drop_live(plm_mock *m)
{
    while (m->live != NULL) {
        plm__mock_req *r = m->live;

        if (r->req != NULL && evhttp_request_get_connection(r->req) == NULL)
            evhttp_request_free(r->req);
        r->req = NULL;
        plm__mock_finish(r, 0, 0);
    }
}
