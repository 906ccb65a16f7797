/*
 * Shared limits: the rate budgets of an endpoint (base URL + model) kept
 * in Redis, so that many parallm processes using one API key stay inside
 * the key's limits together. A server-side script (shared_script.c)
 * implements the same pacing as the local budget (ratelimit.c) with
 * Redis's clock; a process leases grants in small blocks (what the rate
 * grants in ~75 ms, at least 1) so Redis sees about one command per block,
 * not per request. Everything runs on the engine's loop and never blocks
 * it: while a block is being fetched the admission hook says WAIT, and
 * the answer arriving on the socket wakes the loop, which asks again.
 * When Redis fails (unreachable, slower than PLM__RCONN_TIMEOUT_MS,
 * restarting) each endpoint falls back to a local budget of the limit
 * divided by the number of processes last seen, warns once, and rejoins
 * when Redis is back. A 429's endpoint pause and the limits learned from
 * headers are published for the other processes. Loop thread only.
 */
#ifndef PLM_SHARED_H
#define PLM_SHARED_H

#include <stdint.h>

#include "loop.h"
#include "ratelimit.h"
#include "shared_conn.h"

/* The grant script (Lua), for EVAL / SCRIPT LOAD. */
extern const char plm__shared_script[];

/* How long a leased block stays usable; its size is what the requests
 * (or tokens) rate grants in PLM__SHARED_BLOCK_MS; the script keeps the
 * lease's worth out of the burst so that a block used late still cannot
 * push a 1-second window past 1.5 s of the pace. */
#define PLM__SHARED_LEASE_MS 100
#define PLM__SHARED_BLOCK_MS 75
#define PLM__SHARED_BLOCK_MAX 64
/* How far ahead Redis reserves a unit when none fits now (the caller
 * waits for it instead of asking again). */
#define PLM__SHARED_AHEAD_MS 500
/* Heartbeat period and how long a process counts as live without one. */
#define PLM__SHARED_BEAT_MS 1000
#define PLM__SHARED_LIVE_MS 5000

typedef struct plm__shared plm__shared;
typedef struct plm__shared_ep plm__shared_ep;

/* How an admission was granted (kept in the admission record's count). */
enum { PLM__SHARED_NONE = 0, PLM__SHARED_REDIS = 1, PLM__SHARED_LOCAL = 2 };

typedef void (*plm__shared_log_fn)(void *data, int level, const char *msg);

/* Creates the shared-limits client for url (checked: PLM_EINVAL with the
 * error detail set) on loop; burst_ms as the local budget's. log (may be
 * NULL) gets warnings and notes, never a password. */
int plm__shared_new(plm__shared **out, plm__loop *loop, const char *url,
                    int64_t burst_ms, plm__shared_log_fn log, void *log_data);
/* Drops the connection and frees; endpoints must be freed after. */
void plm__shared_free(plm__shared *sh);
/* A run starts: connect (if not yet) and start the heartbeat. */
void plm__shared_run_start(plm__shared *sh);
/* A run ended: give back unused leases, send what is due, and leave the
 * live processes (written at once, without waiting for an answer). */
void plm__shared_run_end(plm__shared *sh);

/* The shared budget of one endpoint, identified by base_url and model
 * (hashed into the key), with the configured limits of cfg. NULL when out
 * of memory. */
plm__shared_ep *plm__shared_ep_new(plm__shared *sh, const char *base_url,
                                   const char *model,
                                   const plm__budget_config *cfg);
void plm__shared_ep_free(plm__shared_ep *e);

/*
 * Asks for one request costing in + out tokens. Returns 0 (granted; *how
 * says from where, for settle), 1 (wait: ask again at *until_ns, or when
 * the loop wakes up first) or PLM_EBUDGET (the cost exceeds a limit).
 */
int plm__shared_take(plm__shared_ep *e, int64_t in, int64_t out, int64_t now,
                     int64_t *until_ns, int *how);
/* Gives back a grant that did not go out. */
void plm__shared_untake(plm__shared_ep *e, int how, int64_t in, int64_t out,
                        int64_t at, int64_t now);
/* Corrects a grant with the usage reported (as plm__budget_settle_io). */
void plm__shared_settle(plm__shared_ep *e, int how, int64_t in, int64_t out,
                        int64_t used_in, int64_t used_out, int64_t at,
                        int64_t now);
/* Pauses the endpoint for every process for ms milliseconds. */
void plm__shared_pause(plm__shared_ep *e, int64_t ms);
/* A limit learned from headers (kind: plm__rl_kind), for every process. */
void plm__shared_learned(plm__shared_ep *e, int kind, double limit,
                         int64_t now);

/* Test and debugging aids: 1 while Redis is in use, the live processes
 * last counted. */
int plm__shared_connected(const plm__shared *sh);
int plm__shared_processes(const plm__shared *sh);

#endif
