/*
 * The metrics store and its Prometheus text exposition: label escaping,
 * cumulative buckets with _sum and _count, the cap on label sets, the
 * quantile estimate, and the whole text accepted by `promtool check
 * metrics` (skipped only where promtool is not installed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "test_util.h"

static char *render(const plm__metrics *m)
{
    plm__metrics_gauges g;
    plm__metrics_endpoint ep[1];
    plm__buf b = { NULL, 0, 0 };

    memset(&g, 0, sizeof g);
    memset(ep, 0, sizeof ep);
    ep[0].provider = PLM_PROVIDER_OPENAI;
    ep[0].model = "gpt\"x";
    ep[0].remaining_requests = 12;
    ep[0].remaining_tokens = -1;
    ep[0].breaker_state = 1;
    g.in_flight = 3;
    g.waiting = 4;
    g.concurrency_limit = 5;
    g.endpoints = ep;
    g.nendpoints = 1;
    assert_int_equal(plm__metrics_render(m, &g, &b), PLM_OK);
    assert_non_null(b.data);
    return b.data;
}

static void test_metrics__escaping(void **state)
{
    plm__buf b = { NULL, 0, 0 };
    (void)state;
    assert_int_equal(plm__metrics_escape(&b, "a\\b\"c\nd"), PLM_OK);
    assert_string_equal(b.data, "a\\\\b\\\"c\\nd");
    plm__buf_free(&b);
}

static void test_metrics__histogram_cumulative(void **state)
{
    plm__metrics m;
    plm__series *s;
    char *text;
    (void)state;

    memset(&m, 0, sizeof m);
    s = plm__metrics_series(&m, PLM_PROVIDER_OPENAI, "m\\1\n\"q\"");
    assert_non_null(s);
    plm__hist_observe(&s->duration[PLM_CLASS_NONE], 0.004); /* <= 0.005 */
    plm__hist_observe(&s->duration[PLM_CLASS_NONE], 0.005); /* le is <= */
    plm__hist_observe(&s->duration[PLM_CLASS_NONE], 0.3);
    plm__hist_observe(&s->duration[PLM_CLASS_NONE], 700); /* +Inf only */
    s->requests[PLM_CLASS_NONE] = 4;
    text = render(&m);
    assert_non_null(strstr(
        text, "parallm_llm_request_duration_seconds_bucket{provider=\"openai\","
              "model=\"m\\\\1\\n\\\"q\\\"\",class=\"none\",le=\"0.005\"} 2\n"));
    assert_non_null(strstr(text, "class=\"none\",le=\"0.25\"} 2\n"));
    assert_non_null(strstr(text, "class=\"none\",le=\"0.5\"} 3\n"));
    assert_non_null(strstr(text, "class=\"none\",le=\"600\"} 3\n"));
    assert_non_null(strstr(text, "class=\"none\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text,
                           "parallm_llm_request_duration_seconds_sum{"
                           "provider=\"openai\",model=\"m\\\\1\\n\\\"q\\\""
                           "\",class=\"none\"} 700.309\n"));
    assert_non_null(strstr(text,
                           "parallm_llm_request_duration_seconds_count{"
                           "provider=\"openai\",model=\"m\\\\1\\n\\\"q\\\""
                           "\",class=\"none\"} 4\n"));
    assert_non_null(strstr(text, "parallm_llm_requests_total{provider=\"openai"
                                 "\",model=\"m\\\\1\\n\\\"q\\\"\",class=\"none"
                                 "\"} 4\n"));
    assert_non_null(strstr(text, "parallm_llm_in_flight 3\n"));
    assert_non_null(strstr(text, "parallm_llm_concurrency_limit 5\n"));
    assert_non_null(strstr(text,
                           "parallm_llm_budget_remaining_requests{"
                           "provider=\"openai\",model=\"gpt\\\"x\"} 12\n"));
    /* An unknown remaining is left out, not shown as -1. */
    assert_null(strstr(text, "parallm_llm_budget_remaining_tokens{"));
    assert_non_null(strstr(text, "parallm_llm_breaker_state{provider=\"openai"
                                 "\",model=\"gpt\\\"x\"} 1\n"));
    free(text);
    plm__metrics_clear(&m);
}

static void test_metrics__labels_are_capped(void **state)
{
    plm__metrics m;
    plm__series *first = NULL, *other, *again;
    char name[32];
    int i;
    (void)state;

    memset(&m, 0, sizeof m);
    for (i = 0; i < PLM__METRICS_MAX_MODELS; i++) {
        snprintf(name, sizeof name, "model-%d", i);
        plm__series *s = plm__metrics_series(&m, PLM_PROVIDER_OPENAI, name);
        assert_non_null(s);
        assert_string_equal(s->model, name);
        if (i == 0)
            first = s;
    }
    other = plm__metrics_series(&m, PLM_PROVIDER_OPENAI, "one-too-many");
    assert_string_equal(other->model, "other");
    assert_ptr_equal(plm__metrics_series(&m, PLM_PROVIDER_OPENAI, "and-more"),
                     other);
    /* A model seen before the cap keeps its own series. */
    again = plm__metrics_series(&m, PLM_PROVIDER_OPENAI, "model-0");
    assert_ptr_equal(again, first);
    assert_int_equal(m.n, PLM__METRICS_MAX_MODELS + 1);
    /* Bytes that are not UTF-8 never reach a label. */
    plm__metrics_clear(&m);
    other = plm__metrics_series(&m, PLM_PROVIDER_OPENAI, "a\xff\x01z\xc3\xa9");
    assert_string_equal(other->model, "a??z\xc3\xa9");
    plm__metrics_clear(&m);
}

static void test_metrics__quantile(void **state)
{
    plm__hist h;
    int i;
    (void)state;
    memset(&h, 0, sizeof h);
    assert_true(plm__hist_quantile(&h, 0.5) < 0);
    for (i = 0; i < 100; i++)
        plm__hist_observe(&h, i < 90 ? 0.2 : 4);
    /* 90 in (0.1, 0.25], 10 in (2.5, 5]. */
    assert_true(plm__hist_quantile(&h, 0.5) > 0.1);
    assert_true(plm__hist_quantile(&h, 0.5) <= 0.25);
    assert_true(plm__hist_quantile(&h, 0.95) > 2.5);
    assert_true(plm__hist_quantile(&h, 0.95) <= 5);
}

static void test_metrics__promtool_accepts(void **state)
{
    plm__metrics m;
    plm__series *s, *a;
    char dir[512], path[600], cmd[800];
    char *text;
    FILE *f;
    int rc;
    (void)state;

    if (system("command -v promtool >/dev/null 2>&1") != 0)
        skip();
    memset(&m, 0, sizeof m);
    s = plm__metrics_series(&m, PLM_PROVIDER_OPENAI, "gpt-4o \"mini\"\n\\");
    a = plm__metrics_series(&m, PLM_PROVIDER_ANTHROPIC, "claude");
    plm__hist_observe(&s->duration[PLM_CLASS_NONE], 0.12);
    plm__hist_observe(&s->duration[PLM_CLASS_RATE_LIMITED], 3);
    plm__hist_observe(&s->ttfb, 0.05);
    plm__hist_observe(&m.batch, 12);
    s->requests[PLM_CLASS_NONE] = 1;
    s->requests[PLM_CLASS_RATE_LIMITED] = 1;
    s->attempts[PLM_CLASS_RATE_LIMITED] = 2;
    s->retries[PLM_WAIT_RETRY_AFTER] = 1;
    s->rate_limited = 2;
    s->tokens[0] = 10;
    s->tokens[1] = 20;
    a->requests[PLM_CLASS_SERVER] = 1;
    text = render(&m);
    assert_int_equal(plm_test_tmpdir("metrics", dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/metrics.prom", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", path);
    rc = system(cmd);
    plm_test_rmtree(dir);
    free(text);
    plm__metrics_clear(&m);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics__escaping),
        cmocka_unit_test(test_metrics__histogram_cumulative),
        cmocka_unit_test(test_metrics__labels_are_capped),
        cmocka_unit_test(test_metrics__quantile),
        cmocka_unit_test(test_metrics__promtool_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
