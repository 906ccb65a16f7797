/*
 * What the benchmark programs share: a monotonic clock in seconds and the
 * mock server run in a forked child, so the client's CPU time and memory
 * (getrusage RUSAGE_SELF) are measured without the server's. Header-only
 * because every C file in bench/ is its own program.
 */
#ifndef PLM_BENCH_CHILD_H
#define PLM_BENCH_CHILD_H

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mock.h"
#include "parallm.h"

static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The benchmarks' request number i: a short chat to "bench-model" with
 * max_tokens 16. Returns a plm_code; *out is set only on PLM_OK. */
static inline int bench_chat_request(plm_provider provider, long i,
                                     plm_request **out)
{
    plm_request *req = NULL;
    char text[64];
    int rc = plm_request_new_chat(&req, provider, "bench-model");

    if (rc != PLM_OK)
        return rc;
    snprintf(text, sizeof text, "request %ld", i);
    rc = plm_request_add_message(req, "user", text);
    if (rc == PLM_OK)
        rc = plm_request_set_max_tokens(req, 16);
    if (rc != PLM_OK) {
        plm_request_free(req);
        return rc;
    }
    *out = req;
    return PLM_OK;
}

/* Seconds from a to b. */
static inline double bench_tv_seconds(struct timeval a, struct timeval b)
{
    return (double)(b.tv_sec - a.tv_sec) +
           (double)(b.tv_usec - a.tv_usec) / 1e6;
}

/* User plus system seconds of a getrusage result. */
static inline double bench_rusage_s(const struct rusage *r)
{
    return bench_tv_seconds((struct timeval){ 0, 0 }, r->ru_utime) +
           bench_tv_seconds((struct timeval){ 0, 0 }, r->ru_stime);
}

/* max_in_flight_seen from the mock's stats file (one JSON line written
 * when it stops), or -1. */
static inline int bench_peak_in_flight(const char *path)
{
    char line[512];
    const char *key = "\"max_in_flight_seen\":";
    FILE *f = fopen(path, "r");
    int peak = -1;

    if (f == NULL)
        return -1;
    if (fgets(line, sizeof line, f) != NULL) {
        const char *at = strstr(line, key);
        if (at != NULL)
            peak = (int)strtol(at + strlen(key), NULL, 10);
    }
    fclose(f);
    return peak;
}

static inline void bench_mock_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Starts the mock with opts (its port_file is replaced) in a child,
 * pinned to CPU cpu when cpu >= 0 (so a benchmark can keep client and
 * server on cores of their own); returns the child's pid and sets *port,
 * or -1. */
static inline pid_t bench_mock_start_on(const plm_mock_options *opts, int *port,
                                        int cpu)
{
    char port_file[] = "/tmp/plm-bench-port-XXXXXX";
    int fd = mkstemp(port_file);
    pid_t pid;

    if (fd < 0)
        return -1;
    close(fd);
    unlink(port_file);
    pid = fork();
    if (pid == 0) {
        plm_mock_options mo = *opts;
        char err[256];
        mo.port_file = port_file;
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0)
                perror("bench: mock pinning");
        }
        _exit(plm_mock_serve(&mo, err, sizeof err) == 0 ? 0 : 1);
    }
    if (pid < 0)
        return -1;
    /* A benchmark may poll: wait up to 10 s for the port file. */
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(port_file, "r");
        if (f != NULL) {
            int ok = fscanf(f, "%d", port) == 1;
            fclose(f);
            if (ok) {
                unlink(port_file);
                return pid;
            }
        }
        usleep(10000);
    }
    bench_mock_stop(pid);
    return -1;
}

/* Starts the mock answering after latency_ms, pinned to cpu when cpu >=
 * 0, with a stats file whose path goes to stats_file (at least 32 bytes;
 * bench_peak_in_flight reads it once bench_mock_stop has stopped the
 * mock; unlink it then). Returns the child's pid and sets *port, or -1
 * after saying why on stderr, each line starting with who. */
static inline pid_t bench_mock_start_stats(const char *who, long latency_ms,
                                           int cpu, char *stats_file, int *port)
{
    plm_mock_options mo;
    int fd;
    pid_t pid;

    memset(&mo, 0, sizeof mo);
    mo.latency_ms = latency_ms;
    snprintf(stats_file, 32, "/tmp/plm-bench-stats-XXXXXX");
    fd = mkstemp(stats_file);
    if (fd < 0) {
        fprintf(stderr, "%s: stats file: %s\n", who, strerror(errno));
        return -1;
    }
    close(fd);
    mo.stats_file = stats_file;
    pid = bench_mock_start_on(&mo, port, cpu);
    if (pid < 0) {
        fprintf(stderr, "%s: cannot start the mock server\n", who);
        unlink(stats_file);
    }
    return pid;
}

static inline pid_t bench_mock_start(const plm_mock_options *opts, int *port)
{
    return bench_mock_start_on(opts, port, -1);
}

#endif
