/*
 * plm_gather on a client started for shared use (plm_client_start): the
 * batch cannot own the client, so it goes through plm_submit like any
 * other thread's calls, at most max_concurrent of its own at once, and
 * shares the client's concurrency, limits and connections with them. The
 * calling thread keeps the window full, stops on the first final failure
 * (fail-fast) or the deadline by cancelling its own calls, and then gives
 * every slot the outcome a batch run would: cancelled before the wire is
 * PLM_ENOTSTARTED, on the wire at the deadline PLM_ETIMEOUT.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "clock.h"
#include "gather.h"
#include "request.h"
#include "result.h"
#include "service.h"

enum { STOP_NONE, STOP_FAILURE, STOP_DEADLINE };

typedef struct shared_gather {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t completed;
    int return_errors;
    int first_failure;
} shared_gather;

static void one_done(plm_call *call, void *user_data)
{
    shared_gather *g = user_data;
    const plm_result *res = plm_call_result(call);
    int code = res ? plm_result_code(res) : PLM_ENOMEM;

    pthread_mutex_lock(&g->mu);
    g->completed++;
    if (!g->return_errors && code != PLM_OK && g->first_failure == PLM_OK)
        g->first_failure = code;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void cancel_from(plm_call **calls, size_t from, size_t to)
{
    size_t i;
    for (i = from; i < to; i++)
        plm_call_cancel(calls[i]);
}

/* Submits and waits until every submitted call completed; *stop says why
 * it stopped early, *rc a submit failure. Calls never submitted stay
 * NULL in calls[]. */
static void drive(plm_client *client, plm_request *const *reqs, size_t n,
                  plm_call **calls, shared_gather *g,
                  const plm_gather_options *opts, int *stop, int *rc)
{
    size_t next = 0,
           window = opts->max_concurrent > 0 ? (size_t)opts->max_concurrent : n;
    int64_t due = opts->timeout_ms > 0
                      ? plm__now_ns() + opts->timeout_ms * 1000000
                      : 0;

    pthread_mutex_lock(&g->mu);
    for (;;) {
        /* A failure stops the batch before anything more is sent. */
        if (*stop == STOP_NONE && g->first_failure != PLM_OK) {
            *stop = STOP_FAILURE;
            pthread_mutex_unlock(&g->mu);
            cancel_from(calls, 0, next);
            pthread_mutex_lock(&g->mu);
        }
        while (*stop == STOP_NONE && *rc == PLM_OK && next < n &&
               next - g->completed < window && g->first_failure == PLM_OK) {
            pthread_mutex_unlock(&g->mu);
            *rc = plm_submit(client, reqs[next], one_done, g, &calls[next]);
            pthread_mutex_lock(&g->mu);
            if (*rc == PLM_OK)
                next++;
        }
        if (*stop == STOP_NONE && g->first_failure != PLM_OK)
            continue;
        if (g->completed == next && (next == n || *stop || *rc != PLM_OK))
            break;
        if (due == 0 || *stop != STOP_NONE) {
            pthread_cond_wait(&g->cv, &g->mu);
        } else {
            struct timespec ts;
            ts.tv_sec = (time_t)(due / 1000000000);
            ts.tv_nsec = (long)(due % 1000000000);
            pthread_cond_timedwait(&g->cv, &g->mu, &ts);
            if (plm__now_ns() >= due) {
                /* Cancelling a completed call changes nothing. */
                *stop = STOP_DEADLINE;
                pthread_mutex_unlock(&g->mu);
                cancel_from(calls, 0, next);
                pthread_mutex_lock(&g->mu);
            }
        }
    }
    pthread_mutex_unlock(&g->mu);
}

/* A slot's final result, as a batch run would have left it. */
static plm_result *settle_slot(plm_call *call, plm_request *req, int stop)
{
    plm_result *res = call ? plm_call_take_result(call) : NULL;

    if (!res) {
        res = plm__result_new(req->user_data);
        if (res)
            plm__result_set_error(res, PLM_ENOTSTARTED, PLM_CLASS_CANCELLED,
                                  "the batch ended before this request "
                                  "started");
        return res;
    }
    if (stop == STOP_NONE || res->code != PLM_ECANCELLED)
        return res;
    if (!res->started)
        plm__result_set_error(res, PLM_ENOTSTARTED, PLM_CLASS_CANCELLED,
                              "the batch ended before this request started");
    else if (stop == STOP_DEADLINE)
        plm__result_set_error(res, PLM_ETIMEOUT, PLM_CLASS_TIMEOUT,
                              "the run's deadline passed");
    return res;
}

int plm__gather_shared(plm_client *client, plm_request *const *reqs, size_t n,
                       plm_result **results, const plm_gather_options *opts)
{
    shared_gather g;
    plm_call **calls = n ? calloc(n, sizeof *calls) : NULL;
    int64_t t0 = plm__now_ns();
    int stop = STOP_NONE, rc = PLM_OK, fatal = PLM_OK;
    size_t i;

    if (n && !calls)
        return PLM_ENOMEM;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    g.return_errors = opts->return_errors;
    g.first_failure = PLM_OK;
    drive(client, reqs, n, calls, &g, opts, &stop, &rc);
    for (i = 0; i < n; i++) {
        results[i] = settle_slot(calls[i], reqs[i], stop);
        plm_call_free(calls[i]);
        if (!results[i] && rc == PLM_OK)
            rc = PLM_ENOMEM;
        else if (results[i] && fatal == PLM_OK &&
                 (results[i]->code == PLM_EAUTH ||
                  results[i]->code == PLM_EQUOTA))
            fatal = results[i]->code;
    }
    free(calls);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    plm__client_log_batch_line(client, n, (double)(plm__now_ns() - t0) / 1e9);
    if (rc != PLM_OK)
        return rc;
    if (stop == STOP_FAILURE)
        return g.first_failure;
    if (stop == STOP_DEADLINE)
        return PLM_ETIMEOUT;
    return fatal;
}
