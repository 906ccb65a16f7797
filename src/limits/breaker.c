/*
 * Circuit breaker state machine: closed -> open on too many consecutive
 * failures or too high a failure rate over the last calls (thresholds
 * scaled by the concurrency); open -> half-open after a cool-down; half-
 * open -> closed once enough probes succeeded (the allowance growing by
 * one per success), or back to open when the probes fail; open or
 * half-open -> dead when probes kept failing for cfg.dead_ms.
 */
#include "breaker.h"

#include <string.h>

int plm__breaker_class_counts(plm_error_class cls)
{
    switch (cls) {
    case PLM_CLASS_NONE: return 0;
    case PLM_CLASS_NETWORK:
    case PLM_CLASS_TIMEOUT:
    case PLM_CLASS_OVERLOADED:
    case PLM_CLASS_SERVER: return 1;
    default: return -1;
    }
}

int plm__breaker_init(plm__breaker *b, const plm__breaker_config *cfg)
{
    plm__breaker_config c = { 0 };
    if (!b)
        return PLM_EINVAL;
    if (cfg)
        c = *cfg;
    if (c.failures < -1 || c.rate_percent < -1 || c.rate_percent > 100 ||
        c.window < 0 || c.window > PLM__BREAKER_MAX_WINDOW || c.min_calls < 0 ||
        c.cooldown_ms < 0 || c.trials < 0 || c.dead_ms < 0)
        return PLM_EINVAL;
    memset(b, 0, sizeof *b);
    b->disabled = c.failures == -1;
    if (c.rate_percent == 0)
        c.rate_percent = PLM__BREAKER_DEFAULT_RATE_PERCENT;
    if (c.cooldown_ms == 0)
        c.cooldown_ms = PLM__BREAKER_DEFAULT_COOLDOWN_MS;
    if (c.trials == 0)
        c.trials = PLM__BREAKER_DEFAULT_TRIALS;
    if (c.dead_ms == 0)
        c.dead_ms = PLM__BREAKER_DEFAULT_DEAD_MS;
    /* failures, window and min_calls stay 0 = "scaled default". */
    b->cfg = c;
    b->scale = 1;
    b->state = PLM__BREAKER_CLOSED;
    return PLM_OK;
}

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

static int threshold_failures(const plm__breaker *b)
{
    if (b->cfg.failures > 0)
        return b->cfg.failures;
    return max_int(PLM__BREAKER_DEFAULT_FAILURES, b->scale);
}

static int window_size(const plm__breaker *b)
{
    int w = b->cfg.window > 0
                ? b->cfg.window
                : max_int(PLM__BREAKER_DEFAULT_WINDOW, 2 * b->scale);
    return w < PLM__BREAKER_MAX_WINDOW ? w : PLM__BREAKER_MAX_WINDOW;
}

static int min_calls(const plm__breaker *b)
{
    int m = b->cfg.min_calls > 0
                ? b->cfg.min_calls
                : max_int(PLM__BREAKER_DEFAULT_MIN_CALLS, b->scale);
    int w = window_size(b);
    return m < w ? m : w;
}

static void window_clear(plm__breaker *b)
{
    b->count = b->head = b->failed = 0;
    b->consecutive = 0;
}

void plm__breaker_set_scale(plm__breaker *b, int concurrency)
{
    int before = window_size(b);
    b->scale = concurrency > 1 ? concurrency : 1;
    /* A ring laid out for another size is started again. */
    if (window_size(b) != before)
        window_clear(b);
}

static void window_push(plm__breaker *b, int failure)
{
    int w = window_size(b);
    if (b->count == w) {
        /* The oldest outcome sits where the next one goes. */
        b->failed -= b->outcomes[b->head];
    } else {
        b->count++;
    }
    b->outcomes[b->head] = (unsigned char)failure;
    b->failed += failure;
    b->head = (b->head + 1) % w;
}

static void trip(plm__breaker *b, int64_t now_ns)
{
    if (b->state == PLM__BREAKER_CLOSED)
        b->failing_since = now_ns;
    b->state = PLM__BREAKER_OPEN;
    b->opened_at = now_ns;
    b->trials_out = 0;
    b->trials_ok = 0;
    b->trials_failed = 0;
    window_clear(b);
}

static int64_t ms_to_ns(int64_t ms)
{
    return ms * INT64_C(1000000);
}

plm__breaker_verdict plm__breaker_peek(const plm__breaker *b, int64_t now_ns,
                                       int64_t *retry_in_ns)
{
    if (retry_in_ns)
        *retry_in_ns = 0;
    if (b->disabled || b->state == PLM__BREAKER_CLOSED)
        return PLM__BREAKER_ALLOW;
    if (b->state == PLM__BREAKER_DEAD)
        return PLM__BREAKER_DEAD_ENDPOINT;
    if (b->state == PLM__BREAKER_OPEN) {
        int64_t left = b->opened_at + ms_to_ns(b->cfg.cooldown_ms) - now_ns;
        if (left > 0) {
            if (retry_in_ns)
                *retry_in_ns = left;
            return PLM__BREAKER_REJECT;
        }
        return PLM__BREAKER_TRIAL; /* it half-opens at the next allow() */
    }
    return b->trials_out < b->cfg.trials + b->trials_ok ? PLM__BREAKER_TRIAL
                                                        : PLM__BREAKER_REJECT;
}

plm__breaker_verdict plm__breaker_allow(plm__breaker *b, int64_t now_ns,
                                        int64_t *retry_in_ns)
{
    plm__breaker_verdict v = plm__breaker_peek(b, now_ns, retry_in_ns);

    if (v != PLM__BREAKER_TRIAL)
        return v;
    if (b->state == PLM__BREAKER_OPEN) {
        b->state = PLM__BREAKER_HALF_OPEN;
        b->trials_out = 0;
        b->trials_ok = 0;
        b->trials_failed = 0;
    }
    b->trials_out++;
    return PLM__BREAKER_TRIAL;
}

/* A probe's outcome in half-open. */
static void record_trial(plm__breaker *b, int counts, int64_t now_ns)
{
    if (b->trials_out > 0)
        b->trials_out--;
    if (counts == 1) {
        b->trials_failed++;
        if (now_ns - b->failing_since >= ms_to_ns(b->cfg.dead_ms)) {
            b->state = PLM__BREAKER_DEAD;
            return;
        }
        /* The first probes failing, or more failed probes than good
         * ones: the server is still unwell. */
        if (b->trials_ok == 0 || b->trials_failed > b->trials_ok)
            trip(b, now_ns);
    } else if (counts == 0) {
        b->trials_ok++;
        if (b->trials_ok >= max_int(b->cfg.trials, b->scale)) {
            b->state = PLM__BREAKER_CLOSED;
            window_clear(b);
        }
    }
}

void plm__breaker_record(plm__breaker *b, plm_error_class cls, int was_trial,
                         int64_t now_ns)
{
    int counts = plm__breaker_class_counts(cls);
    if (b->disabled)
        return;
    if (b->state == PLM__BREAKER_HALF_OPEN && was_trial) {
        record_trial(b, counts, now_ns);
        return;
    }
    /* Stragglers sent before the breaker opened (or before it half-opened)
     * say nothing new. */
    if (b->state != PLM__BREAKER_CLOSED || counts < 0)
        return;
    window_push(b, counts);
    b->consecutive = counts ? b->consecutive + 1 : 0;
    if (b->consecutive >= threshold_failures(b)) {
        trip(b, now_ns);
        return;
    }
    if (b->cfg.rate_percent > 0 && b->count >= min_calls(b) &&
        b->failed * 100 >= b->cfg.rate_percent * b->count)
        trip(b, now_ns);
}

void plm__breaker_set_dead(plm__breaker *b)
{
    if (!b->disabled)
        b->state = PLM__BREAKER_DEAD;
}

void plm__breaker_revive(plm__breaker *b)
{
    if (b->state != PLM__BREAKER_DEAD)
        return;
    b->state = PLM__BREAKER_CLOSED;
    b->trials_out = b->trials_ok = b->trials_failed = 0;
    window_clear(b);
}

plm__breaker_state plm__breaker_get_state(const plm__breaker *b)
{
    return b->state;
}
