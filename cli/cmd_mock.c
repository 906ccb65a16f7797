/*
 * `parallm mock`: the mock LLM server (src/mock) as a command, so a user
 * can point any OpenAI- or Anthropic-compatible client at a local server
 * with chosen latency, faults and provider-style rate limits. Every
 * plm_mock_options field has an option. The server runs on its own thread
 * while this thread waits for SIGINT or SIGTERM, which keeps signal
 * handling here (sigwait, no async-signal-safety puzzles) and lets the
 * command announce the port it actually bound.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "mock.h"

#define MOCK_DEFAULT_PORT 8080

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: parallm mock [options]\n"
        "\n"
        "Serves the OpenAI (/v1/chat/completions, ...) and Anthropic\n"
        "(/v1/messages) APIs with simulated answers until SIGINT or "
        "SIGTERM.\n"
        "Durations (DUR) take a unit: 50ms, 3s, 1.5s, 5m; a bare number is\n"
        "in ms, except for the Retry-After options (seconds, as the header).\n"
        "\n"
        "options:\n"
        "  -H, --host ADDR            address to bind (default 127.0.0.1)\n"
        "  -p, --port N               port (default %d; 0 = any free port)\n"
        "      --port-file FILE       write the bound port to FILE\n"
        "  -l, --latency DUR          base reply latency (default 0)\n"
        "      --jitter DUR           extra random latency, 0..DUR\n"
        "      --seed N               seed for jitter and faults (default 1)\n"
        "      --fault-rate R         fraction 0..1 of requests that fail\n"
        "      --fault-status CODE    status of those failures (default 429)\n"
        "      --fault-retry-after DUR  Retry-After of those failures\n"
        "                             (default 1s)\n"
        "      --mix-429 R            a fault mix (each request draws once,\n"
        "      --mix-500 R              seeded): fractions answered 429,\n"
        "      --mix-529 R              500, 529, reset without an answer,\n"
        "      --mix-reset R            or 200 with the JSON cut off\n"
        "      --mix-cut R\n"
        "      --mix-429-retry-after DUR  Retry-After of the mix's 429s\n"
        "                             (default 1s)\n"
        "      --rpm N                requests per minute, then 429\n"
        "      --tpm N                tokens per minute, then 429\n"
        "      --max-in-flight N      open requests allowed, then 429\n"
        "      --ratelimit-headers    send x-ratelimit-* headers on every "
        "answer\n"
        "      --tls-cert FILE        serve HTTPS with this PEM certificate\n"
        "      --tls-key FILE         ... and this PEM private key\n"
        "      --log FILE             append one JSON line per request to "
        "FILE\n"
        "      --stats-file FILE      on exit, write the server's counters "
        "(requests,\n"
        "                             peak in flight) to FILE as one JSON "
        "line\n"
        "      --simulated            mark every answer \"simulated\": true\n"
        "  -h, --help                 show this help\n"
        "\n"
        "Per-request faults: put \"[mock status=500 times=2]\" in a user "
        "message\nor send the header \"X-Mock: status=500;times=2\" (see "
        "parallm(1)).\n",
        MOCK_DEFAULT_PORT);
}

/* --fault-retry-after: seconds, like the header it sets; "500ms" also
 * works. */
static int convert_retry_after(const char *text, void *dest)
{
    int64_t ms;

    if (cli_parse_duration(text, 1000, &ms))
        return -1;
    *(double *)dest = (double)ms / 1000.0;
    return 0;
}

/* Fills opts from the command line. Returns -1 to go on, or an exit
 * code (0 after --help). */
static int parse_options(int argc, char **argv, plm_mock_options *o)
{
    /* One option per line reads as a table. */
    /* clang-format off */
    const cli_option options[] = {
        { .name = "host", .letter = 'H', .kind = CLI_OPT_STRING,
          .dest = &o->host },
        { .name = "port", .letter = 'p', .kind = CLI_OPT_INT,
          .dest = &o->port, .min = 0, .max = 65535 },
        { .name = "port-file", .kind = CLI_OPT_STRING, .dest = &o->port_file },
        { .name = "latency", .letter = 'l', .kind = CLI_OPT_DURATION,
          .dest = &o->latency_ms, .unit_ms = 1, .max = INT64_MAX },
        { .name = "jitter", .kind = CLI_OPT_DURATION, .dest = &o->jitter_ms,
          .unit_ms = 1, .max = INT64_MAX },
        { .name = "seed", .kind = CLI_OPT_UINT64, .dest = &o->seed },
        { .name = "fault-rate", .kind = CLI_OPT_DOUBLE,
          .dest = &o->fault_rate, .dmin = 0.0, .dmax = 1.0 },
        { .name = "fault-status", .kind = CLI_OPT_INT,
          .dest = &o->fault_status, .min = 100, .max = 599 },
        { .name = "fault-retry-after", .kind = CLI_OPT_CUSTOM,
          .dest = &o->fault_retry_after, .convert = convert_retry_after },
        { .name = "mix-429", .kind = CLI_OPT_DOUBLE,
          .dest = &o->mix_429_rate, .dmin = 0.0, .dmax = 1.0 },
        { .name = "mix-500", .kind = CLI_OPT_DOUBLE,
          .dest = &o->mix_500_rate, .dmin = 0.0, .dmax = 1.0 },
        { .name = "mix-529", .kind = CLI_OPT_DOUBLE,
          .dest = &o->mix_529_rate, .dmin = 0.0, .dmax = 1.0 },
        { .name = "mix-reset", .kind = CLI_OPT_DOUBLE,
          .dest = &o->mix_reset_rate, .dmin = 0.0, .dmax = 1.0 },
        { .name = "mix-cut", .kind = CLI_OPT_DOUBLE,
          .dest = &o->mix_cut_rate, .dmin = 0.0, .dmax = 1.0 },
        { .name = "mix-429-retry-after", .kind = CLI_OPT_CUSTOM,
          .dest = &o->mix_429_retry_after, .convert = convert_retry_after },
        { .name = "rpm", .kind = CLI_OPT_INT64, .dest = &o->rpm, .min = 0,
          .max = INT64_MAX / 2 },
        { .name = "tpm", .kind = CLI_OPT_INT64, .dest = &o->tpm, .min = 0,
          .max = INT64_MAX / 2 },
        { .name = "max-in-flight", .kind = CLI_OPT_INT,
          .dest = &o->max_in_flight, .min = 0, .max = 1000000 },
        { .name = "ratelimit-headers", .kind = CLI_OPT_FLAG,
          .dest = &o->send_ratelimit_headers, .flag_value = 1 },
        { .name = "tls-cert", .kind = CLI_OPT_STRING,
          .dest = &o->tls_cert_file },
        { .name = "tls-key", .kind = CLI_OPT_STRING,
          .dest = &o->tls_key_file },
        { .name = "log", .kind = CLI_OPT_STRING, .dest = &o->log_file },
        { .name = "stats-file", .kind = CLI_OPT_STRING,
          .dest = &o->stats_file },
        { .name = "simulated", .kind = CLI_OPT_FLAG,
          .dest = &o->simulated_marker, .flag_value = 1 },
        { .name = "help", .letter = 'h', .kind = CLI_OPT_HELP },
        { .kind = CLI_OPT_END }
    };
    /* clang-format on */
    const cli_command_line cl = { "mock", options, "invalid value for %o: '%v'",
                                  usage };
    int first_arg;
    int rc = cli_parse_command_line(&cl, argc, argv, &first_arg);

    if (rc >= 0)
        return rc;
    if (first_arg < argc) {
        fprintf(stderr, "parallm mock: unexpected argument '%s'\n",
                argv[first_arg]);
        return CLI_EXIT_USAGE;
    }
    if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL)) {
        fprintf(stderr, "parallm mock: --tls-cert and --tls-key go "
                        "together\n");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

int cmd_mock(int argc, char **argv)
{
    plm_mock_options opts;
    plm_mock *mock = NULL;
    char err[256] = "";
    sigset_t stop_signals, old_mask;
    int sig = 0;
    int rc;

    memset(&opts, 0, sizeof opts);
    opts.host = "127.0.0.1";
    opts.alone_in_process =
        1; /* the command's other thread waits for signals */
    opts.port = MOCK_DEFAULT_PORT;
    opts.fault_status = 429;
    opts.fault_retry_after = 1.0;
    opts.mix_429_retry_after = 1.0;
    rc = parse_options(argc, argv, &opts);
    if (rc >= 0)
        return rc;
    if (opts.mix_429_rate + opts.mix_500_rate + opts.mix_529_rate +
            opts.mix_reset_rate + opts.mix_cut_rate + opts.fault_rate >
        1.0 + 1e-9) {
        fprintf(stderr, "parallm mock: the --mix-* and --fault-rate "
                        "fractions add up to more than 1\n");
        return CLI_EXIT_USAGE;
    }

    /* Block the stop signals before the server thread exists, so it
     * inherits the mask and only sigwait() below ever receives them. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask) != 0) {
        fprintf(stderr, "parallm mock: cannot block signals\n");
        return CLI_EXIT_FATAL;
    }
    if (plm_mock_start(&mock, &opts, err, sizeof err) != 0) {
        /* The server's messages name it already ("mock: ..."). */
        const char *why = strncmp(err, "mock: ", 6) == 0 ? err + 6 : err;
        fprintf(stderr, "parallm mock: %s\n",
                why[0] != '\0' ? why : "cannot start the server");
        rc = CLI_EXIT_FATAL;
        goto out;
    }
    /* An IPv6 literal needs brackets in a URL. */
    int v6 = strchr(opts.host, ':') != NULL;
    fprintf(stderr, "parallm mock listening on %s://%s%s%s:%d\n",
            opts.tls_cert_file != NULL ? "https" : "http", v6 ? "[" : "",
            opts.host, v6 ? "]" : "", plm_mock_port(mock));
    fflush(stderr);

    if (sigwait(&stop_signals, &sig) != 0) {
        fprintf(stderr, "parallm mock: sigwait failed\n");
        rc = CLI_EXIT_FATAL;
        goto out;
    }
    plm_mock_stats stats;
    plm_mock_get_stats(mock, &stats);
    fprintf(stderr,
            "parallm mock: stopping on %s after %llu requests (%llu ok, "
            "%llu rate limited, %llu other, %llu reset)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM",
            (unsigned long long)stats.requests,
            (unsigned long long)stats.answered_2xx,
            (unsigned long long)stats.answered_429,
            (unsigned long long)stats.answered_other,
            (unsigned long long)stats.resets);
    rc = CLI_EXIT_OK;
out:
    if (mock != NULL)
        plm_mock_free(mock);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}
