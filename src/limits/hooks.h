/*
 * The admission hook contract between the engine and the limit policies.
 * It lives in the limits layer, below the engine: the policies implement
 * it without knowing the engine or the client, and the engine calls it
 * without knowing what a policy counts. Every hook runs on the loop thread.
 *
 * The contract, in order, for one attempt of one request:
 *   before_send (GO, WAIT until a time, or FAIL with a code; the head of
 *   the queue is asked first) -> on the wire -> after_attempt exactly once
 *   -> stop_run -> allow_retry when the retry decision said "again".
 * A GO that a later hook or the transport takes back is returned through
 * unadmit. A hook's record for the request (plm__admission) is its own.
 */
#ifndef PLM_LIMITS_HOOKS_H
#define PLM_LIMITS_HOOKS_H

#include <stddef.h>
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

/*
 * What a hook keeps for one request between the admission of an attempt
 * and its end (the policy's reservation). The engine owns one per request
 * per hook, zeroed when the request is taken from the source and kept
 * across its attempts; only the hook reads or writes it.
 */
typedef struct plm__admission {
    struct plm__endpoint *endpoint; /* where the reservation was charged;
                                       NULL while none is outstanding */
    int64_t reserved_at_ns;         /* when it was granted */
    int64_t in_tokens;              /* estimated input tokens charged */
    int64_t out_tokens;             /* estimated output tokens charged */
    int trial;                      /* the attempt is the breaker's trial */
    int count;                      /* free for a hook's own bookkeeping */
} plm__admission;

/* What a hook is told about the request and attempt concerned. */
typedef struct plm__hook_ctx {
    const plm_request *req;
    int attempt;         /* 1-based number of the attempt concerned */
    int64_t sent_ns;     /* when that attempt went on the wire; 0 before */
    size_t in_flight;    /* attempts on the wire now, this one included
                            while it is */
    plm__admission *adm; /* this hook's record for this request */
    int wait_reason;     /* before_send may say why it answered WAIT
                            (a plm_wait_reason); 0 = not said */
} plm__hook_ctx;

/*
 * Policy modules (rate budget, circuit breaker, adaptive concurrency,
 * retry budget) plug into the engine through these hooks, registered on
 * the client with plm__client_add_hooks (src/engine). Every function may be
 * NULL. All run on the loop thread, in registration order.
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
    void (*after_attempt)(void *data, plm__hook_ctx *ctx, const plm__attempt *a,
                          const plm_result *res, int64_t now_ns);
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
    void (*fail_message)(void *data, plm__hook_ctx *ctx, int code, char *buf,
                         size_t len);
} plm__engine_hooks;

#endif
