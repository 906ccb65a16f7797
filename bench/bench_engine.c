/*
 * Benchmark of the engine against the mock LLM server on loopback.
 *
 * The mock runs in a child process (forked before the client starts) so the
 * client's CPU time and peak memory are measured alone, with getrusage. The
 * client pulls N chat requests from a source callback, so the benchmark also
 * exercises the streaming path that the command uses.
 *
 *   bench_engine [-n N] [-c CONCURRENCY] [-l LATENCY_MS] [--anthropic]
 *                [--trace] [--mock-cpu CPU]
 *
 * Prints one line: n, c, latency, wall seconds, the ideal ceil(N/C) x L,
 * their ratio, client CPU microseconds per request, the mock's CPU
 * microseconds per request (its whole life, RUSAGE_CHILDREN) and the
 * client's over the mock's, peak RSS, the mock's CPU as a share of one
 * core over the run, and the most requests the mock held open at once
 * (its stats file, written when it stops); then the client's CPU per
 * request split into user and system time, the minor page faults it
 * took during the run, and the CPU per request of the whole process
 * (start-up and the client's set-up included). --mock-cpu pins the mock to
 * that CPU (run the benchmark itself under `taskset -c OTHER`), so
 * client and server each have a core. --trace adds, on stderr, when the
 * first answer arrived and how many arrived in each 25 ms of the run: a
 * slow first wave (connection set-up) and a steady rate below C per
 * latency (CPU) look different there.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_child.h"
#include "mock.h"
#include "parallm.h"

#define TRACE_SLOTS 200
#define TRACE_MS 25.0

struct bench {
    long n;
    long next;
    long ok;
    long failed;
    int anthropic;
    int first_error;
    double t0;               /* run start, for --trace */
    double first_ms;         /* first answer, ms after t0 */
    long slots[TRACE_SLOTS]; /* answers per TRACE_MS of the run */
};

static int source(plm_request **out, void *user_data)
{
    struct bench *b = user_data;
    int rc;

    if (b->next >= b->n)
        return 0;
    rc = bench_chat_request(b->anthropic ? PLM_PROVIDER_ANTHROPIC
                                         : PLM_PROVIDER_OPENAI,
                            b->next, out);
    if (rc != PLM_OK)
        return rc;
    b->next++;
    return 1;
}

static int complete(plm_request *req, plm_result *res, void *user_data)
{
    struct bench *b = user_data;
    double ms = (bench_now_s() - b->t0) * 1e3;

    if (b->ok + b->failed == 0)
        b->first_ms = ms;
    if (ms / TRACE_MS < TRACE_SLOTS)
        b->slots[(int)(ms / TRACE_MS)]++;
    if (plm_result_code(res) == PLM_OK) {
        b->ok++;
    } else {
        if (b->failed == 0)
            b->first_error = plm_result_code(res);
        b->failed++;
    }
    plm_result_free(res);
    plm_request_free(req);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "anthropic", no_argument, NULL, 'a' },
        { "trace", no_argument, NULL, 't' },
        { "mock-cpu", required_argument, NULL, 'm' },
        { NULL, 0, NULL, 0 },
    };
    struct bench b = { .n = 10000 };
    long concurrency = 100;
    long latency_ms = 50;
    int port = 0;
    int opt, trace = 0, mock_cpu_index = -1;

    while ((opt = getopt_long(argc, argv, "n:c:l:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': b.n = strtol(optarg, NULL, 10); break;
        case 'c': concurrency = strtol(optarg, NULL, 10); break;
        case 'l': latency_ms = strtol(optarg, NULL, 10); break;
        case 'a': b.anthropic = 1; break;
        case 't': trace = 1; break;
        case 'm': mock_cpu_index = (int)strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr,
                    "usage: %s [-n N] [-c C] [-l MS] [--anthropic] "
                    "[--trace] [--mock-cpu CPU]\n",
                    argv[0]);
            return 2;
        }
    }

    char stats_file[32];
    pid_t mock = bench_mock_start_stats("bench", latency_ms, mock_cpu_index,
                                        stats_file, &port);
    if (mock < 0)
        return 1;

    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    co.openai_base_url = base;
    co.anthropic_base_url = base;
    co.openai_api_key = "bench-key";
    co.anthropic_api_key = "bench-key";
    plm_client *client = NULL;
    if (plm_client_new(&client, &co) != PLM_OK) {
        fprintf(stderr, "bench: cannot create the client\n");
        bench_mock_stop(mock);
        return 1;
    }

    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    ro.max_concurrent = (int)concurrency;
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    double t0 = bench_now_s();
    b.t0 = t0;
    int rc = plm_client_run(client, source, complete, &ro, &b);
    double wall = bench_now_s() - t0;
    getrusage(RUSAGE_SELF, &after);
    plm_client_free(client);
    bench_mock_stop(mock);
    /* The whole process: start-up, the client's set-up and teardown as
     * well as the run, as a program calling plm_gather pays them (and
     * as the parallm command's own figure counts them). */
    struct rusage whole;
    getrusage(RUSAGE_SELF, &whole);
    double process_cpu = bench_rusage_s(&whole);
    /* The mock's CPU for the whole run: a mock near one full core means
     * the benchmark measures its server, not the client. */
    struct rusage child;
    getrusage(RUSAGE_CHILDREN, &child);
    double mock_cpu = bench_rusage_s(&child);

    double user = bench_tv_seconds(before.ru_utime, after.ru_utime);
    double sys = bench_tv_seconds(before.ru_stime, after.ru_stime);
    double cpu = user + sys;
    int peak = bench_peak_in_flight(stats_file);
    unlink(stats_file);
    double client_us = b.n > 0 ? cpu * 1e6 / (double)b.n : 0.0;
    double mock_us = b.n > 0 ? mock_cpu * 1e6 / (double)b.n : 0.0;
    double ideal = concurrency > 0 ? ceil((double)b.n / (double)concurrency) *
                                         (double)latency_ms / 1000.0
                                   : (double)latency_ms / 1000.0;
    printf("engine n=%ld c=%ld latency_ms=%ld wall_s=%.3f ideal_s=%.3f "
           "ratio=%.3f cpu_us_per_req=%.1f mock_us_per_req=%.1f "
           "client_to_mock=%.2f peak_rss_mib=%.1f mock_cpu_pct=%.0f "
           "mock_peak_in_flight=%d ok=%ld failed=%ld run=%s "
           "user_us_per_req=%.1f sys_us_per_req=%.1f minor_faults=%ld "
           "process_cpu_us_per_req=%.1f\n",
           b.n, concurrency, latency_ms, wall, ideal,
           ideal > 0 ? wall / ideal : 0.0, client_us, mock_us,
           mock_us > 0 ? client_us / mock_us : 0.0,
           (double)after.ru_maxrss / 1024.0,
           wall > 0 ? mock_cpu * 100.0 / wall : 0.0, peak, b.ok, b.failed,
           plm_strerror(rc), b.n > 0 ? user * 1e6 / (double)b.n : 0.0,
           b.n > 0 ? sys * 1e6 / (double)b.n : 0.0,
           after.ru_minflt - before.ru_minflt,
           b.n > 0 ? process_cpu * 1e6 / (double)b.n : 0.0);
    if (trace) {
        int last = TRACE_SLOTS - 1;
        while (last > 0 && b.slots[last] == 0)
            last--;
        fprintf(stderr,
                "trace: first answer at %.1f ms; answers per "
                "%.0f ms:",
                b.first_ms, TRACE_MS);
        for (int i = 0; i <= last; i++)
            fprintf(stderr, " %ld", b.slots[i]);
        fprintf(stderr, "\n");
    }
    if (b.failed > 0)
        fprintf(stderr, "bench: first failure: %s\n",
                plm_strerror(b.first_error));
    return rc == PLM_OK && b.failed == 0 ? 0 : 1;
}
