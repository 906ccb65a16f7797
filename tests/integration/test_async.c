/*
 * A shared client through the mock: asynchronous submits with callbacks
 * and handles, plm_complete from many threads at once, cancellation of
 * one call (queued or on the wire) without touching the others, a client
 * freed with calls outstanding, the caller-driven mode stepped by poll(),
 * and the thread rules (blocking on the engine thread is refused, a batch
 * run needs the client stopped).
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "limits_fixture.h"
#include "parallm.h"

#define MODEL "async-model"
#define HANG "[mock fault=hang]"

typedef struct counter {
    atomic_int calls;
    atomic_int ok;
    atomic_int cancelled;
} counter;

static void count_done(plm_call *call, void *user_data)
{
    counter *k = user_data;
    const plm_result *res = plm_call_result(call);
    assert_non_null(res);
    assert_int_equal(plm_call_done(call), 1);
    atomic_fetch_add(&k->calls, 1);
    if (plm_result_code(res) == PLM_OK)
        atomic_fetch_add(&k->ok, 1);
    if (plm_result_code(res) == PLM_ECANCELLED)
        atomic_fetch_add(&k->cancelled, 1);
}

static void expect_reply(const plm_result *res, const char *text)
{
    char want[128];
    assert_int_equal(plm_result_code(res), PLM_OK);
    snprintf(want, sizeof want, "mock reply: %s", text);
    assert_string_equal(plm_result_content(res), want);
}

static void test_async__submit_wait_and_callbacks(void **state)
{
    enum { N = 20 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *reqs[N];
    plm_call *calls[N];
    char text[N][32];
    counter k;
    plm_stats st;
    int i;
    (void)state;

    memset(&k, 0, sizeof k);
    assert_int_equal(plm_client_start(c, NULL), PLM_OK);
    assert_int_equal(plm_client_start(c, NULL), PLM_ESTATE);
    for (i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "question %d", i);
        reqs[i] = plm_lf_chat(MODEL, text[i], 16);
        assert_int_equal(plm_submit(c, reqs[i], count_done, &k, &calls[i]),
                         PLM_OK);
    }
    for (i = 0; i < N; i++) {
        assert_int_equal(plm_call_wait(calls[i], -1), PLM_OK);
        assert_ptr_equal(plm_call_request(calls[i]), reqs[i]);
        expect_reply(plm_call_result(calls[i]), text[i]);
    }
    /* Waiters go once the callback returned: every count is in. */
    assert_int_equal(atomic_load(&k.calls), N);
    assert_int_equal(atomic_load(&k.ok), N);
    plm_client_stats(c, &st);
    assert_int_equal(st.completed, N);
    assert_int_equal(st.succeeded, N);
    {
        /* A taken result is the caller's; the handle no longer has it. */
        plm_result *r = plm_call_take_result(calls[0]);
        assert_non_null(r);
        assert_null(plm_call_result(calls[0]));
        assert_null(plm_call_take_result(calls[0]));
        plm_result_free(r);
    }
    for (i = 0; i < N; i++) {
        plm_call_free(calls[i]);
        plm_request_free(reqs[i]);
    }
    plm_client_free(c);
    plm_mock_free(m);
}

typedef struct worker {
    plm_client *client;
    int id, calls, failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    int i;
    for (i = 0; i < w->calls; i++) {
        char text[64], want[96];
        plm_request *req;
        plm_result *res = NULL;
        int rc;
        snprintf(text, sizeof text, "thread %d call %d", w->id, i);
        snprintf(want, sizeof want, "mock reply: %s", text);
        req = plm_lf_chat(MODEL, text, 16);
        rc = plm_complete(w->client, req, &res);
        if (rc != PLM_OK || !res || !plm_result_content(res) ||
            strcmp(plm_result_content(res), want) != 0)
            w->failures++;
        plm_result_free(res);
        plm_request_free(req);
    }
    return NULL;
}

static void test_async__complete_from_many_threads(void **state)
{
    enum { THREADS = 16, CALLS = 25, CONC = 6 };
    plm_mock_options mo;
    plm_mock *m;
    plm_client *c;
    plm_start_options so = PLM_START_OPTIONS_INIT;
    pthread_t th[THREADS];
    worker w[THREADS];
    plm_stats st;
    int i;
    (void)state;

    /* The mock answers 429 beyond CONC open requests: one shared limit
     * across every thread means it never has to. */
    memset(&mo, 0, sizeof mo);
    mo.latency_ms = 5;
    mo.max_in_flight = CONC;
    m = plm_lf_mock(&mo);
    c = plm_lf_client(m, NULL);
    so.max_concurrent = CONC;
    assert_int_equal(plm_client_start(c, &so), PLM_OK);
    for (i = 0; i < THREADS; i++) {
        w[i].client = c;
        w[i].id = i;
        w[i].calls = CALLS;
        w[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    plm_client_stats(c, &st);
    assert_int_equal(st.completed, THREADS * CALLS);
    assert_int_equal(st.rate_limited, 0);
    assert_int_equal(st.attempts, THREADS * CALLS);
    assert_int_equal(plm_client_stop(c), PLM_OK);
    assert_int_equal(plm_client_stop(c), PLM_ESTATE);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_async__cancel_one_leaves_the_others(void **state)
{
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_start_options so = PLM_START_OPTIONS_INIT;
    plm_request *hang = plm_lf_chat(MODEL, "wait " HANG, 16);
    plm_request *queued = plm_lf_chat(MODEL, "queued", 16);
    plm_request *fine = plm_lf_chat(MODEL, "fine", 16);
    plm_call *h, *q, *f;
    const plm_result *res;
    (void)state;

    /* One slot: the hanging request holds it, the next one waits. */
    so.max_concurrent = 1;
    assert_int_equal(plm_client_start(c, &so), PLM_OK);
    assert_int_equal(plm_submit(c, hang, NULL, NULL, &h), PLM_OK);
    assert_int_equal(plm_submit(c, queued, NULL, NULL, &q), PLM_OK);
    assert_int_equal(plm_submit(c, fine, NULL, NULL, &f), PLM_OK);
    assert_int_equal(plm_call_wait(q, 100), PLM_ETIMEOUT);

    plm_call_cancel(q);
    assert_int_equal(plm_call_wait(q, -1), PLM_OK);
    res = plm_call_result(q);
    assert_int_equal(plm_result_code(res), PLM_ECANCELLED);
    assert_int_equal(plm_result_started(res), 0);
    assert_int_equal(plm_call_done(h), 0);

    plm_call_cancel(h);
    assert_int_equal(plm_call_wait(h, -1), PLM_OK);
    res = plm_call_result(h);
    assert_int_equal(plm_result_code(res), PLM_ECANCELLED);
    assert_int_equal(plm_result_started(res), 1);

    /* The slot is free again and the last one goes through. */
    assert_int_equal(plm_call_wait(f, -1), PLM_OK);
    expect_reply(plm_call_result(f), "fine");
    /* Cancelling a finished call changes nothing. */
    plm_call_cancel(f);
    assert_int_equal(plm_result_code(plm_call_result(f)), PLM_OK);

    plm_call_free(h);
    plm_call_free(q);
    plm_call_free(f);
    plm_request_free(hang);
    plm_request_free(queued);
    plm_request_free(fine);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_async__free_with_calls_outstanding(void **state)
{
    enum { N = 6 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *reqs[N];
    plm_call *kept[N / 2];
    counter k;
    int i;
    (void)state;

    memset(&k, 0, sizeof k);
    for (i = 0; i < N; i++) {
        reqs[i] = plm_lf_chat(MODEL, "never " HANG, 16);
        /* Half with a handle, half detached: both started lazily. */
        assert_int_equal(plm_submit(c, reqs[i], count_done, &k,
                                    i % 2 ? &kept[i / 2] : NULL),
                         PLM_OK);
    }
    plm_client_free(c);
    assert_int_equal(atomic_load(&k.calls), N);
    assert_int_equal(atomic_load(&k.cancelled), N);
    for (i = 0; i < N / 2; i++) {
        assert_int_equal(plm_call_done(kept[i]), 1);
        assert_int_equal(plm_call_wait(kept[i], -1), PLM_OK);
        assert_int_equal(plm_result_code(plm_call_result(kept[i])),
                         PLM_ECANCELLED);
        plm_call_free(kept[i]);
    }
    for (i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_mock_free(m);
}

typedef struct nested {
    plm_client *client;
    plm_call *other;
    int wait_rc, complete_rc, stop_rc;
} nested;

static void blocking_in_callback(plm_call *call, void *user_data)
{
    nested *n = user_data;
    plm_result *res = NULL;
    (void)call;
    n->wait_rc = plm_call_wait(n->other, -1);
    n->complete_rc = plm_complete(n->client, plm_call_request(call), &res);
    assert_null(res);
    n->stop_rc = plm_client_stop(n->client);
}

static void test_async__blocking_on_the_engine_thread_is_refused(void **state)
{
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *a = plm_lf_chat(MODEL, "a", 16);
    plm_request *b = plm_lf_chat(MODEL, "b " HANG, 16);
    plm_result *res = NULL;
    plm_call *ca, *cb;
    nested n;
    (void)state;

    memset(&n, 0, sizeof n);
    n.client = c;
    assert_int_equal(plm_submit(c, b, NULL, NULL, &cb), PLM_OK);
    n.other = cb;
    assert_int_equal(plm_submit(c, a, blocking_in_callback, &n, &ca), PLM_OK);
    assert_int_equal(plm_call_wait(ca, -1), PLM_OK);
    assert_int_equal(n.wait_rc, PLM_ESTATE);
    assert_int_equal(n.complete_rc, PLM_ESTATE);
    assert_int_equal(n.stop_rc, PLM_ESTATE);

    /* A run needs the whole client: refused while started... */
    assert_int_equal(plm_client_set_metrics(c, 1), PLM_ESTATE);
    /* ...and fine once stopped; the stop cancelled the hanging call. */
    assert_int_equal(plm_client_stop(c), PLM_OK);
    assert_int_equal(plm_result_code(plm_call_result(cb)), PLM_ECANCELLED);
    assert_int_equal(plm_gather(c, &a, 1, &res, NULL), PLM_OK);
    expect_reply(res, "a");
    plm_result_free(res);
    /* And a submit after the stop starts it again. */
    assert_int_equal(plm_complete(c, a, &res), PLM_OK);
    expect_reply(res, "a");
    plm_result_free(res);

    plm_call_free(ca);
    plm_call_free(cb);
    plm_request_free(a);
    plm_request_free(b);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_async__interrupt_cancels_then_serves(void **state)
{
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *hang = plm_lf_chat(MODEL, "h " HANG, 16);
    plm_request *fine = plm_lf_chat(MODEL, "after", 16);
    plm_result *res = NULL;
    plm_call *h;
    (void)state;

    assert_int_equal(plm_submit(c, hang, NULL, NULL, &h), PLM_OK);
    assert_int_equal(plm_call_wait(h, 50), PLM_ETIMEOUT);
    plm_client_interrupt(c, 2);
    assert_int_equal(plm_call_wait(h, -1), PLM_OK);
    assert_int_equal(plm_result_code(plm_call_result(h)), PLM_ECANCELLED);
    assert_int_equal(plm_complete(c, fine, &res), PLM_OK);
    expect_reply(res, "after");
    plm_result_free(res);
    plm_call_free(h);
    plm_request_free(hang);
    plm_request_free(fine);
    plm_client_free(c);
    plm_mock_free(m);
}

typedef struct observer {
    plm_client *client;
    int rc;
    char *text;
    plm_stats st;
} observer;

static void *observe_main(void *arg)
{
    observer *o = arg;
    o->rc = plm_client_metrics_text(o->client, &o->text, NULL);
    plm_client_stats(o->client, &o->st);
    return NULL;
}

static void test_async__metrics_and_stats_from_another_thread(void **state)
{
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *req = plm_lf_chat(MODEL, "count me", 16);
    plm_result *res = NULL;
    pthread_t th;
    observer o;
    (void)state;

    assert_int_equal(plm_complete(c, req, &res), PLM_OK);
    plm_result_free(res);
    memset(&o, 0, sizeof o);
    o.client = c;
    assert_int_equal(pthread_create(&th, NULL, observe_main, &o), 0);
    pthread_join(th, NULL);
    assert_int_equal(o.rc, PLM_OK);
    assert_non_null(strstr(o.text,
                           "parallm_llm_requests_total{provider=\"openai"
                           "\",model=\"" MODEL "\",class=\"none\"} 1\n"));
    assert_int_equal(o.st.completed, 1);
    assert_int_equal(o.st.succeeded, 1);
    free(o.text);
    plm_request_free(req);
    plm_client_free(c);
    plm_mock_free(m);
}

typedef struct stream_seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char text[4096];
    size_t len;
    int deltas;
} stream_seen;

static int on_stream_delta(const plm_delta *d, void *user_data)
{
    stream_seen *s = user_data;
    pthread_mutex_lock(&s->mu);
    if (d->kind == PLM_DELTA_TEXT && s->len + d->text_len < sizeof s->text) {
        memcpy(s->text + s->len, d->text, d->text_len);
        s->len += d->text_len;
        s->text[s->len] = '\0';
    }
    s->deltas++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static plm_request *streamed(const char *text, stream_seen *s)
{
    plm_request *req = plm_lf_chat(MODEL, text, 64);
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    assert_int_equal(plm_request_set_stream(req, 1), PLM_OK);
    assert_int_equal(plm_request_set_delta_callback(req, on_stream_delta, s),
                     PLM_OK);
    return req;
}

static void test_async__streamed_deltas_and_cancel(void **state)
{
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    stream_seen whole, part;
    plm_request *a = streamed("a whole answer, delta by delta, through one "
                              "shared client [mock interval=5]",
                              &whole);
    plm_request *b = streamed("an answer cut off by plm_call_cancel after "
                              "its first piece [mock interval=200]",
                              &part);
    plm_result *res = NULL;
    plm_mock_record *recs = NULL;
    plm_call *call;
    size_t n;
    (void)state;

    /* plm_complete from this thread, deltas on the engine thread. */
    assert_int_equal(plm_complete(c, a, &res), PLM_OK);
    assert_true(whole.deltas > 3);
    assert_string_equal(plm_result_content(res), whole.text);
    assert_true(plm_result_first_token_ns(res) >= 0);
    plm_result_free(res);

    /* A stream cancelled from another thread stops being read at once. */
    assert_int_equal(plm_submit(c, b, NULL, NULL, &call), PLM_OK);
    pthread_mutex_lock(&part.mu);
    while (part.deltas == 0)
        pthread_cond_wait(&part.cv, &part.mu);
    pthread_mutex_unlock(&part.mu);
    plm_call_cancel(call);
    assert_int_equal(plm_call_wait(call, -1), PLM_OK);
    assert_int_equal(plm_result_code(plm_call_result(call)), PLM_ECANCELLED);
    pthread_mutex_lock(&part.mu);
    assert_string_equal(plm_result_content(plm_call_result(call)), part.text);
    pthread_mutex_unlock(&part.mu);
    assert_int_equal(plm_mock_wait_done(m, 2, 10000), 0);
    n = plm_mock_get_records(m, &recs);
    assert_int_equal(n, 2);
    assert_true(recs[1].stream_chunks > 3);
    assert_true(recs[1].stream_chunks_sent < recs[1].stream_chunks);
    plm_mock_records_free(recs, n);
    plm_call_free(call);
    plm_request_free(a);
    plm_request_free(b);
    plm_client_free(c);
    plm_mock_free(m);
}

static void test_async__gather_on_a_started_client(void **state)
{
    enum { N = 6 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    plm_request *reqs[N], *other = plm_lf_chat(MODEL, "other " HANG, 16);
    plm_result *res[N];
    plm_call *busy;
    char text[N][32];
    int i;
    (void)state;

    /* Another caller holds a call on the wire the whole time. */
    assert_int_equal(plm_submit(c, other, NULL, NULL, &busy), PLM_OK);
    for (i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "slot %d", i);
        reqs[i] = plm_lf_chat(MODEL, text[i], 16);
    }
    go.max_concurrent = 2;
    assert_int_equal(plm_gather(c, reqs, N, res, &go), PLM_OK);
    for (i = 0; i < N; i++)
        expect_reply(res[i], text[i]);
    plm_results_free(res, N);
    assert_int_equal(plm_client_run(c, NULL, NULL, NULL, NULL), PLM_EINVAL);

    /* Fail-fast: the 400 stops the batch; the hanging ones are cut (or,
     * not yet sent, say so), and the ones never submitted say so. */
    plm_request_free(reqs[0]);
    plm_request_free(reqs[1]);
    plm_request_free(reqs[2]);
    reqs[0] = plm_lf_chat(MODEL, "bad [mock status=400]", 16);
    reqs[1] = plm_lf_chat(MODEL, "slow " HANG, 16);
    reqs[2] = plm_lf_chat(MODEL, "slower " HANG, 16);
    go.max_concurrent = 3;
    assert_int_equal(plm_gather(c, reqs, N, res, &go), PLM_EBADREQUEST);
    assert_int_equal(plm_result_code(res[0]), PLM_EBADREQUEST);
    for (i = 1; i < 3; i++) {
        if (plm_result_started(res[i]))
            assert_int_equal(plm_result_code(res[i]), PLM_ECANCELLED);
        else
            assert_int_equal(plm_result_code(res[i]), PLM_ENOTSTARTED);
    }
    for (i = 3; i < N; i++) {
        assert_int_equal(plm_result_code(res[i]), PLM_ENOTSTARTED);
        assert_int_equal(plm_result_started(res[i]), 0);
    }
    plm_results_free(res, N);

    /* The deadline: what is on the wire says PLM_ETIMEOUT. Slot 3 is
     * answered before it, with the others on the wire (the deadline is
     * far beyond the mock's answer; the hanging ones never end). */
    go.return_errors = 1;
    go.timeout_ms = 500;
    assert_int_equal(plm_gather(c, reqs, 4, res, &go), PLM_ETIMEOUT);
    assert_int_equal(plm_result_code(res[0]), PLM_EBADREQUEST);
    for (i = 1; i < 3; i++) {
        if (plm_result_started(res[i]))
            assert_int_equal(plm_result_code(res[i]), PLM_ETIMEOUT);
        else
            assert_int_equal(plm_result_code(res[i]), PLM_ENOTSTARTED);
    }
    expect_reply(res[3], "slot 3");
    plm_results_free(res, 4);

    /* The other caller's call was never touched. */
    assert_int_equal(plm_call_done(busy), 0);
    plm_call_free(busy);
    for (i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_request_free(other);
    plm_client_free(c);
    plm_mock_free(m);
}

static plm_client *g_driven;
static int g_stop_in_callback = -1;

static void stop_in_callback(plm_call *call, void *user_data)
{
    g_stop_in_callback = plm_client_stop(g_driven);
    count_done(call, user_data);
}

static void test_async__caller_driven_loop(void **state)
{
    enum { N = 8 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_start_options so = PLM_START_OPTIONS_INIT;
    plm_request *reqs[N];
    plm_result *res = NULL;
    counter k;
    int i, rounds = 0;
    (void)state;

    memset(&k, 0, sizeof k);
    assert_int_equal(plm_client_fd(c), -1);
    assert_int_equal(plm_client_process(c), PLM_ESTATE);
    so.caller_driven = 1;
    assert_int_equal(plm_client_start(c, &so), PLM_OK);
    assert_true(plm_client_fd(c) >= 0);
    g_driven = c;
    for (i = 0; i < N; i++) {
        reqs[i] = plm_lf_chat(MODEL, "driven", 16);
        assert_int_equal(plm_submit(c, reqs[i],
                                    i == 0 ? stop_in_callback : count_done, &k,
                                    NULL),
                         PLM_OK);
    }
    /* Nothing happens until the caller's loop says so. */
    assert_int_equal(atomic_load(&k.calls), 0);
    /* This thread drives the loop: it must not block on it. */
    assert_int_equal(plm_complete(c, reqs[0], &res), PLM_ESTATE);
    while (atomic_load(&k.calls) < N) {
        struct pollfd p;
        int64_t t = plm_client_timeout_ms(c);
        p.fd = plm_client_fd(c);
        p.events = POLLIN;
        p.revents = 0;
        assert_true(poll(&p, 1, t < 0 ? 10000 : (int)t) >= 0);
        assert_int_equal(plm_client_process(c), PLM_OK);
        assert_true(++rounds < 100000);
    }
    assert_int_equal(atomic_load(&k.ok), N);
    /* Inside plm_client_process it cannot stop; outside it can. */
    assert_int_equal(g_stop_in_callback, PLM_ESTATE);
    assert_int_equal(plm_client_stop(c), PLM_OK);
    assert_int_equal(plm_client_fd(c), -1);
    for (i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_client_free(c);
    plm_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async__submit_wait_and_callbacks),
        cmocka_unit_test(test_async__complete_from_many_threads),
        cmocka_unit_test(test_async__cancel_one_leaves_the_others),
        cmocka_unit_test(test_async__free_with_calls_outstanding),
        cmocka_unit_test(test_async__blocking_on_the_engine_thread_is_refused),
        cmocka_unit_test(test_async__interrupt_cancels_then_serves),
        cmocka_unit_test(test_async__metrics_and_stats_from_another_thread),
        cmocka_unit_test(test_async__caller_driven_loop),
        cmocka_unit_test(test_async__streamed_deltas_and_cancel),
        cmocka_unit_test(test_async__gather_on_a_started_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
