/*
 * The text of `parallm run`'s progress line, fitted to the terminal: a
 * line wider than the terminal wraps, and every redraw then scrolls the
 * screen instead of replacing the line. The fields are dropped or
 * shortened in a fixed order (retries, in flight, the rate, long labels,
 * the ETA, the percentage, the errors) until the line fits in width - 1
 * columns; when even the count of requests done does not fit, it is cut.
 * Also where the width comes from: the terminal itself, else $COLUMNS,
 * else 80.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "run.h"

/* A line being built: bytes written and columns they take (every byte
 * the line holds is ASCII, escapes aside, so one byte is one column). */
struct line {
    char *buf;
    size_t cap, len;
    int cols;
};

static void add_text(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= l->cap - l->len)
        n = (int)(l->cap - l->len - 1);
    l->len += (size_t)n;
    l->cols += n;
}

/* An escape sequence: bytes, no columns. */
static void add_escape(struct line *l, int color, const char *esc)
{
    if (!color)
        return;
    int cols = l->cols;
    add_text(l, "%s", esc);
    l->cols = cols;
}

/* How much each level of detail shows, from the whole line to the
 * least. */
enum {
    SHOW_RETRIES = 1,
    SHOW_IN_FLIGHT = 2,
    SHOW_RATE = 4,
    SHOW_LABELS = 8, /* " | " and long names, else "err N ETA x" */
    SHOW_ETA = 16,
    SHOW_PERCENT = 32,
    SHOW_ERRORS = 64
};

static const int levels[] = {
    SHOW_RETRIES | SHOW_IN_FLIGHT | SHOW_RATE | SHOW_LABELS | SHOW_ETA |
        SHOW_PERCENT | SHOW_ERRORS,
    SHOW_IN_FLIGHT | SHOW_RATE | SHOW_LABELS | SHOW_ETA | SHOW_PERCENT |
        SHOW_ERRORS,
    SHOW_RATE | SHOW_LABELS | SHOW_ETA | SHOW_PERCENT | SHOW_ERRORS,
    SHOW_LABELS | SHOW_ETA | SHOW_PERCENT | SHOW_ERRORS,
    SHOW_ETA | SHOW_PERCENT | SHOW_ERRORS,
    SHOW_PERCENT | SHOW_ERRORS,
    SHOW_ERRORS,
    0
};

static void compose(struct line *l, const run_progress_view *v, int show,
                    int color)
{
    const char *sep = show & SHOW_LABELS ? " | " : " ";
    l->len = 0;
    l->cols = 0;
    l->buf[0] = '\0';
    add_escape(l, color, "\033[1m");
    if (v->total > 0)
        add_text(l, "%llu/%llu", (unsigned long long)v->done,
                 (unsigned long long)v->total);
    else
        add_text(l, "%llu/?", (unsigned long long)v->done);
    if ((show & SHOW_PERCENT) && v->total > 0)
        add_text(l, " (%.0f%%)", 100.0 * (double)v->done / (double)v->total);
    add_escape(l, color, "\033[0m");
    if (show & SHOW_RATE)
        add_text(l, "%s%.1f req/s", sep, v->rate);
    if (show & SHOW_IN_FLIGHT)
        add_text(l, "%sin flight %llu", sep, (unsigned long long)v->in_flight);
    if (show & SHOW_RETRIES)
        add_text(l, "%sretries %llu", sep, (unsigned long long)v->retries);
    if (show & SHOW_ERRORS) {
        add_text(l, "%s", sep);
        add_escape(l, color && v->failed, "\033[31m");
        add_text(l, "%s %llu", show & SHOW_LABELS ? "errors" : "err",
                 (unsigned long long)v->failed);
        add_escape(l, color && v->failed, "\033[0m");
    }
    if (show & SHOW_ETA)
        add_text(l, "%sETA %s", sep, v->eta);
}

size_t run_progress_line(char *buf, size_t cap, const run_progress_view *v,
                         int columns, int color)
{
    struct line l = { buf, cap, 0, 0 };
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    if (columns <= 0)
        return 0;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        compose(&l, v, levels[i], color);
        if (l.cols <= columns)
            return l.len;
    }
    /* Not even "done/total" fits: its first columns, without colour so
     * no escape is cut in half. */
    compose(&l, v, 0, 0);
    if (l.len > (size_t)columns)
        l.len = (size_t)columns;
    buf[l.len] = '\0';
    return l.len;
}

int run_progress_width(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *env = getenv("COLUMNS");
    if (env != NULL && *env != '\0') {
        char *end = NULL;
        long c = strtol(env, &end, 10);
        if (*end == '\0' && c > 0 && c <= 100000)
            return (int)c;
    }
    return 80;
}
