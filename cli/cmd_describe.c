/*
 * `parallm describe`: one chat request per file asking for a JSON
 * description {"summary": "...", "references": ["..."]}, all run in
 * parallel with plm_gather, printed as one JSON object that maps each path
 * to its description or to {"error": "..."}. An answer that does not have
 * that shape is asked again once, with the conversation so far and the
 * reason, before it counts as a failure for that file alone. Reading the
 * files, building the prompts and checking the answers live here; the
 * library does the HTTP, retries and concurrency.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_args.h"
#include "commands.h"
#include "run.h"
#include "describe_text.h"
#include "presets.h"
#include "mock.h"
#include "parallm.h"

#define DESCRIBE_DEFAULT_MAX_BYTES (64 * 1024)
#define DESCRIBE_MAX_MAX_BYTES 16777216 /* 16 MiB */
#define DESCRIBE_DEFAULT_CONCURRENCY 5
#define DESCRIBE_MAX_TOKENS 1024

/* CHOICE_PRESET + i: the preset cli_preset_at(i). */
enum provider_choice {
    CHOICE_OPENAI,
    CHOICE_ANTHROPIC,
    CHOICE_MOCK,
    CHOICE_PRESET
};

struct describe_config {
    int provider; /* enum provider_choice */
    const char *model;
    const char *base_url;
    int max_concurrent;
    int64_t max_bytes;
    int64_t timeout_ms;
    const char *output;
};

/* One input file and everything learned about it. */
struct file_job {
    const char *path;    /* as given (borrowed from argv) */
    char *key;           /* path as valid UTF-8, the output's key */
    char *prompt;        /* the user message; NULL when no request */
    char *bad_answer;    /* first answer, when it did not parse */
    char *bad_reason;    /* why it did not parse */
    json_t *description; /* final value for the output, owned */
    int failed;          /* description is an {"error"} */
    int fatal;           /* failed on auth or quota */
    int auth;            /* failed on auth (401/403) */
};

/* The client of the run in progress, for the signal handler. */
static plm_client *volatile running_client;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (running_client != NULL)
        plm_client_interrupt(running_client, 2);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: parallm describe [options] FILE...\n"
        "\n"
        "Asks an LLM for a JSON description of each FILE, in parallel, and\n"
        "prints {\"FILE\": {\"summary\": \"...\", \"references\": "
        "[...]}, ...}\n"
        "(or {\"error\": \"...\"} for a file that could not be described).\n"
        "\n"
        "options:\n"
        "  -P, --provider NAME        openai (default), anthropic, or mock "
        "(the\n"
        "                             embedded mock server, no network)\n"
        "  -m, --model MODEL          model (default gpt-4o-mini, "
        "claude-3-5-haiku-latest)\n"
        "  -u, --base-url URL         API base URL (default "
        "$OPENAI_BASE_URL or\n"
        "                             $ANTHROPIC_BASE_URL, else the "
        "provider's)\n"
        "  -c, --max-concurrent N     requests in flight at once "
        "(default %d)\n"
        "      --max-bytes N          bytes of each file sent (default %d; "
        "more\n"
        "                             is cut, and the prompt says so)\n"
        "  -t, --timeout DUR          give up on the whole run after DUR "
        "(e.g. 5m,\n"
        "                             90s; a bare number is in seconds)\n"
        "  -o, --output FILE          write the JSON to FILE instead of "
        "stdout\n"
        "  -h, --help                 show this help\n"
        "\n"
        "Keys come from OPENAI_API_KEY or ANTHROPIC_API_KEY; with --base-url "
        "a key\nis optional (none is sent when unset). Exit status: 0 all "
        "described,\n1 some failed (see parallm(1)).\n",
        DESCRIBE_DEFAULT_CONCURRENCY, DESCRIBE_DEFAULT_MAX_BYTES);
    fputs("\nprovider presets (-P NAME; give -m MODEL; see "
          "docs/providers.md):\n",
          out);
    cli_presets_list(out, 2);
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* Returns -1 to go on, with *first_file the index of the first FILE, or
 * an exit code. */
static int parse_options(int argc, char **argv, struct describe_config *cfg,
                         int *first_file)
{
    /* In the order of enum provider_choice. */
    static const char *const fixed[CHOICE_PRESET] = { "openai", "anthropic",
                                                      "mock" };
    static const char *names[CHOICE_PRESET + 32];
    const char *const *providers = cli_preset_choices(fixed, CHOICE_PRESET,
                                                      names,
                                                      32 + CHOICE_PRESET);
    /* One option per line reads as a table. */
    /* clang-format off */
    const cli_option options[] = {
        { .name = "provider", .letter = 'P', .kind = CLI_OPT_CHOICE,
          .dest = &cfg->provider, .choices = providers,
          .bad = "unknown provider '%v' (openai, anthropic, mock, or a "
                 "preset: see --help)" },
        { .name = "model", .letter = 'm', .kind = CLI_OPT_STRING,
          .dest = &cfg->model },
        { .name = "base-url", .letter = 'u', .kind = CLI_OPT_STRING,
          .dest = &cfg->base_url },
        { .name = "max-concurrent", .letter = 'c', .kind = CLI_OPT_INT,
          .dest = &cfg->max_concurrent, .min = 1, .max = 10000,
          .bad = "invalid --max-concurrent '%v' (1..10000)" },
        /* Long only. */
        { .name = "max-bytes", .kind = CLI_OPT_INT64, .dest = &cfg->max_bytes,
          .min = 1, .max = DESCRIBE_MAX_MAX_BYTES,
          .bad = "invalid --max-bytes '%v' (1.." STR(DESCRIBE_MAX_MAX_BYTES)
                 ")" },
        { .name = "timeout", .letter = 't', .kind = CLI_OPT_DURATION,
          .dest = &cfg->timeout_ms, .unit_ms = 1000, .min = 1,
          .max = INT64_MAX, .bad = "invalid --timeout '%v'" },
        { .name = "output", .letter = 'o', .kind = CLI_OPT_STRING,
          .dest = &cfg->output },
        { .name = "help", .letter = 'h', .kind = CLI_OPT_HELP },
        { .kind = CLI_OPT_END }
    };
    /* clang-format on */
    const cli_command_line cl = { "describe", options, NULL, usage };
    int rc = cli_parse_command_line(&cl, argc, argv, first_file);

    if (rc >= 0)
        return rc;
    if (*first_file >= argc) {
        fprintf(stderr, "parallm describe: no FILE given\n"
                        "Try 'parallm describe --help'.\n");
        return CLI_EXIT_USAGE;
    }
    if (cfg->base_url != NULL && strncmp(cfg->base_url, "http://", 7) != 0 &&
        strncmp(cfg->base_url, "https://", 8) != 0) {
        fprintf(stderr, "parallm describe: --base-url must start with "
                        "http:// or https://\n");
        return CLI_EXIT_USAGE;
    }
    if (cfg->provider >= CHOICE_PRESET && cfg->model == NULL) {
        fprintf(stderr, "parallm describe: --provider %s needs --model\n",
                cli_preset_at((size_t)(cfg->provider - CHOICE_PRESET))->name);
        return CLI_EXIT_USAGE;
    }
    if (cfg->provider == CHOICE_MOCK && cfg->base_url != NULL) {
        fprintf(stderr, "parallm describe: --base-url does not apply to "
                        "--provider mock\n");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* Settles job as failed with a printf-style message. Returns 0, or -1
 * when out of memory. */
static int set_error(struct file_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int set_error(struct file_job *job, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Provider messages are not guaranteed UTF-8; JSON strings must be. */
    char *text = describe_utf8_fix(msg, strlen(msg));
    json_decref(job->description);
    job->description = text != NULL ? json_pack("{s:s}", "error", text) : NULL;
    free(text);
    job->failed = 1;
    return job->description != NULL ? 0 : -1;
}

/*
 * Reads job->path and prepares its prompt, or settles its description at
 * once (empty file, unreadable, binary). Returns 0, or -1 when out of
 * memory.
 */
static int prepare_job(struct file_job *job, int64_t max_bytes)
{
    char *data = NULL;
    size_t len = 0;
    int64_t size = 0;
    int rc = -1;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(job->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return set_error(job, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = set_error(job, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = set_error(job, "is a directory");
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = set_error(job, "not a regular file");
        goto out;
    }
    /* One byte more than the cap tells a cut file from one that fits. */
    data = malloc((size_t)max_bytes + 1);
    if (data == NULL)
        goto out;
    while (len < (size_t)max_bytes + 1) {
        ssize_t got = read(fd, data + len, (size_t)max_bytes + 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = set_error(job, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    size = st.st_size > (off_t)len ? (int64_t)st.st_size : (int64_t)len;
    if (len == 0) {
        job->description = json_pack("{s:s,s:[]}", "summary", "Empty file",
                                     "references");
        rc = job->description != NULL ? 0 : -1;
        goto out;
    }
    if (memchr(data, '\0', len) != NULL) {
        rc = set_error(job, "not a text file (it contains NUL bytes)");
        goto out;
    }
    int truncated = len > (size_t)max_bytes;
    if (truncated)
        len = describe_utf8_cut(data, (size_t)max_bytes);
    job->prompt = describe_prompt(job->key, data, len, truncated ? size : -1);
    rc = job->prompt != NULL ? 0 : -1;
out:
    free(data);
    close(fd);
    return rc;
}

/* Builds the request for job (its first ask, or the re-ask when
 * job->bad_answer is set). Returns a plm_code. */
static int build_request(const struct describe_config *cfg,
                         const struct file_job *job, plm_request **out)
{
    plm_provider provider = cfg->provider == CHOICE_ANTHROPIC
                                ? PLM_PROVIDER_ANTHROPIC
                                : PLM_PROVIDER_OPENAI;
    plm_request *req = NULL;
    char *reask = NULL;
    int rc = plm_request_new_chat(&req, provider, cfg->model);

    if (rc != PLM_OK)
        goto out;
    rc = plm_request_set_system(req, describe_system_prompt());
    if (rc == PLM_OK)
        rc = plm_request_add_message(req, "user", job->prompt);
    if (rc == PLM_OK && job->bad_answer != NULL) {
        reask = describe_reask(job->bad_reason);
        rc = reask != NULL ? PLM_OK : PLM_ENOMEM;
        if (rc == PLM_OK)
            rc = plm_request_add_message(req, "assistant",
                                         job->bad_answer[0] != '\0'
                                             ? job->bad_answer
                                             : "(empty answer)");
        if (rc == PLM_OK)
            rc = plm_request_add_message(req, "user", reask);
    }
    if (rc == PLM_OK)
        rc = plm_request_set_temperature(req, 0.0);
    if (rc == PLM_OK)
        rc = plm_request_set_max_tokens(req, DESCRIBE_MAX_TOKENS);
    /* Anthropic has no JSON mode; the prompt asks for JSON instead. */
    if (rc == PLM_OK && provider == PLM_PROVIDER_OPENAI)
        rc = plm_request_set_json_response(req, 1);
out:
    free(reask);
    if (rc != PLM_OK) {
        plm_request_free(req);
        req = NULL;
    }
    *out = req;
    return rc;
}

/* Records what result says about job: a description, a bad answer to
 * ask again about (when may_reask), or an error. Returns 0 or -1 (out of
 * memory). */
static int take_result(struct file_job *job, const plm_result *res,
                       int may_reask)
{
    char reason[512];
    int code = plm_result_code(res);

    if (code != PLM_OK) {
        const char *detail = plm_result_error_message(res);
        job->fatal = code == PLM_EAUTH || code == PLM_EQUOTA;
        job->auth = code == PLM_EAUTH;
        const char *what = plm_strerror(code);
        if (detail == NULL || detail[0] == '\0')
            return set_error(job, "%s", what);
        /* Say the code's name once, whether or not the message has it. */
        if (strncmp(detail, what, strlen(what)) == 0)
            return set_error(job, "%s", detail);
        return set_error(job, "%s: %s", what, detail);
    }
    const char *answer = plm_result_content(res);
    if (answer == NULL)
        answer = "";
    json_t *desc = describe_parse(answer, reason, sizeof reason);
    if (desc != NULL) {
        json_decref(job->description);
        job->description = desc;
        job->failed = 0;
        return 0;
    }
    if (may_reask) {
        free(job->bad_answer);
        free(job->bad_reason);
        job->bad_answer = strdup(answer);
        job->bad_reason = strdup(reason);
        return job->bad_answer != NULL && job->bad_reason != NULL ? 0 : -1;
    }
    return set_error(job, "invalid answer, also when asked again: %s", reason);
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Sends one request for every job that wants one in this round (round 0:
 * jobs with a prompt and no description; round 1: jobs with a bad
 * answer) and takes the results. *gather_rc gets plm_gather's code.
 * Returns 0, or -1 after saying what went wrong (out of memory, a request
 * that cannot be built, a gather that refused to run).
 */
static int run_round(plm_client *client, const struct describe_config *cfg,
                     struct file_job *jobs, size_t n, int round,
                     int64_t timeout_ms, int *gather_rc)
{
    plm_request **reqs = calloc(n, sizeof *reqs);
    plm_result **results = calloc(n, sizeof *results);
    size_t *which = calloc(n, sizeof *which);
    plm_gather_options gopts = PLM_GATHER_OPTIONS_INIT;
    size_t count = 0;
    int rc = -1;

    *gather_rc = PLM_OK;
    if (n == 0)
        return 0;
    if (reqs == NULL || results == NULL || which == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        struct file_job *job = &jobs[i];
        int wanted = round == 0
                         ? job->prompt != NULL && job->description == NULL
                         : job->bad_answer != NULL && job->description == NULL;
        if (!wanted)
            continue;
        int code = build_request(cfg, job, &reqs[count]);
        if (code != PLM_OK) {
            fprintf(stderr,
                    "parallm describe: %s: cannot build the "
                    "request: %s\n",
                    job->path, plm_strerror(code));
            goto out;
        }
        which[count++] = i;
    }
    if (count == 0) {
        rc = 0;
        goto out;
    }
    gopts.max_concurrent = cfg->max_concurrent;
    gopts.return_errors = 1;
    gopts.timeout_ms = timeout_ms;
    *gather_rc = plm_gather(client, reqs, count, results, &gopts);
    if (*gather_rc == PLM_EINVAL || *gather_rc == PLM_ENOMEM ||
        *gather_rc == PLM_ESTATE) {
        char why[CLI_ERROR_LEN];
        fprintf(stderr, "parallm describe: %s\n",
                cli_strerror(*gather_rc, why, sizeof why));
        goto out;
    }
    for (size_t k = 0; k < count; k++) {
        if (results[k] == NULL) {
            fprintf(stderr, "parallm describe: no result for %s\n",
                    jobs[which[k]].path);
            goto out;
        }
        if (take_result(&jobs[which[k]], results[k], round == 0))
            goto oom;
    }
    rc = 0;
    goto out;
oom:
    fprintf(stderr, "parallm describe: out of memory\n");
out:
    if (results != NULL)
        plm_results_free(results, count);
    for (size_t k = 0; reqs != NULL && k < count; k++)
        plm_request_free(reqs[k]);
    free(results);
    free(reqs);
    free(which);
    return rc;
}

/* Writes text to path through a temporary file and rename, so a reader
 * never sees half an output. Returns 0 or -1 (after saying why). */
static int write_output(const char *path, const char *text)
{
    size_t len = strlen(text);
    size_t tmp_len = strlen(path) + 32;
    char *tmp = malloc(tmp_len);
    FILE *f = NULL;
    int rc = -1;

    if (tmp == NULL)
        goto out;
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (f == NULL)
        goto out;
    if (fwrite(text, 1, len, f) != len || fflush(f) != 0 ||
        fsync(fileno(f)) != 0)
        goto out;
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    if (rename(tmp, path) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        fprintf(stderr, "parallm describe: cannot write %s: %s\n", path,
                strerror(errno));
        if (f != NULL)
            fclose(f);
        if (tmp != NULL)
            unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* Serializes the path -> description map and writes it to stdout or
 * cfg->output. Returns an exit code (OK or IO). */
static int emit(const struct describe_config *cfg, struct file_job *jobs,
                size_t n)
{
    json_t *root = json_object();
    char *text = NULL;
    int rc = CLI_EXIT_IO;

    if (root == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].description == NULL)
            continue;
        if (json_object_set(root, jobs[i].key, jobs[i].description) != 0)
            goto out;
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL)
        goto out;
    /* A provider may echo the key it was sent, whatever its shape: no
     * copy of it reaches the output. */
    if (cfg->provider != CHOICE_MOCK) {
        const char *found[3] = { getenv("OPENAI_API_KEY"),
                                 getenv("ANTHROPIC_API_KEY"), NULL };
        const char *keys[4] = { NULL, NULL, NULL, NULL };
        size_t nk = 0;
        if (cfg->provider >= CHOICE_PRESET) {
            const char *var =
                cli_preset_at((size_t)(cfg->provider - CHOICE_PRESET))->env_key;
            found[2] = var ? getenv(var) : NULL;
        }
        for (size_t i = 0; i < 3; i++)
            if (found[i] != NULL && found[i][0] != '\0')
                keys[nk++] = found[i];
        run_mask_secrets(text, strlen(text), keys);
    }
    if (cfg->output != NULL) {
        size_t len = strlen(text);
        char *line = realloc(text, len + 2);
        if (line == NULL)
            goto out;
        text = line;
        memcpy(text + len, "\n", 2);
        if (write_output(cfg->output, text) == 0)
            rc = CLI_EXIT_OK;
    } else {
        if (fputs(text, stdout) != EOF && fputc('\n', stdout) != EOF &&
            fflush(stdout) == 0)
            rc = CLI_EXIT_OK;
        else
            fprintf(stderr,
                    "parallm describe: cannot write the output: "
                    "%s\n",
                    strerror(errno));
    }
out:
    free(text);
    json_decref(root);
    return rc;
}

/* Starts the embedded mock for --provider mock and points copts at it. */
static int start_mock(plm_mock **mock, char *base_url, size_t len)
{
    plm_mock_options mopts;
    char err[256] = "";

    memset(&mopts, 0, sizeof mopts);
    mopts.host = "127.0.0.1";
    if (plm_mock_start(mock, &mopts, err, sizeof err) != 0) {
        fprintf(stderr,
                "parallm describe: cannot start the mock server: "
                "%s\n",
                err);
        *mock = NULL;
        return -1;
    }
    snprintf(base_url, len, "http://127.0.0.1:%d", plm_mock_port(*mock));
    return 0;
}

/* 1 when the provider's own API would be called without a key: every
 * request would fail on authentication, so say so once instead. A custom
 * base URL may be a local server that takes no key. */
static int key_missing(const struct describe_config *cfg, const char **var)
{
    const char *key_var = cfg->provider == CHOICE_ANTHROPIC
                              ? "ANTHROPIC_API_KEY"
                              : "OPENAI_API_KEY";
    const char *url_var = cfg->provider == CHOICE_ANTHROPIC
                              ? "ANTHROPIC_BASE_URL"
                              : "OPENAI_BASE_URL";
    const char *key = getenv(key_var);
    const char *url = getenv(url_var);

    *var = key_var;
    if (cfg->provider >= CHOICE_PRESET) /* cli_preset_apply checks */
        return 0;
    if (cfg->provider == CHOICE_MOCK || cfg->base_url != NULL ||
        (url != NULL && url[0] != '\0'))
        return 0;
    return key == NULL || key[0] == '\0';
}

/* Fills jobs from the file arguments, once per distinct path. Returns the
 * number of jobs, or (size_t)-1 when out of memory. */
static size_t collect_jobs(int argc, char **argv, int first_file,
                           struct file_job *jobs, int64_t max_bytes)
{
    size_t n = 0;

    for (int i = first_file; i < argc; i++) {
        int seen = 0;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(jobs[k].path, argv[i]) == 0;
        if (seen)
            continue;
        struct file_job *job = &jobs[n++];
        job->path = argv[i];
        job->key = describe_utf8_fix(argv[i], strlen(argv[i]));
        if (job->key == NULL || prepare_job(job, max_bytes))
            return (size_t)-1;
    }
    return n;
}

static const char *default_model(int provider)
{
    return provider == CHOICE_ANTHROPIC ? "claude-3-5-haiku-latest"
           : provider == CHOICE_MOCK    ? "mock-model"
                                        : "gpt-4o-mini";
}

static int out_of_memory(void)
{
    fprintf(stderr, "parallm describe: out of memory\n");
    return CLI_EXIT_FATAL;
}

/* Creates the client (starting the mock for --provider mock). Returns -1
 * to go on, or an exit code. */
static int create_client(const struct describe_config *cfg, plm_mock **mock,
                         char *base_url, size_t base_len, plm_client **client)
{
    plm_client_options copts = PLM_CLIENT_OPTIONS_INIT;
    static cli_preset_setup preset;

    if (cfg->provider >= CHOICE_PRESET) {
        if (cli_preset_apply(cli_preset_at(
                                 (size_t)(cfg->provider - CHOICE_PRESET)),
                             "describe", cfg->base_url, &preset, &copts) != 0)
            return CLI_EXIT_USAGE;
    } else if (cfg->provider == CHOICE_MOCK) {
        if (start_mock(mock, base_url, base_len))
            return CLI_EXIT_FATAL;
        copts.openai_base_url = base_url;
        copts.openai_api_key = "mock-key"; /* the mock accepts any key */
    } else if (cfg->provider == CHOICE_ANTHROPIC) {
        copts.anthropic_base_url = cfg->base_url;
    } else {
        copts.openai_base_url = cfg->base_url;
    }
    int code = plm_client_new(client, &copts);
    if (code != PLM_OK) {
        char why[CLI_ERROR_LEN];
        /* PLM_EINVAL here means a setting from the environment
         * (OPENAI_BASE_URL, ...): a usage problem, not a failed run. */
        fprintf(stderr,
                "parallm describe: cannot create the client: %s "
                "(check OPENAI_BASE_URL / ANTHROPIC_BASE_URL)\n",
                cli_strerror(code, why, sizeof why));
        return code == PLM_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FATAL;
    }
    return -1;
}

/* SIGINT and SIGTERM interrupt the client while it runs. */
struct stop_signals {
    struct sigaction old_int, old_term;
    int set;
};

static void catch_stop_signals(struct stop_signals *stop, plm_client *client)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &stop->old_int);
    sigaction(SIGTERM, &sa, &stop->old_term);
    stop->set = 1;
    running_client = client;
}

static void restore_stop_signals(struct stop_signals *stop)
{
    running_client = NULL;
    if (stop->set) {
        sigaction(SIGINT, &stop->old_int, NULL);
        sigaction(SIGTERM, &stop->old_term, NULL);
        stop->set = 0;
    }
}

/* The first asks, then the re-asks of bad answers within what is left of
 * --timeout. *gather_rc gets the last plm_gather code. Returns 0, or -1
 * after saying what went wrong. */
static int run_rounds(plm_client *client, const struct describe_config *cfg,
                      struct file_job *jobs, size_t n, double start,
                      int *gather_rc)
{
    int64_t left = 0;

    if (run_round(client, cfg, jobs, n, 0, cfg->timeout_ms, gather_rc))
        return -1;
    if (*gather_rc != PLM_OK)
        return 0;
    if (cfg->timeout_ms > 0) {
        left = cfg->timeout_ms - (int64_t)((now_seconds() - start) * 1000.0);
        if (left <= 0) {
            *gather_rc = PLM_ETIMEOUT;
            return 0;
        }
    }
    return run_round(client, cfg, jobs, n, 1, left, gather_rc);
}

/* A base URL lets describe start without a key, but the server behind it
 * may want one all the same (parallm mock does on /v1/messages, as
 * Anthropic's API does): after an authentication failure with no key
 * set, say which variable to set. */
static void hint_key(const struct describe_config *cfg)
{
    const char *var = cfg->provider == CHOICE_ANTHROPIC ? "ANTHROPIC_API_KEY"
                                                        : "OPENAI_API_KEY";
    const char *key = getenv(var);

    if (cfg->provider == CHOICE_MOCK || (key != NULL && key[0] != '\0'))
        return;
    fprintf(stderr,
            "parallm describe: the server asked for a key and %s is not "
            "set;\n  set it (any value for parallm mock) and run again\n",
            var);
}

/* Settles what is left, writes the output and the summary line, and
 * returns the exit code. */
static int finish(const struct describe_config *cfg, struct file_job *jobs,
                  size_t n, int gather_rc, double start)
{
    size_t failed = 0, fatal = 0, sent = 0, auth = 0;

    /* A bad answer left over means its re-ask never ran (interrupted or
     * out of time): report the first problem. */
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].description == NULL && jobs[i].bad_answer != NULL &&
            set_error(&jobs[i], "invalid answer: %s", jobs[i].bad_reason))
            return out_of_memory();
    }
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].description == NULL)
            return out_of_memory();
        failed += jobs[i].failed != 0;
        fatal += jobs[i].fatal != 0;
        auth += jobs[i].auth != 0;
        sent += jobs[i].prompt != NULL;
    }
    int rc = emit(cfg, jobs, n);
    fprintf(stderr,
            "parallm describe: %zu file%s, %zu described, %zu "
            "failed (%.1f s)\n",
            n, n == 1 ? "" : "s", n - failed, failed, now_seconds() - start);
    if (auth > 0)
        hint_key(cfg);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (gather_rc == PLM_ECANCELLED)
        return CLI_EXIT_INTERRUPTED;
    if (gather_rc == PLM_ETIMEOUT)
        return CLI_EXIT_TIMEOUT;
    if (sent > 0 && fatal == sent)
        return CLI_EXIT_FATAL;
    return failed > 0 ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
}

static void free_jobs(struct file_job *jobs, size_t n)
{
    for (size_t i = 0; jobs != NULL && i < n; i++) {
        free(jobs[i].key);
        free(jobs[i].prompt);
        free(jobs[i].bad_answer);
        free(jobs[i].bad_reason);
        json_decref(jobs[i].description);
    }
    free(jobs);
}

int cmd_describe(int argc, char **argv)
{
    struct describe_config cfg = { CHOICE_OPENAI,
                                   NULL,
                                   NULL,
                                   DESCRIBE_DEFAULT_CONCURRENCY,
                                   DESCRIBE_DEFAULT_MAX_BYTES,
                                   0,
                                   NULL };
    plm_client *client = NULL;
    plm_mock *mock = NULL;
    struct stop_signals stop = { .set = 0 };
    char base_url[64];
    int gather_rc = PLM_OK;
    int first_file = 0;
    const char *key_var;
    int rc = parse_options(argc, argv, &cfg, &first_file);

    if (rc >= 0)
        return rc;
    if (cfg.model == NULL)
        cfg.model = default_model(cfg.provider);
    if (key_missing(&cfg, &key_var)) {
        fprintf(stderr,
                "parallm describe: %s is not set (or use "
                "--provider mock, or --base-url for a local "
                "server)\n",
                key_var);
        return CLI_EXIT_USAGE;
    }
    double start = now_seconds();
    size_t nfiles = (size_t)(argc - first_file);
    struct file_job *jobs = calloc(nfiles, sizeof *jobs);
    size_t n = jobs != NULL
                   ? collect_jobs(argc, argv, first_file, jobs, cfg.max_bytes)
                   : (size_t)-1;
    if (n == (size_t)-1) {
        n = jobs != NULL ? nfiles : 0; /* free what was filled */
        rc = out_of_memory();
    } else if ((rc = create_client(&cfg, &mock, base_url, sizeof base_url,
                                   &client)) < 0) {
        catch_stop_signals(&stop, client);
        rc = run_rounds(client, &cfg, jobs, n, start, &gather_rc) != 0
                 ? CLI_EXIT_FATAL
                 : finish(&cfg, jobs, n, gather_rc, start);
    }
    restore_stop_signals(&stop);
    plm_client_free(client);
    if (mock != NULL)
        plm_mock_free(mock);
    free_jobs(jobs, n);
    return rc;
}
