/*
 * Parses the mock's per-request directives: the "X-Mock: k=v;k=v" header
 * or the "[mock k=v k=v]" text inside the last user message. Directives let
 * one batch mix latencies and faults request by request. Parsing is lenient
 * (unknown keys and bad values are skipped) because the text comes from
 * test prompts, but every value is bounded and validated.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mock_internal.h"

void plm__mock_directive_init(plm__mock_directive *d)
{
    memset(d, 0, sizeof *d);
    d->latency_ms = -1;
    d->times = -1;
    d->should_retry = -1;
    d->size = -1;
    d->tokens = -1;
}

static int parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    long long x;

    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
        return -1;
    *out = (int64_t)x;
    return 0;
}

/* Accepts a non-negative decimal number such as "2" or "0.25". */
static int copy_number(const char *v, char *dst, size_t len)
{
    char *end = NULL;
    double x;

    errno = 0;
    x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(x >= 0.0) || x > 1e9 ||
        strlen(v) >= len)
        return -1;
    strcpy(dst, v);
    return 0;
}

static int copy_word(const char *v, char *dst, size_t len)
{
    size_t n = strlen(v);

    if (n == 0 || n >= len)
        return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

static int apply(plm__mock_directive *d, const char *k, const char *v)
{
    int64_t x;

    if (strcmp(k, "latency") == 0) {
        if (parse_int(v, 0, 3600 * 1000, &x) != 0)
            return 0;
        d->latency_ms = x;
    } else if (strcmp(k, "status") == 0) {
        if (parse_int(v, 100, 599, &x) != 0)
            return 0;
        d->status = (int)x;
    } else if (strcmp(k, "times") == 0) {
        if (parse_int(v, 0, INT64_C(1) << 40, &x) != 0)
            return 0;
        d->times = x;
    } else if (strcmp(k, "key") == 0) {
        return copy_word(v, d->key, sizeof d->key) == 0;
    } else if (strcmp(k, "retry_after") == 0) {
        return copy_number(v, d->retry_after, sizeof d->retry_after) == 0;
    } else if (strcmp(k, "retry_after_ms") == 0) {
        return copy_number(v, d->retry_after_ms, sizeof d->retry_after_ms) == 0;
    } else if (strcmp(k, "should_retry") == 0) {
        if (strcmp(v, "true") == 0)
            d->should_retry = 1;
        else if (strcmp(v, "false") == 0)
            d->should_retry = 0;
        else
            return 0;
    } else if (strcmp(k, "error_code") == 0) {
        /* It goes into the JSON error body: printable ASCII only (bytes
         * that are not UTF-8 would make the body fail to build). */
        for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
            if (*c < 0x21 || *c > 0x7e)
                return 0;
        }
        return copy_word(v, d->error_code, sizeof d->error_code) == 0;
    } else if (strcmp(k, "fault") == 0) {
        if (strcmp(v, "reset") == 0)
            d->fault = PLM__MOCK_FAULT_RESET;
        else if (strcmp(v, "hang") == 0)
            d->fault = PLM__MOCK_FAULT_HANG;
        else if (strcmp(v, "badjson") == 0)
            d->fault = PLM__MOCK_FAULT_BADJSON;
        else if (strcmp(v, "big") == 0)
            d->fault = PLM__MOCK_FAULT_BIG;
        else if (strcmp(v, "slow") == 0)
            d->fault = PLM__MOCK_FAULT_SLOW;
        else if (strcmp(v, "cut") == 0)
            d->fault = PLM__MOCK_FAULT_CUT;
        else
            return 0;
    } else if (strcmp(k, "size") == 0) {
        /* 16 GiB is far beyond any test and keeps arithmetic safe. */
        if (parse_int(v, 0, INT64_C(1) << 34, &x) != 0)
            return 0;
        d->size = x;
    } else if (strcmp(k, "interval") == 0) {
        if (parse_int(v, 0, 3600 * 1000, &x) != 0)
            return 0;
        d->interval_ms = x;
    } else if (strcmp(k, "tokens") == 0) {
        if (parse_int(v, 0, 1000000000, &x) != 0)
            return 0;
        d->tokens = x;
    } else {
        return 0;
    }
    return 1;
}

static int is_sep(char c)
{
    return c == ';' || c == ',' || isspace((unsigned char)c);
}

int plm__mock_directive_parse(const char *text, size_t len,
                              plm__mock_directive *d)
{
    size_t i = 0;
    int understood = 0;

    while (i < len) {
        char tok[256];
        size_t start, n;
        char *eq;

        while (i < len && is_sep(text[i]))
            i++;
        start = i;
        while (i < len && !is_sep(text[i]))
            i++;
        n = i - start;
        if (n == 0 || n >= sizeof tok)
            continue;
        memcpy(tok, text + start, n);
        tok[n] = '\0';
        eq = strchr(tok, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        understood |= apply(d, tok, eq + 1);
    }
    if (understood)
        d->present = 1;
    return understood;
}

int plm__mock_directive_find(const char *text, plm__mock_directive *d)
{
    const char *p, *end;

    if (text == NULL)
        return 0;
    p = strstr(text, "[mock");
    while (p != NULL && !(is_sep(p[5]) || p[5] == ']'))
        p = strstr(p + 5, "[mock");
    if (p == NULL)
        return 0;
    p += 5;
    end = strchr(p, ']');
    if (end == NULL)
        return 0;
    plm__mock_directive_parse(p, (size_t)(end - p), d);
    /* "[mock]" alone still counts as a directive: no global faults. */
    d->present = 1;
    return 1;
}
