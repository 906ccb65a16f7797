/*
 * The limit policy: wires the rate budget, circuit breaker, retry budget
 * and adaptive concurrency limit into the engine's admission point and
 * outcome path (see docs/LIMITS.md for the order and the reasons).
 *
 * Admission of one attempt, for the request at the head of the queue:
 *   1. the breaker, looked at without changing it: while open, the request
 *      waits (held, not failed, and not charged to the budget) until the
 *      probe is due or reports; once the endpoint is dead it fails at once
 *      with PLM_EBREAKER and the reason;
 *   2. the budget: wait (the engine arms a timer), fail with PLM_EBUDGET
 *      when the estimate can never fit, or charge it;
 *   3. the breaker for real (a half-open breaker hands out its trial only
 *      to a request that is actually going out, never to one that then
 *      waits for budget).
 * What an admitted attempt reserved is kept in the request's admission
 * record (hooks.h) and settled when the attempt ends: the usage
 * the answer reported replaces the estimate, rate-limit headers update the
 * budget, and the breaker and the concurrency limit learn the outcome. A
 * 429 delays only its own request (its Retry-After is its backoff); the
 * endpoint pauses for every slot only when the provider says the budget
 * is spent: a meter's remaining at 0 in the 429's headers, or a burst of
 * 429s across different requests (see burst_429()).
 *
 * Retries after a 429 do not draw from the retry budget: the server's
 * Retry-After spaces them (and the endpoint's pause, when the budget is
 * spent), so they add no load while the provider refuses, and a
 * rate-limit storm must end with every request done once the provider has
 * room again. Other retries (network, timeout, 5xx, overloaded, a cut-off
 * body) are the ones that multiply load on a server in trouble, and those
 * the budget caps.
 */
#include "policy.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "hooks.h"

#include "aimd.h"
#include "breaker.h"
#include "limitcfg.h"
#include "ratelimit.h"
#include "request.h"
#include "result.h"
#include "retry.h"
#include "retrybudget.h"
#include "rlheaders.h"
#include "shared.h"

/* The last answers of an endpoint, for telling a spent budget (most
 * answers are 429s, from many requests) from sporadic 429s. */
#define BURST_ANSWERS 32
#define BURST_WINDOW_NS INT64_C(2000000000)
#define BURST_MIN_REQUESTS 4

typedef struct answer_note {
    int64_t at;
    const plm_request *req; /* identity only, never dereferenced */
    int rate_limited;
} answer_note;

typedef struct plm__endpoint {
    plm_provider provider;
    char *model;
    plm__budget *budget;
    plm__breaker breaker;
    plm__retrybudget retries;
    int answered;         /* some attempt ever got an HTTP answer */
    int dead_said;        /* the dead verdict was logged */
    char last_error[200]; /* the last failure the breaker counted */
    answer_note answers[BURST_ANSWERS];
    int answers_head;
    plm__shared_ep *shared; /* the budget shared through Redis, or NULL */
} plm__endpoint;
typedef plm__endpoint endpoint;

struct plm__policy {
    plm__policy_env env; /* base URLs copied */
    char *base_url[PLM__PROVIDER_COUNT];
    plm__limits_config cfg;
    int stop_on_fatal;
    endpoint **eps;
    size_t neps, eps_cap;
    endpoint *last; /* most recently used: the usual hit */
    plm__aimd aimd;
    int aimd_for;        /* the maximum aimd was set up for */
    int concurrency;     /* the run's concurrency limit, 0 = none */
    int peak_in_flight;  /* the most attempts seen in flight */
    char why[256];       /* the last admission failure's message */
    plm__shared *shared; /* shared_limits_url given: Redis, else NULL */
};

/* ---- endpoints ---- */

static const char *model_of(const plm_request *req)
{
    const char *s = plm__request_model(req);
    return s ? s : "";
}

static void endpoint_free(endpoint *ep)
{
    if (!ep)
        return;
    plm__budget_free(ep->budget);
    plm__shared_ep_free(ep->shared);
    free(ep->model);
    free(ep);
}

static endpoint *endpoint_find(const plm__policy *p, plm_provider provider,
                               const char *model)
{
    size_t i;
    if (p->last && p->last->provider == provider &&
        strcmp(p->last->model, model) == 0)
        return p->last;
    for (i = 0; i < p->neps; i++)
        if (p->eps[i]->provider == provider &&
            strcmp(p->eps[i]->model, model) == 0)
            return p->eps[i];
    return NULL;
}

/* The endpoint of req, created on first use; NULL when out of memory. */
static endpoint *endpoint_for(plm__policy *p, const plm_request *req)
{
    const char *model = model_of(req);
    endpoint *ep = endpoint_find(p, req->provider, model);

    if (ep) {
        p->last = ep;
        return ep;
    }
    if (PLM__ARRAY_RESERVE(p->eps, p->eps_cap, p->neps + 1, 4) != 0)
        return NULL;
    ep = calloc(1, sizeof *ep);
    if (!ep)
        return NULL;
    ep->provider = req->provider;
    ep->model = strdup(model);
    if (!ep->model || plm__budget_new(&ep->budget, &p->cfg.budget) != PLM_OK ||
        plm__breaker_init(&ep->breaker, &p->cfg.breaker) != PLM_OK)
        goto fail;
    if (p->shared &&
        !(ep->shared = plm__shared_ep_new(p->shared,
                                          p->base_url[req->provider]
                                              ? p->base_url[req->provider]
                                              : "",
                                          model, &p->cfg.budget)))
        goto fail;
    plm__retrybudget_init(&ep->retries, p->cfg.retry_budget, plm__now_ns());
    p->eps[p->neps++] = ep;
    p->last = ep;
    return ep;
fail:
    endpoint_free(ep);
    return NULL;
}

/* The concurrency the breaker's thresholds and the retry budget's savings
 * scale with: the run's limit, or the most attempts seen in flight when it
 * has none. */
static int concurrency_scale(const plm__policy *p)
{
    return p->concurrency > 0 ? p->concurrency : p->peak_in_flight;
}

/* ---- messages ---- */

static const char *base_url(const plm__policy *p, plm_provider provider)
{
    if (!plm__provider_get(provider))
        return "(unknown provider)";
    return p->base_url[provider] ? p->base_url[provider] : "(no base URL)";
}

static const char *base_of(const plm__policy *p, const endpoint *ep)
{
    return base_url(p, ep->provider);
}

/* Messages put what matters first: a long base URL may be cut off at the
 * end of the engine's message buffer. */
static void say(plm__policy *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(plm__policy *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(p->why, sizeof p->why, fmt, ap) < 0)
        p->why[0] = '\0';
    va_end(ap);
}

/* The one line that says why a dead endpoint's requests fail. */
static void say_dead(plm__policy *p, const endpoint *ep)
{
    say(p,
        "not sent: %s is unreachable (%s); the circuit breaker gave up on "
        "it (model \"%.64s\")",
        base_of(p, ep), ep->last_error[0] ? ep->last_error : "no answer",
        ep->model);
}

static void say_budget(plm__policy *p, const endpoint *ep, int64_t in,
                       int64_t out)
{
    static const char *const names[PLM__RL_KINDS] = { "requests", "tokens",
                                                      "input tokens",
                                                      "output tokens" };
    double cost[PLM__RL_KINDS] = { 1, (double)in + (double)out, (double)in,
                                   (double)out };
    int k;

    for (k = 0; k < PLM__RL_KINDS; k++) {
        double limit = plm__budget_limit(ep->budget, (plm__rl_kind)k);
        if (limit > 0 && cost[k] > limit) {
            say(p,
                "request can never fit the rate budget: it needs an "
                "estimated %.0f %s (prompt %lld + output limit %lld) but "
                "the limit is %.0f %s per minute; lower max_tokens or "
                "raise the limit (%s, model \"%.64s\")",
                cost[k], names[k], (long long)in, (long long)out, limit,
                names[k], base_of(p, ep), ep->model);
            return;
        }
    }
    say(p, "request can never fit the rate budget (estimated %lld tokens)",
        (long long)(in + out));
}

/* ---- hooks ---- */

/* Formats a message and hands it to the environment's log function. */
static void plog(const plm__policy *p, plm_log_level level, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));

static void plog(const plm__policy *p, plm_log_level level, const char *fmt,
                 ...)
{
    char buf[1024];
    va_list ap;

    if (!p->env.log || (int)level > p->env.log_level)
        return;
    va_start(ap, fmt);
    if (vsnprintf(buf, sizeof buf, fmt, ap) < 0)
        buf[0] = '\0';
    va_end(ap);
    p->env.log(p->env.log_data, level, buf);
}

static int on_before_send(void *data, plm__hook_ctx *ctx, int64_t now,
                          int64_t *until_ns, int *code)
{
    plm__policy *p = data;
    endpoint *ep = endpoint_for(p, ctx->req);
    int64_t total, in, out, wait = 0, left = 0;
    int trial = 0, how = PLM__SHARED_NONE;
    int rc;

    if (!ep) {
        say(p, "out of memory tracking the endpoint's limits");
        *code = PLM_ENOMEM;
        return PLM__ADMIT_FAIL;
    }
    switch (plm__breaker_peek(&ep->breaker, now, &left)) {
    case PLM__BREAKER_REJECT:
        /* Held, not failed: until the probe is due, or (0) until an
         * attempt, the probe among them, reports. */
        *until_ns = left > 0 ? now + left : 0;
        ctx->wait_reason = PLM_WAIT_BREAKER;
        return PLM__ADMIT_WAIT;
    case PLM__BREAKER_DEAD_ENDPOINT:
        say_dead(p, ep);
        *code = PLM_EBREAKER;
        return PLM__ADMIT_FAIL;
    default: break;
    }
    total = plm__request_estimate_tokens(ctx->req);
    out = plm__request_estimate_output_tokens(ctx->req);
    if (out > total)
        out = total;
    in = total - out;
    if (ep->shared) {
        rc = plm__shared_take(ep->shared, in, out, now, until_ns, &how);
        if (rc == 1)
            return PLM__ADMIT_WAIT;
        if (rc != 0) {
            say_budget(p, ep, in, out);
            *code = rc == PLM_EBUDGET ? PLM_EBUDGET : PLM_EINTERNAL;
            return PLM__ADMIT_FAIL;
        }
    }
    rc = plm__budget_reserve_io(ep->budget, in, out, now, &wait);
    if (rc != 0 && how)
        plm__shared_untake(ep->shared, how, in, out, now, now);
    if (rc == 1) {
        *until_ns = now + wait;
        ctx->wait_reason = plm__budget_paused(ep->budget, now)
                               ? PLM_WAIT_PAUSE
                               : PLM_WAIT_BUDGET;
        return PLM__ADMIT_WAIT;
    }
    if (rc != 0) {
        say_budget(p, ep, in, out);
        *code = rc == PLM_EBUDGET ? PLM_EBUDGET : PLM_EINTERNAL;
        return PLM__ADMIT_FAIL;
    }
    switch (plm__breaker_allow(&ep->breaker, now, &left)) {
    case PLM__BREAKER_REJECT:
    case PLM__BREAKER_DEAD_ENDPOINT:
        /* The peek said otherwise; only a bug gets here. */
        plm__budget_settle_io(ep->budget, in, out, 0, 0, now, now);
        if (how)
            plm__shared_untake(ep->shared, how, in, out, now, now);
        *until_ns = left > 0 ? now + left : 0;
        return PLM__ADMIT_WAIT;
    case PLM__BREAKER_TRIAL:
        trial = 1;
        if (plm__breaker_get_state(&ep->breaker) == PLM__BREAKER_HALF_OPEN &&
            ep->breaker.trials_ok == 0)
            plog(p, PLM_LOG_INFO,
                 "circuit breaker half-open for %s (model \"%.64s\"): "
                 "sending a probe",
                 base_of(p, ep), ep->model);
        break;
    case PLM__BREAKER_ALLOW: break;
    }
    ctx->adm->endpoint = ep;
    ctx->adm->reserved_at_ns = now;
    ctx->adm->in_tokens = in;
    ctx->adm->out_tokens = out;
    ctx->adm->trial = trial;
    ctx->adm->count = how;
    if (ctx->attempt == 1) {
        plm__retrybudget_set_scale(&ep->retries, concurrency_scale(p));
        plm__retrybudget_on_request(&ep->retries, now);
    }
    return PLM__ADMIT_GO;
}

static void on_unadmit(void *data, plm__hook_ctx *ctx)
{
    plm__policy *p = data;
    plm__admission *adm = ctx->adm;
    endpoint *ep = adm->endpoint;
    int64_t now = plm__now_ns();

    (void)p;
    if (!ep)
        return;
    /* The tokens go back; the budget has no way to return the request
     * count, which errs on the safe side. */
    plm__budget_settle_io(ep->budget, adm->in_tokens, adm->out_tokens, 0, 0,
                          adm->reserved_at_ns, now);
    if (ep->shared)
        plm__shared_untake(ep->shared, adm->count, adm->in_tokens,
                           adm->out_tokens, adm->reserved_at_ns, now);
    if (adm->trial)
        plm__breaker_record(&ep->breaker, PLM_CLASS_CANCELLED, 1, now);
    memset(adm, 0, sizeof *adm);
}

/* How long a 429 pauses the endpoint: the server's Retry-After, else the
 * reset of a meter it reported spent, else the client's backoff base. */
static int64_t pause_ms(const plm__policy *p, const plm__attempt *a,
                        const plm__rl_state *st)
{
    const plm__policy_env *c = &p->env;
    int64_t ms = -1;
    int k;

    if (a->headers &&
        plm__retry_after_parse(a->headers->retry_after_ms,
                               a->headers->retry_after, time(NULL), &ms))
        return ms < c->retry_after_max_ms ? ms : c->retry_after_max_ms;
    for (k = 0; k < PLM__RL_KINDS; k++) {
        const plm__rl_meter_state *m = &st->meter[k];
        int64_t r;
        if (!m->has_remaining || m->remaining > 0 || !m->has_reset)
            continue;
        /* Rounded up without adding first: a server's reset may be
         * close to INT64_MAX nanoseconds. */
        r = m->reset_after_ns / 1000000 + (m->reset_after_ns % 1000000 != 0);
        if (r > ms)
            ms = r;
    }
    if (ms < 0)
        return c->retry_base_ms;
    return ms < c->retry_after_max_ms ? ms : c->retry_after_max_ms;
}

/* Replaces an attempt's estimate with what it really cost. */
static void settle(endpoint *ep, const plm__admission *adm,
                   const plm__attempt *a, const plm_result *res, int64_t now)
{
    int64_t used_in = res->prompt_tokens, used_out = res->completion_tokens;

    if (a->transport_error == PLM_ECANCELLED) {
        /* Cancelled on the wire: it may have been processed. */
        used_in = used_out = -1;
    } else if (a->http_status >= 200 && a->http_status <= 299) {
        /* The reported usage; a part not reported stays as estimated. */
    } else if (a->http_status > 0) {
        /* An error answer generated nothing; the provider may still
         * count the prompt. */
        used_in = -1;
        used_out = 0;
    } else if (a->transport_error == PLM_ENETWORK) {
        /* No answer at all: most likely never reached the provider. */
        used_in = 0;
        used_out = 0;
    } else {
        /* Timed out: it may have been processed. */
        used_in = used_out = -1;
    }
    plm__budget_settle_io(ep->budget, adm->in_tokens, adm->out_tokens, used_in,
                          used_out, adm->reserved_at_ns, now);
    if (ep->shared)
        plm__shared_settle(ep->shared, adm->count, adm->in_tokens,
                           adm->out_tokens, used_in, used_out,
                           adm->reserved_at_ns, now);
}

static void record_breaker(plm__policy *p, endpoint *ep, const plm__attempt *a,
                           const plm_result *res, plm_error_class cls,
                           int trial, int64_t now)
{
    plm__breaker_state before = plm__breaker_get_state(&ep->breaker);
    plm__breaker_state after;

    if (plm__breaker_class_counts(cls) == 1)
        snprintf(ep->last_error, sizeof ep->last_error, "%s",
                 res->error_message && *res->error_message
                     ? res->error_message
                     : plm_strerror(res->code));
    plm__breaker_set_scale(&ep->breaker, concurrency_scale(p));
    plm__breaker_record(&ep->breaker, cls, trial, now);
    /* Nothing there at all: no answer ever, and the connection refused on
     * every address (or DNS, or TLS): no probe will do better, and every
     * request would fail the same way. */
    if (a->unreachable && !ep->answered)
        plm__breaker_set_dead(&ep->breaker);
    after = plm__breaker_get_state(&ep->breaker);
    if (after == before)
        return;
    if (after == PLM__BREAKER_DEAD && !ep->dead_said) {
        ep->dead_said = 1;
        say_dead(p, ep);
        plog(p, PLM_LOG_WARN, "%s", p->why);
    } else if (after == PLM__BREAKER_OPEN && before == PLM__BREAKER_CLOSED) {
        plog(p, PLM_LOG_WARN,
             "circuit breaker opened for %s (model \"%.64s\") after %s: "
             "holding its requests; a probe goes in %lld ms",
             base_of(p, ep), ep->model, plm_strerror(res->code),
             (long long)ep->breaker.cfg.cooldown_ms);
        /* The other processes sharing the endpoint's budget hold theirs
         * for the same time, through the shared pause; each then finds
         * out for itself whether the endpoint is back. */
        if (ep->shared)
            plm__shared_pause(ep->shared, ep->breaker.cfg.cooldown_ms);
    } else if (after == PLM__BREAKER_CLOSED) {
        plog(p, PLM_LOG_INFO,
             "circuit breaker closed for %s (model \"%.64s\"): the "
             "probes succeeded",
             base_of(p, ep), ep->model);
    }
}

/* Notes an answer; returns 1 when it is a 429 in a burst that says the
 * key's budget is spent: at least half of the endpoint's last answers
 * (up to BURST_ANSWERS, none older than BURST_WINDOW_NS) are 429s, from at
 * least BURST_MIN_REQUESTS different requests. A spent budget refuses
 * nearly everything, from every request; sporadic 429s (the 20% of a bad
 * storm) reach half of 32 answers about once in 100,000 checks, and one
 * request's own repeated 429s never count as many. */
static int burst_429(endpoint *ep, const plm_request *req, int limited,
                     int64_t now)
{
    const plm_request *seen[BURST_ANSWERS];
    int n = 0, k = 0, distinct = 0, i, j;

    ep->answers[ep->answers_head].at = now;
    ep->answers[ep->answers_head].req = req;
    ep->answers[ep->answers_head].rate_limited = limited;
    ep->answers_head = (ep->answers_head + 1) % BURST_ANSWERS;
    if (!limited)
        return 0;
    for (i = 0; i < BURST_ANSWERS; i++) {
        const answer_note *a = &ep->answers[i];
        if (a->at == 0 || now - a->at > BURST_WINDOW_NS)
            continue;
        n++;
        if (!a->rate_limited)
            continue;
        k++;
        for (j = 0; j < distinct && seen[j] != a->req; j++)
            ;
        if (j == distinct)
            seen[distinct++] = a->req;
    }
    return distinct >= BURST_MIN_REQUESTS && 2 * k >= n;
}

/* 1 when the answer's rate-limit headers report a meter spent. */
static int meter_spent(const plm__rl_state *st)
{
    for (int k = 0; k < PLM__RL_KINDS; k++)
        if (st->meter[k].has_remaining && st->meter[k].remaining <= 0)
            return 1;
    return 0;
}

/* A 429 delays its own request (the engine's backoff honours its
 * Retry-After); the endpoint pauses only when the budget is spent. */
static void on_rate_limited(plm__policy *p, endpoint *ep, plm__hook_ctx *ctx,
                            const plm__attempt *a, const plm__rl_state *st,
                            int64_t now)
{
    int burst = burst_429(ep, ctx->req, 1, now);
    int64_t ms;

    if (!burst && !meter_spent(st)) {
        plog(p, PLM_LOG_DEBUG,
             "rate limited by %s (model \"%.64s\"): only this request "
             "waits",
             base_of(p, ep), ep->model);
        return;
    }
    ms = pause_ms(p, a, st);
    plm__budget_pause_until(ep->budget, now + ms * INT64_C(1000000));
    if (ep->shared)
        plm__shared_pause(ep->shared, ms);
    plog(p, PLM_LOG_DEBUG,
         "rate limited by %s (model \"%.64s\"), its budget spent (%s): "
         "pausing its requests for %lld ms",
         base_of(p, ep), ep->model,
         burst ? "429s from many requests" : "the headers say so",
         (long long)ms);
}

static void on_after_attempt(void *data, plm__hook_ctx *ctx,
                             const plm__attempt *a, const plm_result *res,
                             int64_t now)
{
    plm__policy *p = data;
    endpoint *ep = ctx->adm->endpoint;
    int cancelled = a->transport_error == PLM_ECANCELLED;
    /* An attempt cut off by the run (abort, deadline, interrupt) says
     * nothing about the server. */
    plm_error_class cls = cancelled ? PLM_CLASS_CANCELLED : res->error_class;
    plm__rl_state st;

    if ((int)ctx->in_flight > p->peak_in_flight)
        p->peak_in_flight = (int)ctx->in_flight;
    if (!ep)
        ep = endpoint_for(p, ctx->req);
    memset(&st, 0, sizeof st);
    if (ep && a->headers && !cancelled) {
        plm__rl_state_from_headers(a->headers, plm__wall_ns(), &st);
        plm__budget_observe(ep->budget, &st, now);
        if (ep->shared && p->cfg.budget.learn_limits)
            for (int k = 0; k < PLM__RL_KINDS; k++)
                if (st.meter[k].has_limit)
                    plm__shared_learned(ep->shared, k,
                                        (double)st.meter[k].limit, now);
    }
    if (ep && a->http_status > 0) {
        ep->answered = 1;
        if (cls == PLM_CLASS_RATE_LIMITED)
            on_rate_limited(p, ep, ctx, a, &st, now);
        else
            burst_429(ep, ctx->req, 0, now);
    }
    if (ctx->adm->endpoint) {
        settle(ep, ctx->adm, a, res, now);
        record_breaker(p, ep, a, res, cls, ctx->adm->trial, now);
    }
    memset(ctx->adm, 0, sizeof *ctx->adm);
    if (p->cfg.adaptive_concurrency && ctx->sent_ns > 0)
        plm__aimd_on_outcome(&p->aimd, plm__aimd_outcome_from_class(cls),
                             ctx->sent_ns, (int)ctx->in_flight, now);
}

static int on_allow_retry(void *data, plm__hook_ctx *ctx, const plm_result *res,
                          int64_t now)
{
    plm__policy *p = data;
    endpoint *ep;

    if (res->error_class == PLM_CLASS_RATE_LIMITED)
        return 1; /* spaced by Retry-After; see the top */
    ep = endpoint_for(p, ctx->req);
    if (ep)
        plm__retrybudget_set_scale(&ep->retries, concurrency_scale(p));
    if (!ep || plm__retrybudget_try_retry(&ep->retries, now))
        return 1;
    plog(p, PLM_LOG_DEBUG,
         "not retrying a request to %s (model \"%.64s\"): the retry "
         "budget is spent",
         base_of(p, ep), ep->model);
    return 0;
}

static int on_stop_run(void *data, plm__hook_ctx *ctx, const plm_result *res)
{
    plm__policy *p = data;

    if (!p->stop_on_fatal || (res->error_class != PLM_CLASS_AUTH &&
                              res->error_class != PLM_CLASS_QUOTA))
        return 0;
    /* Information, not a warning: the run's return code and the result's
     * message are how the caller learns of it (and tells its user once;
     * a command printing warnings would otherwise say it twice). The
     * provider's own message may quote part of the key: only the status
     * goes into the log; the result keeps the details. */
    plog(p, PLM_LOG_INFO,
         "stopping the run: %s answered HTTP %d (%s); every other "
         "request would fail the same way",
         base_url(p, ctx->req->provider), res->http_status,
         plm_strerror(res->code));
    return res->code;
}

static void on_fail_message(void *data, plm__hook_ctx *ctx, int code, char *buf,
                            size_t len)
{
    plm__policy *p = data;
    (void)ctx;
    (void)code;
    if (len > 0)
        snprintf(buf, len, "%s", p->why);
}

static int on_concurrency_limit(void *data, int configured)
{
    plm__policy *p = data;
    int max;

    if (!p->cfg.adaptive_concurrency) {
        p->concurrency = configured;
        return configured;
    }
    max = configured > 0 ? configured : PLM__AIMD_DEFAULT_MAX;
    if (p->aimd_for != max) {
        plm__aimd_init(&p->aimd, max);
        p->aimd_for = max;
    }
    p->concurrency = plm__aimd_limit(&p->aimd);
    return p->concurrency;
}

/* A new run may find a dead endpoint back: its breaker starts closed. */
static void on_run_start(void *data, int64_t now)
{
    plm__policy *p = data;
    (void)now;
    p->peak_in_flight = 0;
    plm__shared_run_start(p->shared);
    for (size_t i = 0; i < p->neps; i++) {
        if (plm__breaker_get_state(&p->eps[i]->breaker) == PLM__BREAKER_DEAD) {
            plm__breaker_revive(&p->eps[i]->breaker);
            p->eps[i]->dead_said = 0;
        }
    }
}

static void on_run_end(void *data)
{
    plm__policy *p = data;
    plm__shared_run_end(p->shared);
}

/* ---- life cycle ---- */

static void shared_log(void *data, int level, const char *message)
{
    plog(data, (plm_log_level)level, "%s", message);
}

int plm__policy_new(plm__policy **out, const plm__policy_env *env,
                    const plm_client_options *opts)
{
    plm__limits_config cfg;
    plm__policy *p;
    int stop = opts ? opts->stop_on_fatal : 0;
    int rc;

    *out = NULL;
    /* The one check of the limit options: every value the endpoints'
     * budget and breaker will be made from (on first use) is valid once
     * this passes, so a bad option fails plm_client_new, not a request. */
    rc = plm__limits_config_from_options(opts, &cfg);
    if (rc != PLM_OK)
        return rc;
    p = calloc(1, sizeof *p);
    if (!p)
        return PLM_ENOMEM;
    p->env = *env;
    for (int i = 0; i < PLM__PROVIDER_COUNT; i++) {
        p->env.base_url[i] = NULL;
        if (env->base_url[i] && !(p->base_url[i] = strdup(env->base_url[i]))) {
            plm__policy_free(p);
            return PLM_ENOMEM;
        }
    }
    p->cfg = cfg;
    p->stop_on_fatal = stop != -1;
    if (opts && opts->shared_limits_url && *opts->shared_limits_url) {
        /* Redis I/O runs on the engine's loop, which the client gives. */
        rc = !env->loop ? PLM_EINTERNAL
                        : plm__shared_new(&p->shared, env->loop,
                                          opts->shared_limits_url,
                                          cfg.budget.burst_ms, shared_log, p);
        if (rc != PLM_OK) {
            plm__policy_free(p);
            return rc;
        }
    }
    plm__aimd_init(&p->aimd, PLM__AIMD_DEFAULT_MAX);
    p->aimd_for = PLM__AIMD_DEFAULT_MAX;
    *out = p;
    return PLM_OK;
}

void plm__policy_hooks(plm__policy *p, plm__engine_hooks *h)
{
    memset(h, 0, sizeof *h);
    h->data = p;
    h->run_start = on_run_start;
    h->run_end = on_run_end;
    h->before_send = on_before_send;
    h->unadmit = on_unadmit;
    h->after_attempt = on_after_attempt;
    h->concurrency_limit = on_concurrency_limit;
    h->allow_retry = on_allow_retry;
    h->stop_run = on_stop_run;
    h->fail_message = on_fail_message;
}

void plm__policy_free(plm__policy *p)
{
    size_t i;
    if (!p)
        return;
    /* The connection first: its pending answers name the endpoints. */
    plm__shared_free(p->shared);
    for (i = 0; i < p->neps; i++)
        endpoint_free(p->eps[i]);
    free(p->eps);
    for (i = 0; i < PLM__PROVIDER_COUNT; i++)
        free(p->base_url[i]);
    free(p);
}

double plm__policy_limit(const plm__policy *p, plm_provider provider,
                         const char *model, int kind)
{
    const endpoint *ep = p ? endpoint_find(p, provider, model ? model : "")
                           : NULL;
    if (!ep || kind < 0 || kind >= PLM__RL_KINDS)
        return 0;
    return plm__budget_limit(ep->budget, (plm__rl_kind)kind);
}

int plm__policy_breaker_state(const plm__policy *p, plm_provider provider,
                              const char *model)
{
    const endpoint *ep = p ? endpoint_find(p, provider, model ? model : "")
                           : NULL;
    return ep ? (int)plm__breaker_get_state(&ep->breaker) : -1;
}

size_t plm__policy_endpoint_views(const plm__policy *p, int64_t now_ns,
                                  plm__policy_endpoint_view *out, size_t max)
{
    size_t i, n = 0;
    for (i = 0; p && i < p->neps && n < max; i++) {
        const endpoint *ep = p->eps[i];
        out[n].provider = ep->provider;
        out[n].model = ep->model;
        out[n].remaining_requests = plm__budget_remaining(ep->budget,
                                                          PLM__RL_REQUESTS,
                                                          now_ns);
        out[n].remaining_tokens = plm__budget_remaining(ep->budget,
                                                        PLM__RL_TOKENS, now_ns);
        out[n].breaker_state = (int)plm__breaker_get_state(&ep->breaker);
        n++;
    }
    return n;
}
