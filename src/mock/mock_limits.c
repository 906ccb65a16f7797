/*
 * Provider-style request and token limits for the mock: a sliding 60 s
 * window of the requests it accepted (a ring buffer that grows
 * geometrically, so admission is amortised O(1)), and the headers OpenAI
 * (x-ratelimit-*, Go durations) and Anthropic (anthropic-ratelimit-*,
 * RFC 3339 timestamps) send, so clients can be tested against both.
 */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock_internal.h"

#define WINDOW_NS (INT64_C(60) * 1000000000)

void plm__mock_limits_init(plm__mock_limits *l, int64_t rpm, int64_t tpm)
{
    memset(l, 0, sizeof *l);
    l->rpm = rpm > 0 ? rpm : 0;
    l->tpm = tpm > 0 ? tpm : 0;
}

void plm__mock_limits_free(plm__mock_limits *l)
{
    free(l->when_ns);
    free(l->tokens);
    memset(l, 0, sizeof *l);
}

static size_t slot(const plm__mock_limits *l, size_t i)
{
    return (l->head + i) % l->cap;
}

static void expire(plm__mock_limits *l, int64_t now_ns)
{
    while (l->len > 0 && l->when_ns[l->head] + WINDOW_NS <= now_ns) {
        l->token_sum -= l->tokens[l->head];
        l->head = (l->head + 1) % l->cap;
        l->len--;
    }
}

static int grow(plm__mock_limits *l)
{
    size_t cap = l->cap ? l->cap * 2 : 64;
    int64_t *w = malloc(cap * sizeof *w);
    int64_t *t = malloc(cap * sizeof *t);

    if (w == NULL || t == NULL) {
        free(w);
        free(t);
        return -1;
    }
    for (size_t i = 0; i < l->len; i++) {
        w[i] = l->when_ns[slot(l, i)];
        t[i] = l->tokens[slot(l, i)];
    }
    free(l->when_ns);
    free(l->tokens);
    l->when_ns = w;
    l->tokens = t;
    l->cap = cap;
    l->head = 0;
    return 0;
}

/* Time until enough tokens leave the window for `need` to fit. Only runs
 * on a refusal and stops at the first entry that makes room. */
static int64_t token_wait(const plm__mock_limits *l, int64_t now_ns,
                          int64_t need)
{
    int64_t sum = l->token_sum;

    if (need > l->tpm)
        return WINDOW_NS;
    for (size_t i = 0; i < l->len; i++) {
        size_t s = slot(l, i);

        sum -= l->tokens[s];
        if (sum + need <= l->tpm)
            return l->when_ns[s] + WINDOW_NS - now_ns;
    }
    return 0;
}

int plm__mock_limits_admit(plm__mock_limits *l, int64_t now_ns, int64_t tokens,
                           plm__mock_limit_info *info)
{
    int req_over, tok_over;

    memset(info, 0, sizeof *info);
    if (tokens < 0)
        tokens = 0;
    if (l->rpm == 0 && l->tpm == 0)
        return 1;
    expire(l, now_ns);
    req_over = l->rpm > 0 && (int64_t)l->len >= l->rpm;
    tok_over = l->tpm > 0 && l->token_sum + tokens > l->tpm;
    info->req_limit = l->rpm;
    info->tok_limit = l->tpm;
    if (req_over || tok_over) {
        info->req_remaining = l->rpm > 0 ? l->rpm - (int64_t)l->len : 0;
        if (info->req_remaining < 0)
            info->req_remaining = 0;
        info->tok_remaining = l->tpm > l->token_sum ? l->tpm - l->token_sum : 0;
        info->req_reset_ns = l->len > 0
                                 ? l->when_ns[l->head] + WINDOW_NS - now_ns
                                 : 0;
        info->tok_reset_ns = l->tpm > 0 ? token_wait(l, now_ns, tokens) : 0;
        info->retry_after_ns = 0;
        if (req_over)
            info->retry_after_ns = info->req_reset_ns;
        if (tok_over && info->tok_reset_ns > info->retry_after_ns)
            info->retry_after_ns = info->tok_reset_ns;
        return 0;
    }
    if (l->len == l->cap && grow(l) != 0)
        return -1;
    l->when_ns[slot(l, l->len)] = now_ns;
    l->tokens[slot(l, l->len)] = tokens;
    l->len++;
    l->token_sum += tokens;
    info->req_remaining = l->rpm > 0 ? l->rpm - (int64_t)l->len : 0;
    info->tok_remaining = l->tpm > 0 ? l->tpm - l->token_sum : 0;
    info->req_reset_ns = l->when_ns[l->head] + WINDOW_NS - now_ns;
    info->tok_reset_ns = info->req_reset_ns;
    return 1;
}

void plm__mock_go_duration(int64_t ns, char *buf, size_t len)
{
    int64_t ms = (ns + 999999) / 1000000; /* round up: never too early */
    int64_t h, m, sec_ms;
    char secs[32];
    size_t n;

    if (ms < 0)
        ms = 0;
    if (ms < 1000) {
        snprintf(buf, len, "%" PRId64 "ms", ms);
        return;
    }
    h = ms / 3600000;
    m = (ms / 60000) % 60;
    sec_ms = ms % 60000;
    snprintf(secs, sizeof secs, "%" PRId64 ".%03" PRId64, sec_ms / 1000,
             sec_ms % 1000);
    /* Go prints the shortest form: "1.5s", "6m0s". */
    n = strlen(secs);
    while (n > 0 && secs[n - 1] == '0')
        secs[--n] = '\0';
    if (n > 0 && secs[n - 1] == '.')
        secs[--n] = '\0';
    if (h > 0)
        snprintf(buf, len, "%" PRId64 "h%" PRId64 "m%ss", h, m, secs);
    else if (m > 0)
        snprintf(buf, len, "%" PRId64 "m%ss", m, secs);
    else
        snprintf(buf, len, "%ss", secs);
}

static void rfc3339_after(int64_t ns, char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    time_t t;

    clock_gettime(CLOCK_REALTIME, &ts);
    t = ts.tv_sec + (time_t)((ns + 999999999) / 1000000000);
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_int(struct evkeyvalq *h, const char *k, int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%" PRId64, v);
    evhttp_add_header(h, k, buf);
}

void plm__mock_limits_headers(const plm__mock_limits *l,
                              const plm__mock_limit_info *info, int anthropic,
                              struct evkeyvalq *hdrs)
{
    char buf[64];

    if (l->rpm > 0) {
        add_int(hdrs, "x-ratelimit-limit-requests", info->req_limit);
        add_int(hdrs, "x-ratelimit-remaining-requests", info->req_remaining);
        plm__mock_go_duration(info->req_reset_ns, buf, sizeof buf);
        evhttp_add_header(hdrs, "x-ratelimit-reset-requests", buf);
        if (anthropic) {
            add_int(hdrs, "anthropic-ratelimit-requests-limit",
                    info->req_limit);
            add_int(hdrs, "anthropic-ratelimit-requests-remaining",
                    info->req_remaining);
            rfc3339_after(info->req_reset_ns, buf, sizeof buf);
            evhttp_add_header(hdrs, "anthropic-ratelimit-requests-reset", buf);
        }
    }
    if (l->tpm > 0) {
        add_int(hdrs, "x-ratelimit-limit-tokens", info->tok_limit);
        add_int(hdrs, "x-ratelimit-remaining-tokens", info->tok_remaining);
        plm__mock_go_duration(info->tok_reset_ns, buf, sizeof buf);
        evhttp_add_header(hdrs, "x-ratelimit-reset-tokens", buf);
        if (anthropic) {
            add_int(hdrs, "anthropic-ratelimit-tokens-limit", info->tok_limit);
            add_int(hdrs, "anthropic-ratelimit-tokens-remaining",
                    info->tok_remaining);
            rfc3339_after(info->tok_reset_ns, buf, sizeof buf);
            evhttp_add_header(hdrs, "anthropic-ratelimit-tokens-reset", buf);
        }
    }
    if (info->retry_after_ns > 0)
        add_int(hdrs, "retry-after",
                (info->retry_after_ns + 999999999) / 1000000000);
}
