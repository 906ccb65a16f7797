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
#include "hooks.h"
#include "retry.h"

/* Registers hooks on a client (copied). PLM_OK, PLM_EINVAL when full,
 * PLM_ESTATE during a run. */
int plm__client_add_hooks(plm_client *client, const plm__engine_hooks *h);

/* The engine's own source and completion: like the public ones with a tag
 * that travels with the request (gather keeps the input index there). */
typedef int (*plm__source_fn)(plm_request **out, void **tag, void *user_data);
typedef int (*plm__complete_fn)(plm_request *req, void *tag, plm_result *res,
                                void *user_data);

/* A source may also return PLM__SOURCE_IDLE: nothing now, more later.
 * The engine asks again after its loop wakes up (plm__loop_wake). */
#define PLM__SOURCE_IDLE 2

typedef struct plm__run plm__run;

/* Called on the loop thread at the start of every settle (after each
 * dispatch), before admission: a shared client drains its cancellations
 * there. */
typedef void (*plm__settle_fn)(plm__run *run, void *user_data);

typedef struct plm__run_params {
    plm__source_fn source;       /* required */
    plm__complete_fn complete;   /* required */
    void *user_data;             /* to source, complete and settle */
    const plm_run_options *opts; /* may be NULL */
    void *tick_user_data;
    int64_t batch_size; /* see plm__engine_run_batch */
    int service; /* a shared client's run: an empty source does not end it,
                    only plm__run_close does; no batch line */
    plm__settle_fn settle;      /* may be NULL */
    plm__settle_fn settle_done; /* at the end of every settle; may be NULL */
} plm__run_params;

/* A run in steps, for a caller that drives the loop itself (a shared
 * client's engine thread, a caller's event loop). begin: the checks and
 * returns of plm_client_run (PLM_EINVAL, PLM_ESTATE) or PLM_ENOMEM, else
 * PLM_OK with *out set. step: dispatches what the loop has, waiting at
 * most max_wait_ms (-1: until something happens; the first step only
 * settles), then admits and pulls; returns 1 when the run is over. end:
 * frees the run and returns what plm_client_run would. All three on the
 * thread that owns the loop; SIGPIPE is the caller's (sigpipe.h). */
int plm__run_begin(plm_client *client, const plm__run_params *p,
                   plm__run **out);
int plm__run_step(plm__run *run, int max_wait_ms);
int plm__run_end(plm__run *run);

/* Completes the request taken with tag now as PLM_ECANCELLED (cutting an
 * attempt on the wire). Returns 1, or 0 when no such request is active. */
int plm__run_cancel_tag(plm__run *run, void *tag, const char *why);

/* 1 (once) when a step found the event loop failing. */
int plm__run_take_loop_failure(plm__run *run);

/* Ends a service run: everything active completes as PLM_ECANCELLED (never
 * sent: PLM_ENOTSTARTED) and the source is not asked again. The next step
 * returns 1. */
void plm__run_close(plm__run *run);

/* plm_client_run with tags. user_data goes to source and complete,
 * tick_user_data to opts->tick. Same return values. */
int plm__engine_run(plm_client *client, plm__source_fn source,
                    plm__complete_fn complete, const plm_run_options *opts,
                    void *user_data, void *tick_user_data);

/* The same for a batch of known size (gather, the executor): the batch
 * log line says batch_size requests, however many the run got to take
 * (-1: count the requests taken from the source, as plm__engine_run). */
int plm__engine_run_batch(plm_client *client, plm__source_fn source,
                          plm__complete_fn complete,
                          const plm_run_options *opts, void *user_data,
                          void *tick_user_data, int64_t batch_size);

#endif
