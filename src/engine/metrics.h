/*
 * The client's metrics: counters and histograms per label set (provider,
 * model), recorded by the engine on the loop thread, rendered in the
 * Prometheus text exposition format (0.0.4). No locks: recording and
 * rendering both happen on the thread that runs the client, so the hot
 * path is a few additions. Label sets are bounded: at most
 * PLM__METRICS_MAX_MODELS models are named, later ones count as "other".
 */
#ifndef PLM_ENGINE_METRICS_H
#define PLM_ENGINE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "parallm.h"
#include "policy.h"

#define PLM__METRICS_BUCKETS 16
#define PLM__METRICS_MAX_MODELS 64
#define PLM__METRICS_MODEL_MAX 128 /* bytes of a model name kept */
#define PLM__METRICS_CLASSES (PLM_CLASS_LOCAL + 1)
#define PLM__METRICS_REASONS (PLM_WAIT_BREAKER + 1)

/* Upper bounds of the buckets, in seconds: 5 ms to 10 minutes. */
extern const double plm__metrics_bounds[PLM__METRICS_BUCKETS];

/* A histogram: per-bucket (not cumulative) counts, the last one +Inf. */
typedef struct plm__hist {
    uint64_t bucket[PLM__METRICS_BUCKETS + 1];
    double sum;
    uint64_t count;
} plm__hist;

/* Everything counted for one (provider, model). */
typedef struct plm__series {
    plm_provider provider;
    char model[PLM__METRICS_MODEL_MAX + 1]; /* sanitized UTF-8 */
    plm__hist duration[PLM__METRICS_CLASSES];
    plm__hist ttfb;
    uint64_t requests[PLM__METRICS_CLASSES];
    uint64_t attempts[PLM__METRICS_CLASSES];
    uint64_t retries[PLM__METRICS_REASONS];
    uint64_t rate_limited;
    uint64_t tokens[2]; /* input, output */
} plm__series;

/* One endpoint's limits as the gauges show them. */
typedef plm__policy_endpoint_view plm__metrics_endpoint;

/* The gauges, read when rendering. */
typedef struct plm__metrics_gauges {
    uint64_t in_flight, waiting;
    int concurrency_limit;
    const plm__metrics_endpoint *endpoints;
    size_t nendpoints;
} plm__metrics_gauges;

typedef struct plm__metrics {
    plm__series **series;
    size_t n, cap;
    size_t named; /* series with their own model name */
    plm__series *last;
    plm__hist batch;
} plm__metrics;

/* A zeroed plm__metrics is ready; this frees what it holds. */
void plm__metrics_clear(plm__metrics *m);

/* The series of (provider, model); model NULL is "". Past the cap it is
 * the provider's "other" series. NULL only when out of memory. */
plm__series *plm__metrics_series(plm__metrics *m, plm_provider provider,
                                 const char *model);

/* Adds one observation (seconds) to a histogram. */
void plm__hist_observe(plm__hist *h, double seconds);

/* An estimate of the q-quantile (0..1) of a histogram, interpolated
 * within its bucket; -1 when it is empty. */
double plm__hist_quantile(const plm__hist *h, double q);

/* Sums histogram b into a. */
void plm__hist_add(plm__hist *a, const plm__hist *b);

/* Appends the exposition text to out. PLM_OK or PLM_ENOMEM. */
int plm__metrics_render(const plm__metrics *m, const plm__metrics_gauges *g,
                        plm__buf *out);

/* Appends s as an escaped label value (backslash, double quote and line
 * feed escaped). PLM_OK or PLM_ENOMEM. */
int plm__metrics_escape(plm__buf *out, const char *s);

#endif
