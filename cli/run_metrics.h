/*
 * `parallm run`'s observability outputs: --metrics-file (the Prometheus
 * text, rewritten atomically for node_exporter's textfile collector),
 * --metrics-listen (GET /metrics and /api/state over HTTP, served by a
 * thread of its own), --metrics-linger, and --trace (one JSON line per
 * attempt). Everything is checked and opened before anything is sent;
 * the run's thread renders snapshots at its ticks and the listener only
 * serves the latest one, so it never blocks the engine.
 */
#ifndef CLI_RUN_METRICS_H
#define CLI_RUN_METRICS_H

#include "run_ctx.h"

typedef struct run_metrics run_metrics;

/* Binds the listener, checks that the metrics file can be written in its
 * directory and opens the trace file. *out is NULL when no option asks
 * for any of them. 0, or -1 after saying why (exit 2). */
int run_metrics_open(run_metrics **out, const run_options *opt);

/* Registers the trace callback on the client and publishes a first
 * snapshot; call just before the run. 0, or -1 after saying why. */
int run_metrics_attach(run_metrics *m, run_ctx *ctx);

/* At each tick of the run (its thread): new snapshots for the listener,
 * the metrics file every few seconds. */
void run_metrics_tick(run_metrics *m, run_ctx *ctx, const plm_stats *st);

/* After the run: the last snapshot and metrics file, the trace flushed,
 * and with --metrics-linger the listener kept up until a scrape of the
 * final numbers (or the linger time). 0, or -1 when an output failed
 * (said on stderr). */
int run_metrics_finish(run_metrics *m, run_ctx *ctx);

/* Stops the listener and frees everything (NULL is a no-op). */
void run_metrics_free(run_metrics *m);

/* run_trace.c: the --trace writer. */
typedef struct run_trace run_trace;
/* Opens path for writing (truncated). NULL after saying why. */
run_trace *run_trace_open(const char *path);
/* Writes the header line; started_at is wall-clock seconds. 0 or -1. */
int run_trace_begin(run_trace *t, const run_options *opt, double started_at);
/* The plm_trace_fn: user_data is the run_trace. */
void run_trace_attempt(const plm_attempt_trace *a, void *user_data);
/* Flushes and closes; 0, or -1 when a write failed (said on stderr). */
int run_trace_close(run_trace *t);

#endif
