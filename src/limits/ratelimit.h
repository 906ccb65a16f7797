/*
 * The rate budget of one endpoint (one provider base URL and key): answers
 * "may this request go now, and if not, when?" for requests per minute,
 * tokens per minute and, for Anthropic, input and output tokens per minute.
 * Pure: no threads, no clock of its own; every call takes the monotonic
 * time in nanoseconds. Not thread-safe: one owner (the event loop). The engine
 * owns fairness (it asks for the head of its queue only), the budget only
 * answers "when".
 */
#ifndef PLM_RATELIMIT_H
#define PLM_RATELIMIT_H

#include <stdint.h>

#include "rlheaders.h"

/* The largest per-minute limit accepted anywhere (options, headers). */
#define PLM__PER_MINUTE_MAX 1e15

/* 1 when v is a usable per-minute limit: finite, 0 (none) to
 * PLM__PER_MINUTE_MAX. The one check every limit value goes through. */
int plm__per_minute_ok(double v);

/* Default burst: one second's worth of each meter. */
#define PLM__BUDGET_DEFAULT_BURST_MS 1000

typedef struct plm__budget plm__budget;

typedef struct plm__budget_config {
    /* Limits per minute; 0 = none configured (learned from headers when
     * learn_limits is set; until then unlimited). Negative is EINVAL. */
    double rpm, tpm, input_tpm, output_tpm;
    /* Burst allowance in milliseconds of each meter's rate; 0 = default
     * (PLM__BUDGET_DEFAULT_BURST_MS). Requests are paced at
     * limit / (60 s + burst), so that even the burst cannot push any
     * 60-second window past the limit. */
    int64_t burst_ms;
    /* 1: take limits the provider reports for meters not configured (and
     * lower a configured limit to the provider's when that is smaller). */
    int learn_limits;
} plm__budget_config;

/* Creates a budget. cfg may be NULL (no limits, learning on). Returns
 * PLM_OK, PLM_EINVAL or PLM_ENOMEM. */
int plm__budget_new(plm__budget **out, const plm__budget_config *cfg);
void plm__budget_free(plm__budget *b);

/* Changes the limits; what was already granted stays counted. Returns
 * PLM_OK or PLM_EINVAL (nothing changed). */
int plm__budget_configure(plm__budget *b, const plm__budget_config *cfg);

/*
 * Asks for one request costing input_tokens + output_tokens (the estimate:
 * prompt/4 characters plus max_tokens * n). The tokens meter is charged
 * the sum, the input and output meters their part, the requests meter 1.
 * Returns:
 *   0            granted; every meter is charged now;
 *   1            not now: nothing is charged, *wait_ns (> 0) says how long
 *                until it may fit; ask again then (something else, e.g. a
 *                refund, may make it fit earlier);
 *   PLM_EBUDGET  the cost exceeds a meter's per-minute limit, so it can
 *                never fit: fail the request at once;
 *   PLM_EINVAL   a negative cost or NULL argument.
 * wait_ns may be NULL. Not a queue: each call is independent, so the
 * caller must keep asking for the same (oldest) request first, or a large
 * request starves behind small ones.
 */
int plm__budget_reserve_io(plm__budget *b, int64_t input_tokens,
                           int64_t output_tokens, int64_t now_ns,
                           int64_t *wait_ns);

/* plm__budget_reserve_io(b, tokens, 0, ...): one request, tokens total. */
int plm__budget_reserve(plm__budget *b, int64_t tokens, int64_t now_ns,
                        int64_t *wait_ns);

/* Tokens of input a request may use beyond 4 x its input estimate
 * (message framing, tool definitions, an image). */
#define PLM__SETTLE_INPUT_SLACK 1024.0

/*
 * Corrects a granted reservation with the usage the answer reported
 * (negative actual values mean "not reported": nothing changes for that
 * part). Over-estimates are refunded, under-estimates charged now, up to
 * what the request could have used: input at most 4 x reserved_input +
 * PLM__SETTLE_INPUT_SLACK (a token covers at least one byte of text, and
 * the estimate is a quarter of the prompt's bytes), output at most
 * reserved_output (max_tokens x n, which the provider enforces; the
 * estimate's default when max_tokens was not set). So a server reporting
 * INT64_MAX tokens cannot hold a meter for ever.
 * reserved_at_ns is the now_ns of the granting reserve call, so the refund
 * leaves the 60-second window exactly where the charge went in.
 */
void plm__budget_settle_io(plm__budget *b, int64_t reserved_input,
                           int64_t reserved_output, int64_t actual_input,
                           int64_t actual_output, int64_t reserved_at_ns,
                           int64_t now_ns);
void plm__budget_settle(plm__budget *b, int64_t reserved_tokens,
                        int64_t actual_tokens, int64_t reserved_at_ns,
                        int64_t now_ns);

/* Nothing is granted before until_ns (a 429's Retry-After or reset pauses
 * every request of the endpoint). An earlier until_ns than a pause already
 * in force is ignored. */
void plm__budget_pause_until(plm__budget *b, int64_t until_ns);

/* What a meter would still grant at now_ns: its limit less the last
 * minute's grants, or the provider's last word when lower; -1 when the
 * meter has neither. */
double plm__budget_remaining(const plm__budget *b, plm__rl_kind kind,
                             int64_t now_ns);

/* 1 while such a pause holds grants at now_ns, else 0. */
int plm__budget_paused(const plm__budget *b, int64_t now_ns);

/*
 * Applies what an answer's rate-limit headers said, at monotonic now_ns:
 * with remaining and reset, grants stop where the provider would refuse
 * (its bucket refills linearly from remaining to the limit by the reset
 * time; without a known limit, remaining is all there is until the
 * reset). With learn_limits, a reported limit becomes the meter's limit.
 * Newer observations replace older ones.
 */
void plm__budget_observe(plm__budget *b, const plm__rl_state *st,
                         int64_t now_ns);

/* The limit per minute in force for a meter (configured or learned), 0 if
 * none. */
double plm__budget_limit(const plm__budget *b, plm__rl_kind kind);

#endif
