/*
 * The engine's observations: per-request timings, the client's metrics
 * (metrics.c stores and renders them) and the attempt trace. An attempt
 * followed by a retry is reported when the retry goes on the wire, so the
 * wait between them and its main cause are known: the retry delay
 * (retry_after or backoff) or, when admission held the retry longer than
 * the delay, what held it (budget, pause, breaker).
 */
#include "observe.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "clock.h"
#include "metrics.h"
#include "policy.h"
#include "request.h"
#include "result.h"
#include "service.h"

/* Endpoints shown by the per-endpoint gauges, at most. */
#define PLM__METRICS_MAX_ENDPOINTS 256

static int observing(const plm_client *c)
{
    return c->metrics || c->trace;
}

static int64_t rel(const plm_client *c, int64_t t)
{
    return t > 0 ? t - c->run_started_ns : -1;
}

static struct plm__series *series_of(plm_client *c, plm__obs *o,
                                     const plm_request *req)
{
    const char *model;
    if (!c->metrics)
        return NULL;
    if (!o->series) {
        model = plm__request_model(req);
        o->series = plm__metrics_series(c->metrics, req->provider, model);
    }
    return o->series;
}

static void emit(plm_client *c, plm__obs *o)
{
    o->pending = 0;
    if (c->trace)
        c->trace(&o->t, c->trace_user_data);
}

int plm__obs_run_start(plm_client *c)
{
    if (c->metrics_off || c->metrics)
        return PLM_OK;
    c->metrics = calloc(1, sizeof *c->metrics);
    if (!c->metrics) {
        plm__log(c, PLM_LOG_WARN, "out of memory for metrics: not recorded");
        return PLM_ENOMEM;
    }
    return PLM_OK;
}

void plm__obs_run_end(plm_client *c)
{
    if (c->metrics)
        plm__hist_observe(&c->metrics->batch,
                          (double)(c->run_ended_ns - c->run_started_ns) / 1e9);
}

void plm__obs_client_free(plm_client *c)
{
    if (!c->metrics)
        return;
    plm__metrics_clear(c->metrics);
    free(c->metrics);
    c->metrics = NULL;
}

void plm__obs_taken(plm__obs *o, uint64_t index, int64_t now_ns)
{
    o->index = index;
    o->taken_ns = o->queued_ns = now_ns;
}

void plm__obs_queued(plm__obs *o, int64_t now_ns)
{
    o->queued_ns = now_ns;
    o->hold_reason = PLM_WAIT_NONE;
}

void plm__obs_sent(plm_client *c, plm__obs *o, const plm_request *req,
                   int attempt, int64_t admitted_ns, int64_t sent_ns)
{
    if (o->pending) {
        int64_t delay = o->queued_ns - o->done_ns;
        int64_t held = admitted_ns - o->queued_ns;
        int reason = held > delay && o->hold_reason ? o->hold_reason
                                                    : o->delay_reason;
        struct plm__series *s = series_of(c, o, req);
        o->t.retry_wait_ns = sent_ns - o->done_ns;
        o->t.retry_reason = (plm_wait_reason)reason;
        if (s && reason > 0 && reason < PLM__METRICS_REASONS)
            s->retries[reason]++;
        emit(c, o);
    }
    if (attempt == 1)
        o->first_sent_ns = sent_ns;
    o->admitted_ns = admitted_ns;
    o->sent_ns = sent_ns;
    o->first_byte_ns = 0;
    o->t.attempt = attempt;
}

static int delay_reason(const plm__xfer *x)
{
    int64_t ms;
    return plm__retry_after_parse(x->headers.retry_after_ms,
                                  x->headers.retry_after, time(NULL), &ms)
               ? PLM_WAIT_RETRY_AFTER
               : PLM_WAIT_BACKOFF;
}

void plm__obs_attempt_done(plm_client *c, plm__obs *o, const plm_request *req,
                           const plm_result *res, const plm__xfer *x, int retry)
{
    plm_attempt_trace *t = &o->t;
    struct plm__series *s;
    int64_t now;

    /* The result's timings are kept whatever is on. */
    now = plm__now_ns();
    o->done_ns = now;
    if (x->first_byte_us >= 0) {
        o->first_byte_ns = o->sent_ns + x->first_byte_us * 1000;
        if (o->first_byte_ns > now)
            o->first_byte_ns = now;
    }
    if (!observing(c))
        return;
    o->delay_reason = retry ? delay_reason(x) : PLM_WAIT_NONE;
    s = series_of(c, o, req);
    if (s) {
        s->attempts[res->error_class]++;
        if (res->http_status == 429)
            s->rate_limited++;
        if (o->first_byte_ns > 0)
            plm__hist_observe(&s->ttfb,
                              (double)(o->first_byte_ns - o->sent_ns) / 1e9);
    }
    t->user_data = req->user_data;
    t->index = o->index;
    t->provider = req->provider;
    t->model = plm__request_model(req);
    if (!t->model)
        t->model = "";
    t->queued_ns = rel(c, o->queued_ns);
    t->admitted_ns = rel(c, o->admitted_ns);
    t->sent_ns = rel(c, o->sent_ns);
    t->first_byte_ns = rel(c, o->first_byte_ns);
    t->done_ns = rel(c, now);
    t->http_status = res->http_status;
    t->code = res->code;
    t->error_class = res->error_class;
    t->retry_wait_ns = -1;
    t->retry_reason = PLM_WAIT_NONE;
    t->prompt_tokens = res->prompt_tokens;
    t->completion_tokens = res->completion_tokens;
    o->pending = 1;
}

void plm__obs_complete(plm_client *c, plm__obs *o, const plm_request *req,
                       plm_result *res)
{
    int64_t now = plm__now_ns();
    struct plm__series *s;

    if (o->pending)
        emit(c, o);
    res->timings.queued_ns = rel(c, o->taken_ns);
    res->timings.first_sent_ns = rel(c, o->first_sent_ns);
    res->timings.admitted_ns = rel(c, o->admitted_ns);
    res->timings.sent_ns = rel(c, o->sent_ns);
    res->timings.first_byte_ns = rel(c, o->first_byte_ns);
    res->timings.done_ns = rel(c, now);
    s = series_of(c, o, req);
    if (!s)
        return;
    s->requests[res->error_class]++;
    if (o->first_sent_ns > 0)
        plm__hist_observe(&s->duration[res->error_class],
                          (double)(now - o->first_sent_ns) / 1e9);
    if (res->prompt_tokens > 0)
        s->tokens[0] += (uint64_t)res->prompt_tokens;
    if (res->completion_tokens > 0)
        s->tokens[1] += (uint64_t)res->completion_tokens;
}

/* ---- the public calls ---- */

const char *plm_wait_reason_name(plm_wait_reason reason)
{
    switch (reason) {
    case PLM_WAIT_RETRY_AFTER: return "retry_after";
    case PLM_WAIT_BACKOFF: return "backoff";
    case PLM_WAIT_BUDGET: return "budget";
    case PLM_WAIT_PAUSE: return "pause";
    case PLM_WAIT_BREAKER: return "breaker";
    default: return NULL;
    }
}

int plm_client_set_trace(plm_client *client, plm_trace_fn fn, void *user_data)
{
    if (!client)
        return PLM_EINVAL;
    if (atomic_load(&client->running))
        return PLM_ESTATE;
    client->trace = fn;
    client->trace_user_data = fn ? user_data : NULL;
    return PLM_OK;
}

int plm_client_set_metrics(plm_client *client, int on)
{
    if (!client)
        return PLM_EINVAL;
    if (atomic_load(&client->running))
        return PLM_ESTATE;
    client->metrics_off = !on;
    if (!on)
        plm__obs_client_free(client);
    return PLM_OK;
}

typedef struct metrics_text_call {
    plm_client *client;
    char **out;
    size_t *len;
    int rc;
} metrics_text_call;

static int metrics_text(plm_client *client, char **out, size_t *len);

static void metrics_text_on_loop(void *arg)
{
    metrics_text_call *m = arg;
    m->rc = metrics_text(m->client, m->out, m->len);
}

int plm_client_metrics_text(plm_client *client, char **out, size_t *len)
{
    metrics_text_call m;

    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!client || !out)
        return PLM_EINVAL;
    /* A shared client's loop thread owns the metrics: render there. */
    m.client = client;
    m.out = out;
    m.len = len;
    m.rc = PLM_EINTERNAL;
    if (plm__service_call(client, metrics_text_on_loop, &m))
        return m.rc;
    return metrics_text(client, out, len);
}

static int metrics_text(plm_client *client, char **out, size_t *len)
{
    static const plm__metrics empty;
    plm__metrics_endpoint *eps;
    plm__metrics_gauges g;
    plm__buf b = { NULL, 0, 0 };
    int rc;

    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!client || !out)
        return PLM_EINVAL;
    eps = malloc(PLM__METRICS_MAX_ENDPOINTS * sizeof *eps);
    if (!eps)
        return PLM_ENOMEM;
    memset(&g, 0, sizeof g);
    g.in_flight = client->stats.in_flight;
    g.waiting = client->stats.waiting;
    g.concurrency_limit = client->stats.concurrency_limit;
    g.endpoints = eps;
    g.nendpoints = plm__policy_endpoint_views(client->policy, plm__now_ns(),
                                              eps, PLM__METRICS_MAX_ENDPOINTS);
    rc = plm__metrics_render(client->metrics ? client->metrics : &empty, &g,
                             &b);
    free(eps);
    if (rc == PLM_OK && !b.data)
        rc = plm__buf_append(&b, "", 0);
    if (rc != PLM_OK) {
        plm__buf_free(&b);
        return PLM_ENOMEM;
    }
    *out = b.data;
    if (len)
        *len = b.len;
    return PLM_OK;
}

typedef struct metrics_summary_call {
    plm_client *client;
    plm_metrics_summary *out;
    int rc;
} metrics_summary_call;

static int metrics_summary(plm_client *client, plm_metrics_summary *out);

static void metrics_summary_on_loop(void *arg)
{
    metrics_summary_call *m = arg;
    m->rc = metrics_summary(m->client, m->out);
}

int plm_client_metrics_summary(plm_client *client, plm_metrics_summary *out)
{
    metrics_summary_call m;

    if (!client || !out)
        return PLM_EINVAL;
    m.client = client;
    m.out = out;
    m.rc = PLM_EINTERNAL;
    if (plm__service_call(client, metrics_summary_on_loop, &m))
        return m.rc;
    return metrics_summary(client, out);
}

static int metrics_summary(plm_client *client, plm_metrics_summary *out)
{
    plm__hist all;
    size_t i;
    int k;

    if (!client || !out)
        return PLM_EINVAL;
    memset(out, 0, sizeof *out);
    memset(&all, 0, sizeof all);
    for (i = 0; client->metrics && i < client->metrics->n; i++) {
        const struct plm__series *s = client->metrics->series[i];
        for (k = 0; k < PLM__METRICS_CLASSES; k++) {
            plm__hist_add(&all, &s->duration[k]);
            out->requests[k] += s->requests[k];
        }
        for (k = 0; k < PLM__METRICS_REASONS; k++)
            out->retries[k] += s->retries[k];
        out->prompt_tokens += (int64_t)s->tokens[0];
        out->completion_tokens += (int64_t)s->tokens[1];
    }
    out->latency_p50_s = plm__hist_quantile(&all, 0.50);
    out->latency_p95_s = plm__hist_quantile(&all, 0.95);
    out->latency_p99_s = plm__hist_quantile(&all, 0.99);
    return PLM_OK;
}
