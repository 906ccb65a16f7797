/*
 * Public limit options to internal configurations (see limitcfg.h).
 */
#include "limitcfg.h"

#include "check.h"
#include "errdetail.h"

#include <math.h>
#include <string.h>

static int check_per_minute(const char *field, double v)
{
    if (plm__per_minute_ok(v))
        return PLM_OK;
    return plm__error_set(PLM_EINVAL, field,
                          "must be a number between 0 (none) and 1e15 per "
                          "minute, got %g",
                          v);
}

int plm__limits_config_from_options(const plm_client_options *opts,
                                    plm__limits_config *out)
{
    plm_client_options none;
    int rc;

    if (!out)
        return PLM_EINVAL;
    if (!opts) {
        memset(&none, 0, sizeof none);
        opts = &none;
    }
    if ((rc = check_per_minute("rpm", opts->rpm)) ||
        (rc = check_per_minute("tpm", opts->tpm)) ||
        (rc = check_per_minute("input_tpm", opts->input_tpm)) ||
        (rc = check_per_minute("output_tpm", opts->output_tpm)) ||
        (rc = plm__check_range("breaker_failures", opts->breaker_failures, -1,
                               INT32_MAX)) ||
        (rc = plm__check_duration_ms("breaker_cooldown_ms",
                                     opts->breaker_cooldown_ms)) ||
        (rc = plm__check_duration_ms("breaker_dead_ms",
                                     opts->breaker_dead_ms)) ||
        (rc = plm__check_range("learn_limits", opts->learn_limits, -1, 1)) ||
        (rc = plm__check_range("adaptive_concurrency",
                               opts->adaptive_concurrency, 0, 1)) ||
        (rc = plm__check_range("stop_on_fatal", opts->stop_on_fatal, -1, 1)))
        return rc;
    if (!isfinite(opts->retry_budget))
        return plm__error_set(PLM_EINVAL, "retry_budget",
                              "must be a finite number");
    memset(out, 0, sizeof *out);
    out->budget.rpm = opts->rpm;
    out->budget.tpm = opts->tpm;
    out->budget.input_tpm = opts->input_tpm;
    out->budget.output_tpm = opts->output_tpm;
    out->budget.learn_limits = opts->learn_limits != -1;
    out->breaker.failures = opts->breaker_failures;
    out->breaker.cooldown_ms = opts->breaker_cooldown_ms;
    out->breaker.dead_ms = opts->breaker_dead_ms;
    out->retry_budget = opts->retry_budget;
    out->adaptive_concurrency = opts->adaptive_concurrency;
    return PLM_OK;
}
