/*
 * `parallm run --trace FILE`: one JSON line per attempt, written from the
 * library's trace callback on the run's thread through a large stdio
 * buffer (one write(2) per megabyte, not per line). The format is fixed
 * (docs/metrics.md): a header line, then per attempt its request's
 * custom_id and index, the attempt's times in milliseconds since the run
 * started, its outcome and the wait before the next attempt.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run_metrics.h"

#define TRACE_BUFFER (1 << 20)

struct run_trace {
    FILE *f;
    char *path;
    char *buf; /* stdio's buffer */
    int failed;
};

run_trace *run_trace_open(const char *path)
{
    run_trace *t = calloc(1, sizeof *t);
    if (!t)
        goto nomem;
    t->path = strdup(path);
    t->buf = malloc(TRACE_BUFFER);
    if (!t->path || !t->buf)
        goto nomem;
    t->f = fopen(path, "w");
    if (!t->f) {
        fprintf(stderr, "parallm run: cannot open --trace %s: %s\n", path,
                strerror(errno));
        free(t->buf);
        free(t->path);
        free(t);
        return NULL;
    }
    setvbuf(t->f, t->buf, _IOFBF, TRACE_BUFFER);
    return t;
nomem:
    if (t) {
        free(t->path);
        free(t->buf);
        free(t);
    }
    fprintf(stderr, "parallm run: out of memory\n");
    return NULL;
}

/* A per-minute limit or null. */
static void put_limit(FILE *f, const char *name, double v)
{
    if (v > 0)
        fprintf(f, ",\"%s\":%.17g", name, v);
    else
        fprintf(f, ",\"%s\":null", name);
}

int run_trace_begin(run_trace *t, const run_options *opt, double started_at)
{
    char when[32];
    time_t secs = (time_t)started_at;
    struct tm tm;
    int ms = (int)((started_at - (double)secs) * 1000);

    if (!gmtime_r(&secs, &tm) ||
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        when[0] = '\0';
    fprintf(t->f,
            "{\"trace\":\"parallm\",\"version\":1,\"started_at\":"
            "\"%s.%03dZ\",\"max_concurrent\":%d",
            when,
            ms < 0     ? 0
            : ms > 999 ? 999
                       : ms,
            opt->max_concurrent);
    put_limit(t->f, "rpm", opt->rpm);
    put_limit(t->f, "tpm", opt->tpm);
    fputs("}\n", t->f);
    return ferror(t->f) ? -1 : 0;
}

/* Milliseconds since the run started, 3 decimals; null for "never". */
static void put_ms(FILE *f, const char *name, int64_t ns)
{
    if (ns < 0)
        fprintf(f, ",\"%s\":null", name);
    else
        fprintf(f, ",\"%s\":%lld.%03lld", name, (long long)(ns / 1000000),
                (long long)(ns / 1000 % 1000));
}

static void put_count(FILE *f, const char *name, int64_t v)
{
    if (v < 0)
        fprintf(f, ",\"%s\":null", name);
    else
        fprintf(f, ",\"%s\":%lld", name, (long long)v);
}

/* A JSON string literal, or null when s is NULL or not UTF-8. */
static void put_string(FILE *f, const char *s)
{
    char small[512];
    size_t need;
    char *buf, *end;

    if (!s) {
        fputs("null", f);
        return;
    }
    need = 6 * strlen(s) + 2;
    buf = need <= sizeof small ? small : malloc(need);
    end = buf ? cli_json_put_string(buf, s) : NULL;
    if (end)
        fwrite(buf, 1, (size_t)(end - buf), f);
    else
        fputs("null", f);
    if (buf != small)
        free(buf);
}

void run_trace_attempt(const plm_attempt_trace *a, void *user_data)
{
    run_trace *t = user_data;
    const pending *p = a->user_data;
    const char *reason = plm_wait_reason_name(a->retry_reason);
    FILE *f = t->f;

    fputs("{\"custom_id\":", f);
    put_string(f, p ? p->custom_id : NULL);
    fprintf(f, ",\"index\":%llu,\"attempt\":%d,\"provider\":\"%s\",\"model\":",
            (unsigned long long)a->index, a->attempt,
            a->provider == PLM_PROVIDER_ANTHROPIC ? "anthropic" : "openai");
    put_string(f, a->model);
    put_ms(f, "queued_ms", a->queued_ns);
    put_ms(f, "admitted_ms", a->admitted_ns);
    put_ms(f, "sent_ms", a->sent_ns);
    put_ms(f, "first_byte_ms", a->first_byte_ns);
    put_ms(f, "done_ms", a->done_ns);
    fprintf(f, ",\"status\":%d,\"class\":\"%s\"", a->http_status,
            plm_error_class_name(a->error_class));
    put_ms(f, "retry_wait_ms", a->retry_wait_ns);
    if (reason)
        fprintf(f, ",\"retry_reason\":\"%s\"", reason);
    else
        fputs(",\"retry_reason\":null", f);
    put_count(f, "prompt_tokens", a->prompt_tokens);
    put_count(f, "completion_tokens", a->completion_tokens);
    fputs("}\n", f);
}

int run_trace_close(run_trace *t)
{
    int rc = 0;
    if (!t)
        return 0;
    if (ferror(t->f) || fflush(t->f) != 0)
        rc = -1;
    if (fclose(t->f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "parallm run: cannot write --trace %s\n", t->path);
    free(t->buf);
    free(t->path);
    free(t);
    return rc;
}
