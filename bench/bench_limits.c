/*
 * Benchmark of staying inside a provider's rate limit: the mock LLM server
 * enforces a requests-per-minute limit (a sliding 60 s window, answering
 * 429 with rate-limit headers beyond it) and the client runs N requests
 * against it, either told the limit (--rpm for both) or told nothing
 * (--learn: the client must take the limit from the mock's headers).
 *
 * The mock runs in a child process (forked before the client starts), so
 * the two do not share a thread or an event loop.
 *
 *   bench_limits [-n N] [-r RPM] [-c CONCURRENCY] [-l LATENCY_MS] [--learn]
 *                [--no-headers]
 *
 * Prints one line: the 429s the client saw and the mock sent, requests
 * succeeded and failed, wall time, and the throughput once under way (from
 * the completion at 10% of N to the last) as requests per minute and as a
 * fraction of the limit.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_child.h"
#include "mock.h"
#include "parallm.h"

typedef struct bench {
    long n, next, ok, failed;
    int first_error;
    double *done_at; /* completion times, seconds, in order */
    long ndone;
} bench;

static int source(plm_request **out, void *user_data)
{
    bench *b = user_data;
    int rc;

    if (b->next >= b->n)
        return 0;
    rc = bench_chat_request(PLM_PROVIDER_OPENAI, b->next, out);
    if (rc != PLM_OK)
        return rc;
    b->next++;
    return 1;
}

static int complete(plm_request *req, plm_result *res, void *user_data)
{
    bench *b = user_data;

    if (plm_result_code(res) == PLM_OK) {
        b->ok++;
    } else {
        if (b->failed == 0)
            b->first_error = plm_result_code(res);
        b->failed++;
    }
    if (b->ndone < b->n)
        b->done_at[b->ndone++] = bench_now_s();
    plm_result_free(res);
    plm_request_free(req);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "learn", no_argument, NULL, 'L' },
        { "no-headers", no_argument, NULL, 'H' },
        { NULL, 0, NULL, 0 },
    };
    bench b;
    long rpm = 1200, concurrency = 50, latency_ms = 200;
    int learn = 0, headers = 1, port = 0, opt;

    memset(&b, 0, sizeof b);
    b.n = 1100;
    while ((opt = getopt_long(argc, argv, "n:r:c:l:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': b.n = strtol(optarg, NULL, 10); break;
        case 'r': rpm = strtol(optarg, NULL, 10); break;
        case 'c': concurrency = strtol(optarg, NULL, 10); break;
        case 'l': latency_ms = strtol(optarg, NULL, 10); break;
        case 'L': learn = 1; break;
        case 'H': headers = 0; break;
        default:
            fprintf(stderr,
                    "usage: %s [-n N] [-r RPM] [-c C] [-l MS] [--learn] "
                    "[--no-headers]\n",
                    argv[0]);
            return 2;
        }
    }
    if (b.n < 10 || rpm < 1 || concurrency < 0 || latency_ms < 0) {
        fprintf(stderr, "bench_limits: bad arguments\n");
        return 2;
    }
    b.done_at = calloc((size_t)b.n, sizeof *b.done_at);
    if (!b.done_at)
        return 1;

    plm_mock_options mo;
    memset(&mo, 0, sizeof mo);
    mo.latency_ms = latency_ms;
    mo.rpm = rpm;
    mo.send_ratelimit_headers = headers;
    pid_t mock = bench_mock_start(&mo, &port);
    if (mock < 0) {
        fprintf(stderr, "bench_limits: cannot start the mock server\n");
        free(b.done_at);
        return 1;
    }

    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    co.openai_base_url = base;
    co.openai_api_key = "bench-key";
    co.max_retries = 10;
    if (!learn)
        co.rpm = (double)rpm;
    plm_client *client = NULL;
    if (plm_client_new(&client, &co) != PLM_OK) {
        fprintf(stderr, "bench_limits: cannot create the client\n");
        bench_mock_stop(mock);
        free(b.done_at);
        return 1;
    }

    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    ro.max_concurrent = (int)concurrency;
    double t0 = bench_now_s();
    int rc = plm_client_run(client, source, complete, &ro, &b);
    double wall = bench_now_s() - t0;
    plm_stats st;
    plm_client_stats(client, &st);
    plm_client_free(client);
    bench_mock_stop(mock);

    /* Under way: from the completion at 10% of N to the last one. */
    long k = b.ndone / 10;
    double rate = 0;
    if (b.ndone > k + 1 && b.done_at[b.ndone - 1] > b.done_at[k])
        rate = (double)(b.ndone - 1 - k) /
               (b.done_at[b.ndone - 1] - b.done_at[k]) * 60.0;
    printf("limits n=%ld rpm=%ld client=%s headers=%d c=%ld latency_ms=%ld "
           "ok=%ld failed=%ld rate_limited=%llu (%.2f%%) wall_s=%.1f "
           "underway_rpm=%.1f (%.1f%% of the limit) run=%s\n",
           b.n, rpm, learn ? "learning" : "told", headers, concurrency,
           latency_ms, b.ok, b.failed, (unsigned long long)st.rate_limited,
           100.0 * (double)st.rate_limited / (double)b.n, wall, rate,
           100.0 * rate / (double)rpm, plm_strerror(rc));
    if (b.failed > 0)
        fprintf(stderr, "bench_limits: first failure: %s\n",
                plm_strerror(b.first_error));
    free(b.done_at);
    return rc == PLM_OK && b.failed == 0 ? 0 : 1;
}
