/*
 * What the engine observes about each request and attempt: the timings a
 * result carries, the client's metrics and the attempt trace callback.
 * The engine calls these at its state changes; each is a few stores and,
 * with metrics on, a few additions (no locks, no allocation after a
 * request's first attempt). Loop thread only.
 */
#ifndef PLM_ENGINE_OBSERVE_H
#define PLM_ENGINE_OBSERVE_H

#include <stdint.h>

#include "parallm.h"
#include "transport.h"

struct plm__series;

/* One request's observations, kept in its job. Times are absolute
 * (CLOCK_MONOTONIC ns); 0 = not yet. */
typedef struct plm__obs {
    uint64_t index;
    int64_t taken_ns;      /* from the source */
    int64_t queued_ns;     /* the current attempt began waiting */
    int64_t first_sent_ns; /* first attempt */
    int64_t admitted_ns, sent_ns, first_byte_ns, done_ns; /* last attempt */
    int hold_reason;  /* why admission last said WAIT (hooks) */
    int delay_reason; /* retry_after or backoff, after an attempt */
    int pending;      /* t describes a finished attempt not reported */
    struct plm__series *series; /* NULL until resolved */
    plm_attempt_trace t;
} plm__obs;

/* Creates the client's metrics when recording is on and frees them in
 * plm_client_free. */
int plm__obs_run_start(plm_client *c);
void plm__obs_run_end(plm_client *c);
void plm__obs_client_free(plm_client *c);

/* The request was taken from the source (index: 0-based order). */
void plm__obs_taken(plm__obs *o, uint64_t index, int64_t now_ns);
/* A backoff ended: the next attempt begins waiting for admission. */
void plm__obs_queued(plm__obs *o, int64_t now_ns);
/* Attempt number `attempt` was admitted and put on the wire. */
void plm__obs_sent(plm_client *c, plm__obs *o, const plm_request *req,
                   int attempt, int64_t admitted_ns, int64_t sent_ns);
/* An attempt on the wire ended with res as its outcome; retry says the
 * engine will try again (x: the transfer, for the first byte and the
 * retry-after headers). */
void plm__obs_attempt_done(plm_client *c, plm__obs *o, const plm_request *req,
                           const plm_result *res, const plm__xfer *x,
                           int retry);
/* The request completes with res: reports a pending attempt, records the
 * request's metrics and fills res->timings. */
void plm__obs_complete(plm_client *c, plm__obs *o, const plm_request *req,
                       plm_result *res);

#endif
