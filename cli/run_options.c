/*
 * The command line of `parallm run`: the option table, --help, and the
 * checks that refuse a bad command line before anything is opened or
 * sent.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_args.h"
#include "commands.h"
#include "presets.h"
#include "run_options.h"

static const char usage_text[] =
    "usage: parallm run INPUT.jsonl -o OUTPUT.jsonl [options]\n"
    "\n"
    "Runs every request of an OpenAI Batch input file (one JSON request a\n"
    "line; INPUT may be - for stdin) in parallel and appends one Batch\n"
    "output line per request to OUTPUT as each completes. Run it again to\n"
    "resume: every request without a success in OUTPUT is sent again.\n"
    "\n"
    "Each line's url: /v1/chat/completions, /v1/completions,\n"
    "/v1/embeddings, /v1/responses, /v1/moderations, /v1/images/generations,\n"
    "/v1/images/edits (JSON body) or /v1/messages (Anthropic). A body with\n"
    "\"stream\": true is streamed and recorded as the assembled object.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE        output JSONL (appended; required); - is\n"
    "                           standard output (no resume: every request\n"
    "                           is sent)\n"
    "      --provider P         auto (default: by each line's url), openai,\n"
    "                           anthropic, mock (embedded simulated\n"
    "                           server), or a service's preset (below)\n"
    "      --base-url URL       server base URL, as the SDKs take it: a\n"
    "                           bare http://host:port means its /v1, any\n"
    "                           other is used as given (.../v1beta/openai)\n"
    "  -c, --max-concurrent N   requests in flight at once (default 5)\n"
    "      --timeout DUR        stop the whole run after this long\n"
    "      --request-timeout DUR  per-attempt timeout (default 600s)\n"
    "      --retries N          retries per request (default 15, within\n"
    "                           15 minutes of its first attempt)\n"
    "      --skip-failed        do not send again requests OUTPUT records\n"
    "                           as failed (they are sent by default)\n"
    "      --retry-failed       the default now; accepted, does nothing\n"
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
    "      --mock-latency DUR   reply latency of --provider mock (default\n"
    "                           50ms; a bare number is in ms)\n"
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
    "                           breaker, which then holds requests until a\n"
    "                           probe succeeds (default: the concurrency,\n"
    "                           at least 5; 0 turns it off)\n"
    "      --breaker-cooldown DUR  how long the breaker holds requests\n"
    "                           before a probe (default 10s)\n"
    "      --retry-budget F     retries as a fraction of requests (default\n"
    "                           0.5; 'off': only --retries counts)\n"
    "      --shared-limits URL  share the limits with every parallm using\n"
    "                           the same Redis and namespace:\n"
    "                           redis://[:PASSWORD@]HOST:PORT/DB?namespace=N\n"
    "                           (default $PARALLM_SHARED_LIMITS)\n"
    "\n"
    "metrics and trace (docs/metrics.md):\n"
    "      --metrics-file FILE  Prometheus text, rewritten atomically every\n"
    "                           2 s and at the end (node_exporter textfile)\n"
    "      --metrics-listen [HOST:]PORT  serve /metrics and /api/state over\n"
    "                           HTTP during the run (HOST default 127.0.0.1)\n"
    "      --metrics-linger DUR after the run, keep serving until /metrics\n"
    "                           is scraped once more, at most S seconds\n"
    "      --trace FILE         one JSON line per attempt (timings, outcome,\n"
    "                           wait before the retry and why)\n"
    "\n"
    "Durations (DUR): 500ms, 30s, 1.5s, 5m or 1h; a bare number is in seconds\n"
    "(in milliseconds for --mock-latency, as before).\n"
    "Keys come from OPENAI_API_KEY and ANTHROPIC_API_KEY.\n"
    "Exit codes: 0 all succeeded, 1 some failed, 2 usage or invalid input,\n"
    "3 I/O error, 4 interrupted, 5 --timeout reached, 6 authentication or\n"
    "quota error (run stopped early).\n";

static void usage(FILE *out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);

    /* One write: a reader that stops at its first match (grep -q) must
     * not make a later write fail. */
    if (mem) {
        fputs(usage_text, mem);
        fputs("\nprovider presets (OpenAI-compatible services; every line "
              "goes to\nthe service, --base-url overrides its URL; see "
              "docs/providers.md):\n",
              mem);
        cli_presets_list(mem, 2);
    }
    if (mem && fclose(mem) == 0) {
        /* stdio would cut it at its buffer's size. */
        fflush(out);
        for (size_t done = 0; done < len;) {
            ssize_t n = write(fileno(out), text + done, len - done);
            if (n <= 0)
                break;
            done += (size_t)n;
        }
    } else {
        fputs(usage_text, out);
    }
    free(text);
}

/* "auto", "openai", "anthropic", "mock", then the presets' names: the
 * values of enum run_provider. */
static const char *const *provider_choices(void)
{
    static const char *names[RUN_PROVIDER_PRESET + 32];
    static const char *const fixed[RUN_PROVIDER_PRESET] = { "auto", "openai",
                                                            "anthropic",
                                                            "mock" };

    return cli_preset_choices(fixed, RUN_PROVIDER_PRESET, names,
                              sizeof names / sizeof names[0]);
}

/* Lists the known tiers after an unknown --tier. */
static void bad_tier(const char *name)
{
    const char *t;
    fprintf(stderr, "parallm run: unknown --tier '%s'; known tiers:", name);
    for (size_t i = 0; (t = plm_tier_name(i)) != NULL; i++)
        fprintf(stderr, " %s", t);
    fputc('\n', stderr);
}

static int convert_tier(const char *text, void *dest)
{
    plm_tier tier;

    if (plm_tier_lookup(text, &tier) != PLM_OK)
        return -1;
    *(const char **)dest = text;
    return 0;
}

static int convert_url(const char *text, void *dest)
{
    run_url u;
    if (run_url_parse(text, &u) != 0)
        return -1;
    *(const char **)dest = text;
    return 0;
}

/* 0 turns the breaker off (-1); unset (0) means the library's default. */
static int convert_breaker_failures(const char *text, void *dest)
{
    int v;

    if (cli_parse_long(text, 0, 100000, &v) != 0)
        return -1;
    *(int *)dest = v == 0 ? -1 : v;
    return 0;
}

static int convert_retry_budget(const char *text, void *dest)
{
    double d;

    if (strcmp(text, "off") == 0) {
        *(double *)dest = -1;
        return 0;
    }
    if (cli_parse_number(text, 0, 1000, &d) != 0 || d == 0)
        return -1;
    *(double *)dest = d;
    return 0;
}

/* Seconds (or "500ms", "5m"), > 0, at most a year. */
#define RUN_SECONDS(field)                                                     \
    .kind = CLI_OPT_DURATION, .dest = &o->field, .unit_ms = 1000, .min = 1,    \
    .max = (int64_t)365 * 86400 * 1000

/* The complaint about a duration whose bare number is in seconds. */
#define RUN_BAD_SECONDS                                                        \
    "invalid value for %o: '%v' (a duration > 0: 500ms, 30s, 5m; a bare "      \
    "number is in seconds)"

/* Which options were given, where a default depends on it. */
struct run_given {
    int concurrency, rpm, tpm;
};

/* Runs the option table over argv. -1 to go on, or an exit code. */
static int parse_table(int argc, char **argv, run_options *o,
                       struct run_given *given, int *first_arg)
{
    /* In the order of enum run_provider. */
    const char *const *providers = provider_choices();
    /* One option per line reads as a table. */
    /* clang-format off */
    const cli_option options[] = {
        { .name = "output", .letter = 'o', .kind = CLI_OPT_STRING,
          .dest = &o->output },
        { .name = "provider", .kind = CLI_OPT_CHOICE, .dest = &o->provider,
          .choices = providers,
          .bad = "invalid value for %o: '%v' (auto, openai, anthropic, "
                 "mock, or a preset listed by --help)" },
        { .name = "base-url", .kind = CLI_OPT_CUSTOM, .dest = &o->base_url,
          .convert = convert_url,
          .bad = "invalid value for %o: '%v' (a URL: http://host:port or "
                 "https://host/v1)" },
        { .name = "max-concurrent", .letter = 'c', .kind = CLI_OPT_LONG,
          .dest = &o->max_concurrent, .min = 1, .max = 100000,
          .given = &given->concurrency,
          .bad = "invalid value for %o: '%v' (an integer from 1 to 100000)" },
        { .name = "timeout", RUN_SECONDS(timeout_ms), .bad = RUN_BAD_SECONDS },
        { .name = "request-timeout", RUN_SECONDS(request_timeout_ms),
          .bad = RUN_BAD_SECONDS },
        { .name = "retries", .kind = CLI_OPT_LONG, .dest = &o->retries,
          .min = 0, .max = 100,
          .bad = "invalid value for %o: '%v' (an integer from 0 to 100)" },
        { .name = "skip-failed", .kind = CLI_OPT_FLAG,
          .dest = &o->skip_failed, .flag_value = 1 },
        /* The old opt-in to what is now the default. */
        { .name = "retry-failed", .kind = CLI_OPT_FLAG,
          .dest = &o->skip_failed, .flag_value = 0 },
        { .name = "overwrite", .kind = CLI_OPT_FLAG, .dest = &o->overwrite,
          .flag_value = 1 },
        { .name = "strict", .kind = CLI_OPT_FLAG, .dest = &o->strict,
          .flag_value = 1 },
        { .name = "progress", .kind = CLI_OPT_FLAG, .dest = &o->progress,
          .flag_value = 1 },
        { .name = "no-progress", .kind = CLI_OPT_FLAG, .dest = &o->progress,
          .flag_value = 0 },
        { .name = "quiet", .letter = 'q', .kind = CLI_OPT_FLAG,
          .dest = &o->quiet, .flag_value = 1 },
        { .name = "verbose", .letter = 'v', .kind = CLI_OPT_FLAG,
          .dest = &o->verbose, .flag_value = 1 },
        { .name = "summary-json", .kind = CLI_OPT_STRING,
          .dest = &o->summary_json },
        { .name = "ca-file", .kind = CLI_OPT_STRING, .dest = &o->ca_file },
        { .name = "insecure", .kind = CLI_OPT_FLAG, .dest = &o->insecure,
          .flag_value = 1 },
        { .name = "mock-latency", .kind = CLI_OPT_DURATION,
          .dest = &o->mock_latency_ms, .unit_ms = 1, .min = 0,
          .max = 3600000,
          .bad = "invalid value for %o: '%v' (a duration from 0 to 1h: "
                 "50ms, 1.5s; a bare number is in ms)" },
        { .name = "tier", .kind = CLI_OPT_CUSTOM, .dest = &o->tier,
          .convert = convert_tier, .complain = bad_tier },
        { .name = "rpm", .kind = CLI_OPT_NUMBER, .dest = &o->rpm, .dmin = 0,
          .dmax = 1e9, .given = &given->rpm,
          .bad = "invalid value for %o: '%v' (requests per minute, 0 for no "
                 "limit)" },
        { .name = "tpm", .kind = CLI_OPT_NUMBER, .dest = &o->tpm, .dmin = 0,
          .dmax = 1e12, .given = &given->tpm,
          .bad = "invalid value for %o: '%v' (tokens per minute, 0 for no "
                 "limit)" },
        { .name = "adaptive", .kind = CLI_OPT_FLAG, .dest = &o->adaptive,
          .flag_value = 1 },
        { .name = "breaker-failures", .kind = CLI_OPT_CUSTOM,
          .dest = &o->breaker_failures, .convert = convert_breaker_failures,
          .bad = "invalid value for %o: '%v' (an integer from 0 (off) to "
                 "100000)" },
        { .name = "breaker-cooldown", .kind = CLI_OPT_DURATION,
          .dest = &o->breaker_cooldown_ms, .unit_ms = 1000, .min = 1,
          .max = INT_MAX, .bad = RUN_BAD_SECONDS },
        { .name = "retry-budget", .kind = CLI_OPT_CUSTOM,
          .dest = &o->retry_budget, .convert = convert_retry_budget,
          .bad = "invalid value for %o: '%v' (a fraction of requests > 0, or "
                 "off)" },
        { .name = "shared-limits", .kind = CLI_OPT_STRING,
          .dest = &o->shared_limits },
        { .name = "help", .letter = 'h', .kind = CLI_OPT_HELP },
        { .name = "metrics-file", .kind = CLI_OPT_STRING,
          .dest = &o->metrics_file },
        { .name = "metrics-listen", .kind = CLI_OPT_STRING,
          .dest = &o->metrics_listen },
        { .name = "metrics-linger", .kind = CLI_OPT_DURATION,
          .dest = &o->metrics_linger_ms, .unit_ms = 1000, .min = 0,
          .max = (int64_t)86400 * 1000,
          .bad = "invalid value for %o: '%v' (seconds, 0 to 86400)" },
        { .name = "trace", .kind = CLI_OPT_STRING, .dest = &o->trace },
        { .kind = CLI_OPT_END }
    };
    /* clang-format on */
    const cli_command_line cl = { "run", options, NULL, usage };

    return cli_parse_command_line(&cl, argc, argv, first_arg);
}

/* The tier's numbers, wherever no option gave them. */
static void apply_tier(run_options *o, const struct run_given *given)
{
    plm_tier tier;

    if (!o->tier || plm_tier_lookup(o->tier, &tier) != PLM_OK)
        return;
    if (!given->rpm)
        o->rpm = tier.rpm;
    if (!given->tpm)
        o->tpm = tier.tpm;
    if (!given->concurrency && tier.max_concurrent > 0)
        o->max_concurrent = tier.max_concurrent;
}

int run_options_parse(int argc, char **argv, run_options *o)
{
    struct run_given given = { 0, 0, 0 };
    int first_arg = 0;

    memset(o, 0, sizeof *o);
    o->max_concurrent = 5;
    o->retries = -1;
    o->progress = -1;
    o->mock_latency_ms = 50;
    o->provider = RUN_PROVIDER_AUTO;

    int rc = parse_table(argc, argv, o, &given, &first_arg);
    if (rc >= 0)
        return rc;
    if (first_arg != argc - 1) {
        fprintf(stderr, "parallm run: %s\n%s",
                first_arg >= argc ? "missing INPUT" : "only one INPUT allowed",
                usage_text);
        return CLI_EXIT_USAGE;
    }
    o->input = argv[first_arg];
    if (!o->output) {
        fprintf(stderr, "parallm run: missing -o OUTPUT\n"
                        "Try 'parallm run --help'.\n");
        return CLI_EXIT_USAGE;
    }
    apply_tier(o, &given);
    if (!o->shared_limits && getenv("PARALLM_SHARED_LIMITS") &&
        *getenv("PARALLM_SHARED_LIMITS"))
        o->shared_limits = getenv("PARALLM_SHARED_LIMITS");
    if (o->provider == RUN_PROVIDER_MOCK && o->base_url) {
        fprintf(stderr, "parallm run: --provider mock starts its own server; "
                        "drop --base-url\n");
        return CLI_EXIT_USAGE;
    }
    return -1;
}
