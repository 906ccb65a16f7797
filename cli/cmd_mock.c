/*
 * `parallm mock`: the mock LLM server (src/mock) as a command, so a user
 * can point any OpenAI- or Anthropic-compatible client at a local server
 * with chosen latency, faults and provider-style rate limits. Every
 * plm_mock_options field has an option. The server runs on its own thread
 * while this thread waits for SIGINT or SIGTERM, which keeps signal
 * handling here (sigwait, no async-signal-safety puzzles) and lets the
 * command announce the port it actually bound.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "mock.h"

#define MOCK_DEFAULT_PORT 8080

static void usage(FILE *out)
{
    fprintf(out,
        "usage: parallm mock [options]\n"
        "\n"
        "Serves the OpenAI (/v1/chat/completions, ...) and Anthropic\n"
        "(/v1/messages) APIs with simulated answers until SIGINT or "
        "SIGTERM.\n"
        "Durations take a unit: 50ms, 3s, 1.5s (a bare number is in ms).\n"
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
        "      --fault-retry-after S  Retry-After of those failures, seconds\n"
        "      --rpm N                requests per minute, then 429\n"
        "      --tpm N                tokens per minute, then 429\n"
        "      --max-in-flight N      open requests allowed, then 429\n"
        "      --ratelimit-headers    send x-ratelimit-* headers on every "
        "answer\n"
        "      --tls-cert FILE        serve HTTPS with this PEM certificate\n"
        "      --tls-key FILE         ... and this PEM private key\n"
        "      --log FILE             append one JSON line per request to "
        "FILE\n"
        "      --simulated            mark every answer \"simulated\": true\n"
        "  -h, --help                 show this help\n"
        "\n"
        "Per-request faults: put \"[mock status=500 times=2]\" in a user "
        "message\nor send the header \"X-Mock: status=500;times=2\" (see "
        "parallm(1)).\n",
        MOCK_DEFAULT_PORT);
}

enum {
    OPT_PORT_FILE = 256,
    OPT_JITTER,
    OPT_SEED,
    OPT_FAULT_RATE,
    OPT_FAULT_STATUS,
    OPT_FAULT_RETRY_AFTER,
    OPT_RPM,
    OPT_TPM,
    OPT_MAX_IN_FLIGHT,
    OPT_RATELIMIT_HEADERS,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_LOG,
    OPT_SIMULATED
};

static const struct option long_options[] = {
    { "host", required_argument, NULL, 'H' },
    { "port", required_argument, NULL, 'p' },
    { "port-file", required_argument, NULL, OPT_PORT_FILE },
    { "latency", required_argument, NULL, 'l' },
    { "jitter", required_argument, NULL, OPT_JITTER },
    { "seed", required_argument, NULL, OPT_SEED },
    { "fault-rate", required_argument, NULL, OPT_FAULT_RATE },
    { "fault-status", required_argument, NULL, OPT_FAULT_STATUS },
    { "fault-retry-after", required_argument, NULL, OPT_FAULT_RETRY_AFTER },
    { "rpm", required_argument, NULL, OPT_RPM },
    { "tpm", required_argument, NULL, OPT_TPM },
    { "max-in-flight", required_argument, NULL, OPT_MAX_IN_FLIGHT },
    { "ratelimit-headers", no_argument, NULL, OPT_RATELIMIT_HEADERS },
    { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
    { "tls-key", required_argument, NULL, OPT_TLS_KEY },
    { "log", required_argument, NULL, OPT_LOG },
    { "simulated", no_argument, NULL, OPT_SIMULATED },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 }
};

static int bad_value(const char *option, const char *value)
{
    fprintf(stderr, "parallm mock: invalid value for --%s: '%s'\n", option,
            value);
    return CLI_EXIT_USAGE;
}

/* Fills opts from the command line. Returns -1 to go on, or an exit
 * code (0 after --help). */
static int parse_options(int argc, char **argv, plm_mock_options *opts)
{
    int c;
    int64_t ms;

    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "H:p:l:h", long_options, NULL)) !=
           -1) {
        switch (c) {
        case 'H':
            opts->host = optarg;
            break;
        case 'p':
            if (cli_parse_int(optarg, 0, 65535, &opts->port))
                return bad_value("port", optarg);
            break;
        case OPT_PORT_FILE:
            opts->port_file = optarg;
            break;
        case 'l':
            if (cli_parse_duration(optarg, 1, &opts->latency_ms))
                return bad_value("latency", optarg);
            break;
        case OPT_JITTER:
            if (cli_parse_duration(optarg, 1, &opts->jitter_ms))
                return bad_value("jitter", optarg);
            break;
        case OPT_SEED:
            if (cli_parse_uint64(optarg, &opts->seed))
                return bad_value("seed", optarg);
            break;
        case OPT_FAULT_RATE:
            if (cli_parse_double(optarg, 0.0, 1.0, &opts->fault_rate))
                return bad_value("fault-rate", optarg);
            break;
        case OPT_FAULT_STATUS:
            if (cli_parse_int(optarg, 100, 599, &opts->fault_status))
                return bad_value("fault-status", optarg);
            break;
        case OPT_FAULT_RETRY_AFTER:
            /* Seconds, like the header it sets; "500ms" also works. */
            if (cli_parse_duration(optarg, 1000, &ms))
                return bad_value("fault-retry-after", optarg);
            opts->fault_retry_after = (double)ms / 1000.0;
            break;
        case OPT_RPM:
            if (cli_parse_int64(optarg, 0, INT64_MAX / 2, &opts->rpm))
                return bad_value("rpm", optarg);
            break;
        case OPT_TPM:
            if (cli_parse_int64(optarg, 0, INT64_MAX / 2, &opts->tpm))
                return bad_value("tpm", optarg);
            break;
        case OPT_MAX_IN_FLIGHT:
            if (cli_parse_int(optarg, 0, 1000000, &opts->max_in_flight))
                return bad_value("max-in-flight", optarg);
            break;
        case OPT_RATELIMIT_HEADERS:
            opts->send_ratelimit_headers = 1;
            break;
        case OPT_TLS_CERT:
            opts->tls_cert_file = optarg;
            break;
        case OPT_TLS_KEY:
            opts->tls_key_file = optarg;
            break;
        case OPT_LOG:
            opts->log_file = optarg;
            break;
        case OPT_SIMULATED:
            opts->simulated_marker = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            /* getopt_long already said what was wrong. */
            fprintf(stderr, "Try 'parallm mock --help'.\n");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "parallm mock: unexpected argument '%s'\n",
                argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if ((opts->tls_cert_file == NULL) != (opts->tls_key_file == NULL)) {
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

    memset(&opts, 0, sizeof(opts));
    opts.host = "127.0.0.1";
    opts.port = MOCK_DEFAULT_PORT;
    opts.fault_status = 429;
    opts.fault_retry_after = 1.0;
    rc = parse_options(argc, argv, &opts);
    if (rc >= 0)
        return rc;

    /* Block the stop signals before the server thread exists, so it
     * inherits the mask and only sigwait() below ever receives them. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask) != 0) {
        fprintf(stderr, "parallm mock: cannot block signals\n");
        return CLI_EXIT_FATAL;
    }
    if (plm_mock_start(&mock, &opts, err, sizeof(err)) != 0) {
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
