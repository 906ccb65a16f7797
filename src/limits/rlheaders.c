/*
 * Parsing of rate-limit header values: Go durations, RFC 3339 timestamps
 * and plain counts, then the mapping from plm__headers to plm__rl_state.
 * Hand-written (no strtod, no timegm) so the results do not depend on the
 * locale or on the process's time zone, and every overflow is checked.
 */
#include "rlheaders.h"

#include <string.h>

#define NS_PER_SEC INT64_C(1000000000)

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads a unit at *p; returns its length in nanoseconds and advances, or 0
 * for an unknown unit. Longer names first so "ms" is not read as "m". */
static int64_t read_unit(const char **p)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {
        { "ns", 1 },
        { "us", 1000 },
        { "\xc2\xb5s", 1000 }, /* U+00B5 micro sign */
        { "\xce\xbcs", 1000 }, /* U+03BC Greek mu */
        { "ms", 1000000 },
        { "s", NS_PER_SEC },
        { "m", 60 * NS_PER_SEC },
        { "h", 3600 * NS_PER_SEC },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t n = strlen(units[i].name);
        if (strncmp(*p, units[i].name, n) == 0) {
            *p += n;
            return units[i].ns;
        }
    }
    return 0;
}

int plm__duration_parse(const char *s, int64_t *out_ns)
{
    if (!s || !out_ns)
        return 0;
    const char *p = s;
    if (*p == '+')
        p++;
    if (strcmp(p, "0") == 0) {
        *out_ns = 0;
        return 1;
    }
    if (*p == '\0')
        return 0;
    int64_t total = 0;
    while (*p) {
        /* Integer part: any number of digits, checked against overflow
         * once the unit is known. Kept below 2^63 while reading. */
        uint64_t whole = 0;
        int digits = 0, overflow = 0;
        while (is_digit(*p)) {
            if (whole > (UINT64_MAX - 9) / 10)
                overflow = 1;
            else
                whole = whole * 10 + (uint64_t)(*p - '0');
            p++;
            digits++;
        }
        /* Fraction: keep up to 18 digits, ignore the rest (below 1 ns for
         * every unit up to hours). */
        uint64_t frac = 0, scale = 1;
        int frac_digits = 0;
        if (*p == '.') {
            p++;
            while (is_digit(*p)) {
                if (scale < UINT64_C(1000000000000000000)) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                p++;
                frac_digits++;
            }
        }
        if (digits == 0 && frac_digits == 0)
            return 0;
        int64_t unit = read_unit(&p);
        if (unit == 0 || overflow)
            return 0;
        if (whole > (uint64_t)(INT64_MAX / unit))
            return 0;
        int64_t part = (int64_t)whole * unit;
        /* frac/scale < 1, so this adds less than one unit; double keeps
         * it exact to well under a nanosecond for units up to an hour. */
        int64_t fpart = (int64_t)((double)frac / (double)scale * (double)unit);
        if (part > INT64_MAX - fpart)
            return 0;
        part += fpart;
        if (total > INT64_MAX - part)
            return 0;
        total += part;
    }
    *out_ns = total;
    return 1;
}

int64_t plm__days_from_civil(int64_t y, int m, int d)
{
    /* Counts from 0000-03-01 so the leap day ends the year; eras are the
     * 400-year Gregorian cycle of 146097 days. 719468 is the day number of
     * 1970-01-01 in that count. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                         /* [0, 399] */
    int64_t mp = (m + 9) % 12;                           /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Reads exactly n digits; -1 if they are not all digits. */
static int fixed_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return 0;
    (*p)++;
    return 1;
}

int plm__rfc3339_parse(const char *s, int64_t *out_ns)
{
    if (!s || !out_ns)
        return 0;
    const char *p = s;
    int y = fixed_digits(&p, 4);
    if (y < 0 || !expect(&p, '-'))
        return 0;
    int mo = fixed_digits(&p, 2);
    if (mo < 1 || mo > 12 || !expect(&p, '-'))
        return 0;
    int d = fixed_digits(&p, 2);
    if (d < 1 || d > days_in_month(y, mo))
        return 0;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return 0;
    p++;
    int h = fixed_digits(&p, 2);
    if (h < 0 || h > 23 || !expect(&p, ':'))
        return 0;
    int mi = fixed_digits(&p, 2);
    if (mi < 0 || mi > 59 || !expect(&p, ':'))
        return 0;
    int sec = fixed_digits(&p, 2);
    if (sec < 0 || sec > 60) /* 60: a leap second, as RFC 3339 allows */
        return 0;
    int64_t frac_ns = 0;
    if (*p == '.') {
        p++;
        if (!is_digit(*p))
            return 0;
        int64_t scale = NS_PER_SEC / 10;
        while (is_digit(*p)) {
            frac_ns += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int oh = fixed_digits(&p, 2);
        if (oh < 0 || oh > 23 || !expect(&p, ':'))
            return 0;
        int om = fixed_digits(&p, 2);
        if (om < 0 || om > 59)
            return 0;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return 0;
    }
    if (*p != '\0')
        return 0;
    /* Years 0000-9999 keep every value far inside int64 nanoseconds. */
    int64_t days = plm__days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    if (secs > INT64_MAX / NS_PER_SEC - 1 || secs < INT64_MIN / NS_PER_SEC + 1)
        return 0;
    *out_ns = secs * NS_PER_SEC + frac_ns;
    return 1;
}

/* A non-negative decimal count without sign, spaces or garbage. */
static int count_parse(const char *s, int64_t *out)
{
    if (!s || !is_digit(*s))
        return 0;
    int64_t v = 0;
    for (; *s; s++) {
        if (!is_digit(*s))
            return 0;
        if (v > (INT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 1;
}

/* A bare number of seconds, possibly fractional: "20", "0.5". */
static int seconds_parse(const char *s, int64_t *out_ns)
{
    const char *p = s;
    int64_t whole = 0, frac = 0, scale = NS_PER_SEC;
    int digits = 0;
    while (is_digit(*p)) {
        /* whole * NS_PER_SEC plus a fraction below NS_PER_SEC must fit:
         * whole stays at most INT64_MAX / NS_PER_SEC - 1. */
        if (whole > (INT64_MAX / NS_PER_SEC - 1 - (*p - '0')) / 10)
            return 0;
        whole = whole * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            scale /= 10;
            frac += (*p - '0') * scale;
            p++;
            digits++;
        }
    }
    if (digits == 0 || *p != '\0')
        return 0;
    *out_ns = whole * NS_PER_SEC + frac;
    return 1;
}

int plm__rl_reset_parse(const char *s, int64_t now_epoch_ns, int64_t *out_ns)
{
    int64_t v;
    if (!s || !out_ns)
        return 0;
    if (plm__duration_parse(s, &v) || seconds_parse(s, &v)) {
        *out_ns = v;
        return 1;
    }
    if (plm__rfc3339_parse(s, &v)) {
        /* Both sides are within a few centuries of 1970: no overflow. */
        *out_ns = v > now_epoch_ns ? v - now_epoch_ns : 0;
        return 1;
    }
    return 0;
}

static void meter_from(plm__rl_meter_state *m, const char *limit,
                       const char *remaining, const char *reset,
                       int64_t now_epoch_ns)
{
    memset(m, 0, sizeof *m);
    m->has_limit = count_parse(limit, &m->limit);
    m->has_remaining = count_parse(remaining, &m->remaining);
    m->has_reset = plm__rl_reset_parse(reset, now_epoch_ns, &m->reset_after_ns);
}

void plm__rl_state_from_headers(const plm__headers *h, int64_t now_epoch_ns,
                                plm__rl_state *out)
{
    memset(out, 0, sizeof *out);
    if (!h)
        return;
    meter_from(&out->meter[PLM__RL_REQUESTS], h->rl_limit_requests,
               h->rl_remaining_requests, h->rl_reset_requests, now_epoch_ns);
    meter_from(&out->meter[PLM__RL_TOKENS], h->rl_limit_tokens,
               h->rl_remaining_tokens, h->rl_reset_tokens, now_epoch_ns);
    meter_from(&out->meter[PLM__RL_INPUT_TOKENS], h->rl_limit_input_tokens,
               h->rl_remaining_input_tokens, h->rl_reset_input_tokens,
               now_epoch_ns);
    meter_from(&out->meter[PLM__RL_OUTPUT_TOKENS], h->rl_limit_output_tokens,
               h->rl_remaining_output_tokens, h->rl_reset_output_tokens,
               now_epoch_ns);
}
