/*
 * Reading a trace file for `parallm report`: one JSON object a line, the
 * header first, then one line per attempt (docs/report.md). The file is
 * read a line at a time and each attempt kept as a fixed-size record, so
 * a million attempts cost a million small records and no JSON trees. A
 * line that does not parse or lacks a field is a bad line: it is named,
 * counted and skipped, and the rest of the file still counts, because a
 * trace cut off by a crash is exactly the one worth looking at.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* The classes and reasons the format names, in a fixed order so the
 * page's colours stay put from one report to the next. */
static const char *const known_classes[] = {
    "none",        "network", "timeout", "rate_limited", "server", "overloaded",
    "bad_request", "auth",    "quota",   "parse",        "local",  NULL
};
static const char *const known_reasons[] = { "-",      "retry_after", "backoff",
                                             "budget", "pause",       "breaker",
                                             NULL };

/* The index of name in names (n used), adding it if there is room; the
 * last slot is "other". Returns -1 when out of memory. */
static int name_index(const char **names, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
    }
    if (*n + 1 >= REPORT_MAX_NAMES) {
        if (*n + 1 == REPORT_MAX_NAMES) {
            char *other = strdup("other");
            if (other == NULL)
                return -1;
            names[(*n)++] = other;
        }
        return (int)*n - 1;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return -1;
    names[*n] = copy;
    return (int)(*n)++;
}

/* A time field: a finite number >= 0, rounded to whole ms. */
static int get_ms(json_t *obj, const char *key, int nullable, int64_t *out)
{
    json_t *v = json_object_get(obj, key);

    if ((v == NULL || json_is_null(v)) && nullable) {
        *out = -1;
        return 0;
    }
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0 || d > 1e15)
        return -1;
    *out = (int64_t)llround(d);
    return 0;
}

static int get_int(json_t *obj, const char *key, int64_t min, int64_t max,
                   int nullable, int64_t *out)
{
    json_t *v = json_object_get(obj, key);

    if ((v == NULL || json_is_null(v)) && nullable) {
        *out = -1;
        return 0;
    }
    if (!json_is_integer(v))
        return -1;
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return -1;
    *out = (int64_t)i;
    return 0;
}

/* The four stage times, which must not go backwards. */
static const char *parse_times(json_t *obj, report_attempt *a)
{
    if (get_ms(obj, "queued_ms", 0, &a->queued))
        return "missing or bad queued_ms";
    if (get_ms(obj, "admitted_ms", 0, &a->admitted))
        return "missing or bad admitted_ms";
    if (get_ms(obj, "sent_ms", 0, &a->sent))
        return "missing or bad sent_ms";
    if (get_ms(obj, "done_ms", 0, &a->done))
        return "missing or bad done_ms";
    if (get_ms(obj, "retry_wait_ms", 1, &a->retry_wait))
        return "bad retry_wait_ms";
    if (a->admitted < a->queued || a->sent < a->admitted || a->done < a->sent)
        return "times out of order (queued <= admitted <= sent <= done)";
    return NULL;
}

const char *report_trace_parse_attempt(report_trace *t, json_t *obj,
                                       report_attempt *a)
{
    int64_t v, prompt, completion;
    const char *why;

    if (!json_is_object(obj))
        return "not a JSON object";
    memset(a, 0, sizeof *a);
    if (get_int(obj, "index", 0, INT64_MAX / 2, 0, &a->index))
        return "missing or bad index";
    if (get_int(obj, "attempt", 1, INT32_MAX, 0, &v))
        return "missing or bad attempt";
    a->attempt = (int32_t)v;
    why = parse_times(obj, a);
    if (why != NULL)
        return why;
    if (get_int(obj, "status", 0, 999, 0, &v))
        return "missing or bad status";
    a->status = (int16_t)v;
    if (get_int(obj, "prompt_tokens", 0, INT64_MAX / 4, 1, &prompt) ||
        get_int(obj, "completion_tokens", 0, INT64_MAX / 4, 1, &completion))
        return "bad prompt_tokens or completion_tokens";
    a->tokens = prompt < 0 && completion < 0
                    ? -1
                    : (prompt > 0 ? prompt : 0) +
                          (completion > 0 ? completion : 0);

    json_t *cls = json_object_get(obj, "class");
    if (!json_is_string(cls) || json_string_length(cls) == 0)
        return "missing or bad class";
    json_t *reason = json_object_get(obj, "retry_reason");
    if (reason != NULL && !json_is_null(reason) &&
        (!json_is_string(reason) || json_string_length(reason) == 0))
        return "bad retry_reason";

    int c = name_index(t->classes, &t->n_classes, json_string_value(cls));
    int r = json_is_string(reason) ? name_index(t->reasons, &t->n_reasons,
                                                json_string_value(reason))
                                   : 0;
    if (c < 0 || r < 0)
        return "out of memory";
    a->cls = (uint8_t)c;
    a->reason = (uint8_t)r;
    return NULL;
}

/* Line 1: {"trace":"parallm","version":1,...}. */
static const char *parse_header(report_trace *t, json_t *obj)
{
    json_t *started;

    if (!json_is_object(obj))
        return "not a JSON object";
    if (!json_is_string(json_object_get(obj, "trace")) ||
        strcmp(json_string_value(json_object_get(obj, "trace")), "parallm") !=
            0)
        return "not a parallm trace header (\"trace\": \"parallm\")";
    if (!json_is_integer(json_object_get(obj, "version")) ||
        json_integer_value(json_object_get(obj, "version")) != 1)
        return "unsupported trace version (this parallm reads version 1)";
    if (get_int(obj, "max_concurrent", 0, INT64_MAX / 2, 1,
                &t->max_concurrent) ||
        get_int(obj, "rpm", 0, INT64_MAX / 2, 1, &t->rpm) ||
        get_int(obj, "tpm", 0, INT64_MAX / 2, 1, &t->tpm))
        return "bad max_concurrent, rpm or tpm in the header";
    started = json_object_get(obj, "started_at");
    if (json_is_string(started))
        snprintf(t->started_at, sizeof t->started_at, "%s",
                 json_string_value(started));
    t->have_header = 1;
    return NULL;
}

static int push_attempt(report_trace *t, const report_attempt *a)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        report_attempt *more = realloc(t->attempts, cap * sizeof *more);
        if (more == NULL)
            return -1;
        t->attempts = more;
        t->cap = cap;
    }
    t->attempts[t->count++] = *a;
    return 0;
}

static void note_bad(report_trace *t, int64_t line, const char *why,
                     report_bad_fn bad, void *user)
{
    if (t->bad_kept < REPORT_MAX_BAD_KEPT)
        t->bad_lines[t->bad_kept++] = line;
    t->bad++;
    if (bad != NULL)
        bad(line, why, user);
}

/* One non-blank line. Returns 0, or -1 when out of memory. */
static int read_line(report_trace *t, const char *text, size_t len,
                     report_bad_fn bad, void *user)
{
    json_error_t jerr;
    report_attempt a;
    const char *why;
    json_t *obj;
    int first = !t->seen_first;

    t->seen_first = 1;
    if (len > REPORT_MAX_LINE) {
        note_bad(t, t->lines, "line longer than 1 MiB", bad, user);
        return 0;
    }
    obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        note_bad(t, t->lines, "invalid JSON (cut off or garbage)", bad, user);
        return 0;
    }
    if (first && json_object_get(obj, "trace") != NULL) {
        why = parse_header(t, obj);
        json_decref(obj);
        if (why != NULL)
            note_bad(t, t->lines, why, bad, user);
        return 0;
    }
    why = report_trace_parse_attempt(t, obj, &a);
    json_decref(obj);
    if (why != NULL && strcmp(why, "out of memory") == 0)
        return -1;
    if (why != NULL) {
        note_bad(t, t->lines, why, bad, user);
        return 0;
    }
    return push_attempt(t, &a);
}

static void init_names(report_trace *t)
{
    for (size_t i = 0; known_classes[i] != NULL; i++)
        t->classes[t->n_classes++] = known_classes[i];
    for (size_t i = 0; known_reasons[i] != NULL; i++)
        t->reasons[t->n_reasons++] = known_reasons[i];
}

int report_trace_read(report_trace *t, const char *path, report_bad_fn bad,
                      void *user, char *err, size_t errlen)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = -1;
    FILE *f;

    memset(t, 0, sizeof *t);
    t->max_concurrent = t->rpm = t->tpm = -1;
    init_names(t);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n;
        t->lines++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (strspn(line, " \t") == len)
            continue;
        if (read_line(t, line, len, bad, user) != 0) {
            snprintf(err, errlen, "out of memory at line %lld",
                     (long long)t->lines);
            goto out;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (t->lines == 0) {
        snprintf(err, errlen, "%s is empty: not a trace", path);
        goto out;
    }
    if (!t->have_header && t->count == 0) {
        snprintf(err, errlen, "%s has no valid trace line", path);
        goto out;
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

void report_trace_free(report_trace *t)
{
    size_t known = 0;

    /* Past the known names, every name is the trace's own copy. */
    while (known_classes[known] != NULL)
        known++;
    for (size_t i = known; i < t->n_classes; i++)
        free((char *)t->classes[i]);
    known = 0;
    while (known_reasons[known] != NULL)
        known++;
    for (size_t i = known; i < t->n_reasons; i++)
        free((char *)t->reasons[i]);
    free(t->attempts);
    t->attempts = NULL;
    t->n_classes = t->n_reasons = 0;
}
