/*
 * The executor: collect requests, run them once as a gather, read the
 * results by index. It owns the requests it was given and the results.
 */
#include <stdlib.h>

#include "buf.h"
#include "check.h"
#include "errdetail.h"
#include "gather.h"
#include "parallm.h"

struct plm_executor {
    plm_client *client;
    plm_gather_options opts;
    plm_request **reqs;
    size_t n, cap;
    plm_result **results; /* NULL until run */
    int ran;
};

int plm_executor_new(plm_executor **out, plm_client *client,
                     const plm_gather_options *opts)
{
    plm_gather_options resolved;
    plm_executor *ex;

    int rc;

    plm__error_clear();
    if ((rc = plm__check_not_null("out", out)))
        return rc;
    *out = NULL;
    if ((rc = plm__check_not_null("client", client)) ||
        (rc = plm__gather_options_resolve(opts, &resolved)))
        return rc;
    ex = calloc(1, sizeof *ex);
    if (!ex)
        return PLM_ENOMEM;
    ex->client = client;
    ex->opts = resolved;
    *out = ex;
    return PLM_OK;
}

int plm_executor_add(plm_executor *ex, plm_request *req, size_t *index)
{
    if (!ex || !req)
        return PLM_EINVAL;
    if (ex->ran)
        return PLM_ESTATE;
    if (PLM__ARRAY_RESERVE(ex->reqs, ex->cap, ex->n + 1, 16) != 0)
        return PLM_ENOMEM;
    if (index)
        *index = ex->n;
    ex->reqs[ex->n++] = req;
    return PLM_OK;
}

int plm_executor_run(plm_executor *ex)
{
    if (!ex)
        return PLM_EINVAL;
    if (ex->ran)
        return PLM_ESTATE;
    ex->ran = 1;
    if (ex->n == 0) /* an empty batch still runs, and logs "Executed 0" */
        return plm_gather(ex->client, ex->reqs, 0, NULL, &ex->opts);
    ex->results = calloc(ex->n, sizeof *ex->results);
    if (!ex->results)
        return PLM_ENOMEM;
    return plm_gather(ex->client, ex->reqs, ex->n, ex->results, &ex->opts);
}

size_t plm_executor_count(const plm_executor *ex)
{
    return ex ? ex->n : 0;
}

const plm_result *plm_executor_result(const plm_executor *ex, size_t i)
{
    if (!ex || !ex->results || i >= ex->n)
        return NULL;
    return ex->results[i];
}

void plm_executor_free(plm_executor *ex)
{
    size_t i;
    if (!ex)
        return;
    for (i = 0; i < ex->n; i++)
        plm_request_free(ex->reqs[i]);
    if (ex->results)
        plm_results_free(ex->results, ex->n);
    free(ex->results);
    free(ex->reqs);
    free(ex);
}
