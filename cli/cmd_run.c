/*
 * `parallm run`: runs an OpenAI Batch JSONL file through the streaming
 * engine. The engine's source callback reads the next input line only
 * when there is room for another request, and the completion callback
 * appends each result to the output as it arrives, so memory stays flat
 * whatever the file size and a crash loses at most the requests in
 * flight. This file wires the pieces together: options, keys, the
 * embedded mock, resume, signals, the run itself and the exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "parallm_tool.h"
#include "run_ctx.h"
#include "run_metrics.h"

#define MAX_LISTED_INVALID 20
/* Held output is written at once past this size, whatever the round. */
#define HOLD_BYTES (1024u * 1024u)

static plm_client *volatile g_client;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    static const char msg1[] =
        "\nparallm: stopping: letting requests in flight finish "
        "(again to cancel them)\n";
    static const char msg2[] = "\nparallm: cancelling requests in flight "
                               "(again to quit at once)\n";
    g_signals = g_signals + 1;
    int level = g_signals >= 2 ? 2 : 1;
    /* A third signal gets the default action: what is on disk is whole
     * lines, so even that loses nothing but the requests in flight. */
    if (level == 2)
        signal(sig, SIG_DFL);
    if (g_client)
        plm_client_interrupt(g_client, level);
    ssize_t ignored = write(STDERR_FILENO, level == 1 ? msg1 : msg2,
                            level == 1 ? sizeof msg1 - 1 : sizeof msg2 - 1);
    (void)ignored;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed terminal is a request to stop like any other. */
    sigaction(SIGHUP, &sa, NULL);
    /* A write blocked by a reader that does not read gives up at the
     * second signal. */
    run_out_stop = &g_signals;
    /* A full disk under a file-size limit and a closed pipe must come
     * back as write errors, not kill the process mid-line. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}

void run_say(run_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    run_progress_clear(ctx->progress);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void run_log_to_stderr(plm_log_level level, const char *message,
                       void *user_data)
{
    run_ctx *ctx = user_data;
    static const char *names[] = { "error", "warning", "info", "debug" };
    /* The library masks what looks like sk-...; the command knows the
     * keys it sent, whatever their shape. */
    char *m = strdup(message ? message : "");
    if (m)
        run_mask_secrets(m, strlen(m), ctx->secrets);
    run_say(ctx, "parallm: %s: %s\n", names[level & 3], m ? m : "");
    free(m);
}

static void grave_flush(run_ctx *ctx)
{
    for (size_t i = 0; i < ctx->ngrave; i++)
        plm_request_free(ctx->grave[i]);
    ctx->ngrave = 0;
}

static uint64_t next_serial(run_ctx *ctx)
{
    /* A bijection of the counter, offset by a random base: unique within
     * a run, and across runs with overwhelming probability. */
    return ctx->serial_base ^ (++ctx->serial * 0x9e3779b97f4a7c15ull);
}

/* Counts a line the output file now holds. */
static void count_written(run_ctx *ctx, const run_held *h)
{
    if (h->invalid) {
        ctx->counts.failed++;
        ctx->counts.invalid++;
        run_final_add(&ctx->counts.final, RUN_CLASS_INVALID);
        return;
    }
    run_final_add(&ctx->counts.final, h->cls);
    if (h->cls == RUN_CLASS_OK)
        ctx->counts.succeeded++;
    else
        ctx->counts.failed++;
    run_counts_add_tokens(&ctx->counts, h->prompt_tokens, h->completion_tokens,
                          h->cls == RUN_CLASS_OK);
}

/* Counts a line that could not be written: a resumed run sends it. */
static void count_unwritten(run_ctx *ctx, const run_held *h)
{
    ctx->counts.not_run++;
    if (!h->invalid)
        run_final_unanswered(&ctx->counts.final, &h->prior);
    else
        ctx->counts.final.not_run++;
}

static void report_write_error(run_ctx *ctx, int err)
{
    if (err == EINTR && g_signals) {
        /* Given up at the second signal, blocked by a reader that does
         * not read: an interruption, not an I/O error. */
        run_say(ctx, "parallm: stopped writing to %s: interrupted\n",
                ctx->opt->output);
        ctx->write_interrupted = 1;
    } else {
        run_say(ctx,
                "parallm: cannot write %s: %s; stopping (what was written "
                "is intact; run again to resume)\n",
                ctx->opt->output, strerror(err));
    }
    ctx->io_error = 1;
}

/* Writes the lines held since the last flush (one write()) and counts
 * them. 0, or -1 once the output failed (the run stops). */
static int flush_lines(run_ctx *ctx)
{
    size_t written = 0, i;
    int rc = 0, err = 0;

    if (ctx->nheld == 0 && !ctx->io_error)
        return 0;
    if (!ctx->io_error && run_out_flush(ctx->out, &written) != 0) {
        err = errno;
        rc = -1;
    }
    for (i = 0; i < ctx->nheld; i++) {
        if (i < written)
            count_written(ctx, &ctx->held[i]);
        else
            count_unwritten(ctx, &ctx->held[i]);
    }
    ctx->nheld = 0;
    if (rc == 0 && !ctx->io_error && run_out_sync_maybe(ctx->out) != 0) {
        err = errno;
        rc = -1;
    }
    if (rc != 0)
        report_write_error(ctx, err);
    return ctx->io_error ? -1 : 0;
}

/* The engine's end of a round: the round's lines go out together. */
static int flush_round(void *user_data)
{
    return flush_lines(user_data) != 0;
}

/* Keeps a formatted line (freed here) for this round's write, with what
 * it will count. 0, or -1 when the output failed: then the line counts
 * as not written and the run stops. */
static int hold_line(run_ctx *ctx, char *line, size_t len, const run_held *h)
{
    if (!line) {
        run_say(ctx, "parallm: out of memory formatting an output line\n");
        ctx->io_error = 1;
        count_unwritten(ctx, h);
        return -1;
    }
    if (ctx->nheld == RUN_HELD_MAX || run_out_held(ctx->out) >= HOLD_BYTES)
        flush_lines(ctx); /* the list is full, or enough for one write */
    if (ctx->io_error || run_out_hold(ctx->out, line, len) != 0) {
        if (!ctx->io_error) {
            run_say(ctx, "parallm: out of memory holding an output line\n");
            ctx->io_error = 1;
        }
        free(line);
        count_unwritten(ctx, h);
        return -1;
    }
    free(line);
    ctx->held[ctx->nheld++] = *h;
    return 0;
}

/* What every record of this run carries besides its answer. */
static run_record_meta record_meta(run_ctx *ctx, uint64_t line_hash)
{
    run_record_meta m;
    memset(&m, 0, sizeof m);
    m.simulated = ctx->simulated;
    m.serial = next_serial(ctx);
    m.has_input_hash = 1;
    m.input_hash = line_hash;
    m.secrets = ctx->secrets;
    return m;
}

static int write_invalid(run_ctx *ctx, const run_input_item *item,
                         uint64_t line_hash)
{
    size_t len = 0;
    run_record_meta meta = record_meta(ctx, line_hash);
    char *line = run_out_format_error(item->custom_id, "invalid_request",
                                      item->error, &meta, &len);
    run_held h = { .invalid = 1, .cls = RUN_CLASS_INVALID };
    if (hold_line(ctx, line, len, &h) != 0)
        return -1;
    if (++ctx->listed_invalid <= MAX_LISTED_INVALID) {
        char shown[sizeof item->error];
        memcpy(shown, item->error, sizeof shown);
        run_input_sanitize(shown);
        run_say(ctx, "parallm: %s\n", shown);
    }
    return 0;
}

/* Decides what a line becomes: 1 = send it, 0 = handled (skipped or
 * written as invalid), <0 = abort with that code. */
static int admit(run_ctx *ctx, run_input_item *item, uint64_t line_hash,
                 run_prior *prior)
{
    int d = run_tally_decide(ctx->ids, item, line_hash, ctx->opt->skip_failed,
                             prior);
    if (d < 0)
        return d;
    ctx->counts.final.requests++;
    switch (d) {
    case RUN_SKIP_OK:
        ctx->counts.skipped++;
        run_final_add(&ctx->counts.final, RUN_CLASS_OK);
        return 0;
    case RUN_SKIP_FAILED:
        ctx->counts.skipped++;
        run_final_add(&ctx->counts.final, RUN_ID_CLASS(prior->flags));
        return 0;
    case RUN_KEEP_INVALID:
        ctx->counts.kept_invalid++;
        run_final_add(&ctx->counts.final, RUN_CLASS_INVALID);
        return 0;
    case RUN_WRITE_INVALID:
        return write_invalid(ctx, item, line_hash) == 0 ? 0 : PLM_EIO;
    default: return 1;
    }
}

static int out_of_memory(run_ctx *ctx)
{
    run_say(ctx, "parallm: out of memory; stopping (run again to resume)\n");
    ctx->fatal = 1;
    return PLM_ENOMEM;
}

/* A streamed OpenAI chat or completions answer reports usage only when
 * asked: a line with "stream": true and no "stream_options" at all asks
 * for it (the Batch shape carries usage, and the rate budget settles on
 * it); stream_options the line sets are left as they are, and the rest
 * of the body goes out byte for byte as written. */
static int asks_usage(const char *url)
{
    return strcmp(url, "/v1/chat/completions") == 0 ||
           strcmp(url, "/v1/completions") == 0;
}

/* Turns an admitted line into a request for the engine, in *out. Clears
 * item. Returns 1 (a request), 0 (refused and written as invalid), or <0
 * to abort the run with that code. */
static int make_request(run_ctx *ctx, run_input_item *item, uint64_t line_no,
                        uint64_t line_hash, const run_prior *prior,
                        plm_request **out)
{
    int rc;
    int provider = item->provider;

    if (ctx->opt->provider == RUN_PROVIDER_OPENAI ||
        ctx->opt->provider >= RUN_PROVIDER_PRESET)
        provider = PLM_PROVIDER_OPENAI;
    else if (ctx->opt->provider == RUN_PROVIDER_ANTHROPIC)
        provider = PLM_PROVIDER_ANTHROPIC;
    if (!ctx->have_key[provider]) {
        char where[48];
        snprintf(where, sizeof where,
                 "line %llu: ", (unsigned long long)line_no);
        run_progress_clear(ctx->progress);
        run_missing_key_message(provider, where);
        ctx->fatal = 1;
        run_input_item_clear(item);
        return PLM_EAUTH;
    }
    plm_request *req = NULL;
    size_t idlen = strlen(item->custom_id);
    pending *p = malloc(sizeof *p + idlen + 1);
    /* The request takes the body's text as it is and reads what it
     * needs of it without a tree: a jansson parse of every body was the
     * command's largest cost per line. */
    if (p) {
        rc = plm_tool_request_new_raw_text(&req, (plm_provider)provider,
                                           item->method, item->url, item->body,
                                           strlen(item->body));
        item->body = NULL;
        if (rc == PLM_OK && asks_usage(item->url))
            rc = plm_tool_request_ask_stream_usage(req);
        if (rc != PLM_OK) {
            plm_request_free(req);
            req = NULL;
        }
    } else {
        rc = PLM_ENOMEM;
    }
    if (rc != PLM_OK) {
        free(p);
        if (rc == PLM_ENOMEM) {
            run_input_item_clear(item);
            return out_of_memory(ctx);
        }
        snprintf(item->error, sizeof item->error,
                 "line %llu: request refused: %s", (unsigned long long)line_no,
                 plm_strerror(rc));
        rc = write_invalid(ctx, item, line_hash);
        run_input_item_clear(item);
        return rc != 0 ? PLM_EIO : 0;
    }
    p->line_no = line_no;
    p->line_hash = line_hash;
    p->prior = *prior;
    memcpy(p->custom_id, item->custom_id, idlen + 1);
    run_input_item_clear(item);
    if (ctx->opt->request_timeout_ms)
        plm_request_set_timeout_ms(req, ctx->opt->request_timeout_ms);
    plm_request_set_user_data(req, p);
    ctx->counts.sent++;
    *out = req;
    return 1;
}

static int source(plm_request **out, void *user_data)
{
    run_ctx *ctx = user_data;
    run_input_item item;
    unsigned handled = 0;
    grave_flush(ctx);
    while (!g_signals && !ctx->io_error && !ctx->fatal) {
        /* Resuming a big file skips many lines in one call; keep the
         * progress line moving meanwhile. */
        if (ctx->progress && ++handled % 8192 == 0) {
            plm_stats st;
            plm_client_stats(ctx->client, &st);
            run_progress_draw(ctx->progress, &ctx->counts, &st);
        }
        char *line;
        size_t len;
        int too_long, no_newline;
        int got = run_line_reader_next(ctx->reader, &line, &len, &too_long,
                                       &no_newline);
        if (got < 0) {
            run_say(ctx, "parallm: cannot read %s: %s\n", ctx->opt->input,
                    strerror(errno));
            ctx->io_error = 1;
            ctx->input_error = 1;
            return PLM_EIO;
        }
        if (got == 0) {
            ctx->input_eof = 1;
            return 0;
        }
        if (!too_long && run_input_blank(line, len))
            continue;
        uint64_t line_no = run_line_reader_line_no(ctx->reader);
        uint64_t line_hash = run_input_hash(line, len);
        run_prior prior;
        if (run_input_parse(line, len, too_long, line_no, &item) != 0) {
            run_input_item_clear(&item);
            return out_of_memory(ctx);
        }
        int rc = admit(ctx, &item, line_hash, &prior);
        if (rc <= 0) {
            run_input_item_clear(&item);
            if (rc == PLM_ENOMEM)
                return out_of_memory(ctx);
            if (rc < 0)
                return rc;
            continue;
        }
        /* make_request clears item. */
        rc = make_request(ctx, &item, line_no, line_hash, &prior, out);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Whether a result should be recorded. Requests cut short by us (an
 * interrupt, an abort, the whole-run deadline) are not: they run again on
 * resume. */
static int recordable(run_ctx *ctx, const plm_result *res)
{
    int code = plm_result_code(res);
    /* An open circuit breaker failed the request without sending it:
     * nothing is wrong with the request itself. */
    if (code == PLM_ECANCELLED || code == PLM_ENOTSTARTED ||
        code == PLM_EABORTED || code == PLM_EBREAKER)
        return 0;
    /* A timeout within a moment of the run's deadline is the deadline's
     * doing; erring towards "run it again" never loses a request. */
    if (code == PLM_ETIMEOUT && ctx->deadline > 0 &&
        run_now() >= ctx->deadline - 0.1)
        return 0;
    return 1;
}

/* The first failure's reason, kept for the summary: one line. */
static void note_failure(run_ctx *ctx, const pending *p, const plm_result *res)
{
    int code = plm_result_code(res);
    char *why = ctx->counts.first_failure;
    size_t cap = sizeof ctx->counts.first_failure;
    if (code == PLM_EBREAKER) {
        /* Says only that earlier attempts failed: a fallback. */
        why = ctx->breaker_note;
        cap = sizeof ctx->breaker_note;
    } else if (plm_result_http_status(res) <= 0 &&
               (code == PLM_ENETWORK || code == PLM_ETIMEOUT)) {
        ctx->unreachable = 1;
    }
    if (why[0] || code == PLM_OK || code == PLM_ECANCELLED ||
        code == PLM_ENOTSTARTED || code == PLM_EABORTED)
        return;
    const char *msg = plm_result_error_message(res);
    int status = plm_result_http_status(res);
    int shown = (int)cli_utf8_cut(p->custom_id, 64);
    if (status > 0)
        snprintf(why, cap, "%.*s: HTTP %d: %s", shown, p->custom_id, status,
                 msg && *msg ? msg : plm_strerror(code));
    else
        snprintf(why, cap, "%.*s: %s", shown, p->custom_id,
                 msg && *msg ? msg : plm_strerror(code));
    why[cli_utf8_cut(why, cap - 1)] = '\0';
    run_mask_secrets(why, strlen(why), ctx->secrets);
    run_input_sanitize(why);
}

/* Writes a result's line and counts it. 1 to stop the run. */
static int record_result(run_ctx *ctx, pending *p, const plm_result *res)
{
    int cls = RUN_CLASS_OTHER;
    size_t len = 0;
    run_record_meta meta = record_meta(ctx, p->line_hash);
    char *line = run_out_format_result(p->custom_id, res, &meta, &cls, &len);
    run_held h = { .cls = cls,
                   .prior = p->prior,
                   .prompt_tokens = plm_result_prompt_tokens(res),
                   .completion_tokens = plm_result_completion_tokens(res) };
    if (hold_line(ctx, line, len, &h) != 0)
        return 1;
    int ok = cls == RUN_CLASS_OK;
    if (!ok)
        note_failure(ctx, p, res);
    plm_error_class ecls = plm_result_error_class(res);
    if (ok || (ecls != PLM_CLASS_AUTH && ecls != PLM_CLASS_QUOTA) || ctx->fatal)
        return 0;
    /* Every other request would fail the same way: say it once. */
    ctx->fatal = 1;
    run_say(ctx, "parallm: %s (HTTP %d) on custom_id ",
            ecls == PLM_CLASS_AUTH ? "authentication failed"
                                   : "quota exhausted",
            plm_result_http_status(res));
    run_print_safe(stderr, p->custom_id, strnlen(p->custom_id, 200));
    const char *msg = plm_result_error_message(res);
    char *m = strdup(msg ? msg : "");
    if (m)
        run_mask_secrets(m, strlen(m), ctx->secrets);
    fprintf(stderr,
            ": %s\nparallm: stopping the run; check the API key "
            "and the account's quota, then run again to resume\n",
            m ? m : "");
    free(m);
    return 1;
}

static int complete(plm_request *req, plm_result *res, void *user_data)
{
    run_ctx *ctx = user_data;
    pending *p = plm_request_user_data(req);
    int stop = 0;

    if (ctx->ngrave == ctx->capgrave) {
        size_t cap = ctx->capgrave ? ctx->capgrave * 2 : 64;
        plm_request **g = realloc(ctx->grave, cap * sizeof *g);
        if (g) {
            ctx->grave = g;
            ctx->capgrave = cap;
        }
    }
    /* The engine may still touch req until this callback returns, so it
     * is freed later; if even that list cannot grow, leaking one request
     * beats freeing it under the engine. */
    if (ctx->ngrave < ctx->capgrave)
        ctx->grave[ctx->ngrave++] = req;

    if (ctx->io_error || !recordable(ctx, res)) {
        ctx->counts.not_run++;
        run_final_unanswered(&ctx->counts.final, &p->prior);
        note_failure(ctx, p, res);
        stop = ctx->io_error;
        goto out;
    }
    stop = record_result(ctx, p, res);
out:
    free(p);
    plm_result_free(res);
    return stop;
}

static void tick(const plm_stats *st, void *user_data)
{
    run_ctx *ctx = user_data;
    if (ctx->progress)
        run_progress_draw(ctx->progress, &ctx->counts, st);
    run_metrics_tick(ctx->metrics, ctx, st);
    if (!ctx->io_error && run_out_sync_maybe(ctx->out) != 0) {
        run_say(ctx, "parallm: cannot sync %s: %s; stopping\n",
                ctx->opt->output, strerror(errno));
        ctx->io_error = 1;
        plm_client_interrupt(ctx->client, 2);
    }
}

static const char *outcome_text(int code)
{
    switch (code) {
    case CLI_EXIT_OK: return "all requests succeeded";
    case CLI_EXIT_PARTIAL: return "some requests failed";
    case CLI_EXIT_IO: return "stopped by an I/O error";
    case CLI_EXIT_INTERRUPTED: return "interrupted";
    case CLI_EXIT_TIMEOUT: return "--timeout reached";
    case CLI_EXIT_FATAL: return "stopped: authentication or quota error";
    default: return "failed";
    }
}

/* Classifies the input lines a run that stopped early did not reach, so
 * the summary and the exit code cover the whole input. A pipe is not
 * read on: it might never end. */
static void tally_rest(run_ctx *ctx)
{
    if (ctx->input_eof) {
        ctx->counts.final.input_complete = 1;
        return;
    }
    if (!ctx->in_regular || ctx->input_error)
        return;
    ctx->counts.final.input_complete = run_tally_rest(ctx->reader, ctx->ids,
                                                      ctx->opt->skip_failed,
                                                      &ctx->counts.final) == 0;
}

/* Runs every request through the engine; the source and completion
 * callbacks do the work. Returns plm_client_run's code, with the run's
 * duration in *elapsed and the client's statistics in *stats. -1 in
 * *exit_code to go on, or an exit code when the run could not start. */
static int run_requests(run_ctx *ctx, double *elapsed, plm_stats *stats,
                        int *exit_code)
{
    const run_options *opt = ctx->opt;
    plm_run_options ropts = PLM_RUN_OPTIONS_INIT;
    int rc;

    ropts.max_concurrent = opt->max_concurrent;
    ropts.timeout_ms = opt->timeout_ms;
    ropts.tick = tick;
    ropts.tick_ms = 250;
    ropts.flush = flush_round;
    /* At most max_concurrent requests finish between two calls of the
     * source (and after its last one), so this is the graveyard's size. */
    ctx->capgrave = (size_t)opt->max_concurrent + 16;
    ctx->grave = malloc(ctx->capgrave * sizeof *ctx->grave);
    if (!ctx->grave) {
        fprintf(stderr, "parallm run: out of memory\n");
        *exit_code = CLI_EXIT_FATAL;
        return PLM_ENOMEM;
    }
    *exit_code = -1;
    ctx->counts.started = run_now();
    if (opt->timeout_ms)
        ctx->deadline = ctx->counts.started + (double)opt->timeout_ms / 1000.0;
    if (run_metrics_attach(ctx->metrics, ctx) != 0) {
        *exit_code = CLI_EXIT_IO;
        return PLM_EINVAL;
    }
    g_client = ctx->client;
    rc = g_signals ? PLM_ECANCELLED
                   : plm_client_run(ctx->client, source, complete, &ropts, ctx);
    g_client = NULL;
    *elapsed = run_now() - ctx->counts.started;
    grave_flush(ctx);
    flush_lines(ctx);
    tally_rest(ctx);
    if (run_out_close(ctx->out) != 0 && !ctx->io_error) {
        fprintf(stderr, "parallm run: cannot write %s: %s\n", opt->output,
                strerror(errno));
        ctx->io_error = 1;
    }
    ctx->out = NULL;
    plm_client_stats(ctx->client, stats);
    run_progress_finish(ctx->progress, &ctx->counts, stats);
    if (run_metrics_finish(ctx->metrics, ctx) != 0)
        ctx->io_error = 1;
    return rc;
}

/* The exit code of a finished run whose plm_client_run returned rc. */
static int run_exit_code(const run_ctx *ctx, int rc)
{
    if (ctx->write_interrupted)
        return CLI_EXIT_INTERRUPTED;
    if (ctx->io_error)
        return CLI_EXIT_IO;
    if (ctx->fatal)
        return CLI_EXIT_FATAL;
    if (g_signals)
        return CLI_EXIT_INTERRUPTED;
    if (rc == PLM_ETIMEOUT)
        return CLI_EXIT_TIMEOUT;
    if (rc != PLM_OK) {
        char why[CLI_ERROR_LEN];
        fprintf(stderr, "parallm run: the run failed: %s\n",
                cli_strerror(rc, why, sizeof why));
        return CLI_EXIT_FATAL;
    }
    /* The whole output against the whole input, not this run alone. */
    const run_final *f = &ctx->counts.final;
    return f->failed || f->not_run || !f->input_complete ? CLI_EXIT_PARTIAL
                                                         : CLI_EXIT_OK;
}

/* When no request got through and the results only say the network
 * failed (or the breaker opened), one connection to the server says why
 * in a line: refused, unresolvable, TLS. */
static void diagnose(run_ctx *ctx)
{
    const run_options *opt = ctx->opt;
    char *why = ctx->counts.first_failure;
    const char *url = opt->base_url;
    if (!url && ctx->preset.base_url[0])
        url = ctx->preset.base_url;
    if (!url)
        url = getenv("OPENAI_BASE_URL");
    if (!url || !*url)
        url = getenv("ANTHROPIC_BASE_URL");
    if (ctx->mock || ctx->counts.succeeded ||
        !(ctx->unreachable || (ctx->breaker_note[0] && !why[0])))
        return;
    char reason[200];
    if (url && *url &&
        run_probe(url, opt->ca_file, opt->insecure, reason, sizeof reason) !=
            0) {
        snprintf(why, sizeof ctx->counts.first_failure, "%s", reason);
        run_input_sanitize(why);
    } else if (!why[0]) {
        memcpy(why, ctx->breaker_note, sizeof ctx->breaker_note);
    }
}

/* The closing messages, the summary and --summary-json. Returns the exit
 * code, which a failed --summary-json turns into CLI_EXIT_IO. */
static int report(const run_ctx *ctx, int exit_code, double elapsed,
                  const plm_stats *stats)
{
    const run_options *opt = ctx->opt;

    if (ctx->listed_invalid > MAX_LISTED_INVALID)
        fprintf(stderr, "parallm: ... and %llu more invalid line(s); see %s\n",
                (unsigned long long)(ctx->listed_invalid - MAX_LISTED_INVALID),
                opt->output);
    if (ctx->counts.first_failure[0] && !opt->quiet)
        fprintf(stderr, "parallm run: first failure: %s\n",
                ctx->counts.first_failure);
    if (exit_code == CLI_EXIT_TIMEOUT)
        fprintf(stderr, "parallm run: --timeout reached; unfinished requests "
                        "were not written and run on resume\n");
    if (!opt->quiet)
        run_summary_print(stderr, &ctx->counts, stats, elapsed,
                          outcome_text(exit_code));
    if (opt->summary_json &&
        run_summary_write_json(opt->summary_json, &ctx->counts, stats, elapsed,
                               outcome_text(exit_code), exit_code) != 0) {
        fprintf(stderr, "parallm run: cannot write %s\n", opt->summary_json);
        if (exit_code == CLI_EXIT_OK || exit_code == CLI_EXIT_PARTIAL)
            exit_code = CLI_EXIT_IO;
    }
    return exit_code;
}

int cmd_run(int argc, char **argv)
{
    run_options opt;
    run_ctx ctx;
    plm_stats stats;
    double elapsed = 0;

    memset(&ctx, 0, sizeof ctx);
    ctx.in_fd = -1;
    int rc = run_options_parse(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    ctx.opt = &opt;
    if (run_check_ca_file(opt.ca_file) != 0 || run_check_paths(&opt) != 0)
        return CLI_EXIT_USAGE;
    if (run_metrics_open(&ctx.metrics, &opt) != 0) {
        run_metrics_free(ctx.metrics);
        return CLI_EXIT_USAGE;
    }
    install_signals();
    int exit_code = run_set_up(&ctx);
    if (exit_code < 0) {
        rc = run_requests(&ctx, &elapsed, &stats, &exit_code);
        diagnose(&ctx);
        if (exit_code < 0)
            exit_code = report(&ctx, run_exit_code(&ctx, rc), elapsed, &stats);
    }
    run_ctx_free(&ctx);
    run_metrics_free(ctx.metrics);
    return exit_code;
}
