/*
 * plm_call: one request submitted to a shared client (engine/service.h),
 * with a handle to wait on, cancel or read, and plm_complete, the
 * blocking call on top. A call is held by its handle and by the engine
 * until the done callback returned; whichever lets go last frees it. Lock
 * order: a call's mu, then the client's svc_mu (plm_call_cancel); the
 * engine never holds svc_mu while it takes a call's mu.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "service.h"

struct plm_call {
    plm__svc_item item; /* first: the engine hands it back */
    plm_client *client; /* valid while the call is not settled */
    plm_call_fn done_fn;
    void *user_data;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    plm_result *res; /* the result until taken */
    int has_result;  /* completed: plm_call_done, plm_call_result */
    int settled;     /* and its done callback returned: waiters go */
    atomic_int refs; /* the handle's and the engine's */
};

static void call_destroy(plm_call *call)
{
    plm_result_free(call->res);
    pthread_cond_destroy(&call->cv);
    pthread_mutex_destroy(&call->mu);
    free(call);
}

/* Whoever lets go last frees the call. */
static void call_unref(plm_call *call)
{
    if (atomic_fetch_sub(&call->refs, 1) == 1)
        call_destroy(call);
}

/* On the loop thread, once. */
static void call_done(plm__svc_item *it, plm_result *res)
{
    plm_call *call = (plm_call *)it;

    pthread_mutex_lock(&call->mu);
    call->res = res;
    call->has_result = 1;
    if (call->done_fn) {
        pthread_mutex_unlock(&call->mu);
        call->done_fn(call, call->user_data);
        pthread_mutex_lock(&call->mu);
    }
    call->settled = 1;
    pthread_mutex_unlock(&call->mu);
    /* Woken after the unlock, a waiter does not block on mu again at
     * once; the engine's reference keeps cv alive until then. */
    pthread_cond_broadcast(&call->cv);
    call_unref(call);
}

static plm_call *call_new(plm_client *client, plm_request *req,
                          plm_call_fn done, void *user_data, int refs)
{
    plm_call *call = calloc(1, sizeof *call);
    pthread_condattr_t ca;

    if (!call)
        return NULL;
    call->item.req = req;
    call->item.done = call_done;
    call->client = client;
    call->done_fn = done;
    call->user_data = user_data;
    atomic_init(&call->refs, refs);
    pthread_mutex_init(&call->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&call->cv, &ca);
    pthread_condattr_destroy(&ca);
    return call;
}

int plm_submit(plm_client *client, plm_request *req, plm_call_fn done,
               void *user_data, plm_call **out)
{
    plm_call *call;
    int rc;

    if (out)
        *out = NULL;
    if ((rc = plm__check_not_null("client", client)) ||
        (rc = plm__check_not_null("req", req)))
        return rc;
    call = call_new(client, req, done, user_data, out ? 2 : 1);
    if (!call)
        return PLM_ENOMEM;
    rc = plm__service_submit(client, &call->item);
    if (rc != PLM_OK) {
        call_destroy(call);
        return rc;
    }
    if (out)
        *out = call;
    return PLM_OK;
}

int plm_call_wait(plm_call *call, int64_t timeout_ms)
{
    struct timespec due;
    int rc = PLM_OK;

    if (!call)
        return PLM_EINVAL;
    if (timeout_ms >= 0) {
        int64_t ns = plm__now_ns() + timeout_ms * 1000000;
        due.tv_sec = (time_t)(ns / 1000000000);
        due.tv_nsec = (long)(ns % 1000000000);
    }
    pthread_mutex_lock(&call->mu);
    /* Not settled: the client is alive (it settles every call before it
     * goes), and its loop thread cannot wait for its own work. */
    if (!call->settled && plm__service_on_loop(call->client))
        rc = PLM_ESTATE;
    while (rc == PLM_OK && !call->settled) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&call->cv, &call->mu);
        } else if (pthread_cond_timedwait(&call->cv, &call->mu, &due) ==
                       ETIMEDOUT &&
                   !call->settled) {
            rc = PLM_ETIMEOUT;
        }
    }
    pthread_mutex_unlock(&call->mu);
    return rc;
}

int plm_call_done(const plm_call *call)
{
    plm_call *c = (plm_call *)call;
    int done;
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    done = c->has_result;
    pthread_mutex_unlock(&c->mu);
    return done;
}

void plm_call_cancel(plm_call *call)
{
    if (!call)
        return;
    pthread_mutex_lock(&call->mu);
    if (!call->has_result)
        plm__service_cancel(call->client, &call->item);
    pthread_mutex_unlock(&call->mu);
}

const plm_result *plm_call_result(const plm_call *call)
{
    plm_call *c = (plm_call *)call;
    const plm_result *res;
    if (!c)
        return NULL;
    pthread_mutex_lock(&c->mu);
    res = c->res;
    pthread_mutex_unlock(&c->mu);
    return res;
}

plm_result *plm_call_take_result(plm_call *call)
{
    plm_result *res;
    if (!call)
        return NULL;
    pthread_mutex_lock(&call->mu);
    res = call->res;
    call->res = NULL;
    pthread_mutex_unlock(&call->mu);
    return res;
}

plm_request *plm_call_request(const plm_call *call)
{
    return call ? call->item.req : NULL;
}

void plm_call_free(plm_call *call)
{
    if (!call)
        return;
    pthread_mutex_lock(&call->mu);
    if (!call->has_result)
        plm__service_cancel(call->client, &call->item);
    pthread_mutex_unlock(&call->mu);
    call_unref(call);
}

int plm_complete(plm_client *client, plm_request *req, plm_result **out)
{
    plm_call *call;
    plm_result *res;
    int rc;

    if (out)
        *out = NULL;
    if ((rc = plm__check_not_null("client", client)) ||
        (rc = plm__check_not_null("req", req)) ||
        (rc = plm__check_not_null("out", out)))
        return rc;
    if (plm__service_on_loop(client))
        return PLM_ESTATE;
    rc = plm_submit(client, req, NULL, NULL, &call);
    if (rc != PLM_OK)
        return rc;
    plm_call_wait(call, -1);
    res = plm_call_take_result(call);
    plm_call_free(call);
    if (!res)
        return PLM_ENOMEM;
    *out = res;
    return plm_result_code(res);
}
