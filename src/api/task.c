/*
 * plm_task_gather(): the gather semantics of plm_gather() for plain C
 * functions. Each call creates its own small pool of worker threads, hands
 * them task indexes from a shared counter under one mutex, and joins them
 * all before returning, so nothing outlives the call and there is no global
 * state (the call is re-entrant, and a task may itself gather). The calling
 * thread only waits: for the workers to finish, or for the deadline, at
 * which point it stops the hand-out and raises the cancelled flag that
 * running functions poll. A slot's outcome is decided once, under the
 * mutex, when its function returns.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "errdetail.h"
#include "gather.h"
#include "parallm.h"

/* Without a limit, one thread per task up to this many. */
#define PLM_TASK_MAX_THREADS 256

/* The message of a task that failed without giving one. */
#define PLM_TASK_DEFAULT_MESSAGE "task failed"

/* The state one plm_task_gather() call shares with its workers. */
typedef struct task_gather {
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when the last worker exits */
    const plm_task *tasks;
    plm_task_result *results;
    size_t n;
    int return_errors;
    /* Under mu: */
    size_t next;         /* the next index to hand out */
    size_t done;         /* slots decided by a returning function */
    size_t alive;        /* workers that have not exited yet */
    int stop;            /* 0, PLM_EABORTED or PLM_ETIMEOUT */
    size_t failed_index; /* the fail-fast task when stop is EABORTED */
    /* Read without the lock by plm_task_cancelled(). */
    atomic_int cancelled;
} task_gather;

struct plm_task_ctx {
    task_gather *g;
    size_t index;
    int failed;
    char *message; /* the last message given, or NULL */
};

static double now_seconds(void)
{
    return (double)plm__now_ns() / 1e9;
}

static char *copy_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);

    if (copy)
        memcpy(copy, s, len);
    return copy;
}

/* Stops the hand-out and tells running functions. Called under g->mu. */
static void stop_locked(task_gather *g, int reason)
{
    g->stop = reason;
    atomic_store(&g->cancelled, 1);
}

void plm_task_fail(plm_task_ctx *ctx, const char *message)
{
    char *copy;

    if (!ctx)
        return;
    copy = copy_string(message ? message : PLM_TASK_DEFAULT_MESSAGE);
    /* Without memory for the new message, keep the previous one (or fall
     * back to none); the failure itself must not be lost. */
    if (copy) {
        free(ctx->message);
        ctx->message = copy;
    }
    if (ctx->failed)
        return;
    ctx->failed = 1;
    if (ctx->g->return_errors)
        return;
    /* Fail fast at once rather than when this function returns, so that no
     * other task starts in between. */
    pthread_mutex_lock(&ctx->g->mu);
    if (!ctx->g->stop) {
        ctx->g->failed_index = ctx->index;
        stop_locked(ctx->g, PLM_EABORTED);
    }
    pthread_mutex_unlock(&ctx->g->mu);
}

int plm_task_cancelled(const plm_task_ctx *ctx)
{
    if (!ctx)
        return 0;
    return atomic_load(&ctx->g->cancelled);
}

/*
 * Decides slot i after its function returned value. Called under g->mu.
 * Returns 1 when the value is not the caller's (the slot was decided
 * otherwise) and must go to free_value.
 */
static int decide_locked(task_gather *g, plm_task_ctx *ctx, void *value)
{
    plm_task_result *r = &g->results[ctx->index];

    g->done++;
    if (g->stop == PLM_ETIMEOUT) {
        r->code = PLM_ETIMEOUT;
    } else if (g->stop == PLM_EABORTED && g->failed_index != ctx->index) {
        r->code = PLM_ECANCELLED;
    } else if (ctx->failed) {
        r->code = PLM_EABORTED;
        if (!ctx->message)
            ctx->message = copy_string(PLM_TASK_DEFAULT_MESSAGE);
        r->error = ctx->message;
        ctx->message = NULL;
    } else {
        r->code = PLM_OK;
        r->value = value;
        return 0;
    }
    return value != NULL;
}

static void run_one(task_gather *g, size_t i)
{
    const plm_task *t = &g->tasks[i];
    plm_task_ctx ctx = { g, i, 0, NULL };
    double start, seconds;
    void *value;
    int discard;

    start = now_seconds();
    value = t->fn(t->arg, &ctx);
    seconds = now_seconds() - start;

    pthread_mutex_lock(&g->mu);
    g->results[i].seconds = seconds;
    discard = decide_locked(g, &ctx, value);
    pthread_mutex_unlock(&g->mu);

    /* User code runs outside the lock. */
    if (discard && t->free_value)
        t->free_value(value);
    free(ctx.message);
}

static void *worker_main(void *arg)
{
    task_gather *g = arg;

    pthread_mutex_lock(&g->mu);
    while (!g->stop && g->next < g->n) {
        size_t i = g->next++;

        g->results[i].started = 1;
        pthread_mutex_unlock(&g->mu);
        run_one(g, i);
        pthread_mutex_lock(&g->mu);
    }
    g->alive--;
    if (g->alive == 0)
        pthread_cond_signal(&g->idle);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* The absolute CLOCK_MONOTONIC time timeout_ms from now. */
static struct timespec deadline_after(int64_t timeout_ms)
{
    int64_t at = plm__now_ns() + timeout_ms * PLM__NS_PER_MS;
    struct timespec ts;

    ts.tv_sec = (time_t)(at / PLM__NS_PER_S);
    ts.tv_nsec = (long)(at % PLM__NS_PER_S);
    return ts;
}

/*
 * Waits until every worker has exited; at the deadline (if any) stops the
 * gather when some slot is still undecided. Called with g->mu held.
 */
static void wait_workers_locked(task_gather *g, int64_t timeout_ms,
                                const struct timespec *deadline)
{
    while (g->alive > 0) {
        if (timeout_ms > 0 && !g->stop) {
            int rc = pthread_cond_timedwait(&g->idle, &g->mu, deadline);

            if (rc == ETIMEDOUT && !g->stop && g->done < g->n)
                stop_locked(g, PLM_ETIMEOUT);
        } else {
            pthread_cond_wait(&g->idle, &g->mu);
        }
    }
}

/*
 * Starts up to count workers. Asynchronous signals are blocked in them so
 * that the application's handlers (e.g. SIGINT calling
 * plm_client_interrupt) keep running on its own threads. Returns how many
 * started.
 */
static size_t start_workers(task_gather *g, pthread_t *threads, size_t count)
{
    sigset_t all, old;
    size_t started = 0;

    sigfillset(&all);
    /* Faults stay deliverable so that crash handlers still report them. */
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    sigdelset(&all, SIGTRAP);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (; started < count; started++) {
        pthread_mutex_lock(&g->mu);
        g->alive++;
        pthread_mutex_unlock(&g->mu);
        if (pthread_create(&threads[started], NULL, worker_main, g) != 0) {
            pthread_mutex_lock(&g->mu);
            g->alive--;
            pthread_mutex_unlock(&g->mu);
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return started;
}

/* The same option resolution as plm_gather's (gather.c), then the
 * task array. */
static int check_args(const plm_task *tasks, size_t n,
                      const plm_task_result *results,
                      const plm_gather_options *opts,
                      plm_gather_options *resolved)
{
    int rc;

    plm__error_clear();
    if ((rc = plm__gather_options_resolve(opts, resolved)))
        return rc;
    if (n == 0)
        return PLM_OK;
    if ((rc = plm__check_not_null("tasks", tasks)) ||
        (rc = plm__check_not_null("results", results)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i].fn)
            return plm__error_set(PLM_EINVAL, "tasks",
                                  "element %zu has no function", i);
    }
    return PLM_OK;
}

int plm_task_gather(const plm_task *tasks, size_t n, plm_task_result *results,
                    const plm_gather_options *opts)
{
    plm_gather_options resolved;
    task_gather g;
    pthread_condattr_t attr;
    pthread_t *threads = NULL;
    struct timespec deadline = { 0, 0 };
    size_t count, started;
    int rc;

    rc = check_args(tasks, n, results, opts, &resolved);
    if (rc != PLM_OK || n == 0)
        return rc;
    opts = &resolved;

    /* The deadline counts from the call, like plm_gather()'s. */
    if (opts->timeout_ms > 0)
        deadline = deadline_after(opts->timeout_ms);

    count = n;
    if (opts->max_concurrent > 0 && (size_t)opts->max_concurrent < count)
        count = (size_t)opts->max_concurrent;
    if (opts->max_concurrent == 0 && count > PLM_TASK_MAX_THREADS)
        count = PLM_TASK_MAX_THREADS;

    memset(&g, 0, sizeof g);
    g.tasks = tasks;
    g.results = results;
    g.n = n;
    g.return_errors = opts->return_errors != 0;
    atomic_init(&g.cancelled, 0);

    threads = malloc(count * sizeof *threads);
    if (!threads)
        return PLM_ENOMEM;
    if (pthread_condattr_init(&attr) != 0) {
        free(threads);
        return PLM_ENOMEM;
    }
    /* Deadlines are on the monotonic clock: a wall-clock jump must not
     * time a gather out early or late. */
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&g.idle, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        free(threads);
        return PLM_ENOMEM;
    }
    pthread_condattr_destroy(&attr);
    if (pthread_mutex_init(&g.mu, NULL) != 0) {
        pthread_cond_destroy(&g.idle);
        free(threads);
        return PLM_ENOMEM;
    }

    for (size_t i = 0; i < n; i++) {
        results[i].code = PLM_ENOTSTARTED;
        results[i].started = 0;
        results[i].value = NULL;
        results[i].error = NULL;
        results[i].seconds = 0.0;
    }

    /* Fewer workers than asked for still run every task; none at all is
     * the one case that cannot. */
    started = start_workers(&g, threads, count);

    pthread_mutex_lock(&g.mu);
    if (started > 0)
        wait_workers_locked(&g, opts->timeout_ms, &deadline);
    rc = started == 0 ? PLM_ENOMEM : g.stop;
    pthread_mutex_unlock(&g.mu);

    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);

    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.idle);
    free(threads);
    return rc;
}

void plm_task_results_clear(plm_task_result *results, size_t n)
{
    if (!results)
        return;
    for (size_t i = 0; i < n; i++) {
        free(results[i].error);
        results[i].error = NULL;
    }
}
