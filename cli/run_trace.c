/*
 * `parallm run --trace FILE`: one JSON line per attempt, written from the
 * library's trace callback on the run's thread through a large stdio
 * buffer (one write(2) per megabyte, not per line). The format is fixed
 * (docs/metrics.md): a header line, then per attempt its request's
 * custom_id and index, the attempt's times in milliseconds since the run
 * started, its outcome and the wait before the next attempt.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run_metrics.h"

#define TRACE_BUFFER (1 << 20)

struct run_trace {
    FILE *f;
    char *path;
    char *buf;        /* stdio's buffer */
    uint64_t dropped; /* lines lost to a lack of memory */
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

/* A line is built in a buffer by hand and written with one fwrite: the
 * callback runs on the engine's thread once per attempt, and printf's
 * format parsing cost more than everything else here. */
typedef struct line {
    char *p, *end;
} line;

static void put_raw(line *l, const char *s, size_t n)
{
    if ((size_t)(l->end - l->p) < n) {
        l->p = l->end; /* over the cap: the line is dropped */
        return;
    }
    memcpy(l->p, s, n);
    l->p += n;
}

#define PUT_LIT(l, s) put_raw((l), (s), sizeof(s) - 1)

static void put_u64(line *l, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_raw(l, tmp + i, sizeof tmp - (size_t)i);
}

/* ,"name":N or ,"name":null for a negative value. */
static void put_count(line *l, const char *key, size_t keylen, int64_t v)
{
    put_raw(l, key, keylen);
    if (v < 0)
        PUT_LIT(l, "null");
    else
        put_u64(l, (uint64_t)v);
}

/* Milliseconds since the run started, 3 decimals; null for "never". */
static void put_ms(line *l, const char *key, size_t keylen, int64_t ns)
{
    uint64_t us, frac;
    put_raw(l, key, keylen);
    if (ns < 0) {
        PUT_LIT(l, "null");
        return;
    }
    us = (uint64_t)ns / 1000;
    put_u64(l, us / 1000);
    frac = us % 1000;
    char d[4] = { '.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                  (char)('0' + frac % 10) };
    put_raw(l, d, 4);
}

#define KEY(name) ",\"" name "\":", sizeof(",\"" name "\":") - 1

/* A JSON string literal, or null when s is NULL or not UTF-8. */
static void put_string(line *l, const char *s)
{
    size_t need;
    char *end;

    if (!s) {
        PUT_LIT(l, "null");
        return;
    }
    need = 6 * strlen(s) + 2;
    if ((size_t)(l->end - l->p) < need) {
        l->p = l->end;
        return;
    }
    end = cli_json_put_string(l->p, s);
    if (end)
        l->p = end;
    else
        PUT_LIT(l, "null");
}

/* Formats the attempt's line into l; l.p == l.end when it did not fit. */
static void format_line(line *lp, const plm_attempt_trace *a)
{
    const pending *p = a->user_data;
    const char *reason = plm_wait_reason_name(a->retry_reason);
    const char *cls = plm_error_class_name(a->error_class);
    line l = *lp;

    PUT_LIT(&l, "{\"custom_id\":");
    put_string(&l, p ? p->custom_id : NULL);
    put_count(&l, KEY("index"), (int64_t)a->index);
    put_count(&l, KEY("attempt"), a->attempt);
    if (a->provider == PLM_PROVIDER_ANTHROPIC)
        PUT_LIT(&l, ",\"provider\":\"anthropic\",\"model\":");
    else
        PUT_LIT(&l, ",\"provider\":\"openai\",\"model\":");
    put_string(&l, a->model);
    put_ms(&l, KEY("queued_ms"), a->queued_ns);
    put_ms(&l, KEY("admitted_ms"), a->admitted_ns);
    put_ms(&l, KEY("sent_ms"), a->sent_ns);
    put_ms(&l, KEY("first_byte_ms"), a->first_byte_ns);
    put_ms(&l, KEY("done_ms"), a->done_ns);
    put_count(&l, KEY("status"), a->http_status);
    PUT_LIT(&l, ",\"class\":\"");
    put_raw(&l, cls, strlen(cls));
    PUT_LIT(&l, "\"");
    put_ms(&l, KEY("retry_wait_ms"), a->retry_wait_ns);
    PUT_LIT(&l, ",\"retry_reason\":");
    if (reason) {
        PUT_LIT(&l, "\"");
        put_raw(&l, reason, strlen(reason));
        PUT_LIT(&l, "\"");
    } else {
        PUT_LIT(&l, "null");
    }
    put_count(&l, KEY("prompt_tokens"), a->prompt_tokens);
    put_count(&l, KEY("completion_tokens"), a->completion_tokens);
    PUT_LIT(&l, "}\n");
    *lp = l;
}

void run_trace_attempt(const plm_attempt_trace *a, void *user_data)
{
    run_trace *t = user_data;
    const pending *p = a->user_data;
    char small[4096], *big;
    line l = { small, small + sizeof small };
    size_t cap;

    format_line(&l, a);
    if (l.p < l.end) {
        fwrite(small, 1, (size_t)(l.p - small), t->f);
        return;
    }
    /* A long custom_id or model: a buffer sized for them. */
    cap = 6 * ((p ? strlen(p->custom_id) : 0) + strlen(a->model)) + 1024;
    big = malloc(cap);
    l.p = big;
    l.end = big ? big + cap : NULL;
    if (big)
        format_line(&l, a);
    if (big && l.p < l.end)
        fwrite(big, 1, (size_t)(l.p - big), t->f);
    else
        t->dropped++;
    free(big);
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
    if (t->dropped)
        fprintf(stderr,
                "parallm run: --trace: out of memory for %llu line(s)\n",
                (unsigned long long)t->dropped);
    free(t->buf);
    free(t->path);
    free(t);
    return rc;
}
