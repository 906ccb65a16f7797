/*
 * What `parallm run` tells the person watching: a one-line progress
 * display redrawn in place on stderr (done/total, rate, in flight,
 * retries, errors, ETA) and the end-of-run summary, as text on stderr and
 * optionally as JSON in a file for scripts.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "run.h"

struct run_progress {
    int fd;
    int color;
    int tty;   /* erase-to-end-of-line only on a terminal */
    int drawn; /* a progress line is on screen */
    double t0;
    double last_t; /* for the rate: a smoothed requests/second */
    uint64_t last_done;
    double rate;
    int width;     /* the terminal's columns, read again after SIGWINCH */
    int winch_set; /* our SIGWINCH handler is installed */
    struct sigaction old_winch;
};

/* Set by SIGWINCH: the next draw reads the width again. A flag is all an
 * asynchronous handler may safely do. */
static volatile sig_atomic_t window_changed;

static void on_winch(int sig)
{
    (void)sig;
    window_changed = 1;
}

run_progress *run_progress_new(int fd, int color)
{
    run_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->fd = fd;
    p->color = color;
    p->tty = isatty(fd);
    p->t0 = run_now();
    p->last_t = p->t0;
    p->width = run_progress_width(fd);
    if (p->tty) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_winch;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        window_changed = 0;
        p->winch_set = sigaction(SIGWINCH, &sa, &p->old_winch) == 0;
    }
    return p;
}

void run_progress_free(run_progress *p)
{
    if (p && p->winch_set)
        sigaction(SIGWINCH, &p->old_winch, NULL);
    free(p);
}

static void put(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* progress is best effort */
        s += w;
        n -= (size_t)w;
    }
}

static void fmt_eta(char *buf, size_t n, double seconds)
{
    if (seconds < 0 || seconds > 99 * 3600.0) {
        snprintf(buf, n, "--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    else if (s >= 60)
        snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, n, "%lds", s);
}

void run_progress_draw(run_progress *p, const run_counts *c,
                       const plm_stats *st)
{
    char line[256], eta[32];
    double now = run_now();
    uint64_t done = c->succeeded + c->failed + c->skipped;
    uint64_t completed = c->succeeded + c->failed;
    double dt = now - p->last_t;
    if (dt >= 0.5) {
        double inst = (double)(completed - p->last_done) / dt;
        /* Exponential smoothing keeps the figure readable under bursts. */
        p->rate = p->rate == 0 ? inst : 0.7 * p->rate + 0.3 * inst;
        p->last_t = now;
        p->last_done = completed;
    }
    /* Until the first smoothing window closes, show the run's average so a
     * short run does not read "0.0 req/s". */
    double rate = p->rate;
    if (rate == 0 && st->elapsed > 0.05)
        rate = (double)completed / st->elapsed;
    if (c->total > 0) {
        double left = c->total > done ? (double)(c->total - done) : 0;
        fmt_eta(eta, sizeof eta, rate > 0 ? left / rate : -1);
    } else {
        snprintf(eta, sizeof eta, "--");
    }
    if (window_changed && p->tty) {
        window_changed = 0;
        p->width = run_progress_width(p->fd);
    }
    run_progress_view v = { done,          c->total,    rate,     eta,
                            st->in_flight, st->retries, c->failed };
    /* The last column stays free: a line that fills it wraps on some
     * terminals. Off a terminal, three spaces cover a longer line's
     * end. */
    int columns = p->width - 1 - (p->tty ? 0 : 3);
    line[0] = '\r';
    size_t n = 1 + run_progress_line(line + 1, sizeof line - 4, &v, columns,
                                     p->color);
    memcpy(line + n, p->tty ? "\033[K" : "   ", 3);
    put(p->fd, line, n + 3);
    p->drawn = 1;
}

void run_progress_clear(run_progress *p)
{
    if (p && p->drawn) {
        if (p->tty)
            put(p->fd, "\r\033[K", 4);
        else
            put(p->fd, "\n", 1);
        p->drawn = 0;
    }
}

void run_progress_finish(run_progress *p, const run_counts *c,
                         const plm_stats *st)
{
    if (!p)
        return;
    run_progress_draw(p, c, st);
    put(p->fd, "\n", 1);
    p->drawn = 0;
}

/* A token count for the summary: the sum, or "unknown" when answers came
 * and none reported it. */
static void tokens_text(const run_counts *c, int completion, char *buf,
                        size_t cap)
{
    int64_t v;
    if (run_counts_tokens(c, completion, &v))
        snprintf(buf, cap, "%lld", (long long)v);
    else
        snprintf(buf, cap, "unknown");
}

/* "server_error 2, invalid_input 1" into buf: the failures by class. */
static void classes_text(const run_final *f, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int c = 1; c < RUN_CLASS_COUNT && n < cap; c++) {
        if (!f->by_class[c])
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s %llu", n ? ", " : "",
                         run_class_name(c), (unsigned long long)f->by_class[c]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

void run_summary_print(FILE *f, const run_counts *c, const plm_stats *st,
                       double elapsed, const char *outcome)
{
    uint64_t n = c->succeeded + c->failed - c->invalid;
    double avg = n ? elapsed / (double)n : 0.0;
    const run_final *fin = &c->final;
    char classes[256];
    fprintf(f,
            "Executed %llu LLM requests in parallel: %.2fs "
            "(avg: %.2fs per request)\n",
            (unsigned long long)n, elapsed, avg);
    fprintf(f,
            "this run: succeeded %llu, failed %llu (invalid input %llu), "
            "skipped %llu (already done)",
            (unsigned long long)c->succeeded, (unsigned long long)c->failed,
            (unsigned long long)c->invalid, (unsigned long long)c->skipped);
    if (c->not_run)
        fprintf(f, ", not run %llu (will run on resume)",
                (unsigned long long)c->not_run);
    classes_text(fin, classes, sizeof classes);
    fprintf(f,
            "\nthe output against the input: %llu request(s)%s, "
            "succeeded %llu, failed %llu%s%s%s",
            (unsigned long long)fin->requests,
            fin->input_complete ? "" : " read",
            (unsigned long long)fin->succeeded, (unsigned long long)fin->failed,
            classes[0] ? " (" : "", classes, classes[0] ? ")" : "");
    if (fin->not_run)
        fprintf(f, ", not run %llu", (unsigned long long)fin->not_run);
    char in[32], out[32];
    tokens_text(c, 0, in, sizeof in);
    tokens_text(c, 1, out, sizeof out);
    fprintf(f, "\nretries %llu, tokens in %s, out %s",
            (unsigned long long)st->retries, in, out);
    if (c->usage_missing)
        fprintf(f, " (%llu answer%s without usage)",
                (unsigned long long)c->usage_missing,
                c->usage_missing == 1 ? "" : "s");
    fprintf(f, "; %s\n", outcome);
}

/* A token count for the summary as JSON: the sum, or null if unknown. */
static json_t *tokens_json(const run_counts *c, int completion)
{
    int64_t v;
    return run_counts_tokens(c, completion, &v) ? json_integer((json_int_t)v)
                                                : json_null();
}

static json_t *summary_json(const run_counts *c, const plm_stats *st,
                            double elapsed, const char *outcome, int exit_code)
{
    uint64_t n = c->succeeded + c->failed - c->invalid;
    const run_final *f = &c->final;
    json_t *o = json_pack(
        "{s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, "
        "s:i, s:I, s:b, s:I}",
        "requests", (json_int_t)n, "elapsed_seconds", elapsed,
        "avg_seconds_per_request", n ? elapsed / (double)n : 0.0, "succeeded",
        (json_int_t)f->succeeded, "failed", (json_int_t)f->failed, "invalid",
        (json_int_t)f->by_class[RUN_CLASS_INVALID], "skipped",
        (json_int_t)c->skipped, "not_run", (json_int_t)f->not_run, "retries",
        (json_int_t)st->retries, "rate_limited", (json_int_t)st->rate_limited,
        "prompt_tokens", tokens_json(c, 0), "completion_tokens",
        tokens_json(c, 1), "outcome", outcome, "exit_code", exit_code,
        "input_requests", (json_int_t)f->requests, "input_complete",
        f->input_complete, "answers_without_usage",
        (json_int_t)c->usage_missing);
    json_t *by = json_object();
    json_t *run = json_pack("{s:I, s:I, s:I, s:I, s:I}", "requests",
                            (json_int_t)n, "succeeded",
                            (json_int_t)c->succeeded, "failed",
                            (json_int_t)c->failed, "invalid",
                            (json_int_t)c->invalid, "not_run",
                            (json_int_t)c->not_run);
    if (!o || !by || !run) {
        json_decref(o);
        json_decref(by);
        json_decref(run);
        return NULL;
    }
    for (int k = 1; k < RUN_CLASS_COUNT; k++)
        json_object_set_new(by, run_class_name(k),
                            json_integer((json_int_t)f->by_class[k]));
    json_object_set_new(o, "failed_by_class", by);
    json_object_set_new(o, "this_run", run);
    json_object_set_new(o, "first_failure",
                        c->first_failure[0] ? json_string(c->first_failure)
                                            : json_null());
    if (c->total > 0)
        json_object_set_new(o, "total", json_integer((json_int_t)c->total));
    return o;
}

int run_summary_write_json(const char *path, const run_counts *c,
                           const plm_stats *st, double elapsed,
                           const char *outcome, int exit_code)
{
    json_t *o = summary_json(c, st, elapsed, outcome, exit_code);
    if (!o)
        return -1;
    int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(o);
    return rc == 0 ? 0 : -1;
}
