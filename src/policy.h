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

#include "parallm.h"

typedef struct plm__policy plm__policy;

/*
 * Checks the limit options of opts (NULL = defaults), creates the policy
 * for client, registers its hooks on the client and stores it in
 * client->policy. Returns PLM_OK, PLM_EINVAL (bad option values) or
 * PLM_ENOMEM.
 */
int plm__policy_attach(plm_client *client, const plm_client_options *opts);

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

#endif
