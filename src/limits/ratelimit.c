/*
 * The rate budget. Each meter (requests, tokens, input tokens, output
 * tokens) enforces three things at once:
 *   - pacing (GCRA): a debt drained at limit / (60 s + burst). Requests
 *     meter: a request goes only if the debt *after* charging it stays
 *     within half the burst, so any window of T seconds holds at most
 *     (T + burst / 2) worth of the pace from the very first grant on (1.5
 *     s worth in any 1 s window with the default 1 s burst). Token meters:
 *     a request goes while the debt *before* it is at most the burst
 *     (estimates are large and mostly refunded later), so a window of T
 *     seconds holds at most (T + burst) worth plus one request. A
 *     minute's budget goes out evenly, never in one burst (providers may
 *     enforce a per-minute limit over shorter windows);
 *   - a hard sliding 60-second window kept in 250 ms slots, which
 *     guarantees the limit in any 60 s window even when large requests,
 *     late charges or limit changes upset the pacing arithmetic;
 *   - the provider's own view from its headers (remaining and reset),
 *     modelled as its bucket refilling linearly to the limit by the reset.
 * A request is granted only when every meter agrees; otherwise nothing is
 * charged and the caller learns the longest of the meters' waits.
 */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parallm.h"

#define WINDOW_NS INT64_C(60000000000)
#define SLOT_NS INT64_C(250000000)
/* 60 s / 250 ms = 240 slots live at most (plus the current one). */
#define SLOTS 256

typedef struct meter {
    double configured; /* per minute, 0 = none */
    double learned;    /* per minute from headers, 0 = none */
    double level;      /* pacing debt in units at level_at */
    int64_t level_at;
    int64_t slot_idx[SLOTS]; /* absolute slot number held, or -1 */
    double slot_amount[SLOTS];
    /* The provider's last word (plm__budget_observe). */
    int cap_on;
    double cap_remaining, cap_limit, cap_granted;
    int64_t cap_from, cap_until;
} meter;

struct plm__budget {
    meter m[PLM__RL_KINDS];
    int64_t burst_ns;
    int learn;
    int paused;
    int64_t paused_until;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static double meter_limit(const meter *m)
{
    if (m->configured > 0 && m->learned > 0)
        return m->configured < m->learned ? m->configured : m->learned;
    return m->configured > 0 ? m->configured : m->learned;
}

/* Units per nanosecond at which the pacing debt drains. */
static double meter_rate(const plm__budget *b, const meter *m)
{
    return meter_limit(m) / (double)(WINDOW_NS + b->burst_ns);
}

static double level_at(const plm__budget *b, const meter *m, int64_t now)
{
    double drained = (double)(now - m->level_at) * meter_rate(b, m);
    double v = m->level - (now > m->level_at ? drained : 0);
    return v > 0 ? v : 0;
}

/* A slot still counts at now unless it ended more than a window ago: a
 * grant made in it is then certainly older than 60 s. */
static int slot_live(const meter *m, int64_t idx, int64_t now)
{
    int s = (int)(((idx % SLOTS) + SLOTS) % SLOTS);
    return m->slot_idx[s] == idx && (idx + 1) * SLOT_NS + WINDOW_NS > now;
}

static double window_sum(const meter *m, int64_t now)
{
    int64_t cur = floor_div(now, SLOT_NS);
    double sum = 0;
    for (int64_t k = cur - SLOTS + 1; k <= cur; k++)
        if (slot_live(m, k, now))
            sum += m->slot_amount[((k % SLOTS) + SLOTS) % SLOTS];
    return sum;
}

/* Nanoseconds until enough of the window expires for `cost` to fit. */
static int64_t window_wait(const meter *m, double limit, double cost,
                           int64_t now)
{
    double excess = window_sum(m, now) + cost - limit;
    if (excess <= 0)
        return 0;
    int64_t cur = floor_div(now, SLOT_NS);
    double freed = 0;
    for (int64_t k = cur - SLOTS + 1; k <= cur; k++) {
        if (!slot_live(m, k, now))
            continue;
        freed += m->slot_amount[((k % SLOTS) + SLOTS) % SLOTS];
        if (freed >= excess)
            return (k + 1) * SLOT_NS + WINDOW_NS - now;
    }
    /* Unreachable when cost <= limit; wait a full window to be safe. */
    return WINDOW_NS;
}

static void window_add(meter *m, double amount, int64_t at)
{
    int64_t idx = floor_div(at, SLOT_NS);
    int s = (int)(((idx % SLOTS) + SLOTS) % SLOTS);
    if (m->slot_idx[s] != idx) {
        m->slot_idx[s] = idx;
        m->slot_amount[s] = 0;
    }
    m->slot_amount[s] += amount;
}

/* Takes amount back out of the slot it went into, if still held. */
static void window_remove(meter *m, double amount, int64_t at)
{
    int64_t idx = floor_div(at, SLOT_NS);
    int s = (int)(((idx % SLOTS) + SLOTS) % SLOTS);
    if (m->slot_idx[s] != idx)
        return;
    m->slot_amount[s] -= amount < m->slot_amount[s] ? amount
                                                    : m->slot_amount[s];
}

/* How much the provider would still accept at now, by its last word. */
static double cap_available(const meter *m, int64_t now)
{
    double avail = m->cap_remaining;
    int64_t span = m->cap_until - m->cap_from;
    if (m->cap_limit > m->cap_remaining && span > 0)
        avail += (m->cap_limit - m->cap_remaining) *
                 (double)(now - m->cap_from) / (double)span;
    return avail - m->cap_granted;
}

static int64_t cap_wait(meter *m, double cost, int64_t now)
{
    if (!m->cap_on)
        return 0;
    if (now >= m->cap_until) {
        m->cap_on = 0;
        return 0;
    }
    if (cost <= cap_available(m, now))
        return 0;
    int64_t span = m->cap_until - m->cap_from;
    if (m->cap_limit > m->cap_remaining && span > 0) {
        double need = cost + m->cap_granted - m->cap_remaining;
        double t = (double)m->cap_from +
                   need * (double)span / (m->cap_limit - m->cap_remaining);
        if (t < (double)m->cap_until)
            return (int64_t)ceil(t) - now + 1;
    }
    return m->cap_until - now;
}

/* The longest wait this meter imposes on cost at now (0 = fits). */
static int64_t meter_wait(plm__budget *b, meter *m, double cost, int strict,
                          int64_t now)
{
    /* A request that costs this meter nothing (no separate output
     * estimate, say) is not held back by the meter's debt. */
    if (cost <= 0)
        return 0;
    int64_t wait = cap_wait(m, cost, now);
    double limit = meter_limit(m);
    if (limit <= 0)
        return wait;
    /* strict (the requests meter): the debt after this grant must stay
     * within half the burst (0 debt when one request is more than that),
     * so with the default 1 s burst no 1 s window holds more than 1.5 s
     * of the pace, the first second included; checking the debt before
     * the charge let the whole burst *plus* a second's rate through in
     * the first second. Token meters check the debt before the charge
     * against the whole burst: an estimate is usually larger than the
     * burst and mostly refunded seconds later, and holding it to the
     * strict rule serializes grants on the refunds (the unit test of
     * refunds then uses 45% of the limit instead of over 70%). */
    double burst_units = meter_rate(b, m) * (double)b->burst_ns;
    double half = burst_units / 2;
    double room = !strict ? burst_units : half > cost ? half - cost : 0;
    double over = level_at(b, m, now) - room;
    if (over > 0) {
        /* Bounded by a window plus the burst unless the limit was just
         * lowered under a large debt; then wait that long and ask again
         * (and never convert an out-of-range double). */
        double cap = (double)(WINDOW_NS + b->burst_ns);
        double x = ceil(over / meter_rate(b, m)) + 1;
        int64_t w = x < cap ? (int64_t)x : (int64_t)cap;
        if (w > wait)
            wait = w;
    }
    int64_t w = window_wait(m, limit, cost, now);
    return w > wait ? w : wait;
}

static void meter_charge(plm__budget *b, meter *m, double cost, int64_t now)
{
    if (meter_limit(m) > 0) {
        m->level = level_at(b, m, now) + cost;
        m->level_at = now;
    }
    window_add(m, cost, now);
    if (m->cap_on)
        m->cap_granted += cost;
}

/* A negative cost is a refund of a charge made at `at`. */
static void meter_adjust(plm__budget *b, meter *m, double delta, int64_t at,
                         int64_t now)
{
    if (delta > 0) {
        meter_charge(b, m, delta, now);
        return;
    }
    double refund = -delta;
    if (meter_limit(m) > 0) {
        double lv = level_at(b, m, now) - refund;
        m->level = lv > 0 ? lv : 0;
        m->level_at = now;
    }
    window_remove(m, refund, at);
    if (m->cap_on && at >= m->cap_from)
        m->cap_granted -= refund < m->cap_granted ? refund : m->cap_granted;
}

int plm__per_minute_ok(double v)
{
    /* Rejects NaN and infinities too; 1e15 per minute is beyond any
     * provider and keeps every product with nanoseconds finite. */
    return isfinite(v) && v >= 0 && v <= PLM__PER_MINUTE_MAX;
}

static int config_valid(const plm__budget_config *c)
{
    return plm__per_minute_ok(c->rpm) && plm__per_minute_ok(c->tpm) &&
           plm__per_minute_ok(c->input_tpm) &&
           plm__per_minute_ok(c->output_tpm) && c->burst_ms >= 0 &&
           c->burst_ms <= 3600 * 1000;
}

int plm__budget_configure(plm__budget *b, const plm__budget_config *cfg)
{
    plm__budget_config dflt = { 0 };
    if (!b)
        return PLM_EINVAL;
    if (!cfg) {
        dflt.learn_limits = 1;
        cfg = &dflt;
    }
    if (!config_valid(cfg))
        return PLM_EINVAL;
    b->m[PLM__RL_REQUESTS].configured = cfg->rpm;
    b->m[PLM__RL_TOKENS].configured = cfg->tpm;
    b->m[PLM__RL_INPUT_TOKENS].configured = cfg->input_tpm;
    b->m[PLM__RL_OUTPUT_TOKENS].configured = cfg->output_tpm;
    b->burst_ns = (cfg->burst_ms ? cfg->burst_ms
                                 : PLM__BUDGET_DEFAULT_BURST_MS) *
                  INT64_C(1000000);
    b->learn = cfg->learn_limits != 0;
    return PLM_OK;
}

int plm__budget_new(plm__budget **out, const plm__budget_config *cfg)
{
    plm__budget *b = NULL;
    int rc;
    if (!out)
        return PLM_EINVAL;
    *out = NULL;
    b = calloc(1, sizeof *b);
    if (!b)
        return PLM_ENOMEM;
    for (int k = 0; k < PLM__RL_KINDS; k++)
        for (int s = 0; s < SLOTS; s++)
            b->m[k].slot_idx[s] = INT64_MIN;
    rc = plm__budget_configure(b, cfg);
    if (rc != PLM_OK)
        goto fail;
    *out = b;
    return PLM_OK;
fail:
    free(b);
    return rc;
}

void plm__budget_free(plm__budget *b)
{
    free(b);
}

int plm__budget_reserve_io(plm__budget *b, int64_t input_tokens,
                           int64_t output_tokens, int64_t now_ns,
                           int64_t *wait_ns)
{
    if (wait_ns)
        *wait_ns = 0;
    if (!b || input_tokens < 0 || output_tokens < 0)
        return PLM_EINVAL;
    if (input_tokens > INT64_MAX - output_tokens)
        return PLM_EBUDGET;
    double cost[PLM__RL_KINDS] = { 1, (double)(input_tokens + output_tokens),
                                   (double)input_tokens,
                                   (double)output_tokens };

    for (int k = 0; k < PLM__RL_KINDS; k++) {
        double limit = meter_limit(&b->m[k]);
        if (limit > 0 && cost[k] > limit)
            return PLM_EBUDGET;
    }
    int64_t wait = 0;
    if (b->paused && now_ns < b->paused_until)
        wait = b->paused_until - now_ns;
    for (int k = 0; k < PLM__RL_KINDS; k++) {
        int64_t w = meter_wait(b, &b->m[k], cost[k], k == PLM__RL_REQUESTS,
                               now_ns);
        if (w > wait)
            wait = w;
    }
    if (wait > 0) {
        if (wait_ns)
            *wait_ns = wait;
        return 1;
    }
    for (int k = 0; k < PLM__RL_KINDS; k++)
        meter_charge(b, &b->m[k], cost[k], now_ns);
    return 0;
}

int plm__budget_reserve(plm__budget *b, int64_t tokens, int64_t now_ns,
                        int64_t *wait_ns)
{
    return plm__budget_reserve_io(b, tokens, 0, now_ns, wait_ns);
}

void plm__budget_settle_io(plm__budget *b, int64_t reserved_input,
                           int64_t reserved_output, int64_t actual_input,
                           int64_t actual_output, int64_t reserved_at_ns,
                           int64_t now_ns)
{
    if (!b || reserved_input < 0 || reserved_output < 0)
        return;
    /* An unreported part counts as what was reserved for it. */
    double in = actual_input >= 0 ? (double)actual_input
                                  : (double)reserved_input;
    double outp = actual_output >= 0 ? (double)actual_output
                                     : (double)reserved_output;
    /* A server reporting more than the request could have used (up to
     * INT64_MAX) would otherwise hold the meters for ever. */
    double in_max = 4.0 * (double)reserved_input + PLM__SETTLE_INPUT_SLACK;
    if (in > in_max)
        in = in_max;
    if (outp > (double)reserved_output)
        outp = (double)reserved_output;
    double d_in = in - (double)reserved_input;
    double d_out = outp - (double)reserved_output;
    if (d_in != 0)
        meter_adjust(b, &b->m[PLM__RL_INPUT_TOKENS], d_in, reserved_at_ns,
                     now_ns);
    if (d_out != 0)
        meter_adjust(b, &b->m[PLM__RL_OUTPUT_TOKENS], d_out, reserved_at_ns,
                     now_ns);
    if (d_in + d_out != 0)
        meter_adjust(b, &b->m[PLM__RL_TOKENS], d_in + d_out, reserved_at_ns,
                     now_ns);
}

void plm__budget_settle(plm__budget *b, int64_t reserved_tokens,
                        int64_t actual_tokens, int64_t reserved_at_ns,
                        int64_t now_ns)
{
    plm__budget_settle_io(b, reserved_tokens, 0, actual_tokens,
                          actual_tokens >= 0 ? 0 : -1, reserved_at_ns, now_ns);
}

void plm__budget_pause_until(plm__budget *b, int64_t until_ns)
{
    if (!b)
        return;
    if (!b->paused || until_ns > b->paused_until) {
        b->paused = 1;
        b->paused_until = until_ns;
    }
}

void plm__budget_observe(plm__budget *b, const plm__rl_state *st,
                         int64_t now_ns)
{
    if (!b || !st)
        return;
    for (int k = 0; k < PLM__RL_KINDS; k++) {
        const plm__rl_meter_state *s = &st->meter[k];
        meter *m = &b->m[k];
        if (s->has_limit && s->limit > 0 && b->learn)
            m->learned = (double)s->limit;
        if (!s->has_remaining || !s->has_reset)
            continue;
        /* A reset further away than a day is not a per-minute meter we
         * understand; ignore it rather than stall for that long. */
        if (s->reset_after_ns > 24 * 3600 * INT64_C(1000000000))
            continue;
        m->cap_on = 1;
        m->cap_remaining = (double)s->remaining;
        m->cap_limit = s->has_limit ? (double)s->limit : 0;
        m->cap_granted = 0;
        m->cap_from = now_ns;
        m->cap_until = now_ns + s->reset_after_ns;
    }
}

double plm__budget_limit(const plm__budget *b, plm__rl_kind kind)
{
    if (!b || kind < 0 || kind >= PLM__RL_KINDS)
        return 0;
    return meter_limit(&b->m[kind]);
}

int plm__budget_paused(const plm__budget *b, int64_t now_ns)
{
    return b && b->paused && now_ns < b->paused_until;
}

double plm__budget_remaining(const plm__budget *b, plm__rl_kind kind,
                             int64_t now_ns)
{
    const meter *m;
    double limit, left = -1;

    if (!b || kind < 0 || kind >= PLM__RL_KINDS)
        return -1;
    m = &b->m[kind];
    limit = meter_limit(m);
    if (limit > 0) {
        left = limit - window_sum(m, now_ns);
        if (left < 0)
            left = 0;
    }
    if (m->cap_on && now_ns < m->cap_until) {
        double cap = cap_available(m, now_ns);
        if (cap < 0)
            cap = 0;
        if (left < 0 || cap < left)
            left = cap;
    }
    return left;
}
