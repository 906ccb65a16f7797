/*
 * plm_call: one request submitted to a shared client (engine/service.h),
 * with a handle to wait on, cancel or read, and plm_complete, the
 * blocking call on top. A call is held by its handle and by the engine
 * until the done callback returned and its waiters were woken (at the
 * end of the engine's round, call_after); whichever lets go last frees
 * it. Lock
 * order: a call's mu, then the client's svc_mu (plm_call_cancel); the
 * engine never holds svc_mu while it takes a call's mu.
 *
 * Waiting is a futex on the call's settled word rather than a condition
 * variable: a glibc condition variable leaves its mutex marked contended
 * after every wake-up, which costs each plm_complete one more system
 * call; with the futex a blocking call costs one wait and one wake.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "service.h"

struct plm_call {
    plm__svc_item item; /* first: the engine hands it back */
    plm_client *client; /* valid while the call is not settled */
    plm_call_fn done_fn;
    void *user_data;
    pthread_mutex_t mu;    /* res, has_result, done_thread */
    plm_result *res;       /* the result until taken */
    int has_result;        /* completed: plm_call_done, plm_call_result */
    pthread_t done_thread; /* running the done callback */
    atomic_int settled;    /* and its done callback returned: waiters go */
    atomic_int waiters;    /* threads in plm_call_wait */
    atomic_int refs;       /* the handle's and the engine's */
};

static void call_destroy(plm_call *call)
{
    plm_result_free(call->res);
    pthread_mutex_destroy(&call->mu);
    free(call);
}

/* Whoever lets go last frees the call. */
static void call_unref(plm_call *call)
{
    if (atomic_fetch_sub(&call->refs, 1) == 1)
        call_destroy(call);
}

static long futex(atomic_int *word, int op, int val,
                  const struct timespec *timeout)
{
    return syscall(SYS_futex, (int *)word, op, val, timeout, NULL, 0);
}

/* On the loop thread, once. */
static void call_done(plm__svc_item *it, plm_result *res)
{
    plm_call *call = (plm_call *)it;

    pthread_mutex_lock(&call->mu);
    call->res = res;
    call->has_result = 1;
    call->done_thread = pthread_self();
    pthread_mutex_unlock(&call->mu);
    if (call->done_fn)
        call->done_fn(call, call->user_data);
}

/* On the loop thread, at the end of the round that completed the call:
 * the engine has sent what it could before the waiters take the CPU. */
static void call_after(plm__svc_item *it)
{
    plm_call *call = (plm_call *)it;

    /* seq_cst: a waiter that counted itself before this store is woken;
     * one that counts itself after it sees settled and does not sleep.
     * The engine's reference keeps the word alive through the wake. */
    atomic_store(&call->settled, 1);
    if (atomic_load(&call->waiters) > 0)
        futex(&call->settled, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
    call_unref(call);
}

static plm_call *call_new(plm_client *client, plm_request *req,
                          plm_call_fn done, void *user_data, int refs)
{
    plm_call *call = calloc(1, sizeof *call);

    if (!call)
        return NULL;
    call->item.req = req;
    call->item.done = call_done;
    call->item.after = call_after;
    call->client = client;
    call->done_fn = done;
    call->user_data = user_data;
    atomic_init(&call->refs, refs);
    atomic_init(&call->settled, 0);
    atomic_init(&call->waiters, 0);
    pthread_mutex_init(&call->mu, NULL);
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

/* 1 when waiting would wait for the calling thread itself: it runs the
 * client's loop (a callback, a caller-driven client's driver) or this
 * call's own done callback. */
static int waits_for_itself(plm_call *call)
{
    int self;
    pthread_mutex_lock(&call->mu);
    /* Without a result the client is alive (it completes every call
     * before it goes); with one, only the callback's thread matters. */
    if (!call->has_result)
        self = plm__service_on_loop(call->client);
    else
        self = !atomic_load(&call->settled) &&
               pthread_equal(call->done_thread, pthread_self());
    pthread_mutex_unlock(&call->mu);
    return self;
}

int plm_call_wait(plm_call *call, int64_t timeout_ms)
{
    int64_t due = 0;
    int rc = PLM_OK;

    if (!call)
        return PLM_EINVAL;
    if (atomic_load(&call->settled))
        return PLM_OK;
    if (waits_for_itself(call))
        return PLM_ESTATE;
    if (timeout_ms >= 0)
        due = plm__now_ns() + timeout_ms * 1000000;
    atomic_fetch_add(&call->waiters, 1);
    while (!atomic_load(&call->settled)) {
        struct timespec left, *tp = NULL;
        if (timeout_ms >= 0) {
            int64_t ns = due - plm__now_ns();
            if (ns <= 0) {
                rc = PLM_ETIMEOUT;
                break;
            }
            left.tv_sec = (time_t)(ns / 1000000000);
            left.tv_nsec = (long)(ns % 1000000000);
            tp = &left;
        }
        /* Returns at once if settled is no longer 0; EINTR and spurious
         * wake-ups go round the loop. */
        futex(&call->settled, FUTEX_WAIT_PRIVATE, 0, tp);
    }
    atomic_fetch_sub(&call->waiters, 1);
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
    int unfinished;

    if (!call)
        return;
    pthread_mutex_lock(&call->mu);
    unfinished = !call->has_result;
    if (unfinished)
        plm__service_cancel(call->client, &call->item);
    pthread_mutex_unlock(&call->mu);
    /* Off the engine thread, wait for the cancellation to land: once this
     * returns the engine no longer uses the request. (On the engine
     * thread plm_call_wait refuses at once; the request is then borrowed
     * until the done callback ran.) */
    if (unfinished)
        (void)plm_call_wait(call, -1);
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
