/*
 * A run's life around the state machine in engine.c: begin (checks,
 * statistics, hooks, timers), steps (one dispatch of the client's event
 * loop, then stops, admission and pulls), end (teardown, the batch line).
 * plm_client_run and gather loop over steps on the calling thread; a
 * shared client (service.c) steps on its engine thread or inside the
 * caller's event loop, and its run lives until it is closed: an empty
 * source (PLM__SOURCE_IDLE) only means "nothing yet".
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "defaults.h"
#include "engine_internal.h"
#include "sigpipe.h"

static void on_deadline(plm__timer *t, void *user_data)
{
    plm__run *run = user_data;
    (void)t;
    run->deadline_hit = 1;
}

static void on_tick(plm__timer *t, void *user_data)
{
    plm__run *run = user_data;
    plm_stats st;
    plm_client_stats(run->client, &st);
    run->tick_fn(&st, run->tick_user_data);
    plm__timer_start(run->client->loop, t, run->tick_ms);
}

static void on_admit_timer(plm__timer *t, void *user_data)
{
    /* Nothing to do: the loop pumps after every wake-up. */
    (void)t;
    (void)user_data;
}

/* A shared client's run outlives its stops: once an interrupt or a fatal
 * answer has completed everything it cancelled, it serves again. */
static void service_rearm(plm__run *run)
{
    if (!run->service || run->closing || plm__eng_active(run) != 0 ||
        !(run->stopping || run->abort_pending))
        return;
    run->stopping = run->abort_pending = run->abort_done = 0;
    run->interrupt_seen = 0;
    run->source_done = 0;
    run->result = PLM_OK;
    atomic_store(&run->client->interrupt_level, 0);
}

/* The caller's end-of-round flush; a failure aborts the run as a
 * completion callback's non-zero return does. */
static void run_flush(plm__run *run)
{
    if (!run->flush_fn || run->flush_fn(run->tick_user_data) == 0)
        return;
    if (!run->stopping && !run->abort_pending) {
        run->abort_pending = 1;
        run->result = PLM_EABORTED;
    }
    plm__eng_settle(run); /* acts on the abort now, not at the next event */
}

/* Acts on what the last dispatch changed: stops, then admission and
 * pulls, then the caller's flush. Returns 1 when the run is over. */
static int run_settle(plm__run *run)
{
    plm_client *client = run->client;

    run->source_idle = 0;
    if (run->settle)
        run->settle(run, run->user_data);
    plm__eng_settle(run);
    run_flush(run);
    service_rearm(run);
    if (run->settle_done)
        run->settle_done(run, run->user_data);
    client->stats.concurrency_limit = plm__eng_current_limit(run);
    plm__client_publish_stats(client);
    if (plm__eng_active(run) != 0)
        return 0;
    if (run->service)
        return run->closing;
    return run->source_done || run->stopping || run->abort_pending;
}

static int check_run_args(plm_client *client, const plm__run_params *p)
{
    const plm_run_options *opts = p->opts;
    int rc;

    if ((rc = plm__check_not_null("client", client)) ||
        (rc = plm__check_not_null("source", p->source)) ||
        (rc = plm__check_not_null("complete", p->complete)))
        return rc;
    if (opts &&
        ((rc = plm__check_version("plm_run_options", opts->version,
                                  PLM_RUN_OPTIONS_VERSION)) ||
         (rc = plm__check_range("max_concurrent", opts->max_concurrent, 0,
                                INT32_MAX)) ||
         (rc = plm__check_duration_ms("timeout_ms", opts->timeout_ms)) ||
         (rc = plm__check_duration_ms("tick_ms", opts->tick_ms))))
        return rc;
    return PLM_OK;
}

static void run_start_timers(plm__run *run, const plm__run_params *p)
{
    plm_client *client = run->client;
    const plm_run_options *opts = p->opts;

    if (opts && opts->timeout_ms > 0)
        plm__timer_start(client->loop, &run->deadline, opts->timeout_ms);
    if (opts && opts->tick) {
        run->tick_fn = opts->tick;
        run->tick_ms = opts->tick_ms > 0 ? opts->tick_ms : PLM__DEFAULT_TICK_MS;
        run->tick_user_data = p->tick_user_data;
        plm__timer_start(client->loop, &run->tick, run->tick_ms);
    }
    if (opts && opts->flush) {
        run->flush_fn = opts->flush;
        run->tick_user_data = p->tick_user_data;
    }
}

int plm__run_begin(plm_client *client, const plm__run_params *p, plm__run **out)
{
    plm__run *run;
    int expected = 0, i, capped, rc;

    *out = NULL;
    if ((rc = check_run_args(client, p)) != PLM_OK)
        return rc;
    run = calloc(1, sizeof *run);
    if (!run)
        return PLM_ENOMEM;
    if (!atomic_compare_exchange_strong(&client->running, &expected, 1)) {
        free(run);
        return PLM_ESTATE;
    }
    run->client = client;
    run->source = p->source;
    run->complete = p->complete;
    run->settle = p->settle;
    run->settle_done = p->settle_done;
    run->user_data = p->user_data;
    run->service = p->service;
    run->max_concurrent = p->opts ? p->opts->max_concurrent : 0;
    run->rng = (uint64_t)plm__now_ns() | 1;
    run->batch_size = p->batch_size;
    run->result = PLM_OK;
    plm__timer_init(&run->deadline, on_deadline, run);
    plm__timer_init(&run->tick, on_tick, run);
    plm__timer_init(&run->admit_timer, on_admit_timer, run);

    atomic_store(&client->interrupt_level, 0);
    memset(&client->stats, 0, sizeof client->stats);
    capped = plm__client_cap_to_descriptors(client, &run->max_concurrent,
                                            run->batch_size);
    client->stats.concurrency_limit = run->max_concurrent;
    client->run_started_ns = plm__now_ns();
    client->run_ended_ns = 0;
    if (!p->service) /* a shared client's loop thread says so itself */
        plm__client_set_loop_thread(client);
    plm__obs_run_start(client);
    plm__eng_attach(run, 1);
    plm__transport_set_concurrency(client->transport, run->max_concurrent);
    if (capped)
        plm__transport_cap_connections(client->transport, run->max_concurrent);
    for (i = 0; i < client->nhooks; i++)
        if (client->hooks[i].run_start)
            client->hooks[i].run_start(client->hooks[i].data,
                                       client->run_started_ns);
    run_start_timers(run, p);
    *out = run;
    return PLM_OK;
}

int plm__run_step(plm__run *run, int max_wait_ms)
{
    if (run->started &&
        plm__loop_run_once_ms(run->client->loop, max_wait_ms) != 0) {
        run->loop_failed = 1;
        run->abort_pending = 1;
        if (run->result == PLM_OK)
            run->result = PLM_EINTERNAL;
    }
    run->started = 1;
    return run_settle(run);
}

int plm__run_cancel_tag(plm__run *run, void *tag, const char *why)
{
    plm__job_list *lists[3];
    int k;

    lists[0] = &run->waiting;
    lists[1] = &run->backoff;
    lists[2] = &run->in_flight;
    for (k = 0; k < 3; k++) {
        plm__job *j;
        for (j = lists[k]->head; j; j = j->next) {
            if (j->tag == tag) {
                plm__eng_cancel(run, j, why);
                return 1;
            }
        }
    }
    return 0;
}

int plm__run_take_loop_failure(plm__run *run)
{
    int failed = run->loop_failed;
    run->loop_failed = 0;
    return failed;
}

void plm__run_close(plm__run *run)
{
    run->closing = 1;
    run->source_done = 1;
    plm__eng_stop_all(run, PLM_ECANCELLED);
}

int plm__run_end(plm__run *run)
{
    plm_client *client = run->client;
    int i, result = run->result;

    plm__timer_stop(client->loop, &run->deadline);
    plm__timer_stop(client->loop, &run->tick);
    plm__timer_stop(client->loop, &run->admit_timer);
    plm__eng_attach(run, 0);
    /* What completed after the last round's flush (an abort's
     * cancellations) is flushed too. */
    if (run->flush_fn && run->flush_fn(run->tick_user_data) != 0 &&
        result == PLM_OK)
        result = PLM_EABORTED;
    for (i = 0; i < client->nhooks; i++)
        if (client->hooks[i].run_end)
            client->hooks[i].run_end(client->hooks[i].data);
    client->run_ended_ns = plm__now_ns();
    plm__obs_run_end(client);
    client->stats.elapsed = (double)(client->run_ended_ns -
                                     client->run_started_ns) /
                            1e9;
    plm__eng_update_gauges(run);
    plm__client_publish_stats(client);
    plm__log(client, PLM_LOG_DEBUG,
             "run ended (%s): %llu completed, %llu ok, %llu failed, "
             "%llu attempts, %llu retries, %.2fs",
             plm_strerror(result), (unsigned long long)client->stats.completed,
             (unsigned long long)client->stats.succeeded,
             (unsigned long long)client->stats.failed,
             (unsigned long long)client->stats.attempts,
             (unsigned long long)client->stats.retries, client->stats.elapsed);
    if (!run->service)
        plm__client_log_batch(client, run->batch_size);
    plm__client_clear_loop_thread(client);
    free(run);
    atomic_store(&client->running, 0);
    return result;
}

int plm__engine_run(plm_client *client, plm__source_fn source,
                    plm__complete_fn complete, const plm_run_options *opts,
                    void *user_data, void *tick_user_data)
{
    return plm__engine_run_batch(client, source, complete, opts, user_data,
                                 tick_user_data, -1);
}

int plm__engine_run_batch(plm_client *client, plm__source_fn source,
                          plm__complete_fn complete,
                          const plm_run_options *opts, void *user_data,
                          void *tick_user_data, int64_t batch_size)
{
    plm__run_params p;
    plm__run *run;
    plm__sigpipe_guard guard;
    int rc;

    memset(&p, 0, sizeof p);
    p.source = source;
    p.complete = complete;
    p.opts = opts;
    p.user_data = user_data;
    p.tick_user_data = tick_user_data;
    p.batch_size = batch_size;
    rc = plm__run_begin(client, &p, &run);
    if (rc != PLM_OK)
        return rc;
    plm__sigpipe_block(&guard);
    while (!plm__run_step(run, -1))
        ;
    rc = plm__run_end(run);
    plm__sigpipe_restore(&guard);
    return rc;
}
