/*
 * plm_gather: an array of requests through the streaming engine. The
 * source hands out reqs[0..n-1] in order with the index as the engine's
 * tag; completions land in results[index]. Fail-fast is the completion
 * callback returning non-zero on the first final failure. On a client
 * started for shared use the batch goes through its calls instead
 * (gather_shared.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine.h"
#include "errdetail.h"
#include "gather.h"
#include "request.h"
#include "result.h"
#include "service.h"

typedef struct gather_state {
    plm_request *const *reqs;
    size_t n, next;
    plm_result **results;
    int return_errors;
    int first_failure;
} gather_state;

static int gather_source(plm_request **out, void **tag, void *user_data)
{
    gather_state *g = user_data;
    if (g->next >= g->n)
        return 0;
    *out = g->reqs[g->next];
    *tag = (void *)(uintptr_t)g->next;
    g->next++;
    return 1;
}

static int gather_complete(plm_request *req, void *tag, plm_result *res,
                           void *user_data)
{
    gather_state *g = user_data;
    size_t i = (size_t)(uintptr_t)tag;
    (void)req;

    g->results[i] = res;
    if (!g->return_errors && res->code != PLM_OK &&
        g->first_failure == PLM_OK) {
        g->first_failure = res->code;
        return 1;
    }
    return 0;
}

int plm__gather_options_resolve(const plm_gather_options *opts,
                                plm_gather_options *out)
{
    int rc;

    if (!opts) {
        memset(out, 0, sizeof *out);
        out->version = PLM_GATHER_OPTIONS_VERSION;
        return PLM_OK;
    }
    if ((rc = plm__check_version("plm_gather_options", opts->version,
                                 PLM_GATHER_OPTIONS_VERSION)) ||
        (rc = plm__check_range("max_concurrent", opts->max_concurrent, 0,
                               INT32_MAX)) ||
        (rc = plm__check_duration_ms("timeout_ms", opts->timeout_ms)))
        return rc;
    *out = *opts;
    return PLM_OK;
}

int plm_gather(plm_client *client, plm_request *const *reqs, size_t n,
               plm_result **results, const plm_gather_options *opts)
{
    plm_gather_options resolved;
    plm_run_options ro;
    gather_state g;
    size_t i;
    int rc, fill_rc = PLM_OK;

    plm__error_clear();
    if ((rc = plm__check_not_null("client", client)) ||
        (rc = plm__gather_options_resolve(opts, &resolved)))
        return rc;
    opts = &resolved;
    if (n != 0 && ((rc = plm__check_not_null("reqs", reqs)) ||
                   (rc = plm__check_not_null("results", results))))
        return rc;
    for (i = 0; i < n; i++)
        if (!reqs[i])
            return plm__error_set(PLM_EINVAL, "reqs", "element %zu is NULL", i);
    for (i = 0; i < n; i++)
        results[i] = NULL;
    if (plm__service_started(client)) {
        /* A shared client: the batch is one more of its callers. Its
         * callbacks cannot wait for the engine that runs them. */
        if (plm__service_on_loop(client))
            return PLM_ESTATE;
        return plm__gather_shared(client, reqs, n, results, opts);
    }

    g.reqs = reqs;
    g.n = n;
    g.next = 0;
    g.results = results;
    g.return_errors = opts->return_errors;
    g.first_failure = PLM_OK;
    memset(&ro, 0, sizeof ro);
    ro.version = PLM_RUN_OPTIONS_VERSION;
    ro.max_concurrent = opts->max_concurrent;
    ro.timeout_ms = opts->timeout_ms;
    /* An empty batch runs too (at once): it logs "Executed 0" and resets
     * the statistics like any other. */
    rc = plm__engine_run_batch(client, gather_source, gather_complete, &ro, &g,
                               NULL, (int64_t)n);
    if (rc == PLM_EINVAL || rc == PLM_ESTATE)
        return rc; /* nothing ran */

    /* Requests the engine never took get a result saying so. */
    for (i = 0; i < n; i++) {
        if (results[i])
            continue;
        results[i] = plm__result_new(reqs[i]->user_data);
        if (!results[i]) {
            fill_rc = PLM_ENOMEM;
            continue;
        }
        plm__result_set_error(results[i], PLM_ENOTSTARTED, PLM_CLASS_CANCELLED,
                              "the batch ended before this request started");
    }
    if (rc == PLM_EABORTED && g.first_failure != PLM_OK)
        rc = g.first_failure;
    if (rc == PLM_OK && fill_rc != PLM_OK)
        rc = fill_rc;
    return rc;
}
