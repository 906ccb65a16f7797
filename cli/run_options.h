/*
 * The parsed command line of `parallm run`.
 */
#ifndef CLI_RUN_OPTIONS_H
#define CLI_RUN_OPTIONS_H

#include "run.h"

enum run_provider {
    RUN_PROVIDER_AUTO = 0, /* each line's url picks OpenAI or Anthropic */
    RUN_PROVIDER_OPENAI,
    RUN_PROVIDER_ANTHROPIC,
    RUN_PROVIDER_MOCK,
    /* RUN_PROVIDER_PRESET + i: the preset cli_preset_at(i) */
    RUN_PROVIDER_PRESET
};

typedef struct run_options {
    const char *input; /* path or "-" */
    const char *output;
    const char *base_url;
    const char *summary_json;
    const char *ca_file;
    int provider; /* enum run_provider */
    int max_concurrent;
    int64_t timeout_ms; /* whole run; 0 = none */
    int64_t request_timeout_ms;
    int retries;     /* -1 = library default */
    int skip_failed; /* keep recorded failures (--skip-failed) */
    int overwrite;
    int strict;
    int progress; /* -1 = when stderr is a TTY */
    int quiet;
    int verbose;
    int insecure;
    int64_t mock_latency_ms; /* a duration; at most an hour */
    /* Limits, per model. --tier fills rpm, tpm and max_concurrent unless
     * they were given; 0 in any of the others means the library's
     * default. */
    const char *tier;
    double rpm, tpm; /* per minute; 0 = none */
    int adaptive;
    int breaker_failures;        /* -1 = breaker off */
    int64_t breaker_cooldown_ms; /* at most INT_MAX */
    double retry_budget;         /* negative = no budget */
    /* Observability (run_metrics.c). */
    const char *metrics_file;   /* rewritten atomically; NULL = none */
    const char *metrics_listen; /* PORT or HOST:PORT; NULL = none */
    int64_t metrics_linger_ms;  /* keep serving until a final scrape */
    const char *trace;          /* one JSON line per attempt */
    const char *shared_limits;  /* --shared-limits URL, else
                                   $PARALLM_SHARED_LIMITS; NULL = none */
} run_options;

/* Parses argv (argv[0] is "run"). Returns -1 to go on, or an exit code
 * to stop with: 0 after --help, else after printing what is wrong. */
int run_options_parse(int argc, char **argv, run_options *o);

#endif
