/*
 * How soon a streamed answer's first piece reaches the caller: the mock
 * (in its own process) sends each answer in 50 chunks 20 ms apart
 * (directive interval=20) and logs, per request, the wall time at which
 * it handed the first chunk to the socket; the delta callback takes the
 * wall time when it sees delta 0. Both clocks are CLOCK_REALTIME on the
 * same machine. Prints the median and the maximum of the difference over
 * N requests, and the time to first token the result reports (sent to
 * first delta) for context.
 *
 *   bench_stream [-n N] [-c CONCURRENCY] [--anthropic]
 *
 * Target: the median and the maximum within 5 ms.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_child.h"
#include "mock.h"
#include "parallm.h"

#define CHUNKS 50
#define INTERVAL_MS 20
#define PIECE 16 /* the mock's piece of text per chunk */

struct slot {
    int64_t delta0_wall_ns; /* the callback saw delta 0; 0: never */
    int64_t chunk0_wall_ns; /* the mock sent its first chunk (its log) */
    int64_t ttft_ns;        /* plm_result_first_token_ns - sent_ns */
    int chunks;
    int ok;
};

static int64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int on_delta(const plm_delta *d, void *user_data)
{
    struct slot *s = user_data;

    if (d->index == 0)
        s->delta0_wall_ns = wall_ns();
    return 0;
}

/* Request i: "mock reply: " plus this text is CHUNKS - 1 pieces, so the
 * answer goes out in CHUNKS chunks (the last holds the closing events). */
static plm_request *stream_request(plm_provider provider, long i,
                                   struct slot *s)
{
    char text[(CHUNKS - 1) * PIECE + 1];
    size_t want = (CHUNKS - 1) * PIECE - strlen("mock reply: "), len;
    plm_request *req = NULL;

    snprintf(text, sizeof text, "request %ld [mock interval=%d] ", i,
             INTERVAL_MS);
    len = strlen(text);
    while (len < want)
        text[len++] = 'x';
    text[want] = '\0';
    if (plm_request_new_chat(&req, provider, "bench-model") != PLM_OK)
        return NULL;
    if (plm_request_add_message(req, "user", text) != PLM_OK ||
        plm_request_set_max_tokens(req, 16) != PLM_OK ||
        plm_request_set_stream(req, 1) != PLM_OK ||
        plm_request_set_delta_callback(req, on_delta, s) != PLM_OK) {
        plm_request_free(req);
        return NULL;
    }
    return req;
}

/* Reads the mock's log: the first chunk's wall time of "request N". */
static void read_log(const char *path, struct slot *slots, long n)
{
    FILE *f = fopen(path, "r");
    char line[8192];

    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        const char *text = json_string_value(json_object_get(o, "user_text"));
        long i;

        if (text && sscanf(text, "request %ld", &i) == 1 && i >= 0 && i < n) {
            slots[i].chunk0_wall_ns = json_integer_value(
                json_object_get(o, "first_chunk_unix_ns"));
            slots[i].chunks = (int)json_integer_value(
                json_object_get(o, "stream_chunks"));
        }
        json_decref(o);
    }
    fclose(f);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void print_stats(const char *what, int64_t *v, long n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    printf("%s: median %.3f ms, max %.3f ms, min %.3f ms\n", what,
           (double)v[n / 2] / 1e6, (double)v[n - 1] / 1e6, (double)v[0] / 1e6);
}

static int run(long n, int c, plm_provider provider, int port,
               struct slot *slots)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    plm_request **reqs = calloc((size_t)n, sizeof *reqs);
    plm_result **res = calloc((size_t)n, sizeof *res);
    plm_client *client = NULL;
    char base[64];
    int rc = 1;

    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    co.openai_base_url = base;
    co.anthropic_base_url = base;
    co.openai_api_key = "bench-key";
    co.anthropic_api_key = "bench-key";
    go.max_concurrent = c;
    go.return_errors = 1;
    if (!reqs || !res || plm_client_new(&client, &co) != PLM_OK)
        goto out;
    for (long i = 0; i < n; i++) {
        reqs[i] = stream_request(provider, i, &slots[i]);
        if (!reqs[i])
            goto out;
    }
    if (plm_gather(client, reqs, (size_t)n, res, &go) != PLM_OK)
        goto out;
    for (long i = 0; i < n; i++) {
        plm_timings t;

        slots[i].ok = plm_result_code(res[i]) == PLM_OK;
        if (!slots[i].ok)
            fprintf(stderr, "request %ld: %s\n", i,
                    plm_result_error_message(res[i]));
        plm_result_timings(res[i], &t);
        slots[i].ttft_ns = plm_result_first_token_ns(res[i]) - t.sent_ns;
    }
    rc = 0;
out:
    for (long i = 0; i < n && res; i++)
        plm_result_free(res[i]);
    for (long i = 0; i < n && reqs; i++)
        plm_request_free(reqs[i]);
    free(res);
    free(reqs);
    plm_client_free(client);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "anthropic", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 }
    };
    plm_mock_options mo = { 0 };
    char log_path[] = "/tmp/plm-bench-stream-XXXXXX";
    long n = 20, i, used = 0;
    int c = 1, opt, port = 0, fd;
    plm_provider provider = PLM_PROVIDER_OPENAI;
    struct slot *slots;
    int64_t *lag, *ttft;
    pid_t pid;

    while ((opt = getopt_long(argc, argv, "n:c:", longopts, NULL)) != -1) {
        if (opt == 'n')
            n = atol(optarg);
        else if (opt == 'c')
            c = atoi(optarg);
        else if (opt == 'a')
            provider = PLM_PROVIDER_ANTHROPIC;
        else
            return 2;
    }
    if (n < 1 || c < 1)
        return 2;
    fd = mkstemp(log_path);
    if (fd < 0)
        return 1;
    close(fd);
    mo.log_file = log_path;
    pid = bench_mock_start(&mo, &port);
    slots = calloc((size_t)n, sizeof *slots);
    lag = calloc((size_t)n, sizeof *lag);
    ttft = calloc((size_t)n, sizeof *ttft);
    if (pid < 0 || !slots || !lag || !ttft) {
        fprintf(stderr, "bench_stream: could not start\n");
        return 1;
    }
    if (run(n, c, provider, port, slots) != 0) {
        fprintf(stderr, "bench_stream: the run failed\n");
        bench_mock_stop(pid);
        return 1;
    }
    bench_mock_stop(pid);
    read_log(log_path, slots, n);
    unlink(log_path);
    for (i = 0; i < n; i++) {
        if (!slots[i].ok || !slots[i].delta0_wall_ns ||
            !slots[i].chunk0_wall_ns)
            continue;
        lag[used] = slots[i].delta0_wall_ns - slots[i].chunk0_wall_ns;
        ttft[used] = slots[i].ttft_ns;
        used++;
    }
    printf("bench_stream: %s, %ld requests, concurrency %d, %d chunks %d ms "
           "apart (mock's count: %d), %ld measured\n",
           provider == PLM_PROVIDER_OPENAI ? "openai" : "anthropic", n, c,
           CHUNKS, INTERVAL_MS, slots[0].chunks, used);
    if (used == 0)
        return 1;
    print_stats("mock's first chunk -> delta 0 seen", lag, used);
    print_stats("result's time to first token (sent -> delta 0)", ttft, used);
    free(slots);
    free(lag);
    free(ttft);
    return used == n ? 0 : 1;
}
