/*
 * The client's metrics store and its Prometheus text exposition
 * (docs/metrics.md lists every metric). Recording is a lookup of the
 * request's (provider, model) series, cached per request by the caller,
 * and a few additions; the text is built only when asked for.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

const double plm__metrics_bounds[PLM__METRICS_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
    2.5,   5,    10,    30,   60,  120,  300, 600
};

void plm__metrics_clear(plm__metrics *m)
{
    size_t i;
    for (i = 0; i < m->n; i++)
        free(m->series[i]);
    free(m->series);
    memset(m, 0, sizeof *m);
}

/* The length of the UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t len, i;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* A label value must be UTF-8: invalid bytes and control characters other
 * than a line feed (which the exposition escapes) become '?', and the name
 * is cut at a character boundary. */
static void sanitize_model(char *dst, const char *src)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t n = strlen(src), o = 0;

    while (n > 0) {
        size_t len = utf8_seq(p, n);
        if (len == 0 || (len == 1 && *p < 0x20 && *p != '\n') || *p == 0x7f)
            len = 0;
        if (o + (len ? len : 1) > PLM__METRICS_MODEL_MAX)
            break;
        if (len == 0) {
            dst[o++] = '?';
            p++;
            n--;
            continue;
        }
        memcpy(dst + o, p, len);
        o += len;
        p += len;
        n -= len;
    }
    dst[o] = '\0';
}

static plm__series *series_find(plm__metrics *m, plm_provider provider,
                                const char *model)
{
    size_t i;
    for (i = 0; i < m->n; i++)
        if (m->series[i]->provider == provider &&
            strncmp(m->series[i]->model, model, PLM__METRICS_MODEL_MAX) == 0)
            return m->series[i];
    return NULL;
}

plm__series *plm__metrics_series(plm__metrics *m, plm_provider provider,
                                 const char *model)
{
    char clean[PLM__METRICS_MODEL_MAX + 1];
    plm__series *s;

    if (!model)
        model = "";
    if (m->last && m->last->provider == provider &&
        strncmp(m->last->model, model, PLM__METRICS_MODEL_MAX) == 0)
        return m->last;
    sanitize_model(clean, model);
    s = series_find(m, provider, clean);
    if (!s && m->named >= PLM__METRICS_MAX_MODELS) {
        memcpy(clean, "other", 6);
        s = series_find(m, provider, clean);
    }
    if (!s) {
        if (PLM__ARRAY_RESERVE(m->series, m->cap, m->n + 1, 16) != 0)
            return NULL;
        s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        s->provider = provider;
        memcpy(s->model, clean, strlen(clean) + 1);
        m->series[m->n++] = s;
        if (strcmp(clean, "other") != 0 || m->named < PLM__METRICS_MAX_MODELS)
            m->named++;
    }
    m->last = s;
    return s;
}

void plm__hist_observe(plm__hist *h, double seconds)
{
    int i = 0;
    while (i < PLM__METRICS_BUCKETS && seconds > plm__metrics_bounds[i])
        i++;
    h->bucket[i]++;
    h->sum += seconds;
    h->count++;
}

void plm__hist_add(plm__hist *a, const plm__hist *b)
{
    int i;
    for (i = 0; i <= PLM__METRICS_BUCKETS; i++)
        a->bucket[i] += b->bucket[i];
    a->sum += b->sum;
    a->count += b->count;
}

double plm__hist_quantile(const plm__hist *h, double q)
{
    double rank, seen = 0, lower = 0;
    int i;

    if (h->count == 0)
        return -1;
    rank = q * (double)h->count;
    for (i = 0; i < PLM__METRICS_BUCKETS; i++) {
        double upper = plm__metrics_bounds[i];
        double c = (double)h->bucket[i];
        if (c > 0 && seen + c >= rank)
            return lower + (upper - lower) * ((rank - seen) / c);
        seen += c;
        lower = upper;
    }
    /* In the +Inf bucket: the highest finite bound is all we know. */
    return plm__metrics_bounds[PLM__METRICS_BUCKETS - 1];
}

/* ---- rendering ---- */

static int put(plm__buf *out, const char *s)
{
    return plm__buf_append(out, s, strlen(s));
}

static int putf(plm__buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int putf(plm__buf *out, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return PLM_EINTERNAL;
    return plm__buf_append(out, tmp, (size_t)n);
}

int plm__metrics_escape(plm__buf *out, const char *s)
{
    const char *run = s;
    int rc = PLM_OK;

    for (; *s && rc == PLM_OK; s++) {
        const char *esc = *s == '\\'   ? "\\\\"
                          : *s == '"'  ? "\\\""
                          : *s == '\n' ? "\\n"
                                       : NULL;
        if (!esc)
            continue;
        rc = plm__buf_append(out, run, (size_t)(s - run));
        if (rc == PLM_OK)
            rc = put(out, esc);
        run = s + 1;
    }
    if (rc == PLM_OK)
        rc = plm__buf_append(out, run, (size_t)(s - run));
    return rc;
}

static int family(plm__buf *out, const char *name, const char *type,
                  const char *help)
{
    return putf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `provider="...",model="..."` of a series. */
static int series_labels(plm__buf *out, const plm__series *s)
{
    const plm__provider_ops *ops = plm__provider_get(s->provider);
    int rc = putf(out, "provider=\"%s\",model=\"", ops ? ops->name : "unknown");
    if (rc == PLM_OK)
        rc = plm__metrics_escape(out, s->model);
    if (rc == PLM_OK)
        rc = put(out, "\"");
    return rc;
}

/* One histogram's _bucket, _sum and _count lines; extra is appended to
 * the series' labels (e.g. `,class="none"`), or "" for none. */
static int hist_lines(plm__buf *out, const char *name, const plm__series *s,
                      const char *extra, const plm__hist *h)
{
    uint64_t cum = 0;
    int i, rc = PLM_OK;

    for (i = 0; i <= PLM__METRICS_BUCKETS && rc == PLM_OK; i++) {
        cum += h->bucket[i];
        rc = putf(out, "%s_bucket{", name);
        if (rc == PLM_OK && s)
            rc = series_labels(out, s);
        if (rc == PLM_OK && i < PLM__METRICS_BUCKETS)
            rc = putf(out, "%s%sle=\"%g\"} %llu\n", extra, s ? "," : "",
                      plm__metrics_bounds[i], (unsigned long long)cum);
        else if (rc == PLM_OK)
            rc = putf(out, "%s%sle=\"+Inf\"} %llu\n", extra, s ? "," : "",
                      (unsigned long long)cum);
    }
    for (i = 0; i < 2 && rc == PLM_OK; i++) {
        int labels = s || extra[0];
        rc = putf(out, "%s_%s%s", name, i == 0 ? "sum" : "count",
                  labels ? "{" : "");
        if (rc == PLM_OK && s)
            rc = series_labels(out, s);
        if (rc == PLM_OK)
            rc = putf(out, "%s%s ", extra, labels ? "}" : "");
        if (rc == PLM_OK && i == 0)
            rc = putf(out, "%.9g\n", h->sum);
        else if (rc == PLM_OK)
            rc = putf(out, "%llu\n", (unsigned long long)h->count);
    }
    return rc;
}

/* A counter sample of a series with one more label (or none). */
static int counter_line(plm__buf *out, const char *name, const plm__series *s,
                        const char *label, const char *value, uint64_t v)
{
    int rc = putf(out, "%s{", name);
    if (rc == PLM_OK)
        rc = series_labels(out, s);
    if (rc == PLM_OK && label)
        rc = putf(out, ",%s=\"%s\"", label, value);
    if (rc == PLM_OK)
        rc = putf(out, "} %llu\n", (unsigned long long)v);
    return rc;
}

static int render_histograms(const plm__metrics *m, plm__buf *out)
{
    static const char dur[] = "parallm_llm_request_duration_seconds";
    static const char ttfb[] = "parallm_llm_time_to_first_byte_seconds";
    static const char batch[] = "parallm_llm_parallel_batch_duration_seconds";
    size_t i;
    int c, rc;

    rc = family(out, dur, "histogram",
                "Time from a request's first attempt on the wire to its "
                "completion, retries included, by final outcome class.");
    for (i = 0; i < m->n && rc == PLM_OK; i++)
        for (c = 0; c < PLM__METRICS_CLASSES && rc == PLM_OK; c++) {
            char extra[64];
            if (m->series[i]->duration[c].count == 0)
                continue;
            snprintf(extra, sizeof extra, ",class=\"%s\"",
                     plm_error_class_name((plm_error_class)c));
            rc = hist_lines(out, dur, m->series[i], extra,
                            &m->series[i]->duration[c]);
        }
    if (rc == PLM_OK)
        rc = family(out, ttfb, "histogram",
                    "Time from an attempt on the wire to the first byte "
                    "of its answer.");
    for (i = 0; i < m->n && rc == PLM_OK; i++)
        if (m->series[i]->ttfb.count > 0)
            rc = hist_lines(out, ttfb, m->series[i], "", &m->series[i]->ttfb);
    if (rc == PLM_OK)
        rc = family(out, batch, "histogram",
                    "Duration of a whole run (gather, executor or "
                    "command), one observation per run.");
    if (rc == PLM_OK && m->batch.count > 0)
        rc = hist_lines(out, batch, NULL, "", &m->batch);
    return rc;
}

static int render_counters(const plm__metrics *m, plm__buf *out)
{
    static const char req[] = "parallm_llm_requests_total";
    static const char att[] = "parallm_llm_attempts_total";
    static const char ret[] = "parallm_llm_retries_total";
    static const char rl[] = "parallm_llm_rate_limited_total";
    static const char tok[] = "parallm_llm_tokens_total";
    size_t i;
    int c, rc;

    rc = family(out, req, "counter",
                "Requests completed, by final outcome class.");
    for (i = 0; i < m->n && rc == PLM_OK; i++)
        for (c = 0; c < PLM__METRICS_CLASSES && rc == PLM_OK; c++)
            if (m->series[i]->requests[c])
                rc = counter_line(out, req, m->series[i], "class",
                                  plm_error_class_name((plm_error_class)c),
                                  m->series[i]->requests[c]);
    if (rc == PLM_OK)
        rc = family(out, att, "counter",
                    "Attempts that went on the wire, by outcome class.");
    for (i = 0; i < m->n && rc == PLM_OK; i++)
        for (c = 0; c < PLM__METRICS_CLASSES && rc == PLM_OK; c++)
            if (m->series[i]->attempts[c])
                rc = counter_line(out, att, m->series[i], "class",
                                  plm_error_class_name((plm_error_class)c),
                                  m->series[i]->attempts[c]);
    if (rc == PLM_OK)
        rc = family(out, ret, "counter",
                    "Retries sent, by the main cause of the wait before "
                    "them.");
    for (i = 0; i < m->n && rc == PLM_OK; i++)
        for (c = 1; c < PLM__METRICS_REASONS && rc == PLM_OK; c++)
            if (m->series[i]->retries[c])
                rc = counter_line(out, ret, m->series[i], "reason",
                                  plm_wait_reason_name((plm_wait_reason)c),
                                  m->series[i]->retries[c]);
    if (rc == PLM_OK)
        rc = family(out, rl, "counter", "HTTP 429 answers received.");
    for (i = 0; i < m->n && rc == PLM_OK; i++)
        if (m->series[i]->rate_limited)
            rc = counter_line(out, rl, m->series[i], NULL, NULL,
                              m->series[i]->rate_limited);
    if (rc == PLM_OK)
        rc = family(out, tok, "counter",
                    "Tokens the provider reported, by direction.");
    for (i = 0; i < m->n && rc == PLM_OK; i++)
        for (c = 0; c < 2 && rc == PLM_OK; c++)
            if (m->series[i]->tokens[c])
                rc = counter_line(out, tok, m->series[i], "direction",
                                  c == 0 ? "input" : "output",
                                  m->series[i]->tokens[c]);
    return rc;
}

/* A per-endpoint gauge line; nothing when the value is unknown (< 0). */
static int endpoint_gauge(plm__buf *out, const char *name,
                          const plm__metrics_endpoint *e, double v)
{
    const plm__provider_ops *ops = plm__provider_get(e->provider);
    int rc;
    if (v < 0)
        return PLM_OK;
    rc = putf(out, "%s{provider=\"%s\",model=\"", name,
              ops ? ops->name : "unknown");
    if (rc == PLM_OK)
        rc = plm__metrics_escape(out, e->model ? e->model : "");
    if (rc == PLM_OK)
        rc = putf(out, "\"} %.9g\n", v);
    return rc;
}

static int render_gauges(const plm__metrics_gauges *g, plm__buf *out)
{
    static const char rr[] = "parallm_llm_budget_remaining_requests";
    static const char rt[] = "parallm_llm_budget_remaining_tokens";
    static const char br[] = "parallm_llm_breaker_state";
    size_t i;
    int rc;

    rc = family(out, "parallm_llm_in_flight", "gauge",
                "Attempts on the wire now.");
    if (rc == PLM_OK)
        rc = putf(out, "parallm_llm_in_flight %llu\n",
                  (unsigned long long)g->in_flight);
    if (rc == PLM_OK)
        rc = family(out, "parallm_llm_waiting", "gauge",
                    "Requests taken but not on the wire (admission, "
                    "backoff).");
    if (rc == PLM_OK)
        rc = putf(out, "parallm_llm_waiting %llu\n",
                  (unsigned long long)g->waiting);
    if (rc == PLM_OK)
        rc = family(out, "parallm_llm_concurrency_limit", "gauge",
                    "Concurrency limit in force (0 = unlimited).");
    if (rc == PLM_OK)
        rc = putf(out, "parallm_llm_concurrency_limit %d\n",
                  g->concurrency_limit);
    if (rc == PLM_OK)
        rc = family(out, rr, "gauge",
                    "Requests the endpoint's rate budget would grant now.");
    for (i = 0; i < g->nendpoints && rc == PLM_OK; i++)
        rc = endpoint_gauge(out, rr, &g->endpoints[i],
                            g->endpoints[i].remaining_requests);
    if (rc == PLM_OK)
        rc = family(out, rt, "gauge",
                    "Tokens the endpoint's rate budget would grant now.");
    for (i = 0; i < g->nendpoints && rc == PLM_OK; i++)
        rc = endpoint_gauge(out, rt, &g->endpoints[i],
                            g->endpoints[i].remaining_tokens);
    if (rc == PLM_OK)
        rc = family(out, br, "gauge",
                    "Circuit breaker state: 0 closed, 1 open, 2 half-open, "
                    "3 dead.");
    for (i = 0; i < g->nendpoints && rc == PLM_OK; i++)
        rc = endpoint_gauge(out, br, &g->endpoints[i],
                            g->endpoints[i].breaker_state);
    return rc;
}

int plm__metrics_render(const plm__metrics *m, const plm__metrics_gauges *g,
                        plm__buf *out)
{
    int rc = render_histograms(m, out);
    if (rc == PLM_OK)
        rc = render_counters(m, out);
    if (rc == PLM_OK)
        rc = render_gauges(g, out);
    return rc == PLM_OK ? PLM_OK : PLM_ENOMEM;
}
