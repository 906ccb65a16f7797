/*
 * What observation costs the engine: the same run of N chat requests
 * against the mock (forked child, answers after L ms) with metrics off,
 * with metrics on (the default), and with metrics on plus the command's
 * --trace writer (cli/run_trace.c, linked in) writing every attempt to a
 * file. The modes alternate within each round so the machine's noise hits
 * them alike; the medians over the rounds are printed.
 *
 *   bench_observe [-n N] [-c C] [-l MS] [-r ROUNDS] [-o TRACE_FILE]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_child.h"
#include "parallm.h"
#include "run_metrics.h"

enum { MODE_OFF, MODE_METRICS, MODE_TRACE, MODES };
static const char *const mode_names[MODES] = { "metrics_off", "metrics_on",
                                               "metrics_and_trace" };

struct bench {
    long n, next, ok, failed;
};

static int source(plm_request **out, void *user_data)
{
    struct bench *b = user_data;
    plm_request *req = NULL;
    pending *p;
    int rc;

    if (b->next >= b->n)
        return 0;
    rc = bench_chat_request(PLM_PROVIDER_OPENAI, b->next, &req);
    if (rc != PLM_OK)
        return rc;
    /* What the command hangs on a request: its custom_id, for the trace. */
    p = calloc(1, sizeof *p + 32);
    if (!p) {
        plm_request_free(req);
        return PLM_ENOMEM;
    }
    snprintf(p->custom_id, 32, "request-%ld", b->next);
    plm_request_set_user_data(req, p);
    b->next++;
    *out = req;
    return 1;
}

static int complete(plm_request *req, plm_result *res, void *user_data)
{
    struct bench *b = user_data;
    if (plm_result_code(res) == PLM_OK)
        b->ok++;
    else
        b->failed++;
    free(plm_request_user_data(req));
    plm_result_free(res);
    plm_request_free(req);
    return 0;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One run in mode; wall and CPU seconds out. 0 or -1. */
static int one_run(plm_client *client, int mode, long n, int c,
                   const char *trace_path, double *wall, double *cpu)
{
    run_options opt;
    run_trace *tr = NULL;
    struct bench b = { .n = n };
    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    double t0, c0;
    int rc;

    memset(&opt, 0, sizeof opt);
    opt.max_concurrent = c;
    plm_client_set_metrics(client, mode != MODE_OFF);
    if (mode == MODE_TRACE) {
        tr = run_trace_open(trace_path);
        if (!tr || run_trace_begin(tr, &opt, 0) != 0)
            return -1;
        plm_client_set_trace(client, run_trace_attempt, tr);
    }
    ro.max_concurrent = c;
    c0 = cpu_s();
    t0 = bench_now_s();
    rc = plm_client_run(client, source, complete, &ro, &b);
    if (tr && run_trace_close(tr) != 0)
        rc = PLM_EIO;
    *wall = bench_now_s() - t0;
    *cpu = cpu_s() - c0;
    plm_client_set_trace(client, NULL, NULL);
    return rc == PLM_OK && b.ok == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    long n = 10000, latency_ms = 0, c = 100;
    int rounds = 5, opt, port = 0;
    const char *trace_path = "/tmp/plm-bench-trace.jsonl";
    double wall[MODES][64], cpu[MODES][64];

    while ((opt = getopt(argc, argv, "n:c:l:r:o:")) != -1) {
        switch (opt) {
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 'c': c = strtol(optarg, NULL, 10); break;
        case 'l': latency_ms = strtol(optarg, NULL, 10); break;
        case 'r': rounds = (int)strtol(optarg, NULL, 10); break;
        case 'o': trace_path = optarg; break;
        default:
            fprintf(stderr,
                    "usage: %s [-n N] [-c C] [-l MS] [-r ROUNDS] "
                    "[-o TRACE_FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (rounds < 1 || rounds > 64)
        rounds = 5;
    plm_mock_options mo;
    memset(&mo, 0, sizeof mo);
    mo.latency_ms = latency_ms;
    pid_t mock = bench_mock_start(&mo, &port);
    if (mock < 0) {
        fprintf(stderr, "bench: cannot start the mock server\n");
        return 1;
    }
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    co.openai_base_url = base;
    co.openai_api_key = "bench-key";
    plm_client *client = NULL;
    if (plm_client_new(&client, &co) != PLM_OK) {
        bench_mock_stop(mock);
        return 1;
    }
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < MODES; k++) {
            int mode = (k + r) % MODES; /* rotate the order each round */
            if (one_run(client, mode, n, (int)c, trace_path, &wall[mode][r],
                        &cpu[mode][r]) != 0) {
                fprintf(stderr, "bench: a %s run failed\n", mode_names[mode]);
                plm_client_free(client);
                bench_mock_stop(mock);
                return 1;
            }
        }
    plm_client_free(client);
    bench_mock_stop(mock);
    double base_wall = 0, base_cpu = 0;
    for (int m = 0; m < MODES; m++) {
        double w = median(wall[m], rounds), u = median(cpu[m], rounds);
        if (m == MODE_OFF) {
            base_wall = w;
            base_cpu = u;
        }
        printf("%-18s n=%ld c=%ld latency_ms=%ld rounds=%d wall_s=%.3f "
               "req_per_s=%.0f cpu_us_per_req=%.2f wall_vs_off=%+.1f%% "
               "cpu_vs_off=%+.1f%%\n",
               mode_names[m], n, c, latency_ms, rounds, w,
               w > 0 ? (double)n / w : 0, u * 1e6 / (double)n,
               base_wall > 0 ? (w / base_wall - 1) * 100 : 0,
               base_cpu > 0 ? (u / base_cpu - 1) * 100 : 0);
    }
    unlink(trace_path);
    return 0;
}
