/* The rate budget, driven by a fake clock: hard 60 s windows, pacing,
 * refunds and charges, requests that can never fit, pauses, headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parallm.h"
#include "ratelimit.h"
#include "request.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define MINUTE (60 * SEC)

typedef struct grant {
    int64_t at;
    int64_t tokens;
} grant;

/* Largest amount granted in any window [t, t + len) starting at a grant;
 * field 0 counts requests, 1 sums tokens. */
static int64_t max_in_window(const grant *g, size_t n, int64_t len, int tokens)
{
    int64_t best = 0, sum = 0;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        while (j < n && g[j].at < g[i].at + len) {
            sum += tokens ? g[j].tokens : 1;
            j++;
        }
        if (sum > best)
            best = sum;
        sum -= tokens ? g[i].tokens : 1;
    }
    return best;
}

static uint64_t rng = 88172645463325252ULL;

static int64_t next_cost(int64_t lo, int64_t hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (int64_t)(rng % (uint64_t)(hi - lo + 1));
}

/* Asks for requests back to back for `duration`, advancing the clock to
 * each wait; returns the grants (caller frees) and their count. */
static grant *drive(plm__budget *b, int64_t start, int64_t duration, int64_t lo,
                    int64_t hi, size_t *n_out)
{
    size_t cap = 1024, n = 0;
    grant *g = malloc(cap * sizeof *g);
    assert_non_null(g);
    int64_t now = start, cost = next_cost(lo, hi);
    while (now < start + duration) {
        int64_t wait = -1;
        int rc = plm__budget_reserve(b, cost, now, &wait);
        if (rc == 0) {
            if (n == cap) {
                cap *= 2;
                g = realloc(g, cap * sizeof *g);
                assert_non_null(g);
            }
            g[n].at = now;
            g[n].tokens = cost;
            n++;
            cost = next_cost(lo, hi);
        } else {
            assert_int_equal(rc, 1);
            assert_true(wait > 0);
            assert_true(wait <= MINUTE + SEC);
            now += wait;
        }
    }
    *n_out = n;
    return g;
}

static void test_ratelimit__never_exceeds_any_minute(void **state)
{
    (void)state;
    plm__budget *b = NULL;
    plm__budget_config cfg = { .rpm = 500, .tpm = 30000 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    size_t n;
    grant *g = drive(b, 5 * SEC, 10 * MINUTE, 50, 4000, &n);
    int64_t tokens = 0;
    for (size_t i = 0; i < n; i++)
        tokens += g[i].tokens;
    assert_true(max_in_window(g, n, MINUTE, 0) <= 500);
    assert_true(max_in_window(g, n, MINUTE, 1) <= 30000);
    /* Not overly timid: at least 90% of ten minutes' tokens go out. */
    assert_true(tokens >= 10 * 30000 * 9 / 10);
    /* Paced: no second holds more than a second's rate plus the one-second
     * burst plus one request (30000/61 tokens per second, twice, plus the
     * largest request). */
    assert_true(max_in_window(g, n, SEC, 1) <= 2 * 30000 / 61 + 4000);
    free(g);
    plm__budget_free(b);
}

static void test_ratelimit__refunds_reused_within_limit(void **state)
{
    (void)state;
    /* Requests reserve max_tokens but use a part of it, reported 3 s
     * later. What was really used never exceeds the limit in any minute,
     * and refunds are spent again. */
    enum { MAXN = 8192 };
    static grant g[MAXN];
    static int64_t reserved[MAXN];
    plm__budget *b = NULL;
    plm__budget_config cfg = { .tpm = 60000 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    size_t n = 0, settled = 0;
    int64_t now = 0, end = 10 * MINUTE, used = 0;
    int64_t est = next_cost(1000, 3000);
    while (now < end && n < MAXN) {
        while (settled < n && g[settled].at + 3 * SEC <= now) {
            plm__budget_settle(b, reserved[settled], g[settled].tokens,
                               g[settled].at, g[settled].at + 3 * SEC);
            settled++;
        }
        int64_t wait = 0;
        int rc = plm__budget_reserve(b, est, now, &wait);
        if (rc == 0) {
            reserved[n] = est;
            g[n].at = now;
            g[n].tokens = est * next_cost(10, 40) / 100;
            used += g[n].tokens;
            n++;
            est = next_cost(1000, 3000);
            continue;
        }
        assert_int_equal(rc, 1);
        /* Wake at the next settle if it comes before the wait ends. */
        int64_t next = now + wait;
        if (settled < n && g[settled].at + 3 * SEC < next)
            next = g[settled].at + 3 * SEC;
        now = next > now ? next : now + 1;
    }
    assert_true(n < MAXN);
    assert_true(max_in_window(g, n, MINUTE, 1) <= 60000);
    /* Reservations in flight hold their full estimate (as the providers
     * count max_tokens when a request starts), which costs some 15% here;
     * without refunds this would be about 25%. */
    assert_true(used >= 10 * 60000 * 7 / 10);
    plm__budget_free(b);
}

static void test_ratelimit__requests_paced_evenly(void **state)
{
    (void)state;
    plm__budget *b = NULL;
    plm__budget_config cfg = { .rpm = 6000, .burst_ms = 2000 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    size_t n;
    grant *g = drive(b, 0, 5 * MINUTE, 0, 0, &n);
    assert_true(n > 4 * 6000);
    /* Thousands of grants: never over 6000 in any minute ... */
    assert_true(max_in_window(g, n, MINUTE, 0) <= 6000);
    /* ... nor more than rate + burst (about 98 + 196) in any second ... */
    int64_t per_sec = max_in_window(g, n, SEC, 0);
    assert_true(per_sec <= 6000 * 3 / 62 + 1);
    /* ... and after the opening burst, every second gets its share. */
    size_t first = 0;
    while (first < n && g[first].at < 10 * SEC)
        first++;
    int64_t min_per_sec = INT64_MAX;
    for (int64_t t = 10 * SEC; t + SEC <= 4 * MINUTE; t += SEC) {
        int64_t c = 0;
        for (size_t i = first; i < n && g[i].at < t + SEC; i++)
            if (g[i].at >= t)
                c++;
        if (c < min_per_sec)
            min_per_sec = c;
    }
    assert_true(min_per_sec >= 6000 / 62 - 1);
    free(g);
    plm__budget_free(b);
}

/* Asks for one request at a time from 7 s on for `duration`, waking up to
 * 3 ms late after each wait (a real timer's slack); returns the grants. */
static grant *drive_late(plm__budget *b, int64_t duration, size_t *n_out)
{
    size_t cap = 1024, n = 0;
    grant *g = malloc(cap * sizeof *g);
    assert_non_null(g);
    for (int64_t now = 7 * SEC; now < 7 * SEC + duration;) {
        int64_t wait = -1;
        int rc = plm__budget_reserve(b, 1, now, &wait);
        if (rc == 1) {
            assert_true(wait > 0);
            now += wait + next_cost(0, 3 * MS);
            continue;
        }
        assert_int_equal(rc, 0);
        if (n == cap) {
            cap *= 2;
            g = realloc(g, cap * sizeof *g);
            assert_non_null(g);
        }
        g[n].at = now;
        g[n++].tokens = 1;
    }
    *n_out = n;
    return g;
}

static void test_ratelimit__no_second_over_one_and_a_half(void **state)
{
    (void)state;
    /* Providers may enforce a per-minute limit over shorter periods: from
     * the first grant on, no 1 s window may hold more than 1.5 times the
     * per-second rate (the first second used to hold twice), while the
     * run still gets at least 95% of the limit. */
    static const double rpms[] = { 50, 600, 1200, 6000, 60000 };
    for (size_t i = 0; i < sizeof rpms / sizeof rpms[0]; i++) {
        plm__budget *b = NULL;
        plm__budget_config cfg = { .rpm = rpms[i] };
        assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
        size_t n;
        grant *g = drive_late(b, 3 * MINUTE, &n);
        double per_sec = rpms[i] / 60.0;
        int64_t worst = max_in_window(g, n, SEC, 0);
        double secs = (double)(g[n - 1].at - g[0].at) / (double)SEC;
        double rate = (double)(n - 1) / secs;
        print_message("rpm %.0f: worst 1 s window %lld (%.2fx), run %.1f%%\n",
                      rpms[i], (long long)worst, (double)worst / per_sec,
                      100 * rate / per_sec);
        /* (One request always goes: under 40 RPM it alone is over 1.5
         * times a second's rate.) */
        if ((double)worst > 1.5 * per_sec && worst > 1)
            fail_msg("rpm %.0f: %lld in one second (rate %.2f/s)", rpms[i],
                     (long long)worst, per_sec);
        /* Over the run: at least 95% of the limit. */
        if (rate < 0.95 * per_sec)
            fail_msg("rpm %.0f: %.3f/s over the run", rpms[i], rate);
        assert_true(max_in_window(g, n, MINUTE, 0) <= (int64_t)rpms[i]);
        free(g);
        plm__budget_free(b);
    }
}

static void test_ratelimit__too_big_fails_at_once(void **state)
{
    (void)state;
    plm__budget *b = NULL;
    plm__budget_config cfg = { .tpm = 30000 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    int64_t wait = 99;
    assert_int_equal(plm__budget_reserve(b, 30001, 0, &wait), PLM_EBUDGET);
    assert_int_equal(wait, 0);
    assert_int_equal(plm__budget_reserve(b, INT64_MAX, 0, NULL), PLM_EBUDGET);
    assert_int_equal(plm__budget_reserve_io(b, INT64_MAX, 5, 0, NULL),
                     PLM_EBUDGET);
    assert_int_equal(plm__budget_reserve(b, -1, 0, NULL), PLM_EINVAL);
    assert_int_equal(plm__budget_reserve(NULL, 1, 0, NULL), PLM_EINVAL);
    /* Exactly the limit fits when idle, and then the minute is spent. */
    assert_int_equal(plm__budget_reserve(b, 30000, SEC, &wait), 0);
    assert_int_equal(plm__budget_reserve(b, 1, SEC, &wait), 1);
    assert_true(wait > 59 * SEC && wait <= 62 * SEC);
    plm__budget_free(b);
}

static void test_ratelimit__refund_and_charge(void **state)
{
    (void)state;
    plm__budget *b = NULL;
    plm__budget_config cfg = { .tpm = 6000 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    int64_t t0 = 100 * SEC, wait = 0;
    assert_int_equal(plm__budget_reserve(b, 6000, t0, &wait), 0);
    assert_int_equal(plm__budget_reserve(b, 50, t0 + MS, &wait), 1);
    assert_true(wait > 50 * SEC);
    /* The answer used 100 tokens: 5900 come back. */
    plm__budget_settle(b, 6000, 100, t0, t0 + 2 * MS);
    /* Only the pacing debt of the 100 used tokens remains (a little over
     * the one-second burst of 6000/61). */
    int rc = plm__budget_reserve(b, 50, t0 + 2 * MS, &wait);
    if (rc == 1) {
        assert_true(wait < 100 * MS);
        rc = plm__budget_reserve(b, 50, t0 + 2 * MS + wait, &wait);
    }
    assert_int_equal(rc, 0);
    /* "Not reported" changes nothing. */
    plm__budget_settle(b, 50, -1, t0 + 2 * MS, t0 + 3 * MS);
    plm__budget_free(b);

    /* Under-estimates are charged (up to 4x the input estimate plus
     * PLM__SETTLE_INPUT_SLACK): the minute is then spent. */
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    assert_int_equal(plm__budget_reserve(b, 1500, t0, &wait), 0);
    plm__budget_settle(b, 1500, 6000, t0, t0 + SEC);
    assert_int_equal(plm__budget_reserve(b, 10, t0 + SEC, &wait), 1);
    assert_true(wait > 50 * SEC);
    /* After the charge has left the window, it fits again. */
    assert_int_equal(plm__budget_reserve(b, 10, t0 + SEC + wait, &wait), 0);
    plm__budget_free(b);
}

static void test_ratelimit__reported_usage_is_capped(void **state)
{
    (void)state;
    /* A server reporting INT64_MAX tokens is charged what the request
     * could have used (4 x 100 + 1024 input, 50 output), not INT64_MAX:
     * the next request goes within seconds, not never. */
    plm__budget *b = NULL;
    plm__budget_config cfg = { .tpm = 60000,
                               .input_tpm = 60000,
                               .output_tpm = 60000 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    int64_t wait = 0, now = SEC;
    assert_int_equal(plm__budget_reserve_io(b, 100, 50, now, &wait), 0);
    plm__budget_settle_io(b, 100, 50, INT64_MAX, INT64_MAX, now, now + MS);
    int rc;
    int asks = 0;
    while ((rc = plm__budget_reserve_io(b, 100, 50, now, &wait)) == 1) {
        assert_true(++asks < 100);
        now += wait;
    }
    assert_int_equal(rc, 0);
    /* 1474 charged at 60000/61 per second, a burst of about 984: the
     * second request waits well under two seconds. */
    assert_true(now - SEC < 2 * SEC);
    plm__budget_free(b);
}

static void test_ratelimit__refund_is_not_double_counted(void **state)
{
    (void)state;
    /* A refund goes back to the slot of its own reservation, so a later
     * grant stays counted for its full 60 s. */
    plm__budget *b = NULL;
    plm__budget_config cfg = { .tpm = 1000, .burst_ms = 60000 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    int64_t wait;
    assert_int_equal(plm__budget_reserve(b, 500, 0, &wait), 0);
    assert_int_equal(plm__budget_reserve(b, 500, 30 * SEC, &wait), 0);
    plm__budget_settle(b, 500, 0, 0, 31 * SEC);
    /* At 62 s the first grant is gone anyway; the second still counts. */
    assert_int_equal(plm__budget_reserve(b, 600, 62 * SEC, &wait), 1);
    assert_int_equal(plm__budget_reserve(b, 500, 62 * SEC, &wait), 0);
    plm__budget_free(b);
}

static void test_ratelimit__pause_until(void **state)
{
    (void)state;
    plm__budget *b = NULL;
    assert_int_equal(plm__budget_new(&b, NULL), PLM_OK);
    int64_t wait;
    assert_int_equal(plm__budget_reserve(b, 10, SEC, &wait), 0);
    plm__budget_pause_until(b, 5 * SEC);
    plm__budget_pause_until(b, 3 * SEC); /* earlier: ignored */
    assert_int_equal(plm__budget_reserve(b, 10, 2 * SEC, &wait), 1);
    assert_int_equal(wait, 3 * SEC);
    assert_int_equal(plm__budget_reserve(b, 10, 5 * SEC, &wait), 0);
    plm__budget_free(b);
}

static plm__rl_state one_meter(plm__rl_kind k, int64_t limit, int64_t remaining,
                               int64_t reset_ns)
{
    plm__rl_state st;
    memset(&st, 0, sizeof st);
    plm__rl_meter_state *m = &st.meter[k];
    m->has_limit = limit >= 0;
    m->limit = limit;
    m->has_remaining = remaining >= 0;
    m->remaining = remaining;
    m->has_reset = reset_ns >= 0;
    m->reset_after_ns = reset_ns;
    return st;
}

static void test_ratelimit__observe_learns_limit(void **state)
{
    (void)state;
    plm__budget *b = NULL;
    assert_int_equal(plm__budget_new(&b, NULL), PLM_OK);
    assert_true(plm__budget_limit(b, PLM__RL_REQUESTS) == 0);
    plm__rl_state st = one_meter(PLM__RL_REQUESTS, 60, -1, -1);
    plm__budget_observe(b, &st, 0);
    assert_true(plm__budget_limit(b, PLM__RL_REQUESTS) == 60);
    st = one_meter(PLM__RL_TOKENS, 1000, -1, -1);
    plm__budget_observe(b, &st, 0);
    assert_int_equal(plm__budget_reserve(b, 1001, 0, NULL), PLM_EBUDGET);
    /* The learned rate paces: 60 requests can't go in one second. */
    int granted = 0;
    for (int i = 0; i < 60; i++)
        if (plm__budget_reserve(b, 0, SEC, NULL) == 0)
            granted++;
    assert_true(granted >= 1 && granted <= 3);
    plm__budget_free(b);

    /* A configured limit lower than the provider's stays; a higher one is
     * lowered; learning off keeps the configuration. */
    plm__budget_config cfg = { .rpm = 30, .tpm = 5000, .learn_limits = 1 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    st = one_meter(PLM__RL_REQUESTS, 60, -1, -1);
    plm__budget_observe(b, &st, 0);
    st = one_meter(PLM__RL_TOKENS, 1000, -1, -1);
    plm__budget_observe(b, &st, 0);
    assert_true(plm__budget_limit(b, PLM__RL_REQUESTS) == 30);
    assert_true(plm__budget_limit(b, PLM__RL_TOKENS) == 1000);
    plm__budget_free(b);
    cfg.learn_limits = 0;
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    plm__budget_observe(b, &st, 0);
    assert_true(plm__budget_limit(b, PLM__RL_TOKENS) == 5000);
    plm__budget_free(b);
}

static void test_ratelimit__observe_clamps_to_remaining(void **state)
{
    (void)state;
    plm__budget *b = NULL;
    plm__budget_config cfg = { .learn_limits = 0 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    /* No limit known: 1000 tokens left until the reset in 10 s. */
    plm__rl_state st = one_meter(PLM__RL_TOKENS, -1, 1000, 10 * SEC);
    int64_t t0 = 50 * SEC, wait;
    plm__budget_observe(b, &st, t0);
    assert_int_equal(plm__budget_reserve(b, 800, t0, &wait), 0);
    assert_int_equal(plm__budget_reserve(b, 300, t0 + SEC, &wait), 1);
    assert_int_equal(wait, 9 * SEC);
    assert_int_equal(plm__budget_reserve(b, 200, t0 + SEC, &wait), 0);
    /* A refund of a grant made under this observation gives room back. */
    plm__budget_settle(b, 800, 500, t0, t0 + 2 * SEC);
    assert_int_equal(plm__budget_reserve(b, 300, t0 + 2 * SEC, &wait), 0);
    /* After the reset, the observation no longer binds. */
    assert_int_equal(plm__budget_reserve(b, 5000, t0 + 10 * SEC, &wait), 0);
    plm__budget_free(b);

    /* With the limit known, the provider's bucket refills linearly: empty
     * with 60 s to full at 60000 per minute means 1000 a second. */
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    st = one_meter(PLM__RL_TOKENS, 60000, 0, 60 * SEC);
    plm__budget_observe(b, &st, t0);
    assert_int_equal(plm__budget_reserve(b, 1000, t0, &wait), 1);
    assert_true(wait >= SEC && wait <= SEC + MS);
    assert_int_equal(plm__budget_reserve(b, 1000, t0 + wait, &wait), 0);
    /* A reset longer than a day is not trusted. */
    st = one_meter(PLM__RL_REQUESTS, -1, 0, 25 * 3600 * SEC);
    plm__budget_observe(b, &st, t0);
    assert_int_equal(plm__budget_reserve(b, 0, t0 + 5 * SEC, &wait), 0);
    plm__budget_free(b);
}

static void test_ratelimit__input_output_meters(void **state)
{
    (void)state;
    plm__budget *b = NULL;
    plm__budget_config cfg = { .input_tpm = 1000, .output_tpm = 500 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    int64_t wait;
    assert_int_equal(plm__budget_reserve_io(b, 100, 600, 0, &wait),
                     PLM_EBUDGET);
    assert_int_equal(plm__budget_reserve_io(b, 900, 400, 0, &wait), 0);
    /* Input is spent for now; output is too. */
    assert_int_equal(plm__budget_reserve_io(b, 200, 0, 0, &wait), 1);
    assert_true(wait > 10 * SEC);
    assert_int_equal(plm__budget_reserve_io(b, 0, 1, 0, &wait), 1);
    assert_true(wait > 10 * SEC);
    /* Output came in far under max_tokens: refunded to the output meter,
     * which no longer holds requests back; input still does. */
    plm__budget_settle_io(b, 900, 400, 900, 10, 0, SEC);
    assert_int_equal(plm__budget_reserve_io(b, 1, 0, SEC, &wait), 1);
    assert_int_equal(plm__budget_reserve_io(b, 0, 5, SEC, &wait), 0);
    plm__budget_free(b);
}

static void test_ratelimit__estimate(void **state)
{
    (void)state;
    assert_int_equal(plm__token_estimate(0, -1, 0), 0);
    assert_int_equal(plm__token_estimate(4, 0, 1), 1);
    assert_int_equal(plm__token_estimate(5, 0, 1), 2);
    assert_int_equal(plm__token_estimate(400, 256, 1), 356);
    assert_int_equal(plm__token_estimate(400, 256, 3), 868);
    assert_int_equal(plm__token_estimate(400, 256, -2), 356);
    assert_true(plm__token_estimate(8, INT64_MAX, 2) == INT64_MAX);
    assert_true(plm__token_estimate(SIZE_MAX, 0, 1) <= INT64_MAX);
    /* A saturated estimate can never fit, rather than wrapping. */
    plm__budget *b = NULL;
    plm__budget_config cfg = { .tpm = 1000 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    assert_int_equal(plm__budget_reserve(
                         b, plm__token_estimate(8, INT64_MAX / 2, 3), 0, NULL),
                     PLM_EBUDGET);
    plm__budget_free(b);
}

static void test_ratelimit__bad_config(void **state)
{
    (void)state;
    plm__budget *b = (plm__budget *)&b;
    plm__budget_config cfg = { .rpm = -1 };
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_EINVAL);
    assert_null(b);
    cfg.rpm = 0;
    cfg.burst_ms = -5;
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_EINVAL);
    assert_int_equal(plm__budget_new(NULL, NULL), PLM_EINVAL);
    cfg.burst_ms = 0;
    cfg.tpm = 1.0 / 0.0;
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_EINVAL);
    cfg.tpm = 0.0 / 0.0;
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_EINVAL);
    cfg.tpm = 0;
    assert_int_equal(plm__budget_new(&b, &cfg), PLM_OK);
    /* Lowering a limit under a large debt waits, boundedly. */
    int64_t wait;
    cfg.tpm = 2e6;
    assert_int_equal(plm__budget_configure(b, &cfg), PLM_OK);
    assert_int_equal(plm__budget_reserve(b, 1000000, 0, &wait), 0);
    cfg.tpm = 1;
    assert_int_equal(plm__budget_configure(b, &cfg), PLM_OK);
    assert_int_equal(plm__budget_reserve(b, 1, 0, &wait), 1);
    assert_true(wait > 59 * SEC && wait <= 61 * SEC + 1);
    cfg.rpm = 1;
    assert_int_equal(plm__budget_configure(b, &cfg), PLM_OK);
    cfg.rpm = -1;
    assert_int_equal(plm__budget_configure(b, &cfg), PLM_EINVAL);
    assert_true(plm__budget_limit(b, PLM__RL_REQUESTS) == 1);
    plm__budget_free(b);
    plm__budget_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit__never_exceeds_any_minute),
        cmocka_unit_test(test_ratelimit__refunds_reused_within_limit),
        cmocka_unit_test(test_ratelimit__requests_paced_evenly),
        cmocka_unit_test(test_ratelimit__no_second_over_one_and_a_half),
        cmocka_unit_test(test_ratelimit__too_big_fails_at_once),
        cmocka_unit_test(test_ratelimit__refund_and_charge),
        cmocka_unit_test(test_ratelimit__reported_usage_is_capped),
        cmocka_unit_test(test_ratelimit__refund_is_not_double_counted),
        cmocka_unit_test(test_ratelimit__pause_until),
        cmocka_unit_test(test_ratelimit__observe_learns_limit),
        cmocka_unit_test(test_ratelimit__observe_clamps_to_remaining),
        cmocka_unit_test(test_ratelimit__input_output_meters),
        cmocka_unit_test(test_ratelimit__estimate),
        cmocka_unit_test(test_ratelimit__bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
