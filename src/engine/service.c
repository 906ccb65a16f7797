/*
 * Shared use of one client by many threads (service.h): the engine
 * thread, the submit queue, cancellations, cross-thread calls, and the
 * caller-driven mode's descriptor, timeout and process call.
 */
#include "service.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client.h"
#include "engine.h"
#include "result.h"
#include "engine_internal.h"
#include "sigpipe.h"

#define PLM__SERVICE_DEFAULT_CONCURRENCY 64

typedef struct plm__svc_sync {
    void (*fn)(void *);
    void *arg;
    int done;
    struct plm__svc_sync *next;
} plm__svc_sync;

typedef struct plm__service {
    plm__run *run;
    plm__svc_item *head, *tail; /* submitted, not yet taken */
    plm__svc_item *cancels;
    plm__svc_item *afters; /* finished this round (loop thread only) */
    plm__svc_sync *syncs;
    pthread_cond_t sync_cv;
    int syncs_closed; /* the loop is gone: callers run fn themselves */
    int closing;      /* plm_client_stop began: no more submits */
    int stopping;     /* one plm_client_stop waits for the end */
    int idle_wait;    /* the engine found the queue empty: wake it */
    int caller_driven;
    int in_process; /* inside plm_client_process (its thread only) */
    pthread_t thread;
    /* Set with a cancellation, a cross-thread call or the close: the
     * next settle has work under the lock (most have none). */
    atomic_int control;
} plm__service;

/* ---- the queue (svc_mu held) ---- */

static void queue_unlink(plm__service *svc, plm__svc_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        svc->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        svc->tail = it->prev;
    it->prev = it->next = NULL;
    it->queued = 0;
}

static void cancels_unlink(plm__service *svc, plm__svc_item *it)
{
    plm__svc_item **p;
    for (p = &svc->cancels; *p; p = &(*p)->cancel_next) {
        if (*p == it) {
            *p = it->cancel_next;
            break;
        }
    }
    it->cancel_next = NULL;
    it->cancel_queued = 0;
}

/* ---- on the loop thread ---- */

/* Hands the final result over, once. */
static void finish(plm_client *c, plm__svc_item *it, plm_result *res)
{
    pthread_mutex_lock(&c->svc_mu);
    it->finished = 1;
    if (it->cancel_queued && c->svc)
        cancels_unlink(c->svc, it);
    pthread_mutex_unlock(&c->svc_mu);
    if (it->after) {
        /* Queued before done: done may let the item go, after may not. */
        it->after_next = c->svc->afters;
        c->svc->afters = it;
    }
    it->done(it, res);
}

/* At the end of every settle: the items finished in this round. */
static void svc_settle_done(plm__run *run, void *user_data)
{
    plm_client *c = user_data;
    plm__svc_item *it = c->svc->afters, *next;
    (void)run;
    c->svc->afters = NULL;
    /* A thread woken here reads statistics that count its call. */
    if (it)
        plm__client_publish_stats(c);
    for (; it; it = next) {
        next = it->after_next;
        it->after(it);
    }
}

/* A call cancelled (or the client stopped) before the engine took it:
 * it never reached the engine, so no statistics count it. */
static void finish_untaken(plm_client *c, plm__svc_item *it, const char *why)
{
    plm_result *res = plm__result_new(plm_request_user_data(it->req));
    if (res)
        plm__result_set_error(res, PLM_ECANCELLED, PLM_CLASS_CANCELLED, "%s",
                              why);
    finish(c, it, res);
}

static int svc_source(plm_request **out, void **tag, void *user_data)
{
    plm_client *c = user_data;
    plm__service *svc = c->svc;
    plm__svc_item *it;

    pthread_mutex_lock(&c->svc_mu);
    it = svc->head;
    if (!it) {
        int closing = svc->closing;
        svc->idle_wait = !closing;
        pthread_mutex_unlock(&c->svc_mu);
        return closing ? 0 : PLM__SOURCE_IDLE;
    }
    queue_unlink(svc, it);
    pthread_mutex_unlock(&c->svc_mu);
    *out = it->req;
    *tag = it;
    return 1;
}

static int svc_complete(plm_request *req, void *tag, plm_result *res,
                        void *user_data)
{
    (void)req;
    finish(user_data, tag, res);
    return 0;
}

static void run_syncs(plm_client *c, plm__svc_sync *s)
{
    plm__svc_sync *next;
    for (; s; s = next) {
        next = s->next;
        s->fn(s->arg);
        pthread_mutex_lock(&c->svc_mu);
        s->done = 1;
        pthread_cond_broadcast(&c->svc->sync_cv);
        pthread_mutex_unlock(&c->svc_mu);
    }
}

/* Before every admission round: cancellations, cross-thread calls, and
 * the close when plm_client_stop asked for it. */
static void svc_settle(plm__run *run, void *user_data)
{
    plm_client *c = user_data;
    plm__service *svc = c->svc;
    plm__svc_item *taken = NULL, *untaken = NULL, *it, *next;
    plm__svc_sync *syncs;
    int closing;

    if (!atomic_exchange(&svc->control, 0))
        return;
    pthread_mutex_lock(&c->svc_mu);
    for (it = svc->cancels; it; it = next) {
        next = it->cancel_next;
        it->cancel_queued = 0;
        if (it->queued) {
            queue_unlink(svc, it);
            it->cancel_next = untaken;
            untaken = it;
        } else {
            it->cancel_next = taken;
            taken = it;
        }
    }
    svc->cancels = NULL;
    syncs = svc->syncs;
    svc->syncs = NULL;
    closing = svc->closing && !run->closing;
    pthread_mutex_unlock(&c->svc_mu);

    /* An item on these lists is not finished (finish() takes it off the
     * cancellation list under the lock), so it is still valid here. */
    for (it = taken; it; it = next) {
        next = it->cancel_next;
        it->cancel_next = NULL;
        plm__run_cancel_tag(run, it, "cancelled");
    }
    for (it = untaken; it; it = next) {
        next = it->cancel_next;
        it->cancel_next = NULL;
        finish_untaken(c, it, "cancelled before it was sent");
    }
    run_syncs(c, syncs);
    if (closing) {
        pthread_mutex_lock(&c->svc_mu);
        untaken = svc->head;
        svc->head = svc->tail = NULL;
        for (it = untaken; it; it = it->next)
            it->queued = 0;
        pthread_mutex_unlock(&c->svc_mu);
        for (it = untaken; it; it = next) {
            next = it->next;
            it->prev = it->next = NULL;
            finish_untaken(c, it, "the client stopped before it was sent");
        }
        plm__run_close(run);
    }
}

/* After the run's end: cross-thread calls posted after its last step
 * run here, on what was the loop thread, and later callers run theirs
 * themselves. */
static void close_syncs(plm_client *c, plm__service *svc)
{
    plm__svc_sync *syncs;
    pthread_mutex_lock(&c->svc_mu);
    syncs = svc->syncs;
    svc->syncs = NULL;
    svc->syncs_closed = 1;
    pthread_mutex_unlock(&c->svc_mu);
    run_syncs(c, syncs);
}

/* The engine thread: steps the run until plm_client_stop closes it. */
static void *svc_main(void *arg)
{
    plm_client *c = arg;
    plm__service *svc = c->svc;
    sigset_t pipe;

    /* curl leaves SIGPIPE to us; every other signal stays blocked here
     * (the mask is inherited from plm_client_start), so handlers run on
     * the application's threads. */
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    plm__client_set_loop_thread(c);
    while (!plm__run_step(svc->run, -1))
        ;
    plm__run_end(svc->run);
    svc->run = NULL;
    close_syncs(c, svc);
    return NULL;
}

static int check_start_options(const plm_start_options *o)
{
    int rc;
    if (!o)
        return PLM_OK;
    if ((rc = plm__check_version("plm_start_options", o->version,
                                 PLM_START_OPTIONS_VERSION)) ||
        (rc = plm__check_range("max_concurrent", o->max_concurrent, 0,
                               INT32_MAX)) ||
        (rc = plm__check_range("caller_driven", o->caller_driven, 0, 1)))
        return rc;
    return PLM_OK;
}

/* With svc_mu held. */
static int start_locked(plm_client *c, const plm_start_options *o)
{
    plm__service *svc;
    plm__run_params p;
    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    sigset_t all, old;
    int rc;

    if (c->svc)
        return PLM_ESTATE;
    svc = calloc(1, sizeof *svc);
    if (!svc)
        return PLM_ENOMEM;
    svc->caller_driven = o ? o->caller_driven : 0;
    /* The engine has not looked at the queue yet: the first submit must
     * wake it (a caller-driven loop sleeps until its descriptor says). */
    svc->idle_wait = 1;
    atomic_init(&svc->control, 0);
    ro.max_concurrent = o && o->max_concurrent > 0
                            ? o->max_concurrent
                            : PLM__SERVICE_DEFAULT_CONCURRENCY;
    memset(&p, 0, sizeof p);
    p.source = svc_source;
    p.complete = svc_complete;
    p.settle = svc_settle;
    p.settle_done = svc_settle_done;
    p.user_data = c;
    p.opts = &ro;
    p.batch_size = -1;
    p.service = 1;
    pthread_cond_init(&svc->sync_cv, NULL);
    c->svc = svc;
    rc = plm__run_begin(c, &p, &svc->run);
    if (rc == PLM_OK && svc->caller_driven) {
        plm__client_set_loop_thread(c);
        return PLM_OK;
    }
    if (rc == PLM_OK) {
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        if (pthread_create(&svc->thread, NULL, svc_main, c) != 0) {
            plm__run_end(svc->run);
            rc = PLM_ENOMEM;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (rc != PLM_OK) {
        c->svc = NULL;
        pthread_cond_destroy(&svc->sync_cv);
        free(svc);
    }
    return rc;
}

int plm_client_start(plm_client *client, const plm_start_options *opts)
{
    int rc;
    if ((rc = plm__check_not_null("client", client)) ||
        (rc = check_start_options(opts)))
        return rc;
    pthread_mutex_lock(&client->svc_mu);
    rc = start_locked(client, opts);
    pthread_mutex_unlock(&client->svc_mu);
    return rc;
}

int plm__service_started(plm_client *c)
{
    int started;
    pthread_mutex_lock(&c->svc_mu);
    started = c->svc != NULL && !c->svc->closing;
    pthread_mutex_unlock(&c->svc_mu);
    return started;
}

int plm__service_on_loop(const plm_client *c)
{
    return plm__client_on_loop_thread(c);
}

/* Ends the run and frees the service; the caller set svc->stopping. */
static void stop_started(plm_client *c, plm__service *svc)
{
    pthread_mutex_lock(&c->svc_mu);
    svc->closing = 1;
    atomic_store(&svc->control, 1);
    pthread_mutex_unlock(&c->svc_mu);
    if (svc->caller_driven) {
        plm__sigpipe_guard guard;
        plm__sigpipe_block(&guard);
        plm__client_set_loop_thread(c);
        while (!plm__run_step(svc->run, 0))
            ;
        plm__run_end(svc->run);
        svc->run = NULL;
        plm__sigpipe_restore(&guard);
        close_syncs(c, svc);
    } else {
        plm__loop_wake(c->loop);
        pthread_join(svc->thread, NULL);
    }
    pthread_mutex_lock(&c->svc_mu);
    c->svc = NULL;
    pthread_mutex_unlock(&c->svc_mu);
    pthread_cond_destroy(&svc->sync_cv);
    free(svc);
}

int plm_client_stop(plm_client *client)
{
    plm__service *svc;
    int rc;

    if ((rc = plm__check_not_null("client", client)))
        return rc;
    pthread_mutex_lock(&client->svc_mu);
    svc = client->svc;
    if (!svc || svc->stopping ||
        (plm__client_on_loop_thread(client) &&
         (!svc->caller_driven || svc->in_process))) {
        pthread_mutex_unlock(&client->svc_mu);
        return PLM_ESTATE;
    }
    svc->stopping = 1;
    pthread_mutex_unlock(&client->svc_mu);
    stop_started(client, svc);
    return PLM_OK;
}

void plm__service_shutdown(plm_client *c)
{
    plm__service *svc;
    pthread_mutex_lock(&c->svc_mu);
    svc = c->svc;
    if (svc && svc->stopping)
        svc = NULL; /* a plm_client_stop is under way: a misuse */
    if (svc)
        svc->stopping = 1;
    pthread_mutex_unlock(&c->svc_mu);
    if (svc)
        stop_started(c, svc);
}

int plm__service_submit(plm_client *c, plm__svc_item *it)
{
    plm__service *svc;
    int rc = PLM_OK, wake = 0;

    pthread_mutex_lock(&c->svc_mu);
    if (!c->svc)
        rc = start_locked(c, NULL);
    svc = c->svc;
    if (rc == PLM_OK && svc->closing)
        rc = PLM_ESTATE;
    if (rc == PLM_OK) {
        it->prev = svc->tail;
        it->next = NULL;
        if (svc->tail)
            svc->tail->next = it;
        else
            svc->head = it;
        svc->tail = it;
        it->queued = 1;
        it->finished = it->cancel_queued = 0;
        wake = svc->idle_wait;
        svc->idle_wait = 0;
    }
    pthread_mutex_unlock(&c->svc_mu);
    if (wake)
        plm__loop_wake(c->loop);
    return rc;
}

void plm__service_cancel(plm_client *c, plm__svc_item *it)
{
    int wake = 0;
    pthread_mutex_lock(&c->svc_mu);
    if (c->svc && !it->finished && !it->cancel_queued) {
        it->cancel_queued = 1;
        it->cancel_next = c->svc->cancels;
        c->svc->cancels = it;
        atomic_store(&c->svc->control, 1);
        wake = 1;
    }
    pthread_mutex_unlock(&c->svc_mu);
    if (wake)
        plm__loop_wake(c->loop);
}

int plm__service_call(plm_client *c, void (*fn)(void *), void *arg)
{
    plm__svc_sync s;
    plm__service *svc;

    pthread_mutex_lock(&c->svc_mu);
    svc = c->svc;
    if (!svc || svc->syncs_closed || plm__client_on_loop_thread(c)) {
        pthread_mutex_unlock(&c->svc_mu);
        return 0;
    }
    s.fn = fn;
    s.arg = arg;
    s.done = 0;
    s.next = svc->syncs;
    svc->syncs = &s;
    atomic_store(&svc->control, 1);
    pthread_mutex_unlock(&c->svc_mu);
    plm__loop_wake(c->loop);
    pthread_mutex_lock(&c->svc_mu);
    while (!s.done)
        pthread_cond_wait(&svc->sync_cv, &c->svc_mu);
    pthread_mutex_unlock(&c->svc_mu);
    return 1;
}

/* ---- caller-driven mode ---- */

static plm__service *driven(const plm_client *c)
{
    plm_client *m = (plm_client *)c;
    plm__service *svc;
    pthread_mutex_lock(&m->svc_mu);
    svc = m->svc;
    if (svc && (!svc->caller_driven || svc->closing))
        svc = NULL;
    pthread_mutex_unlock(&m->svc_mu);
    return svc;
}

int plm_client_fd(const plm_client *client)
{
    if (!client || !driven(client))
        return -1;
    return plm__loop_fd(client->loop);
}

int64_t plm_client_timeout_ms(plm_client *client)
{
    if (!client || !driven(client))
        return -1;
    return plm__loop_timeout_ms(client->loop);
}

int plm_client_process(plm_client *client)
{
    plm__service *svc;
    plm__sigpipe_guard guard;
    int rc = PLM_OK;

    if (!client)
        return PLM_EINVAL;
    svc = driven(client);
    if (!svc)
        return PLM_ESTATE;
    plm__sigpipe_block(&guard);
    plm__client_set_loop_thread(client);
    svc->in_process = 1;
    plm__run_step(svc->run, 0);
    svc->in_process = 0;
    if (plm__run_take_loop_failure(svc->run))
        rc = PLM_EINTERNAL;
    plm__sigpipe_restore(&guard);
    return rc;
}
