/*
 * The command line of `parallm run`: the option table, --help, and the
 * checks that refuse a bad command line before anything is opened or
 * sent.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "run_options.h"

static const char usage_text[] =
    "usage: parallm run INPUT.jsonl -o OUTPUT.jsonl [options]\n"
    "\n"
    "Runs every request of an OpenAI Batch input file (one JSON request a\n"
    "line; INPUT may be - for stdin) in parallel and appends one Batch\n"
    "output line per request to OUTPUT as each completes. Run it again to\n"
    "resume: requests already in OUTPUT are skipped.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE        output JSONL (appended; required)\n"
    "      --provider P         auto (default: by each line's url), openai,\n"
    "                           anthropic, or mock (embedded simulated\n"
    "                           server)\n"
    "      --base-url URL       server base URL (http://host:port or .../v1)\n"
    "  -c, --max-concurrent N   requests in flight at once (default 5)\n"
    "      --timeout SECONDS    stop the whole run after this long\n"
    "      --request-timeout SECONDS  per-attempt timeout (default 600)\n"
    "      --retries N          retries per request (default 4)\n"
    "      --retry-failed       also re-run requests that failed before\n"
    "      --overwrite          start over: truncate OUTPUT first\n"
    "      --strict             check the whole input first; refuse it\n"
    "                           (sending nothing) if any line is invalid\n"
    "      --progress, --no-progress  force the progress line on or off\n"
    "                           (default: on when stderr is a terminal)\n"
    "  -q, --quiet              print only errors\n"
    "  -v, --verbose            log the library's warnings and retries\n"
    "      --summary-json FILE  also write the summary as JSON\n"
    "      --ca-file FILE       extra CA bundle (PEM) to trust\n"
    "      --insecure           do NOT verify TLS certificates\n"
    "      --mock-latency MS    reply latency of --provider mock (default 50)\n"
    "  -h, --help               this help\n"
    "\n"
    "limits, per model (--rpm, --tpm and -c override --tier):\n"
    "      --tier NAME          a provider tier's limits and concurrency:\n"
    "                           openai-1, openai-4, anthropic-1,\n"
    "                           anthropic-4 or local\n"
    "      --rpm N              requests per minute, paced evenly\n"
    "      --tpm N              tokens per minute (prompt/4 + max_tokens,\n"
    "                           corrected by the reported usage)\n"
    "      --adaptive           adapt the concurrency to the server's\n"
    "                           answers (AIMD, at most -c)\n"
    "      --breaker-failures N consecutive failures that open the circuit\n"
    "                           breaker (default 5; 0 turns it off)\n"
    "      --breaker-cooldown S seconds the breaker stays open before a\n"
    "                           trial request (default 30)\n"
    "      --retry-budget F     retries as a fraction of requests (default\n"
    "                           0.2; 'off': only --retries counts)\n"
    "\n"
    "Keys come from OPENAI_API_KEY and ANTHROPIC_API_KEY.\n"
    "Exit codes: 0 all succeeded, 1 some failed, 2 usage or invalid input,\n"
    "3 I/O error, 4 interrupted, 5 --timeout reached, 6 authentication or\n"
    "quota error (run stopped early).\n";

enum {
    OPT_PROVIDER = 256,
    OPT_BASE_URL,
    OPT_TIMEOUT,
    OPT_REQUEST_TIMEOUT,
    OPT_RETRIES,
    OPT_RETRY_FAILED,
    OPT_OVERWRITE,
    OPT_STRICT,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_SUMMARY_JSON,
    OPT_CA_FILE,
    OPT_INSECURE,
    OPT_MOCK_LATENCY,
    OPT_TIER,
    OPT_RPM,
    OPT_TPM,
    OPT_ADAPTIVE,
    OPT_BREAKER_FAILURES,
    OPT_BREAKER_COOLDOWN,
    OPT_RETRY_BUDGET
};

static const struct option long_options[] = {
    { "output", required_argument, NULL, 'o' },
    { "provider", required_argument, NULL, OPT_PROVIDER },
    { "base-url", required_argument, NULL, OPT_BASE_URL },
    { "max-concurrent", required_argument, NULL, 'c' },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
    { "retries", required_argument, NULL, OPT_RETRIES },
    { "retry-failed", no_argument, NULL, OPT_RETRY_FAILED },
    { "overwrite", no_argument, NULL, OPT_OVERWRITE },
    { "strict", no_argument, NULL, OPT_STRICT },
    { "progress", no_argument, NULL, OPT_PROGRESS },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "summary-json", required_argument, NULL, OPT_SUMMARY_JSON },
    { "ca-file", required_argument, NULL, OPT_CA_FILE },
    { "insecure", no_argument, NULL, OPT_INSECURE },
    { "mock-latency", required_argument, NULL, OPT_MOCK_LATENCY },
    { "tier", required_argument, NULL, OPT_TIER },
    { "rpm", required_argument, NULL, OPT_RPM },
    { "tpm", required_argument, NULL, OPT_TPM },
    { "adaptive", no_argument, NULL, OPT_ADAPTIVE },
    { "breaker-failures", required_argument, NULL, OPT_BREAKER_FAILURES },
    { "breaker-cooldown", required_argument, NULL, OPT_BREAKER_COOLDOWN },
    { "retry-budget", required_argument, NULL, OPT_RETRY_BUDGET },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int bad_value(const char *opt, const char *value, const char *want)
{
    fprintf(stderr, "parallm run: invalid value for %s: '%s' (%s)\n", opt,
            value, want);
    return CLI_EXIT_USAGE;
}

/* A finite decimal number in [min, max], the whole string. 0 or -1. */
static int parse_number(const char *text, double min, double max,
                        double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) ||
        v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int bad_tier(const char *name)
{
    const char *t;
    fprintf(stderr, "parallm run: unknown --tier '%s'; known tiers:", name);
    for (size_t i = 0; (t = plm_tier_name(i)) != NULL; i++)
        fprintf(stderr, " %s", t);
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}

static int check_url(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

int run_options_parse(int argc, char **argv, run_options *o)
{
    long v;
    int64_t ms;
    double d;
    int concurrency_set = 0, rpm_set = 0, tpm_set = 0;
    plm_tier tier;
    memset(o, 0, sizeof(*o));
    o->max_concurrent = 5;
    o->retries = -1;
    o->progress = -1;
    o->mock_latency_ms = 50;
    o->provider = RUN_PROVIDER_AUTO;

    optind = 1;
    opterr = 1;
    for (;;) {
        int c = getopt_long(argc, argv, "o:c:qvh", long_options, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case OPT_PROVIDER:
            if (strcmp(optarg, "auto") == 0)
                o->provider = RUN_PROVIDER_AUTO;
            else if (strcmp(optarg, "openai") == 0)
                o->provider = RUN_PROVIDER_OPENAI;
            else if (strcmp(optarg, "anthropic") == 0)
                o->provider = RUN_PROVIDER_ANTHROPIC;
            else if (strcmp(optarg, "mock") == 0)
                o->provider = RUN_PROVIDER_MOCK;
            else
                return bad_value("--provider", optarg,
                                 "auto, openai, anthropic or mock");
            break;
        case OPT_BASE_URL:
            if (!check_url(optarg))
                return bad_value("--base-url", optarg,
                                 "http://host:port or https://...");
            o->base_url = optarg;
            break;
        case 'c':
            if (run_parse_long(optarg, 1, 100000, &v) != 0)
                return bad_value("--max-concurrent", optarg,
                                 "an integer from 1 to 100000");
            o->max_concurrent = (int)v;
            concurrency_set = 1;
            break;
        case OPT_TIMEOUT:
            if (run_parse_seconds(optarg, &ms) != 0 || ms == 0)
                return bad_value("--timeout", optarg, "seconds, > 0");
            o->timeout_ms = ms;
            break;
        case OPT_REQUEST_TIMEOUT:
            if (run_parse_seconds(optarg, &ms) != 0 || ms == 0)
                return bad_value("--request-timeout", optarg, "seconds, > 0");
            o->request_timeout_ms = ms;
            break;
        case OPT_RETRIES:
            if (run_parse_long(optarg, 0, 100, &v) != 0)
                return bad_value("--retries", optarg,
                                 "an integer from 0 to 100");
            o->retries = (int)v;
            break;
        case OPT_RETRY_FAILED:
            o->retry_failed = 1;
            break;
        case OPT_OVERWRITE:
            o->overwrite = 1;
            break;
        case OPT_STRICT:
            o->strict = 1;
            break;
        case OPT_PROGRESS:
            o->progress = 1;
            break;
        case OPT_NO_PROGRESS:
            o->progress = 0;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case OPT_SUMMARY_JSON:
            o->summary_json = optarg;
            break;
        case OPT_CA_FILE:
            o->ca_file = optarg;
            break;
        case OPT_INSECURE:
            o->insecure = 1;
            break;
        case OPT_MOCK_LATENCY:
            if (run_parse_long(optarg, 0, 3600000, &v) != 0)
                return bad_value("--mock-latency", optarg,
                                 "milliseconds, 0 to 3600000");
            o->mock_latency_ms = v;
            break;
        case OPT_TIER:
            if (plm_tier_lookup(optarg, &tier) != PLM_OK)
                return bad_tier(optarg);
            o->tier = optarg;
            break;
        case OPT_RPM:
            if (parse_number(optarg, 0, 1e9, &d) != 0)
                return bad_value("--rpm", optarg,
                                 "requests per minute, 0 for no limit");
            o->rpm = d;
            rpm_set = 1;
            break;
        case OPT_TPM:
            if (parse_number(optarg, 0, 1e12, &d) != 0)
                return bad_value("--tpm", optarg,
                                 "tokens per minute, 0 for no limit");
            o->tpm = d;
            tpm_set = 1;
            break;
        case OPT_ADAPTIVE:
            o->adaptive = 1;
            break;
        case OPT_BREAKER_FAILURES:
            if (run_parse_long(optarg, 0, 100000, &v) != 0)
                return bad_value("--breaker-failures", optarg,
                                 "an integer from 0 (off) to 100000");
            o->breaker_failures = v == 0 ? -1 : (int)v;
            break;
        case OPT_BREAKER_COOLDOWN:
            if (run_parse_seconds(optarg, &ms) != 0 || ms == 0 ||
                ms > INT_MAX)
                return bad_value("--breaker-cooldown", optarg,
                                 "seconds, > 0");
            o->breaker_cooldown_ms = (int)ms;
            break;
        case OPT_RETRY_BUDGET:
            if (strcmp(optarg, "off") == 0)
                o->retry_budget = -1;
            else if (parse_number(optarg, 0, 1000, &d) != 0 || d == 0)
                return bad_value("--retry-budget", optarg,
                                 "a fraction of requests > 0, or off");
            else
                o->retry_budget = d;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return -1;
        default:
            fputs("Try 'parallm run --help'.\n", stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "parallm run: %s\n%s",
                optind >= argc ? "missing INPUT" : "only one INPUT allowed",
                usage_text);
        return CLI_EXIT_USAGE;
    }
    o->input = argv[optind];
    if (!o->output) {
        fprintf(stderr, "parallm run: missing -o OUTPUT\n"
                        "Try 'parallm run --help'.\n");
        return CLI_EXIT_USAGE;
    }
    /* The tier's numbers, wherever no option gave them. */
    if (o->tier && plm_tier_lookup(o->tier, &tier) == PLM_OK) {
        if (!rpm_set)
            o->rpm = tier.rpm;
        if (!tpm_set)
            o->tpm = tier.tpm;
        if (!concurrency_set && tier.max_concurrent > 0)
            o->max_concurrent = tier.max_concurrent;
    }
    if (o->provider == RUN_PROVIDER_MOCK && o->base_url) {
        fprintf(stderr, "parallm run: --provider mock starts its own server; "
                        "drop --base-url\n");
        return CLI_EXIT_USAGE;
    }
    return 0;
}
