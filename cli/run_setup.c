/*
 * The set-up of `parallm run` before any request is sent: the client's
 * options and keys (starting the embedded mock for --provider mock), the
 * input, the output and its resume scan, and the client itself. Every
 * refusal here happens before anything is sent or written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "run_ctx.h"

void run_missing_key_message(int provider, const char *where)
{
    if (provider == PLM_PROVIDER_ANTHROPIC)
        fprintf(stderr,
                "parallm run: %sno API key for /v1/messages requests: set "
                "ANTHROPIC_API_KEY,\n  or give --base-url for a server that "
                "needs no key, or use --provider mock to simulate.\n",
                where);
    else
        fprintf(stderr,
                "parallm run: %sno API key for OpenAI requests: set "
                "OPENAI_API_KEY,\n  or give --base-url for a server that "
                "needs no key (e.g. http://localhost:8000/v1),\n  or use "
                "--provider mock to simulate.\n",
                where);
}

static int same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && S_ISREG(a.st_mode) &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Starts the embedded mock server for --provider mock and points copts
 * at it. -1 to go on, or an exit code. */
static int start_mock(run_ctx *ctx, plm_client_options *copts)
{
    plm_mock_options mo;
    char err[512];

    memset(&mo, 0, sizeof mo);
    mo.latency_ms = ctx->opt->mock_latency_ms;
    mo.simulated_marker = 1;
    if (plm_mock_start(&ctx->mock, &mo, err, sizeof err) != 0) {
        fprintf(stderr, "parallm run: cannot start the mock server: %s\n", err);
        return CLI_EXIT_FATAL;
    }
    snprintf(ctx->mock_url, sizeof ctx->mock_url, "http://127.0.0.1:%d",
             plm_mock_port(ctx->mock));
    copts->openai_base_url = ctx->mock_url;
    copts->anthropic_base_url = ctx->mock_url;
    ctx->simulated = 1;
    return -1;
}

/* Decides which providers can be called (a key, or a base URL that may
 * point at a local server needing none) and refuses a run that could
 * call none it needs. -1 to go on, or an exit code. */
static int check_keys(run_ctx *ctx, const char *okey, const char *akey)
{
    const run_options *opt = ctx->opt;
    /* The SDKs' environment variables count as base URLs too. */
    const char *obase = getenv("OPENAI_BASE_URL");
    const char *abase = getenv("ANTHROPIC_BASE_URL");
    int mock = ctx->mock != NULL;

    ctx->have_key[PLM_PROVIDER_OPENAI] = (okey && *okey) || opt->base_url ||
                                         (obase && *obase) || mock;
    ctx->have_key[PLM_PROVIDER_ANTHROPIC] = (akey && *akey) || opt->base_url ||
                                            (abase && *abase) || mock;
    if ((opt->provider == RUN_PROVIDER_OPENAI &&
         !ctx->have_key[PLM_PROVIDER_OPENAI]) ||
        (opt->provider == RUN_PROVIDER_ANTHROPIC &&
         !ctx->have_key[PLM_PROVIDER_ANTHROPIC])) {
        run_missing_key_message(opt->provider == RUN_PROVIDER_ANTHROPIC
                                    ? PLM_PROVIDER_ANTHROPIC
                                    : PLM_PROVIDER_OPENAI,
                                "");
        return CLI_EXIT_USAGE;
    }
    if (opt->provider == RUN_PROVIDER_AUTO && !ctx->have_key[0] &&
        !ctx->have_key[1]) {
        fprintf(stderr,
                "parallm run: no API key: set OPENAI_API_KEY (for "
                "/v1/chat/completions, /v1/completions,\n  /v1/embeddings, "
                "/v1/responses, /v1/moderations, /v1/images/...)\n  or "
                "ANTHROPIC_API_KEY (for /v1/messages),\n"
                "  or give --base-url for a server that needs no key, or use "
                "--provider mock to simulate.\n");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* The client's options from the command line and the environment,
 * starting the mock server if asked. Credentials come first: a missing
 * key is reported before anything is read or created. -1 to go on, or an
 * exit code. */
static int client_options(run_ctx *ctx, plm_client_options *copts)
{
    const run_options *opt = ctx->opt;
    const char *okey = getenv("OPENAI_API_KEY");
    const char *akey = getenv("ANTHROPIC_API_KEY");
    int rc;

    copts->rpm = opt->rpm;
    copts->tpm = opt->tpm;
    copts->adaptive_concurrency = opt->adaptive;
    copts->breaker_failures = opt->breaker_failures;
    copts->breaker_cooldown_ms = (int)opt->breaker_cooldown_ms;
    copts->retry_budget = opt->retry_budget;
    copts->shared_limits_url = opt->shared_limits;
    if (opt->provider >= RUN_PROVIDER_PRESET) {
        /* Every line goes to the service, with its key and addressing. */
        if (cli_preset_apply(cli_preset_at(
                                 (size_t)(opt->provider - RUN_PROVIDER_PRESET)),
                             "run", opt->base_url, &ctx->preset, copts) != 0)
            return CLI_EXIT_USAGE;
        okey = ctx->preset.key;
        akey = NULL;
        ctx->have_key[PLM_PROVIDER_OPENAI] = 1;
    } else if (opt->provider == RUN_PROVIDER_MOCK) {
        if ((rc = start_mock(ctx, copts)) >= 0)
            return rc;
        /* The mock accepts any key; a fixed one keeps real keys off it. */
        okey = akey = "mock-key";
    } else if (opt->base_url) {
        copts->openai_base_url = opt->base_url;
        copts->anthropic_base_url = opt->base_url;
    }
    if (opt->provider < RUN_PROVIDER_PRESET &&
        (rc = check_keys(ctx, okey, akey)) >= 0)
        return rc;
    copts->openai_api_key = okey && *okey ? okey : NULL;
    copts->anthropic_api_key = akey && *akey ? akey : NULL;
    /* Whatever their shape, the keys sent are masked wherever the
     * command writes (a server may echo them). */
    int n = 0;
    if (copts->openai_api_key)
        ctx->secrets[n++] = copts->openai_api_key;
    if (copts->anthropic_api_key)
        ctx->secrets[n++] = copts->anthropic_api_key;
    ctx->secrets[n] = NULL;
    copts->ca_file = opt->ca_file;
    copts->insecure_skip_verify = opt->insecure;
    copts->max_retries = opt->retries == 0  ? -1
                         : opt->retries > 0 ? opt->retries
                                            : 0;
    copts->request_timeout_ms = opt->request_timeout_ms;
    copts->log = run_log_to_stderr;
    copts->log_user_data = ctx;
    /* Warnings by default: a breaker holding requests, a dead endpoint,
     * a concurrency capped by the open-files limit are the user's to
     * know without -v. */
    copts->log_level = opt->verbose ? PLM_LOG_INFO
                       : opt->quiet ? PLM_LOG_ERROR
                                    : PLM_LOG_WARN;
    if (opt->insecure && !opt->quiet)
        fprintf(stderr, "parallm run: warning: --insecure: TLS certificates "
                        "are NOT verified\n");
    return -1;
}

/* Opens INPUT (stdin is spooled to a file for --strict, which reads it
 * twice) into ctx->in_fd. -1 to go on, or an exit code. */
static int open_input(run_ctx *ctx)
{
    const run_options *opt = ctx->opt;
    int is_stdin = strcmp(opt->input, "-") == 0;

    if (is_stdin && opt->strict) {
        ctx->in_fd = run_input_spool_stdin();
        if (ctx->in_fd < 0) {
            fprintf(stderr, "parallm run: cannot buffer stdin: %s\n",
                    strerror(errno));
            return CLI_EXIT_IO;
        }
    } else if (is_stdin) {
        ctx->in_fd = dup(STDIN_FILENO);
    } else {
        ctx->in_fd = open(opt->input, O_RDONLY | O_CLOEXEC);
    }
    if (ctx->in_fd < 0) {
        fprintf(stderr, "parallm run: cannot open %s: %s\n", opt->input,
                strerror(errno));
        return CLI_EXIT_IO;
    }
    if (same_file(ctx->in_fd, opt->output)) {
        fprintf(stderr, "parallm run: INPUT and OUTPUT are the same file\n");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* Checks the opened input (--strict reads it all first), counts its
 * lines for the progress line and sets up the reader and the id set. -1
 * to go on, or an exit code. */
static int prepare_input(run_ctx *ctx, int show_progress)
{
    const run_options *opt = ctx->opt;
    struct stat st;

    memset(&st, 0, sizeof st);
    int seekable = fstat(ctx->in_fd, &st) == 0 && S_ISREG(st.st_mode);
    ctx->in_regular = seekable;
    if (!seekable && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "parallm run: %s is a directory\n", opt->input);
        return CLI_EXIT_IO;
    }
    if (opt->strict) {
        int64_t problems = run_input_strict_check(ctx->in_fd, opt->input);
        if (problems != 0 || lseek(ctx->in_fd, 0, SEEK_SET) != 0) {
            if (problems > 0)
                fprintf(stderr,
                        "parallm run: --strict: %lld invalid "
                        "line(s); nothing was sent\n",
                        (long long)problems);
            return problems > 0 ? CLI_EXIT_USAGE : CLI_EXIT_IO;
        }
    }
    if (show_progress && seekable) {
        int64_t n = run_input_count_lines(ctx->in_fd);
        if (n >= 0 && lseek(ctx->in_fd, 0, SEEK_SET) == 0)
            ctx->counts.total = (uint64_t)n;
    }
    ctx->reader = run_line_reader_new(ctx->in_fd, RUN_MAX_LINE);
    ctx->ids = run_idset_new();
    if (!ctx->reader || !ctx->ids) {
        fprintf(stderr, "parallm run: out of memory\n");
        return CLI_EXIT_FATAL;
    }
    return -1;
}

/* Opens OUTPUT, reading what an earlier run left in it (resume). -1 to go
 * on, or an exit code. */
static int open_output(run_ctx *ctx)
{
    const run_options *opt = ctx->opt;
    run_resume_info info;
    char err[512];

    int flags = (opt->overwrite ? RUN_OUT_OVERWRITE : 0) |
                (ctx->simulated ? 0 : RUN_OUT_IGNORE_SIMULATED);
    int rc = run_out_open(&ctx->out, opt->output, flags, ctx->ids, &info, err,
                          sizeof err);
    if (rc != 0) {
        fprintf(stderr, "parallm run: %s: %s\n", opt->output, err);
        if (rc == -1 && errno == EINTR)
            return CLI_EXIT_INTERRUPTED;
        return rc == -2 ? CLI_EXIT_USAGE : CLI_EXIT_IO;
    }
    if (!run_out_regular(ctx->out) && !opt->quiet)
        fprintf(stderr,
                "parallm run: %s is not a regular file: nothing "
                "to resume from, every request is sent\n",
                strcmp(opt->output, "-") == 0 ? "standard output"
                                              : opt->output);
    if (info.repaired_bytes)
        fprintf(stderr,
                "parallm run: %s: removed a torn last line (%llu "
                "bytes) left by an interrupted run\n",
                opt->output, (unsigned long long)info.repaired_bytes);
    if (info.simulated && !opt->quiet)
        fprintf(stderr,
                "parallm run: %s: %llu simulated answer(s) from "
                "--provider mock do not count on a real run; those "
                "requests are sent\n",
                opt->output, (unsigned long long)info.simulated);
    if ((info.ok || info.failed) && !opt->quiet)
        fprintf(stderr,
                "parallm run: resuming: %s already holds %llu "
                "succeeded and %llu failed request(s)%s\n",
                opt->output, (unsigned long long)info.ok,
                (unsigned long long)info.failed,
                !info.failed       ? ""
                : opt->skip_failed ? " (failed ones are kept: --skip-failed)"
                                   : " (failed ones are sent again)");
    return -1;
}

void run_ctx_free(run_ctx *ctx)
{
    plm_client_free(ctx->client);
    run_out_close(ctx->out);
    run_progress_free(ctx->progress);
    run_line_reader_free(ctx->reader);
    run_idset_free(ctx->ids);
    free(ctx->grave);
    if (ctx->in_fd >= 0)
        close(ctx->in_fd);
    plm_mock_free(ctx->mock);
}

/* Opens input and output, then creates the client: everything the run
 * needs, or an exit code (-1 to go on). */
int run_set_up(run_ctx *ctx)
{
    const run_options *opt = ctx->opt;
    plm_client_options copts = PLM_CLIENT_OPTIONS_INIT;
    int rc;

    if ((rc = client_options(ctx, &copts)) >= 0)
        return rc;
    int show_progress = opt->progress >= 0 ? opt->progress
                                           : (!opt->quiet && isatty(2));
    if ((rc = open_input(ctx)) >= 0 ||
        (rc = prepare_input(ctx, show_progress)) >= 0 ||
        (rc = open_output(ctx)) >= 0)
        return rc;
    if (getrandom(&ctx->serial_base, sizeof ctx->serial_base, 0) !=
        (ssize_t)sizeof ctx->serial_base)
        ctx->serial_base = (uint64_t)getpid() * 0x2545f4914f6cdd1dull;
    if (show_progress)
        ctx->progress = run_progress_new(STDERR_FILENO, run_use_color(2));
    rc = plm_client_new(&ctx->client, &copts);
    if (rc != PLM_OK) {
        char why[CLI_ERROR_LEN];
        fprintf(stderr, "parallm run: cannot create the client: %s\n",
                cli_strerror(rc, why, sizeof why));
        return rc == PLM_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FATAL;
    }
    return -1;
}

/* Refuses a --ca-file that is not PEM certificates before anything
 * starts (the library reads it later). 0 or -1 after saying why. */
int run_check_ca_file(const char *path)
{
    char why[256];

    if (path == NULL)
        return 0;
    /* Parsed with OpenSSL as the library will read it: a private key or
     * garbage is a usage error now, not a TLS failure per request. */
    if (run_check_ca_pem(path, why, sizeof why) != 0) {
        fprintf(stderr, "parallm run: --ca-file %s: %s\n", path, why);
        return -1;
    }
    return 0;
}

/* The canonical form of path, for a file that may not exist yet: its
 * directory resolved, its last component as given. NULL if the
 * directory cannot be resolved. malloc'd. */
static char *canonical_path(const char *path)
{
    char *full = realpath(path, NULL);
    if (full)
        return full;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return NULL;
    char *rdir = realpath(*dir ? dir : "/", NULL);
    free(dir);
    if (!rdir)
        return NULL;
    const char *base = slash ? slash + 1 : path;
    size_t n = strlen(rdir) + strlen(base) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", rdir, base);
    free(rdir);
    return out;
}

/* 1 when a and b name the same file: the same device and inode when
 * both exist, else the same canonical path. */
static int same_path(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *ca = canonical_path(a), *cb = canonical_path(b);
    int same = ca && cb ? strcmp(ca, cb) == 0 : strcmp(a, b) == 0;
    free(ca);
    free(cb);
    return same;
}

int run_check_paths(const run_options *opt)
{
    const char *s = opt->summary_json;
    if (!s)
        return 0;
    if ((strcmp(opt->input, "-") != 0 && same_path(s, opt->input)) ||
        (strcmp(opt->output, "-") != 0 && same_path(s, opt->output))) {
        fprintf(stderr,
                "parallm run: --summary-json %s is the %s file; "
                "give it a path of its own\n",
                s, same_path(s, opt->output) ? "output" : "input");
        return -1;
    }
    return 0;
}
