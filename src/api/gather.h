/*
 * Internal helpers of the gather layer shared with the executor.
 */
#ifndef PLM_GATHER_H
#define PLM_GATHER_H

#include "parallm.h"

/* Copies opts into *out, or the defaults when opts is NULL. PLM_EINVAL
 * for a wrong version, a negative max_concurrent or timeout. */
int plm__gather_options_resolve(const plm_gather_options *opts,
                                plm_gather_options *out);

/* plm_gather on a started (shared) client, from a thread that is not its
 * loop's: arguments already checked, results[] set to NULL. */
int plm__gather_shared(plm_client *client, plm_request *const *reqs, size_t n,
                       plm_result **results, const plm_gather_options *opts);

#endif
