/*
 * The one place that decides retries. plm__retry_decide() turns what the
 * transport and the provider parser saw into a final code and class and
 * says whether to try again; plm__retry_delay_ms() says how long to wait.
 *
 * Decisions worth knowing (docs/PROTOCOLS.md has the whole table):
 * - x-should-retry (true/false) overrides the status rule for an HTTP
 *   answer, but never turns a 2xx, a hard quota (insufficient_quota) or a
 *   transport outcome (cancelled, oversized body) into a retry.
 * - An error event inside a 2xx stream keeps the code the parser gave it
 *   and is retried when it is an overloaded, rate-limit or server error.
 * - A 2xx whose body does not parse (cut off, not JSON, not the shape the
 *   provider sends) is retried like a network error, class PARSE: the
 *   caller did not get the answer, whatever the server did, and a body cut
 *   off by a proxy or a dropped connection is usually fine the next time.
 *   The retry limits (count, time, retry budget) bound the cost when a
 *   compatible server answers malformed JSON every time.
 * - Retries are bounded by count (max_retries) and by time (time_ms since
 *   the request's first attempt), whichever comes first.
 * - An oversized body (PLM_ETOOBIG) is class BAD_REQUEST: the same request
 *   would produce the same answer, and the caller must change it (or the
 *   cap), as with other 4xx.
 * - 408 is PLM_ETIMEOUT / class TIMEOUT; 409 is PLM_EHTTP / class SERVER;
 *   both are retried, as the SDKs do.
 * - A server-given delay (retry-after-ms, retry-after) is used as is, capped
 *   at after_max_ms, with no jitter: the server knows when it will have room.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "defaults.h"
#include "retry.h"

/* Any server delay above this (about 31 years) is clamped before the cap,
 * so conversions can never overflow. */
#define PLM_AFTER_CLAMP_MS ((int64_t)1 << 40)

static int ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* Case-insensitive substring search. */
static int icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    if (!hay)
        return 0;
    for (; *hay; hay++) {
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    }
    return 0;
}

static int is_context_error(const plm_result *res)
{
    return ieq(res->error_code, "context_length_exceeded") ||
           ieq(res->error_type, "context_length_exceeded") ||
           icontains(res->error_message, "context length") ||
           icontains(res->error_message, "context_length") ||
           icontains(res->error_message, "context window") ||
           icontains(res->error_message, "maximum context") ||
           icontains(res->error_message, "prompt is too long");
}

static int is_quota_error(const plm_result *res)
{
    return ieq(res->error_code, "insufficient_quota") ||
           ieq(res->error_type, "insufficient_quota");
}

/* x-should-retry: 1 true, 0 false, -1 absent or neither. */
static int should_retry_header(const plm__headers *h)
{
    if (!h || !h->should_retry)
        return -1;
    if (ieq(h->should_retry, "true"))
        return 1;
    if (ieq(h->should_retry, "false"))
        return 0;
    return -1;
}

/* Sets code and class, keeping a message that is already there (from the
 * provider or the transport) and writing `fallback` otherwise. */
static void set_outcome(plm_result *res, int code, plm_error_class cls,
                        const char *fallback)
{
    if (res->error_message && *res->error_message) {
        res->code = code;
        res->error_class = cls;
        return;
    }
    plm__result_set_error(res, code, cls, "%s", fallback);
}

/* Classifies a non-2xx answer; returns 1 if the status rule retries it. */
static int classify_status(int status, plm_result *res, int *hard)
{
    char fallback[64];
    int code, retry;
    plm_error_class cls;

    *hard = 0;
    if (status == 401 || status == 403) {
        code = PLM_EAUTH, cls = PLM_CLASS_AUTH, retry = 0;
    } else if (status == 400 && is_context_error(res)) {
        code = PLM_ECONTEXT, cls = PLM_CLASS_BAD_REQUEST, retry = 0;
    } else if (status == 408) {
        code = PLM_ETIMEOUT, cls = PLM_CLASS_TIMEOUT, retry = 1;
    } else if (status == 409) {
        code = PLM_EHTTP, cls = PLM_CLASS_SERVER, retry = 1;
    } else if (status == 429 && is_quota_error(res)) {
        code = PLM_EQUOTA, cls = PLM_CLASS_QUOTA, retry = 0;
        *hard = 1;
    } else if (status == 429) {
        code = PLM_ERATELIMIT, cls = PLM_CLASS_RATE_LIMITED, retry = 1;
    } else if (status == 503 || status == 529) {
        code = PLM_EOVERLOADED, cls = PLM_CLASS_OVERLOADED, retry = 1;
    } else if (status >= 500 && status <= 599) {
        code = PLM_ESERVER, cls = PLM_CLASS_SERVER, retry = 1;
    } else if (status >= 400 && status <= 499) {
        code = PLM_EBADREQUEST, cls = PLM_CLASS_BAD_REQUEST, retry = 0;
    } else {
        /* 1xx/3xx (redirects are not followed) or nonsense. */
        code = PLM_EHTTP, cls = PLM_CLASS_SERVER, retry = 0;
    }
    snprintf(fallback, sizeof fallback, "HTTP %d from server", status);
    set_outcome(res, code, cls, fallback);
    return retry;
}

int plm__retry_decide(const plm__retry_policy *policy, int attempt,
                      const plm__attempt *a, plm_result *res)
{
    int retry = 0, hard = 0, header;
    int max_retries = policy ? policy->max_retries : 0;

    if (!a || !res)
        return 0;
    switch (a->transport_error) {
    case 0: break;
    case PLM_ECANCELLED:
        set_outcome(res, PLM_ECANCELLED, PLM_CLASS_CANCELLED,
                    "request cancelled");
        return 0;
    case PLM_ENETWORK:
        set_outcome(res, PLM_ENETWORK, PLM_CLASS_NETWORK, "network error");
        retry = 1;
        goto out;
    case PLM_ETIMEOUT:
        set_outcome(res, PLM_ETIMEOUT, PLM_CLASS_TIMEOUT, "request timed out");
        retry = 1;
        goto out;
    case PLM_ETOOBIG:
        set_outcome(res, PLM_ETOOBIG, PLM_CLASS_BAD_REQUEST,
                    "response body larger than the configured cap");
        return 0;
    default:
        set_outcome(res, a->transport_error, PLM_CLASS_LOCAL,
                    plm_strerror(a->transport_error));
        return 0;
    }
    if (a->http_status >= 200 && a->http_status <= 299) {
        if (res->code == PLM_EPARSE) {
            res->error_class = PLM_CLASS_PARSE;
            retry = 1;
            goto out;
        }
        if (res->code == PLM_OK) {
            res->error_class = PLM_CLASS_NONE;
            return 0;
        }
        /* An error event inside a 2xx stream: the answer never finished,
         * so an overloaded, rate-limited or server error is retried. */
        retry = res->error_class == PLM_CLASS_OVERLOADED ||
                res->error_class == PLM_CLASS_RATE_LIMITED ||
                res->error_class == PLM_CLASS_SERVER;
        goto out;
    }
    if (a->http_status == 0) {
        /* No answer and no transport error: treat as a dropped
         * connection, which is what it looks like from here. */
        set_outcome(res, PLM_ENETWORK, PLM_CLASS_NETWORK, "no HTTP answer");
        retry = 1;
        goto out;
    }
    retry = classify_status(a->http_status, res, &hard);
    header = should_retry_header(a->headers);
    if (header >= 0 && !hard)
        retry = header;
out:
    if (policy && policy->time_ms > 0 && policy->elapsed_ms >= policy->time_ms)
        return 0;
    return retry && attempt >= 1 && attempt <= max_retries;
}

/* Strict non-negative decimal: digits, optional fraction, surrounding
 * blanks. No sign, exponent, hex, inf or nan; "20ms" is rejected. Returns
 * 1 and the value scaled by `scale`, rounded up, clamped. */
static int parse_decimal(const char *s, int64_t scale, int64_t *out)
{
    double whole = 0.0, frac = 0.0, unit = 1.0, v;
    int digits = 0;

    while (*s == ' ' || *s == '\t')
        s++;
    for (; isdigit((unsigned char)*s); s++, digits++) {
        if (whole < 1e18)
            whole = whole * 10.0 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; isdigit((unsigned char)*s); s++, digits++) {
            if (unit > 1e-15) {
                unit /= 10.0;
                frac += (*s - '0') * unit;
            }
        }
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (!digits || *s)
        return 0;
    v = (whole + frac) * (double)scale;
    if (v >= (double)PLM_AFTER_CLAMP_MS) {
        *out = PLM_AFTER_CLAMP_MS;
        return 1;
    }
    *out = (int64_t)v;
    if ((double)*out < v)
        (*out)++;
    return 1;
}

/* An HTTP date needs a time ("12:00:00") and a month name; curl_getdate
 * alone is lenient enough to read a bare number as a date. */
static int looks_like_date(const char *s)
{
    int alpha = 0;

    if (!strchr(s, ':'))
        return 0;
    for (; *s; s++)
        alpha |= isalpha((unsigned char)*s) != 0;
    return alpha;
}

int plm__retry_after_parse(const char *after_ms, const char *after, time_t now,
                           int64_t *out_ms)
{
    int64_t v;
    time_t when;

    if (!out_ms)
        return 0;
    if (after_ms && parse_decimal(after_ms, 1, &v)) {
        *out_ms = v;
        return 1;
    }
    if (!after)
        return 0;
    if (parse_decimal(after, 1000, &v)) {
        *out_ms = v;
        return 1;
    }
    if (!looks_like_date(after))
        return 0;
    when = curl_getdate(after, NULL);
    if (when == (time_t)-1)
        return 0;
    if (when <= now) {
        *out_ms = 0;
    } else if ((int64_t)(when - now) >= PLM_AFTER_CLAMP_MS / 1000) {
        *out_ms = PLM_AFTER_CLAMP_MS;
    } else {
        *out_ms = (int64_t)(when - now) * 1000;
    }
    return 1;
}

/* xorshift64* (Vigna). A zero state would stay zero forever, so it is
 * replaced by a fixed odd constant. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;

    if (x == 0)
        x = 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int64_t plm__retry_delay_ms(const plm__retry_policy *policy, int attempt,
                            const plm__headers *headers, time_t now,
                            uint64_t *rng_state)
{
    int64_t base = PLM__DEFAULT_RETRY_BASE_MS;
    int64_t max = PLM__DEFAULT_RETRY_MAX_MS;
    int64_t after_max = PLM__DEFAULT_RETRY_AFTER_MAX_MS, delay, server;
    int shift;
    double u;

    if (policy) {
        if (policy->base_ms > 0)
            base = policy->base_ms;
        if (policy->max_ms > 0)
            max = policy->max_ms;
        if (policy->after_max_ms > 0)
            after_max = policy->after_max_ms;
    }
    if (max < base)
        max = base;
    if (headers && plm__retry_after_parse(headers->retry_after_ms,
                                          headers->retry_after, now, &server))
        return server < after_max ? server : after_max;
    shift = attempt > 1 ? attempt - 1 : 0;
    if (shift >= 62 || base > (max >> shift))
        delay = max;
    else
        delay = base << shift;
    if (delay > max)
        delay = max;
    if (!rng_state)
        return delay;
    /* U in [0, 1) from the top 53 bits; factor 1 - 0.25 U in (0.75, 1]. */
    u = (double)(next_random(rng_state) >> 11) * (1.0 / 9007199254740992.0);
    return delay - (int64_t)((double)delay * 0.25 * u);
}
