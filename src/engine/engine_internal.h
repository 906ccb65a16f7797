/*
 * The engine's insides shared by engine.c (the request state machine:
 * jobs, attempts, admission, stopping) and engine_run.c (a run's life: begin,
 * step, end, and a shared client's cancellations). Engine layer only.
 */
#ifndef PLM_ENGINE_INTERNAL_H
#define PLM_ENGINE_INTERNAL_H

#include <stdint.h>

#include "attempt_stream.h"
#include "client.h"
#include "engine.h"
#include "hooks.h"
#include "loop.h"
#include "observe.h"
#include "transport.h"

enum plm__job_state { JOB_WAITING, JOB_IN_FLIGHT, JOB_BACKOFF };

typedef struct plm__job {
    struct plm__job *prev, *next; /* in the list of its state */
    enum plm__job_state state;
    plm_request *req;
    void *tag;
    plm_result *res;
    char *url;
    plm__xfer xfer;
    plm__attempt_stream stream; /* a streamed answer read as it arrives */
    plm__timer timer;           /* backoff */
    plm__run *run;
    int attempt;       /* attempts sent so far */
    int local_retries; /* attempts that found no descriptor */
    int64_t first_sent_ns;
    int64_t sent_ns;                    /* this attempt */
    plm__admission adm[PLM__MAX_HOOKS]; /* each hook's record */
    plm__obs obs;                       /* timings, metrics, trace */
} plm__job;

typedef struct plm__job_list {
    plm__job *head, *tail;
    size_t n;
} plm__job_list;

struct plm__run {
    plm_client *client;
    plm__source_fn source;
    plm__complete_fn complete;
    void *user_data;
    int max_concurrent; /* configured; 0 = unlimited */
    plm__job_list waiting, in_flight, backoff;
    int source_done;
    int stopping;      /* no more pulls or retries */
    int result;        /* what the run returns */
    int abort_pending; /* a callback or the source asked to stop */
    int abort_done;
    int deadline_hit;
    int deadline_done;
    int interrupt_seen; /* level already acted on */
    plm__timer deadline, tick, admit_timer;
    plm_tick_fn tick_fn;
    int64_t tick_ms;
    void *tick_user_data;
    plm_flush_fn flush_fn; /* gets tick_user_data, the caller's own */
    uint64_t rng;
    int64_t batch_size; /* for the log line; -1 = requests taken */
    int service;        /* ends only when closed (plm__run_close) */
    int closing;
    int source_idle; /* the source had nothing: ask again after a wake-up */
    plm__settle_fn settle, settle_done;
    int started;     /* the first step dispatches nothing */
    int loop_failed; /* the event loop failed (plm_client_process) */
};

/* From engine.c, for engine_run.c. */
size_t plm__eng_active(const plm__run *run); /* requests taken, not done */
int plm__eng_current_limit(const plm__run *run);
void plm__eng_update_gauges(plm__run *run);
/* Acts on stops, admits what may go and pulls what there is room for. */
void plm__eng_settle(plm__run *run);
/* Completes every request not yet done with code (cancelling attempts on
 * the wire); never sent ones say PLM_ENOTSTARTED. */
void plm__eng_stop_all(plm__run *run, int code);
/* Completes one request now as PLM_ECANCELLED with why. */
void plm__eng_cancel(plm__run *run, plm__job *j, const char *why);
/* Points the transport's callbacks at run (attach 1) or at nothing. */
void plm__eng_attach(plm__run *run, int attach);

#endif
