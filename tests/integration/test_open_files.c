/*
 * Descriptor exhaustion: a run with unlimited concurrency in a process that
 * may open few files. Each case runs the client in a forked child with a
 * low RLIMIT_NOFILE (the mock stays in the parent, so its sockets do not
 * count); the child reports through its exit status. Every request must
 * succeed: the run raises the soft limit to the hard one when it needs
 * more, caps its concurrency below what remains (saying so in a WARN
 * line), and a socket that still cannot be opened (EMFILE) is retried as
 * a local condition, never given to the caller as the provider's failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mock.h"
#include "mock_client.h"
#include "parallm.h"

enum { N = 400 };

/* Exit status bits of a child. */
#define CHILD_FAILED 1     /* some request did not succeed */
#define CHILD_NO_WARN 2    /* no WARN line naming the cap */
#define CHILD_NOT_RAISED 4 /* the soft limit was not raised to the hard */
#define CHILD_SETUP 8

typedef struct child_log {
    int warned;
} child_log;

static void on_log(plm_log_level level, const char *message, void *ud)
{
    child_log *l = ud;
    if (level == PLM_LOG_WARN && strstr(message, "concurrency") &&
        strstr(message, "RLIMIT_NOFILE"))
        l->warned = 1;
}

/* In the child: limits soft/hard, N requests at unlimited concurrency
 * against the mock on port, each held 100 ms by the mock so that many
 * are in flight at once. */
static int child_run(int port, rlim_t soft, rlim_t hard, int want_warn)
{
    struct rlimit rl = { soft, hard };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    plm_client *c = NULL;
    static plm_request *reqs[N];
    static plm_result *res[N];
    char base[64];
    child_log lg = { 0 };
    int status = 0, bad = 0;

    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return CHILD_SETUP;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    co.openai_base_url = base;
    co.openai_api_key = "sk-open-files";
    co.log = on_log;
    co.log_user_data = &lg;
    co.log_level = 1;
    if (plm_client_new(&c, &co) != PLM_OK)
        return CHILD_SETUP;
    for (int i = 0; i < N; i++) {
        if (plm_request_new_chat(&reqs[i], PLM_PROVIDER_OPENAI, "m") !=
                PLM_OK ||
            plm_request_add_message(reqs[i], "user",
                                    "[mock latency=100] hello") != PLM_OK)
            return CHILD_SETUP;
    }
    go.return_errors = 1;
    go.timeout_ms = 120000; /* a hang is a failure, not a stuck test */
    if (plm_gather(c, reqs, N, res, &go) != PLM_OK)
        status |= CHILD_FAILED;
    for (int i = 0; i < N; i++) {
        if (plm_result_code(res[i]) != PLM_OK) {
            if (bad++ == 0)
                fprintf(stderr, "request %d: %s\n", i,
                        plm_result_error_message(res[i]));
            status |= CHILD_FAILED;
        }
    }
    if (bad)
        fprintf(stderr, "%d of %d failed\n", bad, N);
    if (want_warn && !lg.warned)
        status |= CHILD_NO_WARN;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur != hard)
        status |= soft != hard ? CHILD_NOT_RAISED : 0;
    plm_results_free(res, N);
    for (int i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_client_free(c);
    return status;
}

/* Runs fn in a child against a mock in this process. The child is forked
 * before the mock's thread starts (forking a process with other threads
 * can leave an allocator lock held in the child, as under ASan) and reads
 * the mock's port from a pipe. Returns the child's exit status. */
static int in_child(int (*fn)(int port, void *arg), void *arg)
{
    plm_mock_options mo;
    int fds[2], port = 0, st = 0;

    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[1]);
        if (read(fds[0], &port, sizeof port) != (ssize_t)sizeof port)
            _exit(CHILD_SETUP);
        close(fds[0]);
        _exit(fn(port, arg));
    }
    close(fds[0]);
    memset(&mo, 0, sizeof mo);
    plm_mock *m = plm_test_mock_start(&mo);
    port = plm_mock_port(m);
    assert_int_equal(write(fds[1], &port, sizeof port), (ssize_t)sizeof port);
    close(fds[1]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    plm_mock_free(m);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

typedef struct limits {
    rlim_t soft, hard;
    int want_warn;
} limits;

static int child_limits(int port, void *arg)
{
    const limits *l = arg;
    return child_run(port, l->soft, l->hard, l->want_warn);
}

static int run_in_child(rlim_t soft, rlim_t hard, int want_warn)
{
    limits l = { soft, hard, want_warn };
    return in_child(child_limits, &l);
}

static void test_open_files__hard_limit_64(void **state)
{
    (void)state;
    /* Soft and hard 64: nothing to raise; the run caps its concurrency
     * and says so. */
    assert_int_equal(run_in_child(64, 64, 1), 0);
}

static void test_open_files__soft_limit_raised(void **state)
{
    struct rlimit rl;
    (void)state;
    /* Soft 64 under a higher hard limit: raised to the hard limit, which
     * leaves room for every request; no request fails either way. */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * N)
        skip();
    rlim_t hard = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4096
                      ? 4096
                      : rl.rlim_max;
    assert_int_equal(run_in_child(64, hard, 0), 0);
}

/* The local retry: every descriptor is taken just before the first
 * request goes out, and given back when the client logs that an attempt
 * found none. */
typedef struct hog {
    int fds[4096];
    int n;
    int local_failures;
    size_t next;
    plm_request **reqs;
    plm_result **res;
    size_t nreq;
} hog;

static void hog_release(hog *h)
{
    while (h->n > 0)
        close(h->fds[--h->n]);
}

static void hog_log(plm_log_level level, const char *message, void *ud)
{
    hog *h = ud;
    (void)level;
    if (strstr(message, "no descriptor for a connection")) {
        h->local_failures++;
        hog_release(h);
    }
}

static int hog_source(plm_request **out, void *ud)
{
    hog *h = ud;
    if (h->next == 0)
        while (h->n < 4096 && (h->fds[h->n] = dup(0)) >= 0)
            h->n++;
    if (h->next >= h->nreq)
        return 0;
    plm_request_set_user_data(h->reqs[h->next], (void *)(uintptr_t)h->next);
    *out = h->reqs[h->next++];
    return 1;
}

static int hog_complete(plm_request *req, plm_result *res, void *ud)
{
    hog *h = ud;
    (void)req;
    h->res[(uintptr_t)plm_result_user_data(res)] = res;
    return 0;
}

static int child_hog(int port)
{
    enum { M = 20 };
    struct rlimit rl = { 64, 64 };
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    static plm_request *reqs[M];
    static plm_result *res[M];
    static hog h;
    plm_client *c = NULL;
    char base[64];
    int status = 0;

    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return CHILD_SETUP;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    co.openai_base_url = base;
    co.openai_api_key = "sk-open-files";
    co.log = hog_log;
    co.log_user_data = &h;
    co.log_level = 3;
    co.max_retries = 0; /* a failure counted as the provider's is final */
    if (plm_client_new(&c, &co) != PLM_OK)
        return CHILD_SETUP;
    for (int i = 0; i < M; i++)
        if (plm_request_new_chat(&reqs[i], PLM_PROVIDER_OPENAI, "m") !=
                PLM_OK ||
            plm_request_add_message(reqs[i], "user", "hello") != PLM_OK)
            return CHILD_SETUP;
    h.reqs = reqs;
    h.res = res;
    h.nreq = M;
    ro.timeout_ms = 120000;
    if (plm_client_run(c, hog_source, hog_complete, &ro, &h) != PLM_OK)
        status |= CHILD_FAILED;
    for (int i = 0; i < M; i++) {
        /* Succeeded, in one attempt: the local failure is not one. */
        if (!res[i] || plm_result_code(res[i]) != PLM_OK ||
            plm_result_attempts(res[i]) != 1) {
            if (!(status & CHILD_FAILED))
                fprintf(stderr, "request %d: %s (attempts %d)\n", i,
                        res[i] ? plm_result_error_message(res[i]) : "none",
                        res[i] ? plm_result_attempts(res[i]) : 0);
            status |= CHILD_FAILED;
        }
        plm_result_free(res[i]);
        plm_request_free(reqs[i]);
    }
    if (h.local_failures == 0)
        status |= CHILD_NO_WARN; /* the case under test never happened */
    hog_release(&h);
    plm_client_free(c);
    return status;
}

static int child_hog_fn(int port, void *arg)
{
    (void)arg;
    return child_hog(port);
}

static void test_open_files__emfile_is_retried_locally(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_hog_fn, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_files__hard_limit_64),
        cmocka_unit_test(test_open_files__soft_limit_raised),
        cmocka_unit_test(test_open_files__emfile_is_retried_locally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
