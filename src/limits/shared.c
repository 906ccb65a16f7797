/*
 * Shared limits (shared.h): per endpoint, a lease of granted units from
 * Redis, the settlements waiting to be sent with the next call, and the
 * local fallback budget used while Redis is out of reach; per process, the
 * heartbeat that counts the live processes (the fallback's divisor).
 *
 * Lease sizing: a block is what the endpoint's rate grants in
 * PLM__SHARED_BLOCK_MS (75 ms: requests per minute / 61 s x 0.075, and
 * the same for each token meter with this request's cost), at least 1 and
 * at most PLM__SHARED_BLOCK_MAX. At 1,200 RPM that is 1 (one call per
 * request, 20 a second in all); at 6,000 RPM 7 (about 15 calls a second
 * for 100 requests). A block not used within PLM__SHARED_LEASE_MS is
 * given back (sent as a refund with the next call).
 */
#include "shared.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "clock.h"
#include "parallm.h"

#define MS INT64_C(1000000)
#define STR_(x) #x
#define XSTR(x) STR_(x)
/* The state key outlives the longest debt (a window plus the burst). */
#define STATE_TTL_MS 180000
/* Learned limits are published again this often, and live this long. */
#define LEARN_REPUBLISH_NS (30000 * MS)
#define LEARN_TTL_MS 120000

struct plm__shared {
    plm__loop *loop;
    plm__rconn *conn;
    char ns[PLM__REDIS_NS_MAX + 1];
    char member[64]; /* this process in the processes set */
    char procs_key[128];
    int64_t burst_ms;
    int nprocs; /* live processes last counted, at least 1 */
    int warned; /* the fallback warning was given */
    int down;   /* Redis is out of reach (after having been tried) */
    plm__timer beat;
    plm__shared_ep **eps; /* for the heartbeat's flushes */
    size_t neps, eps_cap;
    plm__shared_log_fn log;
    void *log_data;
};

struct plm__shared_ep {
    plm__shared *sh;
    char key[3][128]; /* state, pause, learned */
    double configured[PLM__RL_KINDS];
    double known[PLM__RL_KINDS]; /* the limits the script last used */
    /* The lease: units left, each worth unit_in + unit_out tokens. */
    int64_t units, unit_in, unit_out, lease_start, lease_until;
    int64_t asked_in, asked_out; /* the unit cost of the call pending */
    int pending;                 /* a grant call is on its way */
    int64_t pending_until;
    int64_t not_before; /* Redis said: nothing fits before this */
    int never_fits;     /* the script said -1 for asked_in/out */
    double delta[PLM__RL_KINDS];
    double published[PLM__RL_KINDS];
    int64_t published_at[PLM__RL_KINDS];
    plm__budget *fallback;
    int fallback_n; /* the divisor fallback was configured with */
};

static void slog(const plm__shared *sh, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void slog(const plm__shared *sh, int level, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    if (!sh->log)
        return;
    va_start(ap, fmt);
    if (vsnprintf(buf, sizeof buf, fmt, ap) < 0)
        buf[0] = '\0';
    va_end(ap);
    sh->log(sh->log_data, level, buf);
}

/* ---- connection state ---- */

static void on_state(void *data, int up, const char *why)
{
    plm__shared *sh = data;
    if (up) {
        if (sh->down)
            slog(sh, PLM_LOG_INFO,
                 "shared limits: Redis at %s is back; sharing the budget "
                 "again",
                 plm__rconn_where(sh->conn));
        sh->down = 0;
        return;
    }
    if (sh->down)
        return; /* a reconnection failed: still the same outage */
    sh->down = 1;
    for (size_t i = 0; i < sh->neps; i++) {
        sh->eps[i]->pending = 0;
        sh->eps[i]->units = 0;
    }
    if (!sh->warned) {
        sh->warned = 1;
        slog(sh, PLM_LOG_WARN,
             "shared limits: Redis at %s failed (%s); each endpoint uses "
             "1/%d of its limits locally until it is back",
             plm__rconn_where(sh->conn), why ? why : "unknown", sh->nprocs);
    } else {
        slog(sh, PLM_LOG_INFO, "shared limits: Redis at %s failed again (%s)",
             plm__rconn_where(sh->conn), why ? why : "unknown");
    }
}

static void on_beat_reply(void *priv, const redisReply *r)
{
    plm__shared *sh = priv;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        sh->nprocs = r->integer > 100000 ? 100000 : (int)r->integer;
}

static void flush_ep(plm__shared_ep *e, int64_t now);

static void send_beat(plm__shared *sh)
{
    char live[32];
    const char *argv[] = { "1", sh->procs_key, "beat", sh->member, live };

    snprintf(live, sizeof live, "%d", PLM__SHARED_LIVE_MS);
    plm__rconn_eval(sh->conn, on_beat_reply, sh, 5, argv);
}

static void on_beat(plm__timer *t, void *data)
{
    plm__shared *sh = data;
    int64_t now = plm__now_ns();
    (void)t;
    if (plm__rconn_usable(sh->conn)) {
        send_beat(sh);
        for (size_t i = 0; i < sh->neps; i++)
            flush_ep(sh->eps[i], now);
    } else {
        plm__rconn_start(sh->conn);
    }
    plm__timer_start(sh->loop, &sh->beat, PLM__SHARED_BEAT_MS);
}

/* ---- life cycle ---- */

int plm__shared_new(plm__shared **out, plm__loop *loop, const char *url,
                    int64_t burst_ms, plm__shared_log_fn log, void *log_data)
{
    plm__redis_url u;
    plm__shared *sh;
    int rc;

    *out = NULL;
    if ((rc = plm__redis_url_parse(url, &u)) != PLM_OK)
        return rc;
    sh = calloc(1, sizeof *sh);
    if (!sh) {
        plm__redis_url_clear(&u);
        return PLM_ENOMEM;
    }
    sh->loop = loop;
    sh->burst_ms = burst_ms > 0 ? burst_ms : PLM__BUDGET_DEFAULT_BURST_MS;
    sh->nprocs = 1;
    sh->log = log;
    sh->log_data = log_data;
    memcpy(sh->ns, u.ns, sizeof sh->ns);
    snprintf(sh->procs_key, sizeof sh->procs_key, "parallm:{%s}:procs", sh->ns);
    snprintf(sh->member, sizeof sh->member, "%ld-%08lx%08lx", (long)getpid(),
             (unsigned long)(plm__wall_ns() & 0xffffffff),
             (unsigned long)(plm__now_ns() & 0xffffffff));
    plm__timer_init(&sh->beat, on_beat, sh);
    rc = plm__rconn_new(&sh->conn, loop, &u, plm__shared_script, on_state, sh);
    plm__redis_url_clear(&u);
    if (rc != PLM_OK) {
        free(sh);
        return rc;
    }
    *out = sh;
    return PLM_OK;
}

void plm__shared_free(plm__shared *sh)
{
    if (!sh)
        return;
    plm__timer_stop(sh->loop, &sh->beat);
    /* Pending callbacks run now, with NULL; the endpoints still exist. */
    plm__rconn_free(sh->conn);
    sh->conn = NULL;
    for (size_t i = 0; i < sh->neps; i++)
        sh->eps[i]->sh = NULL;
    free(sh->eps);
    free(sh);
}

void plm__shared_run_start(plm__shared *sh)
{
    if (!sh)
        return;
    plm__rconn_start(sh->conn);
    if (plm__rconn_usable(sh->conn))
        send_beat(sh);
    if (!plm__timer_active(&sh->beat))
        plm__timer_start(sh->loop, &sh->beat, PLM__SHARED_BEAT_MS);
}

static void give_back(plm__shared_ep *e);

void plm__shared_run_end(plm__shared *sh)
{
    const char *argv[] = { "1", sh ? sh->procs_key : "", "leave",
                           sh ? sh->member : "" };
    int64_t now = plm__now_ns();

    if (!sh)
        return;
    plm__timer_stop(sh->loop, &sh->beat);
    if (!plm__rconn_up(sh->conn))
        return;
    /* Unused leases and settlements go back now, and this process stops
     * counting as live: between runs it sends nothing. */
    for (size_t i = 0; i < sh->neps; i++) {
        give_back(sh->eps[i]);
        flush_ep(sh->eps[i], now);
    }
    plm__rconn_eval(sh->conn, NULL, NULL, 4, argv);
    plm__rconn_flush(sh->conn);
}

/* FNV-1a, 64 bits: bounds the key's length whatever the URL and model. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

plm__shared_ep *plm__shared_ep_new(plm__shared *sh, const char *base_url,
                                   const char *model,
                                   const plm__budget_config *cfg)
{
    static const char *const suffix[3] = { "", ":pause", ":learned" };
    plm__shared_ep *e;
    uint64_t h = fnv1a(UINT64_C(14695981039346656037), base_url);

    h = fnv1a(fnv1a(h, "\n"), model);
    if (PLM__ARRAY_RESERVE(sh->eps, sh->eps_cap, sh->neps + 1, 4) != 0)
        return NULL;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->sh = sh;
    for (int i = 0; i < 3; i++)
        snprintf(e->key[i], sizeof e->key[i],
                 "parallm:{%s}:ep:%016" PRIx64 "%s", sh->ns, h, suffix[i]);
    e->configured[PLM__RL_REQUESTS] = cfg->rpm;
    e->configured[PLM__RL_TOKENS] = cfg->tpm;
    e->configured[PLM__RL_INPUT_TOKENS] = cfg->input_tpm;
    e->configured[PLM__RL_OUTPUT_TOKENS] = cfg->output_tpm;
    sh->eps[sh->neps++] = e;
    return e;
}

void plm__shared_ep_free(plm__shared_ep *e)
{
    if (!e)
        return;
    if (e->sh) {
        plm__shared *sh = e->sh;
        for (size_t i = 0; i < sh->neps; i++)
            if (sh->eps[i] == e)
                sh->eps[i] = sh->eps[--sh->neps];
    }
    plm__budget_free(e->fallback);
    free(e);
}

int plm__shared_connected(const plm__shared *sh)
{
    return sh && plm__rconn_up(sh->conn);
}

int plm__shared_processes(const plm__shared *sh)
{
    return sh ? sh->nprocs : 0;
}

/* ---- grants ---- */

static double eff_limit(const plm__shared_ep *e, int k)
{
    return e->known[k] > 0 ? e->known[k] : e->configured[k];
}

/* The block to ask for: what the tightest meter grants in
 * PLM__SHARED_BLOCK_MS at its pace, at least 1 (see the top). */
static int64_t block_size(const plm__shared_ep *e, int64_t in, int64_t out)
{
    double cost[PLM__RL_KINDS] = { 1, (double)(in + out), (double)in,
                                   (double)out };
    double n = PLM__SHARED_BLOCK_MAX;
    double window_ms = 60000.0 + (double)e->sh->burst_ms;

    for (int k = 0; k < PLM__RL_KINDS; k++) {
        double lim = eff_limit(e, k);
        if (lim > 0 && cost[k] > 0) {
            double b = floor(lim / window_ms * PLM__SHARED_BLOCK_MS / cost[k]);
            if (b < n)
                n = b;
        }
    }
    return n < 1 ? 1 : (int64_t)n;
}

/* The unused rest of the lease goes back with the next call. */
static void give_back(plm__shared_ep *e)
{
    double u = (double)e->units;
    if (e->units <= 0)
        return;
    e->delta[PLM__RL_REQUESTS] -= u;
    e->delta[PLM__RL_TOKENS] -= u * (double)(e->unit_in + e->unit_out);
    e->delta[PLM__RL_INPUT_TOKENS] -= u * (double)e->unit_in;
    e->delta[PLM__RL_OUTPUT_TOKENS] -= u * (double)e->unit_out;
    e->units = 0;
}

static int64_t reply_int(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER ? (int64_t)r->integer : 0;
}

static void on_grant(void *priv, const redisReply *r)
{
    plm__shared_ep *e = priv;
    int64_t now = plm__now_ns(), n, wait;
    int flush = e->asked_in < 0;

    e->pending = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 6)
        return; /* the connection reports the failure */
    n = reply_int(r->element[0]);
    wait = reply_int(r->element[1]);
    for (int k = 0; k < PLM__RL_KINDS; k++)
        e->known[k] = (double)reply_int(r->element[2 + k]);
    if (flush)
        return;
    if (n < 0) {
        e->never_fits = 1;
    } else if (n > 0) {
        give_back(e);
        if (wait > PLM__SHARED_AHEAD_MS * 1000)
            wait = PLM__SHARED_AHEAD_MS * 1000;
        e->units = n;
        e->unit_in = e->asked_in;
        e->unit_out = e->asked_out;
        e->lease_start = now + (wait > 0 ? wait : 0) * 1000;
        e->lease_until = e->lease_start + PLM__SHARED_LEASE_MS * MS;
        e->not_before = 0;
    } else {
        /* Microseconds, capped at a window plus a day of pause. */
        if (wait > INT64_C(86400000000))
            wait = INT64_C(86400000000);
        e->not_before = now + (wait > 0 ? wait : 1) * 1000;
    }
}

static void fmt_num(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.17g", v);
}

/* Sends a grant call for want units of (in, out) with the settlements
 * due; want 0 (in < 0) only delivers the settlements. 0 or -1. */
static int send_grant(plm__shared_ep *e, int64_t want, int64_t in, int64_t out,
                      int64_t now)
{
    char num[15][32];
    const char *argv[22];
    double cost[PLM__RL_KINDS] = { want > 0 ? 1 : 0,
                                   in > 0 ? (double)(in + out) : 0,
                                   in > 0 ? (double)in : 0,
                                   out > 0 ? (double)out : 0 };
    int n = 0, j = 0;

    argv[n++] = "3";
    for (int i = 0; i < 3; i++)
        argv[n++] = e->key[i];
    argv[n++] = "grant";
    fmt_num(num[j], sizeof num[j], (double)want);
    argv[n++] = num[j++];
    fmt_num(num[j], sizeof num[j], (double)e->sh->burst_ms);
    argv[n++] = num[j++];
    fmt_num(num[j], sizeof num[j], PLM__SHARED_LEASE_MS);
    argv[n++] = num[j++];
    for (int k = 0; k < PLM__RL_KINDS; k++) {
        fmt_num(num[j], sizeof num[j], e->configured[k]);
        argv[n++] = num[j++];
    }
    for (int k = 0; k < PLM__RL_KINDS; k++) {
        fmt_num(num[j], sizeof num[j], cost[k]);
        argv[n++] = num[j++];
    }
    for (int k = 0; k < PLM__RL_KINDS; k++) {
        fmt_num(num[j], sizeof num[j], e->delta[k]);
        argv[n++] = num[j++];
    }
    argv[n++] = XSTR(STATE_TTL_MS);
    argv[n++] = XSTR(PLM__SHARED_AHEAD_MS);
    if (plm__rconn_eval(e->sh->conn, on_grant, e, n, argv) != 0)
        return -1;
    memset(e->delta, 0, sizeof e->delta);
    e->asked_in = in;
    e->asked_out = out;
    e->pending = 1;
    /* The watchdog fails the call by then (it looks every 50 ms). */
    e->pending_until = now + (PLM__RCONN_TIMEOUT_MS + 60) * MS;
    return 0;
}

static void flush_ep(plm__shared_ep *e, int64_t now)
{
    int any = 0;
    if (e->units > 0 && now >= e->lease_until)
        give_back(e);
    for (int k = 0; k < PLM__RL_KINDS; k++)
        any |= e->delta[k] != 0;
    if (any && !e->pending)
        send_grant(e, 0, -1, -1, now);
}

/* Redis is out of reach: a local budget of 1/N of each limit, N the live
 * processes last counted. */
static int take_local(plm__shared_ep *e, int64_t in, int64_t out, int64_t now,
                      int64_t *until_ns, int *how)
{
    int n = e->sh ? e->sh->nprocs : 1;
    int64_t wait = 0;
    int rc;

    if (!e->fallback || e->fallback_n != n) {
        plm__budget_config c;
        memset(&c, 0, sizeof c);
        c.rpm = eff_limit(e, PLM__RL_REQUESTS) / n;
        c.tpm = eff_limit(e, PLM__RL_TOKENS) / n;
        c.input_tpm = eff_limit(e, PLM__RL_INPUT_TOKENS) / n;
        c.output_tpm = eff_limit(e, PLM__RL_OUTPUT_TOKENS) / n;
        c.burst_ms = e->sh ? e->sh->burst_ms : 0;
        rc = e->fallback ? plm__budget_configure(e->fallback, &c)
                         : plm__budget_new(&e->fallback, &c);
        if (rc != PLM_OK)
            return rc;
        e->fallback_n = n;
    }
    rc = plm__budget_reserve_io(e->fallback, in, out, now, &wait);
    if (rc == PLM_EBUDGET) {
        /* Fits the whole limit but not this process's share of it: an
         * outage must not fail it, so only the request is counted. */
        rc = plm__budget_reserve_io(e->fallback, 0, 0, now, &wait);
    }
    if (rc == 1) {
        *until_ns = now + wait;
        return 1;
    }
    if (rc != 0)
        return rc;
    *how = PLM__SHARED_LOCAL;
    return 0;
}

int plm__shared_take(plm__shared_ep *e, int64_t in, int64_t out, int64_t now,
                     int64_t *until_ns, int *how)
{
    plm__shared *sh = e->sh;

    *how = PLM__SHARED_NONE;
    if (!sh || !(plm__rconn_up(sh->conn) ||
                 (!sh->down && plm__rconn_usable(sh->conn))))
        return take_local(e, in, out, now, until_ns, how);
    if (e->never_fits) {
        e->never_fits = 0;
        if (in >= e->asked_in && out >= e->asked_out)
            return PLM_EBUDGET;
    }
    if (e->units > 0 &&
        (now >= e->lease_until || in > e->unit_in || out > e->unit_out))
        give_back(e);
    if (e->units > 0 && now < e->lease_start) {
        *until_ns = e->lease_start; /* reserved for then */
        return 1;
    }
    if (e->units > 0) {
        e->units--;
        /* The unit was charged at the lease's cost: the rest goes back. */
        e->delta[PLM__RL_TOKENS] += (double)(in + out - e->unit_in -
                                             e->unit_out);
        e->delta[PLM__RL_INPUT_TOKENS] += (double)(in - e->unit_in);
        e->delta[PLM__RL_OUTPUT_TOKENS] += (double)(out - e->unit_out);
        *how = PLM__SHARED_REDIS;
        return 0;
    }
    if (!e->pending && now < e->not_before) {
        *until_ns = e->not_before;
        return 1;
    }
    if (!e->pending && send_grant(e, block_size(e, in, out), in, out, now))
        return take_local(e, in, out, now, until_ns, how);
    *until_ns = e->pending_until;
    return 1;
}

void plm__shared_untake(plm__shared_ep *e, int how, int64_t in, int64_t out,
                        int64_t at, int64_t now)
{
    if (how == PLM__SHARED_LOCAL && e->fallback) {
        plm__budget_settle_io(e->fallback, in, out, 0, 0, at, now);
        return;
    }
    if (how != PLM__SHARED_REDIS)
        return;
    if (e->units > 0 && now < e->lease_until && in <= e->unit_in &&
        out <= e->unit_out) {
        /* Back into the lease, undoing take's correction. */
        e->units++;
        e->delta[PLM__RL_TOKENS] -= (double)(in + out - e->unit_in -
                                             e->unit_out);
        e->delta[PLM__RL_INPUT_TOKENS] -= (double)(in - e->unit_in);
        e->delta[PLM__RL_OUTPUT_TOKENS] -= (double)(out - e->unit_out);
        return;
    }
    e->delta[PLM__RL_REQUESTS] -= 1;
    e->delta[PLM__RL_TOKENS] -= (double)(in + out);
    e->delta[PLM__RL_INPUT_TOKENS] -= (double)in;
    e->delta[PLM__RL_OUTPUT_TOKENS] -= (double)out;
}

void plm__shared_settle(plm__shared_ep *e, int how, int64_t in, int64_t out,
                        int64_t used_in, int64_t used_out, int64_t at,
                        int64_t now)
{
    double a_in, a_out, in_max;

    if (how == PLM__SHARED_LOCAL && e->fallback) {
        plm__budget_settle_io(e->fallback, in, out, used_in, used_out, at, now);
        return;
    }
    if (how != PLM__SHARED_REDIS)
        return;
    /* The same corrections, and the same caps, as the local budget's
     * plm__budget_settle_io. */
    a_in = used_in >= 0 ? (double)used_in : (double)in;
    a_out = used_out >= 0 ? (double)used_out : (double)out;
    in_max = 4.0 * (double)in + PLM__SETTLE_INPUT_SLACK;
    if (a_in > in_max)
        a_in = in_max;
    if (a_out > (double)out)
        a_out = (double)out;
    e->delta[PLM__RL_INPUT_TOKENS] += a_in - (double)in;
    e->delta[PLM__RL_OUTPUT_TOKENS] += a_out - (double)out;
    e->delta[PLM__RL_TOKENS] += a_in - (double)in + a_out - (double)out;
}

void plm__shared_pause(plm__shared_ep *e, int64_t ms)
{
    char v[32];
    const char *argv[] = { "1", e->key[1], "pause", v };

    if (!e->sh || ms <= 0 || !plm__rconn_up(e->sh->conn))
        return;
    snprintf(v, sizeof v, "%lld", (long long)ms);
    plm__rconn_eval(e->sh->conn, NULL, NULL, 4, argv);
    /* This process's lease must not outlast the pause either. */
    give_back(e);
}

void plm__shared_learned(plm__shared_ep *e, int kind, double limit, int64_t now)
{
    char k[8], v[32];
    const char *argv[] = { "1", e->key[2], "learn", k, v, XSTR(LEARN_TTL_MS) };

    if (!e->sh || kind < 0 || kind >= PLM__RL_KINDS || !(limit > 0) ||
        !plm__rconn_up(e->sh->conn))
        return;
    if (limit == e->published[kind] &&
        now - e->published_at[kind] < LEARN_REPUBLISH_NS)
        return;
    snprintf(k, sizeof k, "%d", kind + 1);
    fmt_num(v, sizeof v, limit);
    if (plm__rconn_eval(e->sh->conn, NULL, NULL, 6, argv) != 0)
        return;
    e->published[kind] = limit;
    e->published_at[kind] = now;
}
