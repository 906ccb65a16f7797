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
