/*
 * The numbers behind `parallm report`'s page, computed here so the page
 * stays small and fast whatever the size of the run: the page gets a few
 * hundred time buckets, a latency histogram, counts by class and reason,
 * and a bounded sample of requests for the timeline, never one entry per
 * attempt. Levels over time (in flight, waiting) come from a sweep over
 * the sorted start and end events, so each bucket's maximum is exact and
 * its average is time-weighted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define REPORT_DEFAULT_BUCKETS 400
#define REPORT_DEFAULT_TIMELINE 2000
#define REPORT_HIST_BINS 48

/* Per-bucket series of a level (how many things are in a state). */
typedef struct level_series {
    int64_t *max;
    double *busy_ms; /* level integrated over the bucket, in ms */
} level_series;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Adds level over [from, to) to the buckets it overlaps. */
static void level_span(level_series *s, int64_t width, int64_t nb, int64_t from,
                       int64_t to, int64_t level)
{
    for (int64_t b = from / width; b < nb && b * width < to; b++) {
        int64_t lo = b * width > from ? b * width : from;
        int64_t hi = (b + 1) * width < to ? (b + 1) * width : to;
        if (level > s->max[b])
            s->max[b] = level;
        if (hi > lo)
            s->busy_ms[b] += (double)(level * (hi - lo));
    }
}

/*
 * Sweeps n events (time << 1 | is_start, sorted here: at one instant the
 * ends come first, so back-to-back intervals do not count twice) into s.
 * Returns the highest level reached.
 */
static int64_t level_sweep(int64_t *ev, size_t n, level_series *s,
                           int64_t width, int64_t nb)
{
    int64_t level = 0, peak = 0, prev = 0;

    qsort(ev, n, sizeof *ev, cmp_i64);
    for (size_t i = 0; i < n; i++) {
        int64_t at = ev[i] >> 1;
        if (at > prev && level > 0)
            level_span(s, width, nb, prev, at, level);
        prev = at;
        level += (ev[i] & 1) ? 1 : -1;
        if (level > peak)
            peak = level;
        /* A level that rises and falls at one instant still counts. */
        if (level > 0 && at / width < nb && level > s->max[at / width])
            s->max[at / width] = level;
    }
    return peak;
}

static json_t *i64_array(const int64_t *v, int64_t n)
{
    json_t *a = json_array();
    for (int64_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

/* Averages rounded to 0.01, which is all a chart can show. */
static json_t *avg_array(const double *busy, int64_t n, int64_t width)
{
    json_t *a = json_array();
    for (int64_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a,
                              json_real(round(busy[i] / (double)width * 100.0) /
                                        100.0));
    return a;
}

/* Which interval of an attempt a series follows. */
enum level_kind { LEVEL_IN_FLIGHT, LEVEL_WAITING, LEVEL_RETRY_WAIT };

/* One level series as {"max": [...], "avg": [...], "peak": n}. */
static json_t *level_json(const report_trace *t, enum level_kind kind,
                          int64_t width, int64_t nb)
{
    int64_t *ev = malloc(2 * (t->count + 1) * sizeof *ev);
    level_series s = { calloc((size_t)nb, sizeof(int64_t)),
                       calloc((size_t)nb, sizeof(double)) };
    json_t *out = NULL;
    size_t n = 0;

    if (ev == NULL || s.max == NULL || s.busy_ms == NULL)
        goto out;
    for (size_t i = 0; i < t->count; i++) {
        const report_attempt *a = &t->attempts[i];
        int64_t from = kind == LEVEL_IN_FLIGHT ? a->admitted
                       : kind == LEVEL_WAITING ? a->queued
                                               : a->done;
        int64_t to = kind == LEVEL_IN_FLIGHT ? a->done
                     : kind == LEVEL_WAITING ? a->admitted
                                             : a->done + a->retry_wait;
        if (kind == LEVEL_RETRY_WAIT && a->retry_wait <= 0)
            continue;
        if (to <= from)
            continue;
        ev[n++] = from * 2 + 1;
        ev[n++] = to * 2;
    }
    int64_t peak = level_sweep(ev, n, &s, width, nb);
    out = json_pack("{s:o,s:o,s:I}", "max", i64_array(s.max, nb), "avg",
                    avg_array(s.busy_ms, nb, width), "peak", (json_int_t)peak);
out:
    free(ev);
    free(s.max);
    free(s.busy_ms);
    return out;
}

/* Nearest rank: the smallest value with at least p% of values <= it. */
static int64_t percentile(const int64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return -1;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

/* Latency (sent to done) of every attempt: percentiles, mean and a
 * histogram on log-spaced bins from the least to the greatest. */
static json_t *latency_json(const report_trace *t)
{
    int64_t *lat = malloc((t->count + 1) * sizeof *lat);
    int64_t counts[REPORT_HIST_BINS] = { 0 };
    json_t *edges, *out = NULL;
    double sum = 0;
    size_t n = t->count;

    if (lat == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        lat[i] = t->attempts[i].done - t->attempts[i].sent;
        sum += (double)lat[i];
    }
    qsort(lat, n, sizeof *lat, cmp_i64);
    double lo = n ? (double)(lat[0] > 1 ? lat[0] : 1) : 1;
    double hi = n ? (double)lat[n - 1] + 1 : 2;
    if (hi <= lo)
        hi = lo + 1;
    double step = log(hi / lo) / REPORT_HIST_BINS;
    edges = json_array();
    for (int b = 0; b <= REPORT_HIST_BINS; b++)
        json_array_append_new(edges,
                              json_real(round(lo * exp(step * b) * 10.0) /
                                        10.0));
    for (size_t i = 0; i < n; i++) {
        double v = lat[i] < 1 ? 1 : (double)lat[i];
        int b = v <= lo ? 0 : (int)(log(v / lo) / step);
        counts[b < REPORT_HIST_BINS ? b : REPORT_HIST_BINS - 1]++;
    }
    out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:f,s:o,s:o}", "count", (json_int_t)n,
                    "p50", (json_int_t)percentile(lat, n, 50), "p95",
                    (json_int_t)percentile(lat, n, 95), "p99",
                    (json_int_t)percentile(lat, n, 99), "max",
                    (json_int_t)(n ? lat[n - 1] : -1), "mean",
                    n ? sum / (double)n : 0.0, "edges", edges, "counts",
                    i64_array(counts, REPORT_HIST_BINS));
    free(lat);
    return out;
}

/* Completions and tokens per bucket, by the time each attempt ended. */
static json_t *done_json(const report_trace *t, int64_t width, int64_t nb)
{
    int64_t *ok = calloc((size_t)nb, sizeof *ok);
    int64_t *failed = calloc((size_t)nb, sizeof *failed);
    int64_t *tokens = calloc((size_t)nb, sizeof *tokens);
    json_t *out = NULL;

    if (ok == NULL || failed == NULL || tokens == NULL)
        goto out;
    for (size_t i = 0; i < t->count; i++) {
        const report_attempt *a = &t->attempts[i];
        int64_t b = a->done / width < nb ? a->done / width : nb - 1;
        if (a->cls == 0)
            ok[b]++;
        else
            failed[b]++;
        if (a->tokens > 0)
            tokens[b] += a->tokens;
    }
    out = json_pack("{s:o,s:o,s:o}", "ok", i64_array(ok, nb), "failed",
                    i64_array(failed, nb), "tokens", i64_array(tokens, nb));
out:
    free(ok);
    free(failed);
    free(tokens);
    return out;
}

static int cmp_attempt(const void *x, const void *y)
{
    const report_attempt *a = x, *b = y;
    if (a->index != b->index)
        return (a->index > b->index) - (a->index < b->index);
    return (a->attempt > b->attempt) - (a->attempt < b->attempt);
}

/* Requests (distinct indexes) and their outcomes; attempts are sorted by
 * index then attempt, so a request's last attempt decides. */
static void count_requests(const report_trace *t, int64_t *requests,
                           int64_t *ok, int64_t *retried)
{
    *requests = *ok = *retried = 0;
    for (size_t i = 0; i < t->count; i++) {
        const report_attempt *a = &t->attempts[i];
        int first = i == 0 || t->attempts[i - 1].index != a->index;
        int second = !first && (i < 2 || t->attempts[i - 2].index != a->index);
        int last = i + 1 == t->count || t->attempts[i + 1].index != a->index;
        *requests += first;
        *retried += second;
        if (last && a->cls == 0)
            (*ok)++;
    }
}

/*
 * The timeline: every request when there are at most max, otherwise
 * every stride-th (by index), each attempt as [row, queued, admitted,
 * sent, done, retry_wait, class].
 */
static json_t *timeline_json(const report_trace *t, int64_t requests, int max)
{
    int64_t stride = requests <= max ? 1 : (requests + max - 1) / max;
    json_t *rows = json_array(), *att = json_array();
    int64_t req = -1, row = -1;

    for (size_t i = 0; rows != NULL && att != NULL && i < t->count; i++) {
        const report_attempt *a = &t->attempts[i];
        if (i == 0 || t->attempts[i - 1].index != a->index)
            req++;
        if (req % stride != 0)
            continue;
        if (i == 0 || t->attempts[i - 1].index != a->index) {
            row++;
            json_array_append_new(rows, json_integer(a->index));
        }
        json_array_append_new(
            att, json_pack("[I,I,I,I,I,I,i]", (json_int_t)row,
                           (json_int_t)a->queued, (json_int_t)a->admitted,
                           (json_int_t)a->sent, (json_int_t)a->done,
                           (json_int_t)(a->retry_wait > 0 ? a->retry_wait : 0),
                           (int)a->cls));
    }
    return json_pack("{s:I,s:o,s:o}", "stride", (json_int_t)stride, "rows",
                     rows, "attempts", att);
}

/* {"name": count} of the classes (skipping "none") or reasons. */
static json_t *name_counts(const report_trace *t, int reasons)
{
    int64_t counts[REPORT_MAX_NAMES] = { 0 };
    json_t *out = json_object();

    for (size_t i = 0; i < t->count; i++)
        counts[reasons ? t->attempts[i].reason : t->attempts[i].cls]++;
    size_t n = reasons ? t->n_reasons : t->n_classes;
    for (size_t i = 1; out != NULL && i < n; i++) {
        if (counts[i] > 0)
            json_object_set_new(out, reasons ? t->reasons[i] : t->classes[i],
                                json_integer(counts[i]));
    }
    return out;
}

/* Sets key to value (a new reference), noting a NULL (out of memory). */
static void put(json_t *obj, int *okay, const char *key, json_t *value)
{
    /* json_object_set_new() drops value itself when it fails. */
    if (obj == NULL || value == NULL) {
        json_decref(value);
        *okay = 0;
    } else if (json_object_set_new(obj, key, value) != 0) {
        *okay = 0;
    }
}

static json_t *limit_or_null(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

json_t *report_aggregate(report_trace *t, const report_agg_options *opts)
{
    int nb_want = opts && opts->buckets > 0 ? opts->buckets
                                            : REPORT_DEFAULT_BUCKETS;
    int tl_max = opts && opts->timeline_max > 0 ? opts->timeline_max
                                                : REPORT_DEFAULT_TIMELINE;
    int64_t span = 0, requests, ok, retried, tokens = 0;

    if (t->count > 0) /* attempts is NULL then, which qsort may not get */
        qsort(t->attempts, t->count, sizeof *t->attempts, cmp_attempt);
    for (size_t i = 0; i < t->count; i++) {
        const report_attempt *a = &t->attempts[i];
        int64_t end = a->done + (a->retry_wait > 0 ? a->retry_wait : 0);
        if (end > span)
            span = end;
        if (a->tokens > 0)
            tokens += a->tokens;
    }
    int64_t width = span / nb_want + 1;
    int64_t nb = span / width + 1;
    count_requests(t, &requests, &ok, &retried);

    json_t *classes = json_array(), *bad = json_array();
    for (size_t i = 0; i < t->n_classes; i++)
        json_array_append_new(classes, json_string(t->classes[i]));
    for (int64_t i = 0; i < t->bad_kept; i++)
        json_array_append_new(bad, json_integer(t->bad_lines[i]));

    json_t *data = json_object();
    int okay = 1;

    put(data, &okay, "format", json_integer(1));
    put(data, &okay, "header", json_boolean(t->have_header));
    put(data, &okay, "started_at",
        t->started_at[0] ? json_string(t->started_at) : json_null());
    put(data, &okay, "max_concurrent", limit_or_null(t->max_concurrent));
    put(data, &okay, "rpm", limit_or_null(t->rpm));
    put(data, &okay, "tpm", limit_or_null(t->tpm));
    put(data, &okay, "span_ms", json_integer(span));
    put(data, &okay, "attempts", json_integer((json_int_t)t->count));
    put(data, &okay, "requests", json_integer(requests));
    put(data, &okay, "succeeded", json_integer(ok));
    put(data, &okay, "failed", json_integer(requests - ok));
    put(data, &okay, "retried_requests", json_integer(retried));
    put(data, &okay, "tokens", json_integer(tokens));
    put(data, &okay, "latency_ms", latency_json(t));
    put(data, &okay, "bucket_ms", json_integer(width));
    put(data, &okay, "in_flight", level_json(t, LEVEL_IN_FLIGHT, width, nb));
    put(data, &okay, "waiting", level_json(t, LEVEL_WAITING, width, nb));
    put(data, &okay, "retry_waiting",
        level_json(t, LEVEL_RETRY_WAIT, width, nb));
    put(data, &okay, "done", done_json(t, width, nb));
    put(data, &okay, "errors", name_counts(t, 0));
    put(data, &okay, "retries", name_counts(t, 1));
    put(data, &okay, "classes", classes);
    put(data, &okay, "timeline", timeline_json(t, requests, tl_max));
    put(data, &okay, "bad_lines",
        json_pack("{s:I,s:o}", "count", (json_int_t)t->bad, "lines", bad));
    if (!okay) {
        json_decref(data);
        return NULL;
    }
    return data;
}
