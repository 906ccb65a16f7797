/*
 * The generic option parser of the parallm command and its value parsers
 * (see cli_args.h). The value parsers are written by hand instead of with
 * strtod/strtol because those accept leading spaces, signs, hex,
 * exponents and "inf", none of which belong in an option such as
 * --latency, and they report trailing garbage only to callers who
 * remember to check. (cli_parse_long and cli_parse_number keep strtol's
 * and strtod's grammar on purpose: `parallm run` has always read its
 * numbers that way.)
 */
#include "cli_args.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

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

int cli_parse_int64(const char *text, int64_t min, int64_t max, int64_t *out)
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

int cli_parse_double(const char *text, double min, double max, double *out)
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

/* ------------------------------------------------------------------ */
/* The generic parser. */

/* Room for the largest table (run's), with its terminator. */
#define CLI_MAX_OPTIONS 40
/* getopt_long's code for the long-only option at index i. */
#define LONG_ONLY_CODE(i) (256 + (i))

/* Prints template with "%o" as --name and "%v" as text. */
static void print_template(const char *template, const char *name,
                           const char *text)
{
    for (const char *p = template; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'o') {
            fprintf(stderr, "--%s", name);
            p++;
        } else if (p[0] == '%' && p[1] == 'v') {
            fputs(text, stderr);
            p++;
        } else {
            fputc(*p, stderr);
        }
    }
}

int cli_parse_long(const char *text, int64_t min, int64_t max, int *out)
{
    char *end = NULL;

    if (text == NULL || *text == '\0')
        return -1;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_number(const char *text, double min, double max, double *out)
{
    char *end = NULL;

    if (text == NULL)
        return -1;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < min ||
        v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_choice(const char *text, const char *const *choices, int *out)
{
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp(text, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

/* Converts text into opt's destination. 0, or -1 when refused. */
static int convert_value(const cli_option *opt, const char *text)
{
    int64_t v;

    switch (opt->kind) {
    case CLI_OPT_FLAG: *(int *)opt->dest = opt->flag_value; return 0;
    case CLI_OPT_STRING: *(const char **)opt->dest = text; return 0;
    case CLI_OPT_INT:
        return cli_parse_int(text, (int)opt->min, (int)opt->max,
                             (int *)opt->dest);
    case CLI_OPT_INT64:
        return cli_parse_int64(text, opt->min, opt->max, (int64_t *)opt->dest);
    case CLI_OPT_UINT64: return cli_parse_uint64(text, (uint64_t *)opt->dest);
    case CLI_OPT_DOUBLE:
        return cli_parse_double(text, opt->dmin, opt->dmax,
                                (double *)opt->dest);
    case CLI_OPT_DURATION:
        if (cli_parse_duration(text, opt->unit_ms, &v) != 0 || v < opt->min ||
            v > opt->max)
            return -1;
        *(int64_t *)opt->dest = v;
        return 0;
    case CLI_OPT_LONG:
        return cli_parse_long(text, opt->min, opt->max, (int *)opt->dest);
    case CLI_OPT_NUMBER:
        return cli_parse_number(text, opt->dmin, opt->dmax,
                                (double *)opt->dest);
    case CLI_OPT_CHOICE:
        return parse_choice(text, opt->choices, (int *)opt->dest);
    case CLI_OPT_CUSTOM: return opt->convert(text, opt->dest);
    default: return -1;
    }
}

/* Fills getopt_long's tables from cl's. Returns the number of options. */
static size_t build_getopt_tables(const cli_option *options,
                                  struct option *longs, char *shorts,
                                  size_t shorts_size)
{
    size_t n = 0, k = 0;

    for (; options[n].kind != CLI_OPT_END; n++) {
        const cli_option *opt = &options[n];
        int has_arg = opt->kind == CLI_OPT_HELP || opt->kind == CLI_OPT_FLAG
                          ? no_argument
                          : required_argument;
        if (n + 1 >= CLI_MAX_OPTIONS || k + 3 >= shorts_size) {
            fputs("parallm: internal error: option table too long\n", stderr);
            abort();
        }
        longs[n].name = opt->name;
        longs[n].has_arg = has_arg;
        longs[n].flag = NULL;
        longs[n].val = opt->letter ? opt->letter : LONG_ONLY_CODE((int)n);
        if (opt->letter) {
            shorts[k++] = (char)opt->letter;
            if (has_arg == required_argument)
                shorts[k++] = ':';
        }
    }
    memset(&longs[n], 0, sizeof(longs[n]));
    shorts[k] = '\0';
    return n;
}

/* The table entry getopt_long's code c stands for, or NULL. */
static const cli_option *find_option(const cli_option *options, size_t n, int c)
{
    if (c >= LONG_ONLY_CODE(0) && c < LONG_ONLY_CODE((int)n))
        return &options[c - LONG_ONLY_CODE(0)];
    for (size_t i = 0; i < n; i++) {
        if (options[i].letter != 0 && options[i].letter == c)
            return &options[i];
    }
    return NULL;
}

/* Handles one option found by getopt_long. -1 to go on, or an exit
 * code. */
static int take_option(const cli_command_line *cl, const cli_option *opt,
                       const char *text)
{
    if (opt == NULL) {
        /* getopt_long already said what was wrong. */
        fprintf(stderr, "Try 'parallm %s --help'.\n", cl->command);
        return CLI_EXIT_USAGE;
    }
    if (opt->kind == CLI_OPT_HELP) {
        cl->usage(stdout);
        return CLI_EXIT_OK;
    }
    if (convert_value(opt, text) != 0) {
        if (opt->complain != NULL) {
            opt->complain(text);
        } else {
            fprintf(stderr, "parallm %s: ", cl->command);
            print_template(opt->bad != NULL ? opt->bad : cl->bad, opt->name,
                           text);
            fputc('\n', stderr);
        }
        return CLI_EXIT_USAGE;
    }
    if (opt->given != NULL)
        *opt->given = 1;
    return -1;
}

int cli_parse_command_line(const cli_command_line *cl, int argc, char **argv,
                           int *first_arg)
{
    struct option longs[CLI_MAX_OPTIONS];
    char shorts[3 * CLI_MAX_OPTIONS + 1];
    size_t n = build_getopt_tables(cl->options, longs, shorts, sizeof shorts);
    int c;

    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const cli_option *opt = c == '?' ? NULL
                                         : find_option(cl->options, n, c);
        int rc = take_option(cl, opt, optarg);
        if (rc >= 0)
            return rc;
    }
    *first_arg = optind;
    return -1;
}
