/*
 * The streaming engine: pulls requests from a source when it has room,
 * drives each through one state machine
 *   queued -> waiting for admission -> in flight
 *          -> (backoff -> waiting -> in flight)* -> done
 * and hands every final result to a completion callback, in completion
 * order. gather, the executor and the command are layers on top.
 */
#ifndef PLM_ENGINE_H
#define PLM_ENGINE_H

#include <stdint.h>

#include "parallm.h"
#include "retry.h"

/* Verdicts of an admission hook. */
enum {
    PLM__ADMIT_GO = 0,   /* send now */
    PLM__ADMIT_WAIT = 1, /* ask again at *until_ns (CLOCK_MONOTONIC), or
                            when an attempt finishes if *until_ns is 0
                            (50 ms later if none is in flight) */
    PLM__ADMIT_FAIL = 2  /* complete the request with *code, unsent */
};

/* Per-request memory each hook owns, in int64 units. */
#define PLM__HOOK_SCRATCH 4

/* What a hook is told about the request and attempt concerned. */
typedef struct plm__hook_ctx {
    const plm_request *req;
    int attempt;        /* 1-based number of the attempt concerned */
    int64_t sent_ns;    /* when that attempt went on the wire; 0 before */
    size_t in_flight;   /* attempts on the wire now, this one included
                           while it is */
    int64_t *scratch;   /* PLM__HOOK_SCRATCH values that belong to this
                           hook for this request (e.g. a reservation's
                           time and size); zero when the request is taken
                           from the source, kept across its attempts */
} plm__hook_ctx;

/*
 * Policy modules (rate budget, circuit breaker, adaptive concurrency,
 * retry budget) plug into the engine through these hooks, registered on
 * the client with plm__client_add_hooks. Every function may be NULL. All
 * run on the loop thread, in registration order.
 */
typedef struct plm__engine_hooks {
    void *data;
    /* A run starts / ends. */
    void (*run_start)(void *data, int64_t now_ns);
    void (*run_end)(void *data);
    /* Admission: the attempt ctx->attempt is about to be sent and the
     * concurrency limit has room. Return PLM__ADMIT_GO, or _WAIT with
     * *until_ns (the engine asks again then, or sooner), or _FAIL with
     * *code (e.g. PLM_EBREAKER, PLM_EBUDGET: the request completes with it
     * unsent). The head of the queue is asked first and nothing overtakes
     * it. A hook that returned GO has reserved whatever it counts: the
     * attempt goes out unless a later hook says WAIT or FAIL, or the
     * transfer cannot be started, in which case `unadmit` is called on it
     * to give the reservation back. */
    int (*before_send)(void *data, plm__hook_ctx *ctx, int64_t now_ns,
                       int64_t *until_ns, int *code);
    void (*unadmit)(void *data, plm__hook_ctx *ctx);
    /* Every attempt that went on the wire ends here exactly once: after
     * the retry decision set res->code and res->error_class, or cancelled
     * (a->transport_error == PLM_ECANCELLED) by an abort, a deadline or an
     * interrupt. a->headers carries the answer's rate-limit headers. */
    void (*after_attempt)(void *data, plm__hook_ctx *ctx,
                          const plm__attempt *a, const plm_result *res,
                          int64_t now_ns);
    /* The retry decision said "again": return 0 to make the current
     * outcome final instead (a retry budget). */
    int (*allow_retry)(void *data, plm__hook_ctx *ctx, const plm_result *res,
                       int64_t now_ns);
    /* The concurrency limit to use now, given the configured one (0 =
     * unlimited). Lets an adaptive limit shrink or grow it. */
    int (*concurrency_limit)(void *data, int configured);
    /* After each attempt's outcome (after after_attempt): a negative
     * plm_code stops the run with that code (errors that doom every
     * request: a bad key, a spent quota); requests in flight then
     * complete cancelled. 0 goes on. */
    int (*stop_run)(void *data, plm__hook_ctx *ctx, const plm_result *res);
    /* Right after before_send said PLM__ADMIT_FAIL: writes the request's
     * failure message (NUL-terminated, at most len bytes) into buf. */
    void (*fail_message)(void *data, plm__hook_ctx *ctx, int code,
                         char *buf, size_t len);
} plm__engine_hooks;

/* Registers hooks on a client (copied). PLM_OK, PLM_EINVAL when full,
 * PLM_ESTATE during a run. */
int plm__client_add_hooks(plm_client *client, const plm__engine_hooks *h);

/* The engine's own source and completion: like the public ones with a tag
 * that travels with the request (gather keeps the input index there). */
typedef int (*plm__source_fn)(plm_request **out, void **tag,
                              void *user_data);
typedef int (*plm__complete_fn)(plm_request *req, void *tag,
                                plm_result *res, void *user_data);

/* plm_client_run with tags. user_data goes to source and complete,
 * tick_user_data to opts->tick. Same return values. */
int plm__engine_run(plm_client *client, plm__source_fn source,
                    plm__complete_fn complete, const plm_run_options *opts,
                    void *user_data, void *tick_user_data);

#endif
