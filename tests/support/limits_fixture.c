/*
 * Helpers for the limit policy's integration tests (see the header).
 */
#include "limits_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_client.h"

plm_mock *plm_lf_mock(const plm_mock_options *o)
{
    plm_mock_options mo;

    memset(&mo, 0, sizeof mo);
    if (o)
        mo = *o;
    mo.record = 1;
    return plm_test_mock_start(&mo);
}

plm_client *plm_lf_client(plm_mock *m, const plm_client_options *co)
{
    plm_client_options o = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c = NULL;
    static char base[64];

    if (co)
        o = *co;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", plm_mock_port(m));
    o.openai_base_url = base;
    o.anthropic_base_url = base;
    o.openai_api_key = "sk-limits-test";
    o.anthropic_api_key = "sk-limits-test";
    assert_int_equal(plm_client_new(&c, &o), PLM_OK);
    return c;
}

plm_request *plm_lf_chat(const char *model, const char *text, int max_tokens)
{
    plm_request *req = NULL;

    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, model),
                     PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", text), PLM_OK);
    if (max_tokens > 0)
        assert_int_equal(plm_request_set_max_tokens(req, max_tokens), PLM_OK);
    return req;
}

typedef struct lf_run {
    plm_request **reqs;
    plm_result **res;
    size_t n, next;
    plm_lf_sample_fn sample;
    void *user_data;
    plm_client *client;
} lf_run;

static int lf_source(plm_request **out, void *user_data)
{
    lf_run *r = user_data;

    if (r->next >= r->n)
        return 0;
    plm_request_set_user_data(r->reqs[r->next], (void *)(uintptr_t)r->next);
    *out = r->reqs[r->next++];
    return 1;
}

static int lf_complete(plm_request *req, plm_result *res, void *user_data)
{
    lf_run *r = user_data;
    size_t i = (size_t)(uintptr_t)plm_result_user_data(res);

    (void)req;
    if (i < r->n && !r->res[i])
        r->res[i] = res;
    else
        plm_result_free(res);
    if (r->sample)
        r->sample(r->client, r->user_data);
    return 0;
}

int plm_lf_run(plm_client *client, plm_request **reqs, size_t n,
               plm_result **res, int max_concurrent, plm_lf_sample_fn sample,
               void *user_data)
{
    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    lf_run r;

    memset(&r, 0, sizeof r);
    r.reqs = reqs;
    r.res = res;
    r.n = n;
    r.sample = sample;
    r.user_data = user_data;
    r.client = client;
    memset(res, 0, n * sizeof *res);
    ro.max_concurrent = max_concurrent;
    /* A hang is a failure, not a stuck test. */
    ro.timeout_ms = 45000;
    return plm_client_run(client, lf_source, lf_complete, &ro, &r);
}

void plm_lf_free(plm_request **reqs, plm_result **res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (reqs)
            plm_request_free(reqs[i]);
        if (res)
            plm_result_free(res[i]);
    }
}

static int by_arrival(const void *a, const void *b)
{
    const plm_mock_record *x = a, *y = b;
    return (x->arrival_ns > y->arrival_ns) - (x->arrival_ns < y->arrival_ns);
}

size_t plm_lf_records(plm_mock *m, plm_mock_record **out)
{
    size_t n = plm_mock_get_records(m, out);
    if (n > 1)
        qsort(*out, n, sizeof **out, by_arrival);
    return n;
}

size_t plm_lf_max_in_window(const plm_mock_record *r, size_t n,
                            int64_t window_ns)
{
    size_t best = 0, lo = 0;

    for (size_t hi = 0; hi < n; hi++) {
        while (r[hi].arrival_ns - r[lo].arrival_ns >= window_ns)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}
