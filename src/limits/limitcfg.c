/*
 * Public limit options to internal configurations (see limitcfg.h).
 */
#include "limitcfg.h"

#include <math.h>
#include <string.h>

static int per_minute_valid(double v)
{
    return isfinite(v) && v >= 0 && v <= 1e15;
}

int plm__limits_config_from_options(const plm_client_options *opts,
                                    plm__limits_config *out)
{
    plm_client_options none;
    if (!out)
        return PLM_EINVAL;
    if (!opts) {
        memset(&none, 0, sizeof none);
        opts = &none;
    }
    if (!per_minute_valid(opts->rpm) || !per_minute_valid(opts->tpm) ||
        !per_minute_valid(opts->input_tpm) ||
        !per_minute_valid(opts->output_tpm))
        return PLM_EINVAL;
    if (opts->breaker_failures < -1 || opts->breaker_cooldown_ms < 0)
        return PLM_EINVAL;
    if (!isfinite(opts->retry_budget))
        return PLM_EINVAL;
    if (opts->learn_limits < -1 || opts->learn_limits > 1)
        return PLM_EINVAL;
    if (opts->adaptive_concurrency < 0 || opts->adaptive_concurrency > 1)
        return PLM_EINVAL;
    memset(out, 0, sizeof *out);
    out->budget.rpm = opts->rpm;
    out->budget.tpm = opts->tpm;
    out->budget.input_tpm = opts->input_tpm;
    out->budget.output_tpm = opts->output_tpm;
    out->budget.learn_limits = opts->learn_limits != -1;
    out->breaker.failures = opts->breaker_failures;
    out->breaker.cooldown_ms = opts->breaker_cooldown_ms;
    out->retry_budget = opts->retry_budget;
    out->adaptive_concurrency = opts->adaptive_concurrency;
    return PLM_OK;
}
