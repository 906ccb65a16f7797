/*
 * One shared client under load from many threads (also run under
 * ThreadSanitizer, label "threads"): 64 threads x 200 calls mixing
 * plm_complete, submits with handles and detached submits, with random
 * cancellations (some of requests the mock never answers), then the
 * client freed while every thread still has calls outstanding. Every call
 * is answered exactly once, each answer is its own request's, and nothing
 * leaks (ASan) or races (TSan).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "limits_fixture.h"
#include "parallm.h"

#define THREADS 64
#define CALLS 200
#define MODEL "stress-model"
#define HANG " [mock fault=hang]"

/* One call's record: its request, what it expects, how often its
 * callback ran. */
typedef struct slot {
    plm_request *req;
    char text[64];
    int hangs;
    atomic_int callbacks;
    atomic_int bad;
} slot;

static atomic_int g_detached_left;

static void check_answer(slot *s, const plm_result *res)
{
    char want[96];
    int code;

    if (!res) {
        atomic_fetch_add(&s->bad, 1);
        return;
    }
    code = plm_result_code(res);
    snprintf(want, sizeof want, "mock reply: %s", s->text);
    if (code == PLM_OK) {
        if (s->hangs || !plm_result_content(res) ||
            strcmp(plm_result_content(res), want) != 0)
            atomic_fetch_add(&s->bad, 1);
    } else if (code != PLM_ECANCELLED) {
        atomic_fetch_add(&s->bad, 1);
    }
    if (plm_result_user_data(res) != s)
        atomic_fetch_add(&s->bad, 1);
}

static void on_done(plm_call *call, void *user_data)
{
    slot *s = user_data;
    check_answer(s, plm_call_result(call));
    atomic_fetch_add(&s->callbacks, 1);
}

static void on_detached_done(plm_call *call, void *user_data)
{
    on_done(call, user_data);
    atomic_fetch_sub(&g_detached_left, 1);
}

typedef struct worker {
    plm_client *client;
    int id;
    unsigned seed;
    slot slots[CALLS + 2];
    plm_call *parked;
    atomic_int *parked_count;
} worker;

static slot *make_slot(worker *w, int i, int hangs)
{
    slot *s = &w->slots[i];
    snprintf(s->text, sizeof s->text, "t%d c%d", w->id, i);
    s->hangs = hangs;
    s->req = plm_lf_chat(MODEL, hangs ? "hang" HANG : s->text, 8);
    plm_request_set_user_data(s->req, s);
    return s;
}

static void one_call(worker *w, int i)
{
    unsigned r = (unsigned)rand_r(&w->seed);
    int hangs = r % 10 == 0; /* answered never: must be cancelled */
    slot *s = make_slot(w, i, hangs);
    plm_call *call = NULL;

    switch (hangs ? 1 + r % 2 : r % 4) {
    case 0: { /* blocking */
        plm_result *res = NULL;
        int rc = plm_complete(w->client, s->req, &res);
        check_answer(s, res);
        if (!res || rc != plm_result_code(res))
            atomic_fetch_add(&s->bad, 1);
        atomic_fetch_add(&s->callbacks, 1);
        plm_result_free(res);
        break;
    }
    case 1: /* handle, cancelled at once or after a short wait */
        if (plm_submit(w->client, s->req, on_done, s, &call) != PLM_OK) {
            atomic_fetch_add(&s->bad, 1);
            break;
        }
        if (r % 3 == 0)
            plm_call_wait(call, 1);
        plm_call_cancel(call);
        plm_call_wait(call, -1);
        plm_call_free(call);
        break;
    case 2: /* handle freed unfinished: cancels it, callback still runs */
        if (plm_submit(w->client, s->req, on_done, s, &call) != PLM_OK) {
            atomic_fetch_add(&s->bad, 1);
            break;
        }
        plm_call_free(call);
        break;
    default: /* waited for */
        if (plm_submit(w->client, s->req, on_done, s, &call) != PLM_OK) {
            atomic_fetch_add(&s->bad, 1);
            break;
        }
        plm_call_wait(call, -1);
        plm_call_free(call);
        break;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    slot *s;
    int i;

    for (i = 0; i < CALLS; i++)
        one_call(w, i);
    /* Two calls left outstanding for plm_client_free: one detached, one
     * waited on through its handle. */
    s = make_slot(w, CALLS, 1);
    atomic_fetch_add(&g_detached_left, 1);
    if (plm_submit(w->client, s->req, on_detached_done, s, NULL) != PLM_OK)
        atomic_fetch_add(&s->bad, 1);
    s = make_slot(w, CALLS + 1, 1);
    if (plm_submit(w->client, s->req, on_done, s, &w->parked) != PLM_OK)
        atomic_fetch_add(&s->bad, 1);
    atomic_fetch_add(w->parked_count, 1);
    plm_call_wait(w->parked, -1);
    return NULL;
}

static void test_async_stress__threads_cancel_and_free(void **state)
{
    static worker w[THREADS];
    plm_mock_options mo;
    plm_start_options so = PLM_START_OPTIONS_INIT;
    plm_mock *m;
    plm_client *c;
    pthread_t th[THREADS];
    atomic_int parked = 0;
    plm_mock_stats ms;
    struct timespec t0, now;
    int i, j;
    (void)state;

    memset(&mo, 0, sizeof mo);
    mo.latency_ms = 1;
    mo.jitter_ms = 2;
    m = plm_lf_mock(&mo);
    c = plm_lf_client(m, NULL);
    /* Room for every parked call on the wire at once, and more. */
    so.max_concurrent = 3 * THREADS;
    assert_int_equal(plm_client_start(c, &so), PLM_OK);
    atomic_store(&g_detached_left, 0);
    for (i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].client = c;
        w[i].id = i;
        w[i].seed = 1000u + (unsigned)i;
        w[i].parked_count = &parked;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    /* Free the client once every thread parked its last calls and the
     * mock holds all of them (they never get an answer). */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        plm_mock_get_stats(m, &ms);
        if (atomic_load(&parked) == THREADS && ms.in_flight >= 2 * THREADS)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        assert_true(now.tv_sec - t0.tv_sec < 240);
        sched_yield();
    }
    plm_client_free(c);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&g_detached_left), 0);
    for (i = 0; i < THREADS; i++) {
        for (j = 0; j < CALLS + 2; j++) {
            slot *s = &w[i].slots[j];
            assert_int_equal(atomic_load(&s->callbacks), 1);
            assert_int_equal(atomic_load(&s->bad), 0);
            plm_request_free(s->req);
        }
        assert_int_equal(plm_result_code(plm_call_result(w[i].parked)),
                         PLM_ECANCELLED);
        plm_call_free(w[i].parked);
    }
    plm_mock_release_hung(m);
    plm_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_stress__threads_cancel_and_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
