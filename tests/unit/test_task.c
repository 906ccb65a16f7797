/*
 * plm_task_gather(): input order, the concurrency bound, fail-fast, the
 * deadline, free_value, nesting and argument checks. Tasks coordinate
 * through one condition variable (a "board" of counters): no test depends
 * on a sleep, and a task that waits for something also stops waiting when
 * its gather is cancelled, so a broken gather ends the test with a failed
 * assertion (via a safety deadline) instead of hanging.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "parallm.h"

/* Long enough never to fire on a healthy run, even under sanitizers. */
#define SAFETY_MS 30000

/* Shared counters guarded by one mutex; every change is broadcast. */
typedef struct board {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int running;     /* tasks inside their function now */
    int max_running; /* the most seen at once */
    int started;     /* tasks that entered their function */
    int returned;    /* tasks that left it */
    int turn;        /* whose turn it is to finish (order test) */
    int finish_order[64];
    int target; /* the gate opens once running reaches this */
    int gate_open;
} board;

static board B;
static atomic_int freed_values;
static atomic_int saw_cancelled; /* set by tasks that must not see it */

static int setup(void **state)
{
    (void)state;
    memset(&B, 0, sizeof(B));
    pthread_mutex_init(&B.mu, NULL);
    pthread_cond_init(&B.cond, NULL);
    atomic_store(&freed_values, 0);
    atomic_store(&saw_cancelled, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_destroy(&B.mu);
    pthread_cond_destroy(&B.cond);
    return 0;
}

/* Waits on B.cond for a short while; the caller holds B.mu and re-checks
 * both its condition and cancellation (which is not signalled on B.cond). */
static void board_wait_a_little(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 5 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&B.cond, &B.mu, &ts);
}

static void enter(void)
{
    pthread_mutex_lock(&B.mu);
    B.started++;
    B.running++;
    if (B.running > B.max_running)
        B.max_running = B.running;
    if (B.target > 0 && B.running >= B.target)
        B.gate_open = 1;
    pthread_cond_broadcast(&B.cond);
    pthread_mutex_unlock(&B.mu);
}

static void leave(void)
{
    pthread_mutex_lock(&B.mu);
    B.running--;
    B.returned++;
    pthread_cond_broadcast(&B.cond);
    pthread_mutex_unlock(&B.mu);
}

/* Blocks until cancelled. */
static void wait_cancelled(plm_task_ctx *ctx)
{
    pthread_mutex_lock(&B.mu);
    while (!plm_task_cancelled(ctx))
        board_wait_a_little();
    pthread_mutex_unlock(&B.mu);
}

static void count_free(void *value)
{
    atomic_fetch_add(&freed_values, 1);
    free(value);
}

/* Runs on worker threads, where cmocka's assertions must not be used. */
static int *new_int(int v)
{
    int *p = malloc(sizeof *p);

    if (!p)
        abort();
    *p = v;
    return p;
}

static plm_gather_options options(int max_concurrent, int return_errors,
                                  int64_t timeout_ms)
{
    plm_gather_options o;

    /* Not PLM_GATHER_OPTIONS_INIT: gcc's -Wextra flags its missing fields. */
    memset(&o, 0, sizeof o);
    o.version = PLM_GATHER_OPTIONS_VERSION;
    o.max_concurrent = max_concurrent;
    o.return_errors = return_errors;
    o.timeout_ms = timeout_ms;
    return o;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- order ---------------------------------------------------------- */

#define ORDER_N 6

/* Task i finishes only after tasks i+1..N-1: reverse completion order. */
static void *reverse_task(void *arg, plm_task_ctx *ctx)
{
    int i = (int)(intptr_t)arg;

    enter();
    pthread_mutex_lock(&B.mu);
    while (B.turn != ORDER_N - 1 - i && !plm_task_cancelled(ctx))
        board_wait_a_little();
    B.finish_order[B.turn++] = i;
    pthread_cond_broadcast(&B.cond);
    pthread_mutex_unlock(&B.mu);
    leave();
    return new_int(i * 10);
}

static void test_task__order_kept_when_later_tasks_finish_first(void **state)
{
    plm_task tasks[ORDER_N];
    plm_task_result res[ORDER_N];
    plm_gather_options o = options(ORDER_N, 0, SAFETY_MS);

    (void)state;
    for (int i = 0; i < ORDER_N; i++)
        tasks[i] = (plm_task){ reverse_task, (void *)(intptr_t)i, free };
    assert_int_equal(plm_task_gather(tasks, ORDER_N, res, &o), PLM_OK);
    for (int i = 0; i < ORDER_N; i++) {
        assert_int_equal(B.finish_order[i], ORDER_N - 1 - i);
        assert_int_equal(res[i].code, PLM_OK);
        assert_int_equal(res[i].started, 1);
        assert_null(res[i].error);
        assert_true(res[i].seconds >= 0.0);
        assert_non_null(res[i].value);
        assert_int_equal(*(int *)res[i].value, i * 10);
        free(res[i].value);
    }
    plm_task_results_clear(res, ORDER_N);
}

static void *until_cancelled_task(void *arg, plm_task_ctx *ctx);

/* ---- the concurrency bound ------------------------------------------ */

/* Holds until the expected number of tasks run at once, then returns. */
static void *gated_task(void *arg, plm_task_ctx *ctx)
{
    enter();
    pthread_mutex_lock(&B.mu);
    while (!B.gate_open && !plm_task_cancelled(ctx))
        board_wait_a_little();
    pthread_mutex_unlock(&B.mu);
    leave();
    return arg;
}

static void run_gated(int n, int max_concurrent, int expect_at_once)
{
    plm_task *tasks = calloc((size_t)n, sizeof *tasks);
    plm_task_result *res = calloc((size_t)n, sizeof *res);
    plm_gather_options o = options(max_concurrent, 0, SAFETY_MS);

    assert_non_null(tasks);
    assert_non_null(res);
    B.target = expect_at_once;
    for (int i = 0; i < n; i++)
        tasks[i] = (plm_task){ gated_task, (void *)(intptr_t)(i + 1), NULL };
    assert_int_equal(plm_task_gather(tasks, (size_t)n, res, &o), PLM_OK);
    assert_int_equal(B.max_running, expect_at_once);
    assert_int_equal(B.started, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(res[i].code, PLM_OK);
        assert_ptr_equal(res[i].value, (void *)(intptr_t)(i + 1));
    }
    plm_task_results_clear(res, (size_t)n);
    free(tasks);
    free(res);
}

static void test_task__exactly_max_concurrent_at_once(void **state)
{
    (void)state;
    run_gated(12, 3, 3);
}

static void test_task__unlimited_runs_every_task_at_once(void **state)
{
    (void)state;
    run_gated(20, 0, 20);
}

static void test_task__unlimited_is_capped_at_256_threads(void **state)
{
    (void)state;
    run_gated(300, 0, 256);
}

/* Every task blocks until the deadline: exactly max_concurrent of them
 * were ever started, the others never. */
static void test_task__bound_holds_until_deadline(void **state)
{
    plm_task tasks[12];
    plm_task_result res[12];
    plm_gather_options o = options(3, 1, 300);
    int started = 0;

    (void)state;
    for (int i = 0; i < 12; i++)
        tasks[i] = (plm_task){ until_cancelled_task, NULL, count_free };
    assert_int_equal(plm_task_gather(tasks, 12, res, &o), PLM_ETIMEOUT);
    assert_int_equal(B.started, 3);
    assert_int_equal(B.max_running, 3);
    for (int i = 0; i < 12; i++) {
        started += res[i].started;
        assert_int_equal(res[i].code,
                         res[i].started ? PLM_ETIMEOUT : PLM_ENOTSTARTED);
    }
    assert_int_equal(started, 3);
    assert_int_equal(atomic_load(&freed_values), 3);
}

/* ---- fail fast ------------------------------------------------------ */

/* Task 0 runs until cancelled; task 1 fails once task 0 runs. */
static void *until_cancelled_task(void *arg, plm_task_ctx *ctx)
{
    (void)arg;
    enter();
    wait_cancelled(ctx);
    leave();
    return new_int(7);
}

static void *fail_after_first_task(void *arg, plm_task_ctx *ctx)
{
    (void)arg;
    enter();
    pthread_mutex_lock(&B.mu);
    while (B.started < 2 && !plm_task_cancelled(ctx))
        board_wait_a_little();
    pthread_mutex_unlock(&B.mu);
    plm_task_fail(ctx, "first");
    plm_task_fail(ctx, "boom");
    leave();
    return new_int(8);
}

static void *count_task(void *arg, plm_task_ctx *ctx)
{
    (void)ctx;
    enter();
    leave();
    return arg;
}

static void test_task__fail_fast_cancels_the_rest(void **state)
{
    plm_task tasks[6];
    plm_task_result res[6];
    plm_gather_options o = options(2, 0, SAFETY_MS);

    (void)state;
    tasks[0] = (plm_task){ until_cancelled_task, NULL, count_free };
    tasks[1] = (plm_task){ fail_after_first_task, NULL, count_free };
    for (int i = 2; i < 6; i++)
        tasks[i] = (plm_task){ count_task, NULL, count_free };

    assert_int_equal(plm_task_gather(tasks, 6, res, &o), PLM_EABORTED);
    assert_int_equal(B.started, 2);
    assert_int_equal(B.returned, 2);
    assert_int_equal(res[0].code, PLM_ECANCELLED);
    assert_int_equal(res[0].started, 1);
    assert_null(res[0].value);
    assert_null(res[0].error);
    assert_int_equal(res[1].code, PLM_EABORTED);
    assert_int_equal(res[1].started, 1);
    assert_null(res[1].value);
    assert_string_equal(res[1].error, "boom");
    for (int i = 2; i < 6; i++) {
        assert_int_equal(res[i].code, PLM_ENOTSTARTED);
        assert_int_equal(res[i].started, 0);
        assert_null(res[i].error);
        assert_true(res[i].seconds == 0.0);
    }
    /* Both returned values were decided away from the caller. */
    assert_int_equal(atomic_load(&freed_values), 2);
    plm_task_results_clear(res, 6);
    assert_null(res[1].error);
}

static void *fail_odd_task(void *arg, plm_task_ctx *ctx)
{
    int i = (int)(intptr_t)arg;

    if (i % 2 == 1) {
        plm_task_fail(ctx, i == 1 ? NULL : "odd");
        if (plm_task_cancelled(ctx))
            atomic_store(&saw_cancelled, 1);
        return NULL;
    }
    return new_int(i);
}

static void test_task__return_errors_runs_everything(void **state)
{
    plm_task tasks[5];
    plm_task_result res[5];
    plm_gather_options o = options(2, 1, 0);

    (void)state;
    for (int i = 0; i < 5; i++)
        tasks[i] = (plm_task){ fail_odd_task, (void *)(intptr_t)i, count_free };
    assert_int_equal(plm_task_gather(tasks, 5, res, &o), PLM_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(res[i].started, 1);
        if (i % 2 == 1) {
            assert_int_equal(res[i].code, PLM_EABORTED);
            assert_null(res[i].value);
        } else {
            assert_int_equal(res[i].code, PLM_OK);
            assert_null(res[i].error);
            assert_int_equal(*(int *)res[i].value, i);
            free(res[i].value);
        }
    }
    assert_string_equal(res[1].error, "task failed");
    assert_string_equal(res[3].error, "odd");
    assert_int_equal(atomic_load(&freed_values), 0);
    assert_int_equal(atomic_load(&saw_cancelled), 0);
    plm_task_results_clear(res, 5);
}

/* ---- the deadline --------------------------------------------------- */

static void *quick_task(void *arg, plm_task_ctx *ctx)
{
    (void)ctx;
    enter();
    leave();
    return new_int((int)(intptr_t)arg);
}

/* Runs until cancelled, fails on the way out: the deadline still wins. */
static void *blocked_then_fail_task(void *arg, plm_task_ctx *ctx)
{
    (void)arg;
    enter();
    wait_cancelled(ctx);
    plm_task_fail(ctx, "too late");
    leave();
    return new_int(9);
}

static void run_deadline(int return_errors)
{
    plm_task tasks[4];
    plm_task_result res[4];
    plm_gather_options o = options(1, return_errors, 300);
    double t0, elapsed;

    tasks[0] = (plm_task){ quick_task, (void *)(intptr_t)5, count_free };
    tasks[1] = (plm_task){ until_cancelled_task, NULL, count_free };
    tasks[2] = (plm_task){ blocked_then_fail_task, NULL, count_free };
    tasks[3] = (plm_task){ quick_task, NULL, count_free };
    t0 = now_seconds();
    assert_int_equal(plm_task_gather(tasks, 4, res, &o), PLM_ETIMEOUT);
    elapsed = now_seconds() - t0;
    assert_true(elapsed >= 0.3);

    /* The call waited for the running task to return. */
    assert_int_equal(B.started, 2);
    assert_int_equal(B.returned, 2);
    assert_int_equal(res[0].code, PLM_OK);
    assert_int_equal(*(int *)res[0].value, 5);
    free(res[0].value);
    assert_int_equal(res[1].code, PLM_ETIMEOUT);
    assert_int_equal(res[1].started, 1);
    assert_null(res[1].value);
    assert_true(res[1].seconds > 0.0 && res[1].seconds <= elapsed);
    for (int i = 2; i < 4; i++) {
        assert_int_equal(res[i].code, PLM_ENOTSTARTED);
        assert_int_equal(res[i].started, 0);
    }
    assert_int_equal(atomic_load(&freed_values), 1);
    plm_task_results_clear(res, 4);
}

static void test_task__deadline_times_out_running_tasks(void **state)
{
    (void)state;
    run_deadline(1);
}

static void test_task__deadline_with_fail_fast(void **state)
{
    (void)state;
    run_deadline(0);
}

/* A task failing after the deadline still gets PLM_ETIMEOUT. */
static void test_task__deadline_wins_over_late_failure(void **state)
{
    plm_task tasks[2];
    plm_task_result res[2];
    plm_gather_options o = options(0, 0, 100);

    (void)state;
    tasks[0] = (plm_task){ blocked_then_fail_task, NULL, count_free };
    tasks[1] = (plm_task){ until_cancelled_task, NULL, count_free };
    assert_int_equal(plm_task_gather(tasks, 2, res, &o), PLM_ETIMEOUT);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(res[i].code, PLM_ETIMEOUT);
        assert_null(res[i].error);
        assert_null(res[i].value);
    }
    assert_int_equal(atomic_load(&freed_values), 2);
}

static void test_task__deadline_not_reached_is_ok(void **state)
{
    plm_task tasks[3];
    plm_task_result res[3];
    plm_gather_options o = options(0, 0, SAFETY_MS);

    (void)state;
    for (int i = 0; i < 3; i++)
        tasks[i] = (plm_task){ quick_task, (void *)(intptr_t)i, count_free };
    assert_int_equal(plm_task_gather(tasks, 3, res, &o), PLM_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[i].code, PLM_OK);
        assert_int_equal(*(int *)res[i].value, i);
        free(res[i].value);
    }
    assert_int_equal(atomic_load(&freed_values), 0);

    /* The largest deadline the API accepts (7 days, as for every _ms
     * value) is just a deadline; beyond it is an invalid argument. */
    o.timeout_ms = (int64_t)7 * 24 * 3600 * 1000;
    assert_int_equal(plm_task_gather(tasks, 3, res, &o), PLM_OK);
    for (int i = 0; i < 3; i++)
        free(res[i].value);
    o.timeout_ms = INT64_MAX;
    assert_int_equal(plm_task_gather(tasks, 3, res, &o), PLM_EINVAL);
}

/* ---- arguments ------------------------------------------------------ */

static void test_task__bad_arguments_leave_results_untouched(void **state)
{
    plm_task tasks[2] = { { quick_task, NULL, NULL }, { NULL, NULL, NULL } };
    plm_task_result res[2];
    plm_gather_options o = options(-1, 0, 0);
    plm_gather_options bad_version = options(0, 0, 0);
    plm_gather_options bad_timeout = options(0, 0, -5);

    (void)state;
    memset(res, 0xAB, sizeof res);
    bad_version.version = 0;
    assert_int_equal(plm_task_gather(tasks, 1, res, &o), PLM_EINVAL);
    assert_int_equal(plm_task_gather(tasks, 1, res, &bad_version), PLM_EINVAL);
    assert_int_equal(plm_task_gather(tasks, 1, res, &bad_timeout), PLM_EINVAL);
    assert_int_equal(plm_task_gather(NULL, 1, res, NULL), PLM_EINVAL);
    assert_int_equal(plm_task_gather(tasks, 1, NULL, NULL), PLM_EINVAL);
    /* A NULL function anywhere rejects the whole call. */
    assert_int_equal(plm_task_gather(tasks, 2, res, NULL), PLM_EINVAL);
    for (size_t i = 0; i < sizeof res; i++)
        assert_int_equal(((unsigned char *)res)[i], 0xAB);
    assert_int_equal(B.started, 0);
}

static void test_task__zero_tasks_return_at_once(void **state)
{
    plm_task_result res[1];

    (void)state;
    memset(res, 0xAB, sizeof res);
    assert_int_equal(plm_task_gather(NULL, 0, NULL, NULL), PLM_OK);
    assert_int_equal(plm_task_gather(NULL, 0, res, NULL), PLM_OK);
    assert_int_equal(((unsigned char *)res)[0], 0xAB);
    assert_int_equal(plm_task_cancelled(NULL), 0);
    plm_task_fail(NULL, "ignored");
    plm_task_results_clear(NULL, 3);
}

static void test_task__null_options_fail_fast_unlimited(void **state)
{
    plm_task tasks[3];
    plm_task_result res[3];

    (void)state;
    B.target = 3;
    for (int i = 0; i < 3; i++)
        tasks[i] = (plm_task){ gated_task, (void *)(intptr_t)(i + 1), NULL };
    assert_int_equal(plm_task_gather(tasks, 3, res, NULL), PLM_OK);
    assert_int_equal(B.max_running, 3);
}

/* ---- re-entrancy ---------------------------------------------------- */

static void *add_one_task(void *arg, plm_task_ctx *ctx)
{
    (void)ctx;
    return (void *)((intptr_t)arg + 1);
}

/* Gathers four inner tasks and returns the sum of their values. */
static void *nested_task(void *arg, plm_task_ctx *ctx)
{
    plm_task inner[4];
    plm_task_result res[4];
    plm_gather_options o = options(2, 0, 0);
    intptr_t sum = 0;

    for (int i = 0; i < 4; i++)
        inner[i] = (plm_task){ add_one_task, (void *)((intptr_t)arg * 10 + i),
                               NULL };
    if (plm_task_gather(inner, 4, res, &o) != PLM_OK) {
        plm_task_fail(ctx, "inner gather failed");
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        sum += (intptr_t)res[i].value;
    return (void *)sum;
}

static void test_task__nested_gather(void **state)
{
    plm_task tasks[3];
    plm_task_result res[3];
    plm_gather_options o = options(0, 0, 0);

    (void)state;
    for (int i = 0; i < 3; i++)
        tasks[i] = (plm_task){ nested_task, (void *)(intptr_t)i, NULL };
    assert_int_equal(plm_task_gather(tasks, 3, res, &o), PLM_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[i].code, PLM_OK);
        /* sum over j of (10 i + j + 1) */
        assert_int_equal((intptr_t)res[i].value, 40 * i + 10);
    }
}

/* Two gathers on two threads at once: each one's task waits until the
 * other gather's task has started, so they must overlap. */
static void *meet_task(void *arg, plm_task_ctx *ctx)
{
    enter();
    pthread_mutex_lock(&B.mu);
    while (B.started < 2 && !plm_task_cancelled(ctx))
        board_wait_a_little();
    pthread_mutex_unlock(&B.mu);
    leave();
    return arg;
}

typedef struct gather_call {
    plm_task task;
    plm_task_result res;
    int rc;
} gather_call;

static void *gather_thread(void *arg)
{
    gather_call *call = arg;
    plm_gather_options o = options(1, 0, SAFETY_MS);

    call->rc = plm_task_gather(&call->task, 1, &call->res, &o);
    return NULL;
}

static void test_task__two_gathers_at_once(void **state)
{
    gather_call calls[2];
    pthread_t threads[2];

    (void)state;
    for (int i = 0; i < 2; i++) {
        memset(&calls[i], 0, sizeof(calls[i]));
        calls[i].task = (plm_task){ meet_task, (void *)(intptr_t)(i + 1),
                                    NULL };
        assert_int_equal(pthread_create(&threads[i], NULL, gather_thread,
                                        &calls[i]),
                         0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(calls[i].rc, PLM_OK);
        assert_int_equal(calls[i].res.code, PLM_OK);
        assert_ptr_equal(calls[i].res.value, (void *)(intptr_t)(i + 1));
    }
    assert_int_equal(B.max_running, 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_task__order_kept_when_later_tasks_finish_first),
        T(test_task__exactly_max_concurrent_at_once),
        T(test_task__unlimited_runs_every_task_at_once),
        T(test_task__unlimited_is_capped_at_256_threads),
        T(test_task__bound_holds_until_deadline),
        T(test_task__fail_fast_cancels_the_rest),
        T(test_task__return_errors_runs_everything),
        T(test_task__deadline_times_out_running_tasks),
        T(test_task__deadline_with_fail_fast),
        T(test_task__deadline_wins_over_late_failure),
        T(test_task__deadline_not_reached_is_ok),
        T(test_task__bad_arguments_leave_results_untouched),
        T(test_task__zero_tasks_return_at_once),
        T(test_task__null_options_fail_fast_unlimited),
        T(test_task__nested_gather),
        T(test_task__two_gathers_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
