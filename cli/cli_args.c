/*
 * Option value parsers for the parallm command (see cli_args.h). They are
 * written by hand instead of with strtod/strtol because those accept
 * leading spaces, signs, hex, exponents and "inf", none of which belong in
 * an option such as --latency, and they report trailing garbage only to
 * callers who remember to check.
 */
#include "cli_args.h"

#include <string.h>

/* Largest accepted duration: about 31 years; keeps every later
 * multiplication (ms to ns, backoff arithmetic) far from overflow. */
#define MAX_DURATION_MS ((int64_t)1000 * 1000 * 1000 * 1000)

/*
 * Reads "digits[.digits]" at *p into a value scaled by 10^9 so fractions
 * survive without floating point. Advances *p past the number. Returns 0,
 * or -1 when there is no digit or the integer part is too large.
 */
static int read_fixed(const char **p, int64_t *whole, int64_t *nano)
{
    const char *s = *p;
    int digits = 0;
    int64_t w = 0;
    int64_t frac = 0;
    int64_t scale = 100000000; /* first fractional digit is 10^8 nano */

    while (*s >= '0' && *s <= '9') {
        if (w > (INT64_MAX - 9) / 10)
            return -1;
        w = w * 10 + (*s - '0');
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            /* Digits beyond nanoseconds are read and ignored. */
            if (scale > 0) {
                frac += (*s - '0') * scale;
                scale /= 10;
            }
            s++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    *whole = w;
    *nano = frac;
    *p = s;
    return 0;
}

int cli_parse_duration(const char *text, int64_t default_unit_ms,
                            int64_t *out_ms)
{
    const char *p = text;
    int64_t whole, nano, unit_ms;

    if (text == NULL || default_unit_ms <= 0 || read_fixed(&p, &whole, &nano))
        return -1;
    if (*p == '\0')
        unit_ms = default_unit_ms;
    else if (strcmp(p, "ms") == 0)
        unit_ms = 1;
    else if (strcmp(p, "s") == 0)
        unit_ms = 1000;
    else if (strcmp(p, "m") == 0)
        unit_ms = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        unit_ms = 60 * 60 * 1000;
    else
        return -1;
    if (whole > MAX_DURATION_MS / unit_ms)
        return -1;
    /* nano * unit_ms stays below 10^9 * 3.6*10^6, well inside int64. */
    int64_t ms = whole * unit_ms + (nano * unit_ms + 500000000) / 1000000000;
    if (ms > MAX_DURATION_MS)
        return -1;
    *out_ms = ms;
    return 0;
}

int cli_parse_int64(const char *text, int64_t min, int64_t max,
                         int64_t *out)
{
    const char *p = text;
    int negative = 0;
    int64_t v = 0;

    if (text == NULL)
        return -1;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        /* Accumulate as a negative number so INT64_MIN fits. */
        if (v < (INT64_MIN + (*p - '0')) / 10)
            return -1;
        v = v * 10 - (*p - '0');
    }
    if (!negative) {
        if (v == INT64_MIN)
            return -1;
        v = -v;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_int(const char *text, int min, int max, int *out)
{
    int64_t v;

    if (cli_parse_int64(text, min, max, &v))
        return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_uint64(const char *text, uint64_t *out)
{
    uint64_t v = 0;

    if (text == NULL || *text == '\0')
        return -1;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *text, double min, double max,
                          double *out)
{
    const char *p = text;
    int64_t whole, nano;

    if (text == NULL || read_fixed(&p, &whole, &nano) || *p != '\0')
        return -1;
    double v = (double)whole + (double)nano / 1e9;
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
