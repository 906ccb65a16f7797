/*
 * The streaming engine (plm_client_run) against the mock: retries and
 * their spacing, what is never retried, interrupts from a callback and
 * from another thread, deadlines, ticks, statistics, both providers, the
 * batch log line and that the API key never shows.
 */
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine_fixture.h"
#include "test_util.h"

/* A source over an array, and completions kept by position of arrival. */
typedef struct feed {
    plm_request **reqs;
    size_t n, next;
    plm_result *done[64];
    plm_request *done_req[64];
    size_t ndone;
    plm_client *client;
    int interrupt_after; /* interrupt at this many completions (0: no) */
    int interrupt_level;
    int notify_fd; /* written when the source hands one over */
    int ticks;
    uint64_t max_in_flight_ticked;
    int nested_rc;
    size_t flushes, flushed_at, first_flush_at;
    int flush_fails; /* the flush fails once completions were seen */
} feed;

static int feed_source(plm_request **out, void *user_data)
{
    feed *f = user_data;
    if (f->next >= f->n)
        return 0;
    *out = f->reqs[f->next++];
    if (f->notify_fd >= 0) {
        char c = 1;
        assert_int_equal(write(f->notify_fd, &c, 1), 1);
    }
    return 1;
}

static int feed_complete(plm_request *req, plm_result *res, void *user_data)
{
    feed *f = user_data;
    assert_true(f->ndone < 64);
    f->done_req[f->ndone] = req;
    f->done[f->ndone++] = res;
    if (f->interrupt_after && (int)f->ndone == f->interrupt_after)
        plm_client_interrupt(f->client, f->interrupt_level);
    return 0;
}

static void feed_init(feed *f, plm_client *c, plm_request **reqs, size_t n)
{
    memset(f, 0, sizeof *f);
    f->reqs = reqs;
    f->n = n;
    f->client = c;
    f->notify_fd = -1;
}

static void feed_free(feed *f)
{
    size_t i;
    for (i = 0; i < f->ndone; i++)
        plm_result_free(f->done[i]);
    for (i = 0; i < f->n; i++)
        plm_request_free(f->reqs[i]);
}

static plm_run_options ropts(int max_concurrent, int64_t timeout_ms)
{
    plm_run_options o;
    memset(&o, 0, sizeof o);
    o.version = PLM_RUN_OPTIONS_VERSION;
    o.max_concurrent = max_concurrent;
    o.timeout_ms = timeout_ms;
    return o;
}

static size_t mock_requests(plm_fx *fx)
{
    plm_mock_stats ms;
    plm_mock_get_stats(fx->mock, &ms);
    return (size_t)ms.requests;
}

static void test_engine__retries_through_429_and_5xx(void **state)
{
    plm_fx fx;
    plm_request *reqs[3];
    feed f;
    plm_run_options o = ropts(0, 0);
    plm_stats st;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI,
                          "r429 [mock status=429 times=2 key=a]");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI,
                          "r500 [mock status=500 times=1 key=b]");
    reqs[2] = plm_fx_chat(PLM_PROVIDER_OPENAI,
                          "r503 [mock status=503 times=3 key=c]");
    feed_init(&f, fx.client, reqs, 3);
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_int_equal(f.ndone, 3);
    for (size_t i = 0; i < 3; i++) {
        plm_result *r = f.done[i];
        assert_int_equal(plm_result_code(r), PLM_OK);
        if (f.done_req[i] == reqs[0])
            assert_int_equal(plm_result_attempts(r), 3);
        else if (f.done_req[i] == reqs[1])
            assert_int_equal(plm_result_attempts(r), 2);
        else
            assert_int_equal(plm_result_attempts(r), 4);
    }
    assert_int_equal(mock_requests(&fx), 9);
    plm_client_stats(fx.client, &st);
    assert_int_equal(st.submitted, 3);
    assert_int_equal(st.completed, 3);
    assert_int_equal(st.succeeded, 3);
    assert_int_equal(st.attempts, 9);
    assert_int_equal(st.retries, 6);
    assert_int_equal(st.rate_limited, 2);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.completion_tokens, 24);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__retries_exhausted(void **state)
{
    plm_fx fx;
    plm_request *reqs[1];
    feed f;
    plm_run_options o = ropts(0, 0);
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock status=500]");
    plm_request_set_max_retries(reqs[0], 2);
    feed_init(&f, fx.client, reqs, 1);
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_int_equal(plm_result_code(f.done[0]), PLM_ESERVER);
    assert_int_equal(plm_result_attempts(f.done[0]), 3);
    assert_int_equal(mock_requests(&fx), 3);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__retry_after_is_honoured(void **state)
{
    plm_fx fx;
    plm_request *reqs[1];
    feed f;
    plm_run_options o = ropts(0, 0);
    plm_mock_record *recs = NULL;
    size_t n;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI,
                          "[mock status=429 times=2 retry_after=0.3]");
    feed_init(&f, fx.client, reqs, 1);
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_int_equal(plm_result_code(f.done[0]), PLM_OK);
    n = plm_mock_get_records(fx.mock, &recs);
    assert_int_equal(n, 3);
    /* The client waited at least Retry-After after each 429 went out
     * (backoff alone would be at most 20 ms here). */
    assert_true(recs[1].arrival_ns - recs[0].done_ns >= 300000000LL);
    assert_true(recs[2].arrival_ns - recs[1].done_ns >= 300000000LL);
    plm_mock_records_free(recs, n);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__not_retried(void **state)
{
    static const char *texts[] = {
        "[mock status=400]",
        "[mock status=429 error_code=insufficient_quota]",
        "[mock status=401]",
    };
    static const int codes[] = { PLM_EBADREQUEST, PLM_EQUOTA, PLM_EAUTH };
    /* A spent quota or a rejected key stops the run with its code. */
    static const int run_codes[] = { PLM_OK, PLM_EQUOTA, PLM_EAUTH };
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        plm_fx fx;
        plm_request *reqs[1];
        feed f;
        plm_run_options o = ropts(0, 0);

        plm_fx_start(&fx, NULL, NULL);
        reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, texts[i]);
        feed_init(&f, fx.client, reqs, 1);
        assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete,
                                        &o, &f),
                         run_codes[i]);
        assert_int_equal(plm_result_code(f.done[0]), codes[i]);
        assert_int_equal(plm_result_attempts(f.done[0]), 1);
        assert_int_equal(mock_requests(&fx), 1);
        assert_false(plm_fx_key_leaked(&fx, f.done, f.ndone));
        feed_free(&f);
        plm_fx_stop(&fx);
    }
}

static void test_engine__per_request_timeout(void **state)
{
    plm_fx fx;
    plm_request *reqs[1];
    feed f;
    plm_run_options o = ropts(0, 0);
    int64_t t0;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    plm_request_set_timeout_ms(reqs[0], 200);
    plm_request_set_max_retries(reqs[0], 1);
    feed_init(&f, fx.client, reqs, 1);
    t0 = plm_test_now_ns();
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_true(plm_test_now_ns() - t0 >= 400000000LL);
    assert_int_equal(plm_result_code(f.done[0]), PLM_ETIMEOUT);
    assert_int_equal(plm_result_error_class(f.done[0]), PLM_CLASS_TIMEOUT);
    assert_int_equal(plm_result_attempts(f.done[0]), 2);
    assert_int_equal(mock_requests(&fx), 2);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__run_deadline(void **state)
{
    plm_fx fx;
    plm_request *reqs[2];
    feed f;
    plm_run_options o = ropts(1, 300);
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "never");
    feed_init(&f, fx.client, reqs, 2);
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_ETIMEOUT);
    /* The second was never taken from the source, so not completed. */
    assert_int_equal(f.ndone, 1);
    assert_int_equal(plm_result_code(f.done[0]), PLM_ETIMEOUT);
    assert_int_equal(plm_result_started(f.done[0]), 1);
    assert_int_equal(f.next, 1);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__interrupt_level_1_finishes_in_flight(void **state)
{
    plm_fx fx;
    plm_request *reqs[6];
    feed f;
    plm_run_options o = ropts(2, 0);
    size_t i;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "first");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "slow [mock latency=300]");
    for (i = 2; i < 6; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "later");
    feed_init(&f, fx.client, reqs, 6);
    f.interrupt_after = 1;
    f.interrupt_level = 1;
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_ECANCELLED);
    assert_int_equal(f.ndone, 2);
    assert_true(plm_fx_reply_is(f.done[1], "slow [mock latency=300]"));
    assert_int_equal(f.next, 2);
    assert_int_equal(mock_requests(&fx), 2);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__interrupt_level_1_no_new_retries(void **state)
{
    plm_fx fx;
    plm_request *reqs[2];
    feed f;
    plm_run_options o = ropts(2, 0);
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "first");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI,
                          "[mock latency=200 status=500 times=1]");
    feed_init(&f, fx.client, reqs, 2);
    f.interrupt_after = 1;
    f.interrupt_level = 1;
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_ECANCELLED);
    assert_int_equal(f.ndone, 2);
    /* Its attempt finished with a retryable 500 after the interrupt: no
     * retry, and it says cancelled. */
    assert_int_equal(plm_result_code(f.done[1]), PLM_ECANCELLED);
    assert_int_equal(plm_result_attempts(f.done[1]), 1);
    assert_int_equal(plm_result_http_status(f.done[1]), 500);
    assert_int_equal(mock_requests(&fx), 2);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__interrupt_level_2_cancels(void **state)
{
    plm_fx fx;
    plm_request *reqs[2];
    feed f;
    plm_run_options o = ropts(2, 0);
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "first");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    feed_init(&f, fx.client, reqs, 2);
    f.interrupt_after = 1;
    f.interrupt_level = 2;
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_ECANCELLED);
    assert_int_equal(f.ndone, 2);
    assert_int_equal(plm_result_code(f.done[1]), PLM_ECANCELLED);
    assert_int_equal(plm_result_started(f.done[1]), 1);
    feed_free(&f);
    plm_fx_stop(&fx);
}

typedef struct interrupter {
    plm_client *client;
    int fd;
    int by_signal;
    pthread_t target;
} interrupter;

static plm_client *signal_client;

static void on_sigusr1(int sig)
{
    (void)sig;
    plm_client_interrupt(signal_client, 2);
}

static void *interrupt_thread(void *arg)
{
    interrupter *it = arg;
    char c;
    /* Wait until the run has taken the hanging request. */
    if (read(it->fd, &c, 1) != 1)
        return NULL;
    if (it->by_signal)
        pthread_kill(it->target, SIGUSR1);
    else
        plm_client_interrupt(it->client, 2);
    return NULL;
}

static void interrupt_async(int by_signal)
{
    plm_fx fx;
    plm_request *reqs[1];
    feed f;
    plm_run_options o = ropts(0, 0);
    interrupter it;
    pthread_t th;
    struct sigaction sa, old;
    int fds[2], code;

    plm_fx_start(&fx, NULL, NULL);
    assert_int_equal(pipe(fds), 0);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    feed_init(&f, fx.client, reqs, 1);
    f.notify_fd = fds[1];
    it.client = fx.client;
    it.fd = fds[0];
    it.by_signal = by_signal;
    it.target = pthread_self();
    signal_client = fx.client;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    assert_int_equal(pthread_create(&th, NULL, interrupt_thread, &it), 0);
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_ECANCELLED);
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
    assert_int_equal(f.ndone, 1);
    code = plm_result_code(f.done[0]);
    /* Taken, and either on the wire or about to be. */
    assert_true(code == PLM_ECANCELLED || code == PLM_ENOTSTARTED);
    close(fds[0]);
    close(fds[1]);
    /* No run: a no-op. */
    plm_client_interrupt(fx.client, 2);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__interrupt_from_another_thread(void **state)
{
    (void)state;
    interrupt_async(0);
}

static void test_engine__interrupt_from_signal_handler(void **state)
{
    (void)state;
    interrupt_async(1);
}

static int abort_complete(plm_request *req, plm_result *res, void *user_data)
{
    feed_complete(req, res, user_data);
    return plm_result_code(res) == PLM_OK ? 1 : 0;
}

static void test_engine__callback_abort(void **state)
{
    plm_fx fx;
    plm_request *reqs[4];
    feed f;
    plm_run_options o = ropts(2, 0);
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "quick");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock fault=hang]");
    reqs[2] = plm_fx_chat(PLM_PROVIDER_OPENAI, "x");
    reqs[3] = plm_fx_chat(PLM_PROVIDER_OPENAI, "y");
    feed_init(&f, fx.client, reqs, 4);
    assert_int_equal(plm_client_run(fx.client, feed_source, abort_complete, &o,
                                    &f),
                     PLM_EABORTED);
    assert_int_equal(f.ndone, 2);
    assert_int_equal(plm_result_code(f.done[1]), PLM_ECANCELLED);
    assert_int_equal(f.next, 2);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static int nested_complete(plm_request *req, plm_result *res, void *user_data)
{
    feed *f = user_data;
    plm_run_options o = ropts(0, 0);
    f->nested_rc = plm_client_run(f->client, feed_source, feed_complete, &o, f);
    return feed_complete(req, res, user_data);
}

static void tick_fn(const plm_stats *st, void *user_data)
{
    feed *f = user_data;
    f->ticks++;
    if (st->in_flight > f->max_in_flight_ticked)
        f->max_in_flight_ticked = st->in_flight;
}

static void test_engine__ticks_and_state_checks(void **state)
{
    plm_fx fx;
    plm_request *reqs[1];
    feed f;
    plm_run_options o = ropts(0, 0);
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock latency=200]");
    feed_init(&f, fx.client, reqs, 1);
    o.tick = tick_fn;
    o.tick_ms = 10;
    assert_int_equal(plm_client_run(fx.client, feed_source, nested_complete, &o,
                                    &f),
                     PLM_OK);
    assert_int_equal(f.nested_rc, PLM_ESTATE);
    assert_true(f.ticks >= 2);
    assert_int_equal(f.max_in_flight_ticked, 1);
    o.max_concurrent = -1;
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_EINVAL);
    assert_int_equal(plm_client_run(NULL, feed_source, feed_complete, &o, &f),
                     PLM_EINVAL);
    assert_int_equal(f.ndone, 1);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static int flush_fn(void *user_data)
{
    feed *f = user_data;
    if (f->ndone && !f->first_flush_at)
        f->first_flush_at = f->ndone;
    f->flushes++;
    f->flushed_at = f->ndone;
    return f->flush_fails && f->ndone > 0;
}

/* The flush comes at the end of each round: a quick answer is flushed
 * while a slow one is still out, and every completion is flushed before
 * the run returns, an abort's cancellations included. */
static void test_engine__flush_each_round(void **state)
{
    plm_fx fx;
    plm_request *reqs[2];
    feed f;
    plm_run_options o = ropts(0, 0);
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    for (int fails = 0; fails <= 1; fails++) {
        reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "quick");
        reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock latency=300]");
        feed_init(&f, fx.client, reqs, 2);
        f.flush_fails = fails;
        o.flush = flush_fn;
        assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete,
                                        &o, &f),
                         fails ? PLM_EABORTED : PLM_OK);
        assert_int_equal(f.ndone, 2);
        assert_int_equal(f.first_flush_at, 1); /* the quick one, alone */
        assert_int_equal(f.flushed_at, 2);     /* nothing left unflushed */
        assert_true(f.flushes >= 2);
        assert_int_equal(plm_result_code(f.done[0]), PLM_OK);
        assert_int_equal(plm_result_code(f.done[1]),
                         fails ? PLM_ECANCELLED : PLM_OK);
        feed_free(&f);
    }
    plm_fx_stop(&fx);
}

static void test_engine__anthropic(void **state)
{
    plm_fx fx;
    plm_request *reqs[1];
    feed f;
    plm_run_options o = ropts(0, 0);
    plm_mock_record *recs = NULL;
    size_t n;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_ANTHROPIC, "hello claude");
    feed_init(&f, fx.client, reqs, 1);
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_true(plm_fx_reply_is(f.done[0], "hello claude"));
    n = plm_mock_get_records(fx.mock, &recs);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].path, "/v1/messages");
    assert_non_null(recs[0].api_key);
    assert_string_equal(recs[0].api_key, PLM_FX_KEY);
    assert_non_null(recs[0].anthropic_version);
    plm_mock_records_free(recs, n);
    feed_free(&f);
    plm_fx_stop(&fx);
}

static void test_engine__key_never_in_messages(void **state)
{
    plm_fx fx;
    plm_client *refused = NULL;
    plm_client_options co;
    plm_request *reqs[3];
    feed f;
    plm_run_options o = ropts(0, 0);
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock status=401]");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_ANTHROPIC, "[mock status=403]");
    reqs[2] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock status=500]");
    feed_init(&f, fx.client, reqs, 3);
    /* The first 401 stops the run (stop_on_fatal). */
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_EAUTH);
    assert_false(plm_fx_key_leaked(&fx, f.done, f.ndone));
    feed_free(&f);

    /* Connection refused: a port that was just closed. */
    memset(&co, 0, sizeof co);
    co.version = PLM_CLIENT_OPTIONS_VERSION;
    co.openai_api_key = PLM_FX_KEY;
    co.openai_base_url = "http://127.0.0.1:1/v1/";
    co.max_retries = -1;
    assert_int_equal(plm_client_new(&refused, &co), PLM_OK);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "x");
    feed_init(&f, refused, reqs, 1);
    assert_int_equal(plm_client_run(refused, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_int_equal(plm_result_code(f.done[0]), PLM_ENETWORK);
    assert_null(strstr(plm_result_error_message(f.done[0]), PLM_FX_KEY));
    feed_free(&f);
    plm_client_free(refused);
    plm_fx_stop(&fx);
}

static void test_engine__batch_log_line(void **state)
{
    plm_fx fx;
    plm_client_options co;
    plm_request *reqs[3];
    feed f;
    plm_run_options o = ropts(0, 0);
    regex_t re;
    size_t i, found = 0;
    (void)state;

    memset(&co, 0, sizeof co);
    co.log_batches = 1;
    plm_fx_start(&fx, NULL, &co);
    assert_int_equal(regcomp(&re,
                             "^Executed 3 LLM requests in parallel: "
                             "[0-9]+\\.[0-9]{2}s \\(avg: [0-9]+\\.[0-9]{2}s "
                             "per request\\)$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    for (i = 0; i < 3; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "x");
    feed_init(&f, fx.client, reqs, 3);
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    for (i = 0; i < fx.nlog; i++)
        if (regexec(&re, fx.log_lines[i], 0, NULL, 0) == 0)
            found++;
    assert_int_equal(found, 1);
    regfree(&re);
    feed_free(&f);

    /* An empty run: N = 0 and no division by zero. */
    feed_init(&f, fx.client, NULL, 0);
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_true(fx.nlog > 0);
    assert_int_equal(strncmp(fx.log_lines[fx.nlog - 1],
                             "Executed 0 LLM requests in parallel: ", 37),
                     0);
    assert_non_null(
        strstr(fx.log_lines[fx.nlog - 1], "(avg: 0.00s per request)"));
    plm_fx_stop(&fx);
}

/* How many captured log lines start with "Executed <n> LLM requests". */
static size_t count_executed(const plm_fx *fx, size_t from, unsigned n)
{
    char want[64];
    size_t found = 0;

    snprintf(want, sizeof want, "Executed %u LLM requests in parallel: ", n);
    for (size_t i = from; i < fx->nlog; i++)
        if (strncmp(fx->log_lines[i], want, strlen(want)) == 0)
            found++;
    return found;
}

static void test_engine__batch_log_line_counts_the_batch(void **state)
{
    plm_fx fx;
    plm_client_options co;
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    plm_request *reqs[10];
    plm_result *res[10];
    plm_executor *ex = NULL;
    size_t mark;
    (void)state;

    memset(&co, 0, sizeof co);
    co.log_batches = 1;
    plm_fx_start(&fx, NULL, &co);
    /* A batch of 10 cut short by its deadline: one at a time, the first
     * answers far beyond the deadline, so one request completes (as
     * cancelled) and nine never start. The line names the batch. */
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "[mock latency=30000] slow");
    for (size_t i = 1; i < 10; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "x");
    go.max_concurrent = 1;
    go.timeout_ms = 200;
    go.return_errors = 1;
    mark = fx.nlog;
    assert_int_equal(plm_gather(fx.client, reqs, 10, res, &go), PLM_ETIMEOUT);
    assert_int_equal(plm_result_code(res[9]), PLM_ENOTSTARTED);
    assert_int_equal(count_executed(&fx, mark, 10), 1);
    plm_results_free(res, 10);
    for (size_t i = 0; i < 10; i++)
        plm_request_free(reqs[i]);

    /* An empty batch logs "Executed 0", through gather and the executor. */
    mark = fx.nlog;
    assert_int_equal(plm_gather(fx.client, NULL, 0, NULL, NULL), PLM_OK);
    assert_int_equal(count_executed(&fx, mark, 0), 1);
    assert_int_equal(plm_executor_new(&ex, fx.client, NULL), PLM_OK);
    mark = fx.nlog;
    assert_int_equal(plm_executor_run(ex), PLM_OK);
    assert_int_equal(count_executed(&fx, mark, 0), 1);
    plm_executor_free(ex);
    plm_fx_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine__retries_through_429_and_5xx),
        cmocka_unit_test(test_engine__retries_exhausted),
        cmocka_unit_test(test_engine__retry_after_is_honoured),
        cmocka_unit_test(test_engine__not_retried),
        cmocka_unit_test(test_engine__per_request_timeout),
        cmocka_unit_test(test_engine__run_deadline),
        cmocka_unit_test(test_engine__interrupt_level_1_finishes_in_flight),
        cmocka_unit_test(test_engine__interrupt_level_1_no_new_retries),
        cmocka_unit_test(test_engine__interrupt_level_2_cancels),
        cmocka_unit_test(test_engine__interrupt_from_another_thread),
        cmocka_unit_test(test_engine__interrupt_from_signal_handler),
        cmocka_unit_test(test_engine__callback_abort),
        cmocka_unit_test(test_engine__ticks_and_state_checks),
        cmocka_unit_test(test_engine__flush_each_round),
        cmocka_unit_test(test_engine__anthropic),
        cmocka_unit_test(test_engine__key_never_in_messages),
        cmocka_unit_test(test_engine__batch_log_line),
        cmocka_unit_test(test_engine__batch_log_line_counts_the_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
