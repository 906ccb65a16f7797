/*
 * The engine: one run of a client. Requests come from a source when there
 * is room, move through one state machine and leave through the completion
 * callback exactly once. Everything happens on the thread that runs the
 * client's event loop (the caller of plm_client_run, or a shared client's
 * engine thread: engine_run.c steps the run, service.c feeds it); other threads
 * only reach it through service.c's queue, the interrupt flag and the
 * loop's wake-up.
 *
 * Concurrency: a slot is held by a request from the moment it is taken from
 * the source until its completion, including time spent waiting for
 * admission, but not while it backs off before a retry. So at most
 * max_concurrent requests are on the wire (the server never sees more) and,
 * when the source has enough work, exactly max_concurrent are, even while
 * sporadic faults make some requests wait out a Retry-After; the engine
 * holds at most 2 x max_concurrent requests in memory, whatever the
 * source's size. A retry whose backoff ended goes before every request not
 * yet sent. A provider's rate limiting is met by the policy's endpoint
 * pause (its budget is spent), not by idling slots. Admission checks the
 * (possibly adaptive) limit against the attempts in flight and asks the
 * policy hooks, in one place: admit().
 */
#include "engine.h"
#include "engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attempt_stream.h"
#include "check.h"
#include "client.h"
#include "defaults.h"
#include "request.h"
#include "observe.h"
#include "result.h"
#include "sigpipe.h"

typedef plm__job job;
typedef plm__job_list job_list;

/* How soon admission is asked again when a hook says "wait" without a
 * time and nothing is in flight to end the wait. */
#define PLM__ADMIT_RETRY_NS 50000000
/* An attempt that found no descriptor for its socket waits this long per
 * such failure so far (at most a second) and tries again, at most
 * PLM__LOCAL_RETRIES times, without spending one of its retries. */
#define PLM__LOCAL_RETRY_MS 20
#define PLM__LOCAL_RETRIES 100

/* ---- lists ---- */

static void list_push(job_list *l, job *j, int front)
{
    j->prev = j->next = NULL;
    if (!l->head) {
        l->head = l->tail = j;
    } else if (front) {
        j->next = l->head;
        l->head->prev = j;
        l->head = j;
    } else {
        j->prev = l->tail;
        l->tail->next = j;
        l->tail = j;
    }
    l->n++;
}

static void list_remove(job_list *l, job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
    l->n--;
}

static job_list *list_of(plm__run *run, const job *j)
{
    switch (j->state) {
    case JOB_WAITING: return &run->waiting;
    case JOB_IN_FLIGHT: return &run->in_flight;
    case JOB_BACKOFF: return &run->backoff;
    }
    return &run->waiting;
}

static void set_state(plm__run *run, job *j, enum plm__job_state s, int front)
{
    list_remove(list_of(run, j), j);
    j->state = s;
    list_push(list_of(run, j), j, front);
}

static size_t active(const plm__run *run)
{
    return run->waiting.n + run->in_flight.n + run->backoff.n;
}

static void update_gauges(plm__run *run)
{
    plm_stats *st = &run->client->stats;
    st->in_flight = run->in_flight.n;
    st->waiting = run->waiting.n + run->backoff.n;
}

static plm__hook_ctx hook_ctx(const plm__run *run, job *j, int hook)
{
    plm__hook_ctx ctx;
    ctx.req = j->req;
    ctx.attempt = j->state == JOB_IN_FLIGHT ? j->attempt : j->attempt + 1;
    ctx.sent_ns = j->state == JOB_IN_FLIGHT ? j->sent_ns : 0;
    ctx.in_flight = run->in_flight.n;
    ctx.adm = &j->adm[hook];
    ctx.wait_reason = PLM_WAIT_NONE;
    return ctx;
}

/* Tells every hook how an attempt on the wire ended. */
static void hooks_after_attempt(plm__run *run, job *j, const plm__attempt *a)
{
    plm_client *c = run->client;
    int64_t now = plm__now_ns();
    int i;
    for (i = 0; i < c->nhooks; i++) {
        plm__hook_ctx ctx;
        if (!c->hooks[i].after_attempt)
            continue;
        ctx = hook_ctx(run, j, i);
        c->hooks[i].after_attempt(c->hooks[i].data, &ctx, a, j->res, now);
    }
}

static void hooks_unadmit(plm__run *run, job *j, int upto)
{
    plm_client *c = run->client;
    int i;
    for (i = 0; i < upto; i++) {
        plm__hook_ctx ctx;
        if (!c->hooks[i].unadmit)
            continue;
        ctx = hook_ctx(run, j, i);
        c->hooks[i].unadmit(c->hooks[i].data, &ctx);
    }
}

/* ---- completion ---- */

static void job_free(plm__run *run, job *j)
{
    plm__timer_stop(run->client->loop, &j->timer);
    plm__transport_cancel(run->client->transport, &j->xfer);
    plm__attempt_stream_drop(&j->stream, NULL);
    plm__xfer_clear(&j->xfer);
    free(j->url);
    free(j);
}

static void fill_missing_message(plm_result *res)
{
    if (res->error_message)
        return;
    if (res->code == PLM_OK)
        plm__strdup_into(&res->error_message, "");
    else if (res->http_status > 0)
        plm__result_set_error(res, res->code, res->error_class, "HTTP %d: %s",
                              res->http_status, plm_strerror(res->code));
    else
        plm__result_set_error(res, res->code, res->error_class, "%s",
                              plm_strerror(res->code));
}

/* Hands a request's final result over and forgets the request. */
/* Adds a reported usage to a sum, saturating at INT64_MAX: the figures
 * come from the server, which may send anything up to INT64_MAX. */
static void sum_tokens(int64_t *sum, int64_t add)
{
    if (add <= 0)
        return;
    *sum = *sum > INT64_MAX - add ? INT64_MAX : *sum + add;
}

static void job_complete(plm__run *run, job *j)
{
    plm_stats *st = &run->client->stats;
    plm_result *res = j->res;
    int rc;

    list_remove(list_of(run, j), j);
    update_gauges(run);
    res->attempts = j->attempt;
    res->started = j->attempt > 0;
    res->latency = j->attempt > 0
                       ? (double)(plm__now_ns() - j->first_sent_ns) / 1e9
                       : 0.0;
    fill_missing_message(res);
    plm__obs_complete(run->client, &j->obs, j->req, res);
    st->completed++;
    if (res->code == PLM_OK)
        st->succeeded++;
    else
        st->failed++;
    sum_tokens(&st->prompt_tokens, res->prompt_tokens);
    sum_tokens(&st->completion_tokens, res->completion_tokens);
    j->res = NULL;
    rc = run->complete(j->req, j->tag, res, run->user_data);
    if (rc != 0 && !run->stopping && !run->abort_pending) {
        run->abort_pending = 1;
        run->result = PLM_EABORTED;
    }
    job_free(run, j);
}

static void job_fail(plm__run *run, job *j, int code, plm_error_class cls,
                     const char *why)
{
    plm__result_set_error(j->res, code, cls, "%s", why);
    job_complete(run, j);
}

/* ---- attempts ---- */

static plm__retry_policy policy_for(const plm_client *c, const job *j)
{
    plm__retry_policy p;
    p.max_retries = j->req->max_retries >= 0 ? j->req->max_retries
                                             : c->max_retries;
    p.base_ms = c->retry_base_ms;
    p.max_ms = c->retry_max_ms;
    p.after_max_ms = c->retry_after_max_ms;
    p.time_ms = c->retry_time_ms;
    p.elapsed_ms = j->attempt > 0 ? (plm__now_ns() - j->first_sent_ns) / 1000000
                                  : 0;
    return p;
}

static void start_attempt(plm__run *run, job *j)
{
    plm_client *c = run->client;
    plm_request *req = j->req;
    plm__xfer_params p;
    int64_t admitted = plm__now_ns();
    int rc;

    plm__result_reset_attempt(j->res);
    plm__attempt_stream_drop(&j->stream, NULL);
    memset(&p, 0, sizeof p);
    p.url = j->url;
    p.method = req->method ? req->method : "POST";
    p.body = req->body_text;
    p.body_len = req->body_len;
    p.headers = c->headers[req->provider];
    p.timeout_ms = req->timeout_ms > 0 ? req->timeout_ms
                                       : c->request_timeout_ms;
    rc = plm__transport_start(c->transport, &j->xfer, &p);
    if (rc != PLM_OK) {
        /* Admission reserved budget for an attempt that never left. */
        hooks_unadmit(run, j, c->nhooks);
        job_fail(run, j, rc, PLM_CLASS_LOCAL, j->xfer.message);
        return;
    }
    j->sent_ns = plm__now_ns();
    if (j->attempt == 0)
        j->first_sent_ns = j->sent_ns;
    j->attempt++;
    plm__obs_sent(c, &j->obs, req, j->attempt, admitted, j->sent_ns);
    c->stats.attempts++;
    if (j->attempt > 1)
        c->stats.retries++;
    set_state(run, j, JOB_IN_FLIGHT, 0);
    update_gauges(run);
}

static plm_error_class class_of_transport(int code)
{
    switch (code) {
    case PLM_ETIMEOUT: return PLM_CLASS_TIMEOUT;
    case PLM_ECANCELLED: return PLM_CLASS_CANCELLED;
    case PLM_ETOOBIG: return PLM_CLASS_BAD_REQUEST;
    case PLM_ENOMEM: return PLM_CLASS_LOCAL;
    default: return PLM_CLASS_NETWORK;
    }
}

static void on_backoff_done(plm__timer *t, void *user_data)
{
    job *j = user_data;
    (void)t;
    /* Retries go before requests that were never sent. */
    plm__obs_queued(&j->obs, plm__now_ns());
    set_state(j->run, j, JOB_WAITING, 1);
}

/*
 * An attempt that could not open a socket (EMFILE, ENFILE) never reached
 * the provider: it is not its answer, nor a failure for the breaker, the
 * adaptive limit or the retry budget. Its reservation goes back (unadmit),
 * the attempt is not counted, and the request tries again shortly (a
 * finishing transfer frees a descriptor). Returns 1 when it took the job.
 */
static int retry_local(plm__run *run, job *j, plm__xfer *x)
{
    plm_client *c = run->client;
    int64_t delay;

    if (!x->no_descriptor)
        return 0;
    hooks_unadmit(run, j, c->nhooks);
    if (j->attempt > 1)
        c->stats.retries--;
    c->stats.attempts--;
    j->attempt--;
    j->local_retries++;
    plm__result_set_error(j->res, PLM_ENETWORK, PLM_CLASS_LOCAL, "%s",
                          x->message);
    plm__headers_clear(&x->headers);
    if (run->stopping || j->local_retries > PLM__LOCAL_RETRIES) {
        if (run->stopping)
            plm__result_set_error(j->res, PLM_ECANCELLED, PLM_CLASS_CANCELLED,
                                  "stopped before retrying (last attempt: "
                                  "%s)",
                                  x->message);
        job_complete(run, j);
        return 1;
    }
    delay = (int64_t)PLM__LOCAL_RETRY_MS * j->local_retries;
    if (delay > 1000)
        delay = 1000;
    plm__log(c, PLM_LOG_DEBUG,
             "no descriptor for a connection (%s); "
             "trying again in %lld ms",
             x->message, (long long)delay);
    set_state(run, j, JOB_BACKOFF, 0);
    update_gauges(run);
    if (plm__timer_start(c->loop, &j->timer, delay) != 0)
        job_fail(run, j, PLM_ENOMEM, PLM_CLASS_LOCAL,
                 "out of memory scheduling a retry");
    return 1;
}

/* A piece of an answer arrived: a 2xx stream is parsed as it comes, its
 * deltas handed to the request's callback. */
static int on_attempt_data(plm__xfer *x, const char *d, size_t n, void *u)
{
    job *j = x->owner;
    (void)u;
    return plm__attempt_stream_data(&j->stream, j->req, j->sent_ns,
                                    j->run->client->run_started_ns, x, j->res,
                                    d, n);
}

/* The one retry decision point: an attempt finished on the wire. */
static void on_attempt_done(plm__xfer *x, void *user_data)
{
    plm__run *run = user_data;
    plm_client *c = run->client;
    job *j = x->owner;
    plm_result *res = j->res;
    plm__retry_policy policy = policy_for(c, j);
    plm__attempt a;
    int i, retry;

    if (x->error)
        plm__attempt_stream_drop(&j->stream, res);
    if (retry_local(run, j, x))
        return;

    res->http_status = x->http_status;
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    if (x->error == 0) {
        /* The answer moves into the result; no copy. */
        res->body = x->body;
        res->body_len = x->body_len;
        x->body = NULL;
    }
    /* A failed transfer's partial body (up to the cap) is not kept. */
    free(x->body);
    x->body = NULL;
    x->body_len = x->body_cap = 0;
    if (x->http_status == 429)
        c->stats.rate_limited++;
    if (x->error == 0 && !plm__attempt_stream_settle(&j->stream, x, res))
        plm__provider_parse(j->req->provider, j->req->path, x->http_status,
                            &x->headers, res->body ? res->body : "",
                            res->body_len, res);
    else if (x->error)
        plm__result_set_error(res, x->error, class_of_transport(x->error), "%s",
                              x->message);
    a.http_status = x->http_status;
    a.transport_error = x->error;
    a.headers = &x->headers;
    a.unreachable = x->unreachable;
    retry = plm__retry_decide(&policy, j->attempt, &a, res);
    /* A caller that has had deltas must not get them again. */
    if (plm__attempt_stream_final(&j->stream, res))
        retry = 0;
    hooks_after_attempt(run, j, &a);
    for (i = 0; i < c->nhooks && !run->abort_pending; i++) {
        plm__hook_ctx ctx;
        int stop;
        if (!c->hooks[i].stop_run)
            continue;
        ctx = hook_ctx(run, j, i);
        stop = c->hooks[i].stop_run(c->hooks[i].data, &ctx, res);
        if (stop < 0) {
            run->abort_pending = 1;
            run->result = stop;
        }
    }
    for (i = 0; retry && !run->stopping && i < c->nhooks; i++) {
        plm__hook_ctx ctx;
        if (!c->hooks[i].allow_retry)
            continue;
        ctx = hook_ctx(run, j, i);
        retry = c->hooks[i].allow_retry(c->hooks[i].data, &ctx, res,
                                        plm__now_ns());
    }
    if (retry && run->stopping) {
        plm__result_set_error(res, PLM_ECANCELLED, PLM_CLASS_CANCELLED,
                              "stopped before retrying (last attempt: %s)",
                              res->error_message ? res->error_message
                                                 : "failed");
        retry = 0;
    }
    plm__obs_attempt_done(c, &j->obs, j->req, res, x, retry);
    if (!retry) {
        plm__headers_clear(&x->headers);
        job_complete(run, j);
        return;
    }
    {
        int64_t delay = plm__retry_delay_ms(&policy, j->attempt, &x->headers,
                                            time(NULL), &run->rng);
        plm__log(c, PLM_LOG_DEBUG,
                 "attempt %d failed (%s); retrying in "
                 "%lld ms",
                 j->attempt, res->error_message ? res->error_message : "",
                 (long long)delay);
        plm__headers_clear(&x->headers);
        set_state(run, j, JOB_BACKOFF, 0);
        update_gauges(run);
        if (plm__timer_start(c->loop, &j->timer, delay) != 0)
            job_fail(run, j, PLM_ENOMEM, PLM_CLASS_LOCAL,
                     "out of memory scheduling a retry");
    }
}

/* ---- admission ---- */

static int current_limit(const plm__run *run)
{
    const plm_client *c = run->client;
    int limit = run->max_concurrent, i;
    for (i = 0; i < c->nhooks; i++)
        if (c->hooks[i].concurrency_limit)
            limit = c->hooks[i].concurrency_limit(c->hooks[i].data, limit);
    return limit;
}

/*
 * The one place that decides whether a waiting request may go on the wire
 * now: first the concurrency limit (attempts in flight), then each policy
 * hook in turn (rate budget, circuit breaker, ...). Returns a PLM__ADMIT_
 * verdict; *until_ns or *code say more.
 */
static int admit(plm__run *run, job *j, int64_t *until_ns, int *code, char *why,
                 size_t whylen)
{
    plm_client *c = run->client;
    int limit = current_limit(run), i;
    int64_t now = plm__now_ns();

    if (limit > 0 && run->in_flight.n >= (size_t)limit) {
        *until_ns = 0; /* an attempt finishing frees a slot */
        return PLM__ADMIT_WAIT;
    }
    for (i = 0; i < c->nhooks; i++) {
        plm__hook_ctx ctx;
        int v;
        if (!c->hooks[i].before_send)
            continue;
        ctx = hook_ctx(run, j, i);
        v = c->hooks[i].before_send(c->hooks[i].data, &ctx, now, until_ns,
                                    code);
        if (v == PLM__ADMIT_GO)
            continue;
        if (v == PLM__ADMIT_WAIT)
            j->obs.hold_reason = ctx.wait_reason;
        if (v == PLM__ADMIT_FAIL && c->hooks[i].fail_message)
            c->hooks[i].fail_message(c->hooks[i].data, &ctx, *code, why,
                                     whylen);
        hooks_unadmit(run, j, i);
        return v;
    }
    return PLM__ADMIT_GO;
}

static void admit_waiting(plm__run *run)
{
    while (run->waiting.head && !run->abort_pending) {
        job *j = run->waiting.head;
        int64_t until = 0;
        int code = PLM_EINTERNAL;
        char why[256] = "";
        int v = admit(run, j, &until, &code, why, sizeof why);

        if (v == PLM__ADMIT_GO) {
            start_attempt(run, j);
        } else if (v == PLM__ADMIT_FAIL) {
            job_fail(run, j, code, PLM_CLASS_LOCAL,
                     why[0] ? why : plm_strerror(code));
        } else {
            /* "Wait for an attempt to finish" with none on the wire would
             * wait forever: ask again a little later instead. */
            if (until <= 0 && run->in_flight.n == 0)
                until = plm__now_ns() + PLM__ADMIT_RETRY_NS;
            if (until > 0 && (!plm__timer_active(&run->admit_timer) ||
                              run->admit_timer.due_ns > until))
                plm__timer_start_at(run->client->loop, &run->admit_timer,
                                    until);
            break;
        }
    }
}

/* Takes one request from the source. Returns 1 if one was taken. */
static int pull_one(plm__run *run)
{
    plm_client *c = run->client;
    plm_request *req = NULL;
    void *tag = NULL;
    job *j;
    int rc = run->source(&req, &tag, run->user_data);

    if (rc == PLM__SOURCE_IDLE) {
        run->source_idle = 1;
        return 0;
    }
    if (rc <= 0 || !req) {
        run->source_done = 1;
        if (rc < 0) {
            run->abort_pending = 1;
            run->result = rc;
        }
        return 0;
    }
    c->stats.submitted++;
    j = calloc(1, sizeof *j);
    if (!j)
        goto nomem;
    j->run = run;
    j->req = req;
    j->tag = tag;
    j->xfer.owner = j;
    plm__timer_init(&j->timer, on_backoff_done, j);
    j->res = plm__result_new(req->user_data);
    if (!j->res)
        goto nomem;
    j->state = JOB_WAITING;
    plm__obs_taken(&j->obs, c->stats.submitted - 1, plm__now_ns());
    list_push(&run->waiting, j, 0);
    update_gauges(run);
    if (!plm__provider_get(req->provider) || !req->path ||
        req->path[0] != '/') {
        job_fail(run, j, PLM_EINVAL, PLM_CLASS_BAD_REQUEST,
                 "the request has no valid provider or path");
        return 1;
    }
    if (plm__request_serialize(req) != PLM_OK) {
        job_fail(run, j, PLM_ENOMEM, PLM_CLASS_LOCAL,
                 "out of memory serializing the request");
        return 1;
    }
    j->url = plm__client_url(c, req);
    if (!j->url) {
        job_fail(run, j, PLM_ENOMEM, PLM_CLASS_LOCAL,
                 "out of memory building the URL");
        return 1;
    }
    return 1;
nomem:
    /* Without a result object the request cannot be completed: stop the
     * run rather than lose it silently. */
    if (j)
        free(j);
    c->stats.submitted--;
    run->abort_pending = 1;
    run->result = PLM_ENOMEM;
    run->source_done = 1;
    return 0;
}

static int room_to_pull(plm__run *run)
{
    size_t limit = (size_t)run->max_concurrent;

    if (run->source_done || run->source_idle || run->stopping ||
        run->abort_pending)
        return 0;
    if (run->waiting.head)
        return 0; /* admission is blocked: more requests would only wait */
    if (limit == 0)
        return 1;
    /* A request backing off gives its slot to a fresh one (its retry
     * goes before any fresh request when the backoff ends), but at most
     * as many again may back off at once: memory stays bounded by
     * 2 x max_concurrent requests, whatever the source's size. */
    return run->waiting.n + run->in_flight.n < limit && active(run) < 2 * limit;
}

static void pump(plm__run *run)
{
    for (;;) {
        admit_waiting(run);
        if (!room_to_pull(run))
            break;
        pull_one(run);
    }
}

/* ---- stopping ---- */

/* Cuts an attempt off the wire and completes its request with code. */
static void cancel_in_flight(plm__run *run, job *j, int code,
                             plm_error_class cls, const char *why)
{
    plm__attempt a;
    plm__transport_cancel(run->client->transport, &j->xfer);
    plm__attempt_stream_drop(&j->stream, j->res);
    plm__result_set_error(j->res, code, cls, "%s", why);
    a.http_status = 0;
    a.transport_error = PLM_ECANCELLED;
    a.headers = &j->xfer.headers;
    a.unreachable = 0;
    hooks_after_attempt(run, j, &a);
    plm__obs_attempt_done(run->client, &j->obs, j->req, j->res, &j->xfer, 0);
    job_complete(run, j);
}

/* Completes every request not yet done. In-flight and backing-off ones get
 * `code`; ones that never went out PLM_ENOTSTARTED. With keep_in_flight,
 * attempts on the wire are left to finish. */
static void stop_all(plm__run *run, int code, int keep_in_flight)
{
    plm_error_class cls = code == PLM_ETIMEOUT ? PLM_CLASS_TIMEOUT
                                               : PLM_CLASS_CANCELLED;
    const char *why = code == PLM_ETIMEOUT ? "the run's deadline passed"
                                           : "cancelled";

    run->stopping = 1;
    plm__timer_stop(run->client->loop, &run->admit_timer);
    while (run->backoff.head)
        job_fail(run, run->backoff.head, code, cls, why);
    while (run->waiting.head) {
        job *j = run->waiting.head;
        if (j->attempt > 0)
            job_fail(run, j, code, cls, why);
        else
            job_fail(run, j, PLM_ENOTSTARTED, PLM_CLASS_CANCELLED,
                     "the run stopped before this request was sent");
    }
    while (!keep_in_flight && run->in_flight.head)
        cancel_in_flight(run, run->in_flight.head, code, cls, why);
}

/* Acts on the reasons to stop, each once: an abort (a callback or the
 * source), the run's deadline, an interrupt (level 1 lets attempts on the
 * wire finish, level 2 cancels them). A later, stronger reason still acts
 * on what an earlier one left in flight. */
static void handle_stops(plm__run *run)
{
    int level = atomic_load(&run->client->interrupt_level);

    if (run->abort_pending && !run->abort_done) {
        run->abort_done = 1;
        stop_all(run, PLM_ECANCELLED, 0);
    }
    if (run->deadline_hit && !run->deadline_done) {
        run->deadline_done = 1;
        if (run->result == PLM_OK)
            run->result = PLM_ETIMEOUT;
        stop_all(run, PLM_ETIMEOUT, 0);
    }
    if (level > run->interrupt_seen) {
        run->interrupt_seen = level;
        if (run->result == PLM_OK)
            run->result = PLM_ECANCELLED;
        stop_all(run, PLM_ECANCELLED, level < 2);
    }
}

/* ---- for engine_run.c ---- */

size_t plm__eng_active(const plm__run *run)
{
    return active(run);
}

int plm__eng_current_limit(const plm__run *run)
{
    return current_limit(run);
}

void plm__eng_update_gauges(plm__run *run)
{
    update_gauges(run);
}

void plm__eng_settle(plm__run *run)
{
    handle_stops(run);
    pump(run);
    handle_stops(run);
}

void plm__eng_stop_all(plm__run *run, int code)
{
    stop_all(run, code, 0);
}

void plm__eng_cancel(plm__run *run, job *j, const char *why)
{
    if (j->state == JOB_IN_FLIGHT)
        cancel_in_flight(run, j, PLM_ECANCELLED, PLM_CLASS_CANCELLED, why);
    else
        job_fail(run, j, PLM_ECANCELLED, PLM_CLASS_CANCELLED, why);
}

void plm__eng_attach(plm__run *run, int attach)
{
    plm__transport *t = run->client->transport;
    plm__transport_set_done(t, attach ? on_attempt_done : NULL,
                            attach ? run : NULL);
    plm__transport_set_data(t, attach ? on_attempt_data : NULL,
                            attach ? run : NULL);
}
