/*
 * The circuit breaker as a batch needs it, through the engine with default
 * options where it matters: it never opens on a few failures among many
 * requests in flight, an open breaker holds requests (nothing fails) and
 * releases them when its probe succeeds, and only a dead endpoint (nothing
 * listening: connection refused) ends the work, with the reason in every
 * failed result's message and one warning in the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "breaker.h"
#include "client.h"
#include "limits_fixture.h"
#include "policy.h"
#include "test_util.h"

#define MODEL "hold-model"
#define MS INT64_C(1000000)

typedef struct watch {
    int opened; /* the breaker was seen open */
} watch;

static void watch_breaker(plm_client *c, void *user_data)
{
    watch *w = user_data;
    /* Completions come only from successes, so after the probe: the
     * breaker is then still half-open, ramping up. */
    if (plm__policy_breaker_state(c->policy, PLM_PROVIDER_OPENAI, MODEL) !=
        PLM__BREAKER_CLOSED)
        w->opened = 1;
}

static plm_request **chats(size_t n, const char *fmt_first, size_t first,
                           const char *fmt_rest)
{
    plm_request **reqs = calloc(n, sizeof *reqs);
    char text[96];

    assert_non_null(reqs);
    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof text, i < first ? fmt_first : fmt_rest, i);
        reqs[i] = plm_lf_chat(MODEL, text, 16);
    }
    return reqs;
}

static void test_breaker_hold__blip_among_100_does_not_open(void **state)
{
    enum { N = 400, C = 100 };
    plm_mock_options mo;
    plm_mock *m;
    plm_client *c;
    plm_request **reqs;
    plm_result *res[N];
    watch w = { 0 };
    (void)state;

    /* Five requests fail at once (answered before the others, so their
     * failures come in a row), then succeed on their retry. */
    memset(&mo, 0, sizeof mo);
    mo.latency_ms = 30;
    m = plm_lf_mock(&mo);
    c = plm_lf_client(m, NULL);
    reqs = chats(N, "[mock latency=0 status=500 times=1] blip %zu", 5,
                 "steady %zu");
    assert_int_equal(plm_lf_run(c, reqs, N, res, C, watch_breaker, &w), PLM_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
    assert_false(w.opened);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_breaker_hold__holds_then_releases(void **state)
{
    enum { N = 40, C = 10 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock_options mo;
    plm_mock *m;
    plm_client *c;
    plm_request **reqs;
    plm_result *res[N];
    plm_mock_record *recs = NULL;
    int64_t last_fail = 0, gap = 0;
    size_t n;
    watch w = { 0 };
    (void)state;

    /* All ten in flight fail together (an outage at this concurrency):
     * the breaker opens and holds everything for its cool-down, longer
     * than their backoff, then a probe goes, succeeds, and the rest
     * follow. */
    memset(&mo, 0, sizeof mo);
    mo.latency_ms = 20;
    m = plm_lf_mock(&mo);
    co.breaker_cooldown_ms = 1000;
    c = plm_lf_client(m, &co);
    reqs = chats(N, "[mock status=503 times=1] outage %zu", C, "later %zu");
    assert_int_equal(plm_lf_run(c, reqs, N, res, C, watch_breaker, &w), PLM_OK);
    for (size_t i = 0; i < N; i++)
        if (plm_result_code(res[i]) != PLM_OK)
            fail_msg("request %zu: %s", i, plm_result_error_message(res[i]));
    assert_true(w.opened);
    assert_int_equal(plm__policy_breaker_state(c->policy, PLM_PROVIDER_OPENAI,
                                               MODEL),
                     PLM__BREAKER_CLOSED);
    n = plm_lf_records(m, &recs);
    assert_int_equal(n, N + C);
    /* Nothing went while it was open: the arrivals (sorted) leave a gap
     * of about the cool-down, which the failed requests' own backoff
     * (about 0.5 s) would have filled had they not been held. A fresh
     * request may take a slot freed by a failure before the breaker
     * opens, so the gap is measured between arrivals, not from the last
     * failure. */
    for (size_t i = 0; i < n; i++)
        if (recs[i].status == 503 && recs[i].done_ns > last_fail)
            last_fail = recs[i].done_ns;
    for (size_t i = 1; i < n; i++)
        if (recs[i].arrival_ns - recs[i - 1].arrival_ns > gap)
            gap = recs[i].arrival_ns - recs[i - 1].arrival_ns;
    assert_true(last_fail > 0);
    assert_true(gap >= 900 * MS);
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    plm_mock_free(m);
}

typedef struct log_capture {
    int warnings;
    int dead_warnings;
} log_capture;

static void capture(plm_log_level level, const char *message, void *ud)
{
    log_capture *lc = ud;
    if (level == PLM_LOG_WARN) {
        lc->warnings++;
        if (strstr(message, "unreachable"))
            lc->dead_warnings++;
    }
}

/* A loopback port where nothing listens: bound, never listening, so a
 * connection is refused (and no other test can take it meanwhile). */
static int closed_port(int *fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void test_breaker_hold__dead_endpoint_ends_with_reason(void **state)
{
    enum { N = 300, C = 100 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT; /* defaults */
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    plm_client *c = NULL;
    plm_request **reqs = chats(N, "%zu", 0, "nobody home %zu");
    plm_result *res[N];
    log_capture lc = { 0, 0 };
    char base[64], where[64];
    int fd, port = closed_port(&fd);
    size_t breaker = 0;
    int64_t t0;
    (void)state;

    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(where, sizeof where, "127.0.0.1 port %d", port);
    co.openai_base_url = base;
    co.openai_api_key = "sk-dead-test";
    co.log = capture;
    co.log_user_data = &lc;
    co.log_level = PLM_LOG_WARN;
    assert_int_equal(plm_client_new(&c, &co), PLM_OK);
    go.max_concurrent = C;
    go.return_errors = 1;
    t0 = plm_test_now_ns();
    assert_int_equal(plm_gather(c, reqs, N, res, &go), PLM_OK);
    /* Ended within seconds, not after minutes of probes. */
    assert_true(plm_test_now_ns() - t0 < 30000 * MS);
    for (size_t i = 0; i < N; i++) {
        const char *msg = plm_result_error_message(res[i]);
        assert_int_not_equal(plm_result_code(res[i]), PLM_OK);
        /* Every failure says where and why (curl's words). */
        if (!strstr(msg, where) || !strstr(msg, "connect"))
            fail_msg("request %zu: %s", i, msg);
        if (plm_result_code(res[i]) == PLM_EBREAKER) {
            breaker++;
            assert_non_null(strstr(msg, "unreachable"));
            assert_non_null(strstr(msg, base));
        }
    }
    /* Most never went out: the breaker failed them with the reason. */
    if (breaker < N - C)
        fail_msg("%zu failed by the breaker; request 0: %s; request %d: %s",
                 breaker, plm_result_error_message(res[0]), N - 1,
                 plm_result_error_message(res[N - 1]));
    assert_int_equal(lc.dead_warnings, 1);
    plm_lf_free(reqs, res, N);
    free(reqs);
    plm_client_free(c);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_hold__blip_among_100_does_not_open),
        cmocka_unit_test(test_breaker_hold__holds_then_releases),
        cmocka_unit_test(test_breaker_hold__dead_endpoint_ends_with_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
