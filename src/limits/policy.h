/*
 * The client's limit policy: the engine hooks that keep a run inside the
 * provider's limits. Per endpoint (one provider base URL and one model,
 * since providers meter each model apart; created on first use and kept
 * for the client's life, so a second run does not burst into a minute the
 * first one spent) it owns a rate budget, a circuit breaker and a retry
 * budget; per client an adaptive concurrency limit (the engine has one
 * concurrency limit). It also stops a run on errors that doom every
 * request (a rejected key, a spent quota). Loop thread only.
 */
#ifndef PLM_POLICY_H
#define PLM_POLICY_H

#include <stdint.h>

#include "hooks.h"
#include "loop.h"
#include "parallm.h"
#include "provider.h"

typedef struct plm__policy plm__policy;

/* Where the policy writes what it has to say: a formatted message at a
 * level (never containing a secret). */
typedef void (*plm__policy_log_fn)(void *data, plm_log_level level,
                                   const char *message);

/*
 * The narrow environment a policy is given instead of its client: what it
 * quotes in messages, the caps it applies to a 429's pause, and where it
 * logs. Copied (base URLs included) by plm__policy_new.
 */
typedef struct plm__policy_env {
    /* By plm_provider, for messages. */
    const char *base_url[PLM__PROVIDER_COUNT];
    int64_t retry_base_ms;      /* pause after a 429 that names no time */
    int64_t retry_after_max_ms; /* cap on any pause */
    int log_level;              /* messages above it are dropped */
    plm__policy_log_fn log;     /* NULL = silent */
    void *log_data;
    plm__loop *loop; /* the engine's loop (shared limits' Redis I/O) */
} plm__policy_env;

/*
 * Checks the limit options of opts (NULL = defaults) and creates a policy.
 * Returns PLM_OK, PLM_EINVAL (bad option values; plm_last_error() names
 * the field) or PLM_ENOMEM.
 */
int plm__policy_new(plm__policy **out, const plm__policy_env *env,
                    const plm_client_options *opts);

/* Fills *hooks with the policy's engine hooks (data = p), for the client
 * to register. */
void plm__policy_hooks(plm__policy *p, plm__engine_hooks *hooks);

/* Frees a policy (NULL is a no-op). Not during a run. */
void plm__policy_free(plm__policy *p);

/* Test and debugging aids: the per-minute limit in force for the meter
 * `kind` (a plm__rl_kind) of the endpoint (provider, model), 0 when none
 * or the endpoint was never used; and its breaker state
 * (plm__breaker_state), -1 when unknown. */
double plm__policy_limit(const plm__policy *p, plm_provider provider,
                         const char *model, int kind);
int plm__policy_breaker_state(const plm__policy *p, plm_provider provider,
                              const char *model);

/* One endpoint's limits as the metrics show them. */
typedef struct plm__policy_endpoint_view {
    plm_provider provider;
    const char *model;         /* borrowed from the policy */
    double remaining_requests; /* plm__budget_remaining; -1 unknown */
    double remaining_tokens;
    int breaker_state; /* plm__breaker_state */
} plm__policy_endpoint_view;

/* Fills out[0..max-1] with the endpoints used so far, as of now_ns, and
 * returns how many were filled. */
size_t plm__policy_endpoint_views(const plm__policy *p, int64_t now_ns,
                                  plm__policy_endpoint_view *out, size_t max);

#endif
