/*
 * `parallm demo`: the sequential-versus-parallel benchmark that motivated
 * parallm, measured honestly. It starts the embedded mock server with a
 * fixed latency L, describes N synthetic files once with one request at a
 * time and once with up to C in flight (plm_gather), and prints the
 * measured times beside the floors no scheduler can beat: N x L for
 * sequential and ceil(N/C) x L for parallel. The server's own count of
 * requests in flight at once is printed too, so the limit C is shown to
 * hold rather than asserted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_args.h"
#include "commands.h"
#include "mock.h"
#include "parallm.h"

#define DEMO_DEFAULT_LATENCY_MS 150
#define DEMO_DEFAULT_CONCURRENCY 5
#define DEMO_MAX_SIZES 16
#define DEMO_MAX_FILES 1000

struct demo_config {
    int64_t latency_ms;
    int max_concurrent;
    int sizes[DEMO_MAX_SIZES];
    size_t n_sizes;
    int color;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: parallm demo [options]\n"
        "\n"
        "Describes N synthetic files on the embedded mock server, first one\n"
        "request at a time and then in parallel, and compares the measured\n"
        "times with the ideal ones (N x L and ceil(N/C) x L).\n"
        "\n"
        "options:\n"
        "  -l, --latency DUR          mock latency per request L (default "
        "%dms;\n"
        "                             50ms, 3s, 1.5s; a bare number is ms)\n"
        "  -c, --max-concurrent C     requests in flight when parallel "
        "(default %d)\n"
        "  -s, --sizes N,N,...        batch sizes (default 5,10,20)\n"
        "  -h, --help                 show this help\n",
        DEMO_DEFAULT_LATENCY_MS, DEMO_DEFAULT_CONCURRENCY);
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses "5,10,20" into the demo_config at dest. Returns 0 or -1. */
static int convert_sizes(const char *text, void *dest)
{
    struct demo_config *cfg = dest;
    char buf[256];
    char *save = NULL;
    size_t len = strlen(text);

    if (len >= sizeof buf)
        return -1;
    memcpy(buf, text, len + 1);
    cfg->n_sizes = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (cfg->n_sizes == DEMO_MAX_SIZES)
            return -1;
        if (cli_parse_int(tok, 1, DEMO_MAX_FILES, &cfg->sizes[cfg->n_sizes]))
            return -1;
        cfg->n_sizes++;
    }
    return cfg->n_sizes > 0 ? 0 : -1;
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* Returns -1 to go on, or an exit code. */
static int parse_options(int argc, char **argv, struct demo_config *cfg)
{
    /* One option per line reads as a table. */
    /* clang-format off */
    const cli_option options[] = {
        /* Capped at 10 minutes: longer only makes the demo hang. */
        { .name = "latency", .letter = 'l', .kind = CLI_OPT_DURATION,
          .dest = &cfg->latency_ms, .unit_ms = 1, .max = 600000,
          .bad = "invalid --latency '%v'" },
        { .name = "max-concurrent", .letter = 'c', .kind = CLI_OPT_INT,
          .dest = &cfg->max_concurrent, .min = 1, .max = DEMO_MAX_FILES,
          .bad = "invalid --max-concurrent '%v' (1.." STR(DEMO_MAX_FILES)
                 ")" },
        { .name = "sizes", .letter = 's', .kind = CLI_OPT_CUSTOM,
          .dest = cfg, .convert = convert_sizes,
          .bad = "invalid --sizes '%v' (up to " STR(DEMO_MAX_SIZES)
                 " numbers 1.." STR(DEMO_MAX_FILES) ", comma-separated)" },
        { .name = "help", .letter = 'h', .kind = CLI_OPT_HELP },
        { .kind = CLI_OPT_END }
    };
    /* clang-format on */
    const cli_command_line cl = { "demo", options, NULL, usage };
    int first_arg;
    int rc = cli_parse_command_line(&cl, argc, argv, &first_arg);

    if (rc >= 0)
        return rc;
    if (first_arg < argc) {
        fprintf(stderr, "parallm demo: unexpected argument '%s'\n",
                argv[first_arg]);
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* Builds n describe-a-file requests. Returns PLM_OK or a plm_code. */
static int make_requests(plm_request **reqs, int n)
{
    char prompt[256];

    for (int i = 0; i < n; i++) {
        int rc = plm_request_new_chat(&reqs[i], PLM_PROVIDER_OPENAI,
                                      "mock-model");
        if (rc != PLM_OK)
            return rc;
        snprintf(prompt, sizeof prompt,
                 "Describe the file src/module_%02d.c. Reply with a JSON "
                 "object with a \"summary\" and the \"references\" it "
                 "depends on.",
                 i + 1);
        rc = plm_request_add_message(reqs[i], "user", prompt);
        if (rc == PLM_OK)
            rc = plm_request_set_max_tokens(reqs[i], 64);
        if (rc != PLM_OK)
            return rc;
    }
    return PLM_OK;
}

/*
 * Runs one batch of n requests at concurrency c and returns its wall time
 * in *seconds and the server's peak of requests in flight in *peak.
 * Prints the batch's summary line ("INFO: Executed ..."). Returns PLM_OK, or
 * the first failure's code with its text (plm_last_error()'s detail included)
 * in why.
 */
static int run_batch(plm_client *client, plm_mock *mock, int n, int c,
                     double *seconds, int *peak, char *why, size_t why_len)
{
    plm_request **reqs = calloc((size_t)n, sizeof *reqs);
    plm_result **results = calloc((size_t)n, sizeof *results);
    plm_gather_options gopts = PLM_GATHER_OPTIONS_INIT;
    plm_mock_stats stats;
    int rc = PLM_ENOMEM;

    if (reqs == NULL || results == NULL)
        goto out;
    rc = make_requests(reqs, n);
    if (rc != PLM_OK)
        goto out;
    plm_mock_reset(mock);
    gopts.max_concurrent = c;
    gopts.return_errors = 1;
    double start = now_seconds();
    rc = plm_gather(client, reqs, (size_t)n, results, &gopts);
    *seconds = now_seconds() - start;
    plm_mock_get_stats(mock, &stats);
    *peak = stats.max_in_flight_seen;
    if (rc != PLM_OK) {
        /* Now, while plm_last_error() is plm_gather's. */
        cli_strerror(rc, why, why_len);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (plm_result_code(results[i]) != PLM_OK) {
            rc = plm_result_code(results[i]);
            fprintf(stderr, "parallm demo: request %d failed: %s\n", i + 1,
                    plm_result_error_message(results[i]));
            goto out;
        }
    }
    printf("INFO: Executed %d LLM requests %s: %.2fs (avg: %.2fs per "
           "request)\n",
           n, c == 1 ? "sequentially" : "in parallel", *seconds, *seconds / n);
    fflush(stdout);
out:
    if (rc != PLM_OK && why[0] == '\0')
        snprintf(why, why_len, "%s", plm_strerror(rc));
    if (results != NULL)
        plm_results_free(results, (size_t)n);
    if (reqs != NULL) {
        for (int i = 0; i < n; i++)
            plm_request_free(reqs[i]);
    }
    free(results);
    free(reqs);
    return rc;
}

static void print_header(const struct demo_config *cfg)
{
    printf("\n%s%5s  %10s  %9s  %7s  %10s  %17s  %4s%s\n",
           cfg->color ? "\033[1m" : "", "files", "sequential", "parallel",
           "speedup", "ideal NxL", "ideal ceil(N/C)xL", "peak",
           cfg->color ? "\033[0m" : "");
}

static void print_row(const struct demo_config *cfg, int n, double seq,
                      double par, int peak)
{
    double l = (double)cfg->latency_ms / 1000.0;
    double ideal_seq = n * l;
    double ideal_par = ceil((double)n / cfg->max_concurrent) * l;
    double speedup = par > 0 ? seq / par : 0;

    printf("%5d  %9.2fs  %8.2fs  %s%6.1fx%s  %9.2fs  %16.2fs  %4d\n", n, seq,
           par, cfg->color ? "\033[32m" : "", speedup,
           cfg->color ? "\033[0m" : "", ideal_seq, ideal_par, peak);
    fflush(stdout);
}

/* What the table showed, in plain words, for its largest batch. */
static void print_footnote(const struct demo_config *cfg, int n, double seq,
                           double par)
{
    double l = (double)cfg->latency_ms / 1000.0;
    double floor_par = ceil((double)n / cfg->max_concurrent) * l;

    printf("\npeak: most requests the server had in flight at once in the "
           "parallel run.\nNo schedule with at most C = %d in flight can "
           "beat ceil(N/C) x L.\n",
           cfg->max_concurrent);
    printf("In short: %d requests that each take %.3g s took %.2f s one at "
           "a time\nand %.2f s with up to %d in flight (%.1fx faster); "
           "nothing can do them in\nless than %.2f s with %d in flight; the "
           "parallel run's overhead was %.2f s.\n",
           n, l, seq, par, cfg->max_concurrent, par > 0 ? seq / par : 0.0,
           floor_par, cfg->max_concurrent,
           par > floor_par ? par - floor_par : 0.0);
}

int cmd_demo(int argc, char **argv)
{
    struct demo_config cfg = {
        DEMO_DEFAULT_LATENCY_MS, DEMO_DEFAULT_CONCURRENCY, { 5, 10, 20 }, 3, 0
    };
    plm_mock_options mopts;
    plm_client_options copts = PLM_CLIENT_OPTIONS_INIT;
    plm_mock *mock = NULL;
    plm_client *client = NULL;
    char err[256] = "";
    char base_url[64];
    int rc;

    rc = parse_options(argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    cfg.color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;

    memset(&mopts, 0, sizeof mopts);
    mopts.host = "127.0.0.1";
    mopts.port = 0;
    mopts.latency_ms = cfg.latency_ms;
    if (plm_mock_start(&mock, &mopts, err, sizeof err) != 0) {
        fprintf(stderr, "parallm demo: cannot start the mock server: %s\n",
                err);
        return CLI_EXIT_FATAL;
    }
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d",
             plm_mock_port(mock));
    copts.openai_base_url = base_url;
    copts.openai_api_key = "mock-key"; /* the mock accepts any key */
    /* Generous per attempt, yet a broken server cannot hang the demo. */
    copts.request_timeout_ms = cfg.latency_ms + 30000;
    rc = plm_client_new(&client, &copts);
    if (rc != PLM_OK) {
        char why[CLI_ERROR_LEN];
        fprintf(stderr, "parallm demo: %s\n",
                cli_strerror(rc, why, sizeof why));
        rc = CLI_EXIT_FATAL;
        goto out;
    }

    printf("parallm demo: each batch of N requests goes to the embedded "
           "mock server at\n%s, which answers every request after L = "
           "%.3g s: first one\nat a time, then with up to C = %d in "
           "flight.\n\n",
           base_url, (double)cfg.latency_ms / 1000.0, cfg.max_concurrent);
    fflush(stdout);
    /* The batches' log lines come first, as progress; the table follows
     * once every number is known, so nothing interleaves with it. */
    double seq[DEMO_MAX_SIZES], par[DEMO_MAX_SIZES];
    int peak[DEMO_MAX_SIZES];
    rc = CLI_EXIT_OK;
    for (size_t i = 0; i < cfg.n_sizes; i++) {
        int n = cfg.sizes[i];
        int peak_seq = 0;
        char why[CLI_ERROR_LEN] = "";
        int code = run_batch(client, mock, n, 1, &seq[i], &peak_seq, why,
                             sizeof why);
        if (code == PLM_OK)
            code = run_batch(client, mock, n, cfg.max_concurrent, &par[i],
                             &peak[i], why, sizeof why);
        if (code != PLM_OK) {
            fprintf(stderr, "parallm demo: batch of %d failed: %s\n", n, why);
            rc = CLI_EXIT_PARTIAL;
            goto out;
        }
    }
    print_header(&cfg);
    for (size_t i = 0; i < cfg.n_sizes; i++)
        print_row(&cfg, cfg.sizes[i], seq[i], par[i], peak[i]);
    print_footnote(&cfg, cfg.sizes[cfg.n_sizes - 1], seq[cfg.n_sizes - 1],
                   par[cfg.n_sizes - 1]);
out:
    plm_client_free(client);
    plm_mock_free(mock);
    return rc;
}
