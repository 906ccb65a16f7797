/*
 * Internal interfaces of `parallm report`: reading a trace file (the JSON
 * lines `parallm run --trace` writes; format in docs/report.md) into
 * compact attempt records (report_trace.c), and aggregating them into the
 * small JSON document the report page draws (report_agg.c). cmd_report.c
 * strings them together and writes the page.
 */
#ifndef CLI_REPORT_H
#define CLI_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* One attempt of one request, times in ms since the run started. */
typedef struct report_attempt {
    int64_t queued, admitted, sent, done;
    int64_t retry_wait; /* ms waited before the next attempt, -1 none */
    int64_t tokens;     /* prompt + completion, -1 unknown */
    int64_t index;      /* the request's input index */
    int32_t attempt;    /* 1 for the first try */
    int16_t status;     /* HTTP status, 0 without an answer */
    uint8_t cls;        /* index into report_trace.classes, 0 = "none" */
    uint8_t reason;     /* index into report_trace.reasons, 0 = none */
} report_attempt;

/* Names of the failure classes and retry reasons met, in order of first
 * appearance after the known ones; a name past the table's room counts
 * as "other". */
#define REPORT_MAX_NAMES 32

/* How many bad line numbers are kept (the count is exact). */
#define REPORT_MAX_BAD_KEPT 1000
/* A line longer than this is a bad line (a trace line is ~300 bytes). */
#define REPORT_MAX_LINE (1024 * 1024)

typedef struct report_trace {
    /* The header line's fields; -1 when absent or null. */
    int have_header;
    int seen_first; /* a non-blank line was read (the header's place) */
    char started_at[64];
    int64_t max_concurrent, rpm, tpm;

    report_attempt *attempts;
    size_t count, cap;

    const char *classes[REPORT_MAX_NAMES];
    size_t n_classes;
    const char *reasons[REPORT_MAX_NAMES];
    size_t n_reasons;

    int64_t lines;    /* lines read, blank ones included */
    int64_t bad;      /* bad lines */
    int64_t bad_kept; /* entries used in bad_lines */
    int64_t bad_lines[REPORT_MAX_BAD_KEPT];
} report_trace;

/* Callback for each bad line: its number and why it was refused. */
typedef void (*report_bad_fn)(int64_t line, const char *why, void *user);

/*
 * Reads the trace file at path line by line into t (zeroed first). A
 * line that is not a valid header (line 1) or attempt is counted in
 * t->bad, its number kept, and reported through bad (may be NULL). An
 * empty file, one that cannot be read and out of memory are errors.
 * Returns 0, or -1 with a message in err (errlen bytes). Free t with
 * report_trace_free() either way.
 */
int report_trace_read(report_trace *t, const char *path, report_bad_fn bad,
                      void *user, char *err, size_t errlen);
void report_trace_free(report_trace *t);

/* Checks one attempt line's object and fills *out. Returns NULL, or the
 * reason it is refused. Exposed for the reader and its tests. */
const char *report_trace_parse_attempt(report_trace *t, json_t *obj,
                                       report_attempt *out);

/* Options of the aggregation. */
typedef struct report_agg_options {
    int buckets;      /* time buckets across the run (default 400) */
    int timeline_max; /* requests drawn in the timeline (default 2000) */
} report_agg_options;

/*
 * Aggregates t into the report's data: totals, latency percentiles and
 * histogram, per-bucket series (in flight, waiting, completions, tokens),
 * counts by class and reason, and a sample of requests for the timeline.
 * Sorts t->attempts. Returns a new JSON object, or NULL when out of
 * memory.
 */
json_t *report_aggregate(report_trace *t, const report_agg_options *opts);

#endif
