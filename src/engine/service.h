/*
 * A shared client (plm_client_start): one long run of the engine, on an
 * engine thread of its own or stepped by the caller's event loop, fed by
 * a queue that any thread submits to. The queue, the cancellations and
 * the cross-thread calls are guarded by the client's svc_mu; the run and
 * everything curl owns stay on the loop thread. A submitter wakes the
 * loop (eventfd) only when the engine found the queue empty; otherwise
 * the next dispatch pulls from it anyway.
 */
#ifndef PLM_ENGINE_SERVICE_H
#define PLM_ENGINE_SERVICE_H

#include "parallm.h"

/* One submitted request, embedded in the caller's object (the public
 * plm_call). Fields other than req and done are the service's. */
typedef struct plm__svc_item plm__svc_item;
struct plm__svc_item {
    plm_request *req;
    /* Called once, on the loop thread, with the final result (the callee
     * owns it). The item must stay valid until then. */
    void (*done)(plm__svc_item *it, plm_result *res);
    /* Called on the loop thread at the end of the dispatch in which done
     * was called (may be NULL): waking a waiting thread there lets the
     * engine finish its round before the woken threads take the CPU. */
    void (*after)(plm__svc_item *it);
    plm__svc_item *after_next; /* loop thread only */

    plm__svc_item *prev, *next; /* in the submit queue */
    plm__svc_item *cancel_next; /* in the cancellation list */
    int queued;                 /* in the submit queue */
    int cancel_queued;          /* in the cancellation list */
    int finished;               /* done was (being) called */
};

/* Queues it, starting the client with the defaults if it is not started.
 * PLM_OK, PLM_ESTATE (a plm_client_run owns the client, or it is
 * stopping), PLM_ENOMEM (no engine thread). */
int plm__service_submit(plm_client *c, plm__svc_item *it);

/* Asks for it to complete now as cancelled (no-op once finished). Any
 * thread; returns at once. */
void plm__service_cancel(plm_client *c, plm__svc_item *it);

/* Runs fn(arg) on the loop thread and waits for it, when a shared client's
 * loop runs on another thread: returns 1 then. Returns 0 (fn not called)
 * when the caller may run it itself: not started, or already on the loop
 * thread. */
int plm__service_call(plm_client *c, void (*fn)(void *), void *arg);

/* 1 when the calling thread runs the shared client's loop (a callback);
 * blocking there would wait for itself. */
int plm__service_on_loop(const plm_client *c);

/* 1 when the client is started for shared use (any thread). */
int plm__service_started(plm_client *c);

/* For plm_client_free: stops a started client (every call completes as
 * cancelled). */
void plm__service_shutdown(plm_client *c);

#endif
