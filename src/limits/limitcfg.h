/*
 * The client options that govern limits (rpm, tpm, breaker, retry budget,
 * adaptive concurrency, learning), checked and turned into the internal
 * configurations of ratelimit, breaker, aimd and retrybudget, so that
 * plm_client_new() validates them in one call and the meaning of "0" and
 * "-1" in the public header lives in one place.
 */
#ifndef PLM_LIMITCFG_H
#define PLM_LIMITCFG_H

#include "breaker.h"
#include "parallm.h"
#include "ratelimit.h"

typedef struct plm__limits_config {
    plm__budget_config budget;
    plm__breaker_config breaker;
    double retry_budget;      /* for plm__retrybudget_init() */
    int adaptive_concurrency; /* 1: use plm__aimd */
} plm__limits_config;

/* Fills *out from opts (NULL = all defaults). Returns PLM_OK, or
 * PLM_EINVAL for a negative or non-finite limit, breaker_failures below
 * -1, a negative cool-down, a non-finite retry_budget, or learn_limits /
 * adaptive_concurrency outside their documented values. */
int plm__limits_config_from_options(const plm_client_options *opts,
                                    plm__limits_config *out);

#endif
