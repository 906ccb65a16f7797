/*
 * bench_threads: one shared client used by many threads against one
 * gather of the same requests, side by side in one run. The mock runs in
 * a forked child (the client's CPU is this process's alone).
 *
 *   bench_threads [-n N] [-t THREADS] [-l LATENCY_MS] [-r ROUNDS]
 *                 [-m both|gather|threads|async]
 *
 * Each round runs, on a fresh client each:
 *   gather:   plm_gather of N chat requests at max_concurrent THREADS;
 *   complete: THREADS threads, each calling plm_complete in a loop on
 *             one client started with max_concurrent THREADS, N calls in
 *             all.
 * With -m async, the second side is instead one thread submitting all N
 * at once with a completion callback (plm_submit), on a started client.
 * Prints one line per run and the medians: wall, wall against the
 * gather's, CPU per request (user + system), CPU against the gather's.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_child.h"

typedef struct shared {
    plm_client *client;
    plm_request **reqs;
    atomic_long next;
    long n;
    atomic_int failures;
} shared;

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static plm_client *new_client(int port)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c = NULL;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    co.openai_base_url = base;
    co.openai_api_key = "bench";
    if (plm_client_new(&c, &co) != PLM_OK) {
        fprintf(stderr, "bench_threads: %s\n", plm_last_error());
        exit(1);
    }
    return c;
}

static void *worker(void *arg)
{
    shared *s = arg;
    for (;;) {
        long i = atomic_fetch_add(&s->next, 1);
        plm_result *res = NULL;
        if (i >= s->n)
            break;
        if (plm_complete(s->client, s->reqs[i], &res) != PLM_OK)
            atomic_fetch_add(&s->failures, 1);
        plm_result_free(res);
    }
    return NULL;
}

static void count_done(plm_call *call, void *user_data)
{
    shared *s = user_data;
    const plm_result *res = plm_call_result(call);
    if (!res || plm_result_code(res) != PLM_OK)
        atomic_fetch_add(&s->failures, 1);
    atomic_fetch_add(&s->next, 1);
}

/* One thread submits every request at once with a callback and waits
 * for the last: the asynchronous API without a thread per request. */
static void run_async(int port, plm_request **reqs, long n, int conc,
                      double *wall, double *cpu)
{
    plm_start_options so = PLM_START_OPTIONS_INIT;
    plm_call *last = NULL;
    shared s;
    double t0, c0;
    long i;

    memset(&s, 0, sizeof s);
    s.client = new_client(port);
    so.max_concurrent = conc;
    if (plm_client_start(s.client, &so) != PLM_OK)
        exit(1);
    t0 = bench_now_s();
    c0 = cpu_s();
    for (i = 0; i < n; i++)
        if (plm_submit(s.client, reqs[i], count_done, &s,
                       i == n - 1 ? &last : NULL) != PLM_OK)
            exit(1);
    /* Calls complete roughly in order: wait for the last, then for the
     * count (a plain wait on the client would need one more API). */
    plm_call_wait(last, -1);
    while (atomic_load(&s.next) < n)
        sched_yield();
    *wall = bench_now_s() - t0;
    *cpu = cpu_s() - c0;
    if (atomic_load(&s.failures))
        fprintf(stderr, "bench_threads: async: %d failures\n",
                atomic_load(&s.failures));
    plm_call_free(last);
    plm_client_free(s.client);
}

static void run_gather(int port, plm_request **reqs, long n, int conc,
                       double *wall, double *cpu)
{
    plm_client *c = new_client(port);
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    plm_result **res = calloc((size_t)n, sizeof *res);
    double t0, c0;
    long i, bad = 0;

    go.max_concurrent = conc;
    go.return_errors = 1;
    t0 = bench_now_s();
    c0 = cpu_s();
    if (!res || plm_gather(c, reqs, (size_t)n, res, &go) != PLM_OK)
        bad = 1;
    *wall = bench_now_s() - t0;
    *cpu = cpu_s() - c0;
    for (i = 0; res && i < n; i++)
        bad += res[i] && plm_result_code(res[i]) != PLM_OK;
    if (bad)
        fprintf(stderr, "bench_threads: gather: %ld failures\n", bad);
    plm_results_free(res, (size_t)n);
    free(res);
    plm_client_free(c);
}

static void run_threads(int port, plm_request **reqs, long n, int threads,
                        double *wall, double *cpu)
{
    plm_start_options so = PLM_START_OPTIONS_INIT;
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    shared s;
    double t0, c0;
    int i;

    memset(&s, 0, sizeof s);
    s.client = new_client(port);
    s.reqs = reqs;
    s.n = n;
    so.max_concurrent = threads;
    if (!th || plm_client_start(s.client, &so) != PLM_OK)
        exit(1);
    t0 = bench_now_s();
    c0 = cpu_s();
    for (i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker, &s);
    for (i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    *wall = bench_now_s() - t0;
    *cpu = cpu_s() - c0;
    if (atomic_load(&s.failures))
        fprintf(stderr, "bench_threads: complete: %d failures\n",
                atomic_load(&s.failures));
    plm_client_free(s.client);
    free(th);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    long n = 10000, i;
    int threads = 100, rounds = 3, r, port = 0;
    const char *mode = "both";
    int64_t latency = 50;
    plm_mock_options mo;
    plm_request **reqs;
    double gw[16], gc[16], tw[16], tc[16];
    pid_t mock;

    for (r = 1; r + 1 < argc; r += 2) {
        if (strcmp(argv[r], "-n") == 0)
            n = atol(argv[r + 1]);
        else if (strcmp(argv[r], "-t") == 0)
            threads = atoi(argv[r + 1]);
        else if (strcmp(argv[r], "-l") == 0)
            latency = atol(argv[r + 1]);
        else if (strcmp(argv[r], "-r") == 0)
            rounds = atoi(argv[r + 1]);
        else if (strcmp(argv[r], "-m") == 0)
            mode = argv[r + 1];
    }
    if (n < 1 || threads < 1 || rounds < 1 || rounds > 16) {
        fprintf(stderr, "usage: bench_threads [-n N] [-t THREADS] "
                        "[-l LATENCY_MS] [-r ROUNDS<=16]\n");
        return 2;
    }
    memset(&mo, 0, sizeof mo);
    mo.latency_ms = latency;
    mock = bench_mock_start(&mo, &port);
    if (mock < 0)
        return 1;
    reqs = calloc((size_t)n, sizeof *reqs);
    for (i = 0; reqs && i < n; i++)
        if (bench_chat_request(PLM_PROVIDER_OPENAI, i, &reqs[i]) != PLM_OK)
            return 1;
    for (r = 0; r < rounds; r++) {
        gw[r] = gc[r] = tw[r] = tc[r] = 1e-9;
        /* -m runs one side alone (e.g. under perf stat). */
        if (strcmp(mode, "threads") != 0)
            run_gather(port, reqs, n, threads, &gw[r], &gc[r]);
        if (strcmp(mode, "async") == 0)
            run_async(port, reqs, n, threads, &tw[r], &tc[r]);
        else if (strcmp(mode, "gather") != 0)
            run_threads(port, reqs, n, threads, &tw[r], &tc[r]);
        printf("round %d: gather wall %.3f s cpu %.1f us/req | %s wall "
               "%.3f s cpu %.1f us/req\n",
               r + 1, gw[r], gc[r] * 1e6 / (double)n, mode, tw[r],
               tc[r] * 1e6 / (double)n);
    }
    {
        double mgw = median(gw, rounds), mgc = median(gc, rounds);
        double mtw = median(tw, rounds), mtc = median(tc, rounds);
        char side[64];
        if (strcmp(mode, "async") == 0)
            snprintf(side, sizeof side, "plm_submit from 1 thread");
        else
            snprintf(side, sizeof side, "%d threads x plm_complete", threads);
        printf("median n=%ld latency_ms=%lld c=%d: gather wall %.3f s "
               "(%.3f x ideal); %s wall %.3f s = %.3f x gather; cpu/req "
               "gather %.1f us, %s %.1f us = %.2f x gather\n",
               n, (long long)latency, threads, mgw,
               mgw / ((double)((n + threads - 1) / threads) * (double)latency /
                      1000.0),
               side, mtw, mtw / mgw, mgc * 1e6 / (double)n, side,
               mtc * 1e6 / (double)n, mtc / mgc);
    }
    for (i = 0; i < n; i++)
        plm_request_free(reqs[i]);
    free(reqs);
    bench_mock_stop(mock);
    return 0;
}
