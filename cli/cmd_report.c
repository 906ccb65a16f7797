/*
 * `parallm report TRACE -o report.html`: turns a trace of a run (one JSON
 * line per attempt, written by `parallm run --trace`) into one
 * self-contained HTML page: the page in cli/assets/report.html, compiled
 * in, with the run's aggregated numbers (report_agg.c) put in place of
 * its data marker. No network, no external script; the page opens from a
 * file anywhere. Bad lines are named on stderr and in the page, and the
 * rest of the trace is still drawn.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "cli_args.h"
#include "commands.h"
#include "report.h"

/* Where the page's data goes: the template has it exactly once. */
#define REPORT_DATA_MARKER "@@REPORT_DATA@@"
/* Bad lines named one by one on stderr; the page lists more. */
#define REPORT_BAD_SHOWN 20

static void usage(FILE *out)
{
    fprintf(out,
            "usage: parallm report [options] TRACE\n"
            "\n"
            "Writes one self-contained HTML page (no network needed) that\n"
            "shows the run traced in TRACE (parallm run --trace FILE): a\n"
            "timeline of attempts, in flight against the limit, latency\n"
            "percentiles, throughput, retries and errors by class, tokens\n"
            "per minute against the budget. Bad lines are named and "
            "skipped.\n"
            "\n"
            "options:\n"
            "  -o, --output FILE   write the page to FILE (default: "
            "stdout)\n"
            "      --json          write the aggregated data as JSON instead\n"
            "      --buckets N     time buckets across the run (default "
            "400)\n"
            "      --timeline N    requests drawn in the timeline; more are\n"
            "                      sampled evenly (default 2000)\n"
            "  -h, --help          show this help\n"
            "\n"
            "exit status: 0 written (bad lines, if any, named on stderr),\n"
            "2 bad command line or a missing, empty or unusable trace,\n"
            "3 the output cannot be written.\n");
}

struct report_cmd {
    const char *output;
    int json;
    report_agg_options agg;
    const char *trace;
};

static int parse_options(int argc, char **argv, struct report_cmd *c)
{
    /* clang-format off */
    const cli_option options[] = {
        { .name = "output", .letter = 'o', .kind = CLI_OPT_STRING,
          .dest = &c->output },
        { .name = "json", .kind = CLI_OPT_FLAG, .dest = &c->json,
          .flag_value = 1 },
        { .name = "buckets", .kind = CLI_OPT_INT, .dest = &c->agg.buckets,
          .min = 10, .max = 5000 },
        { .name = "timeline", .kind = CLI_OPT_INT,
          .dest = &c->agg.timeline_max, .min = 1, .max = 20000 },
        { .name = "help", .letter = 'h', .kind = CLI_OPT_HELP },
        { .kind = CLI_OPT_END }
    };
    /* clang-format on */
    const cli_command_line cl = { "report", options,
                                  "invalid value for %o: '%v'", usage };
    int first_arg;
    int rc = cli_parse_command_line(&cl, argc, argv, &first_arg);

    if (rc >= 0)
        return rc;
    if (first_arg >= argc) {
        fprintf(stderr, "parallm report: no trace file given\n"
                        "Try 'parallm report --help'.\n");
        return CLI_EXIT_USAGE;
    }
    if (first_arg + 1 < argc) {
        fprintf(stderr, "parallm report: unexpected argument '%s'\n",
                argv[first_arg + 1]);
        return CLI_EXIT_USAGE;
    }
    c->trace = argv[first_arg];
    return -1;
}

struct bad_ctx {
    const char *path;
    int64_t shown;
};

static void on_bad_line(int64_t line, const char *why, void *user)
{
    struct bad_ctx *ctx = user;

    if (ctx->shown++ < REPORT_BAD_SHOWN)
        fprintf(stderr, "parallm report: %s:%lld: %s (skipped)\n", ctx->path,
                (long long)line, why);
}

/* The page: the template around the data. Returns 0 or -1 (errno). */
static int write_page(FILE *out, const char *data)
{
    const char *mark = strstr(cli_report_html, REPORT_DATA_MARKER);

    if (mark == NULL) {
        errno = EINVAL;
        return -1;
    }
    size_t head = (size_t)(mark - cli_report_html);
    const char *tail = mark + strlen(REPORT_DATA_MARKER);
    if (fwrite(cli_report_html, 1, head, out) != head ||
        fputs(data, out) == EOF || fputs(tail, out) == EOF)
        return -1;
    return 0;
}

/* Writes the page (or the JSON) to c->output or stdout. */
static int write_output(const struct report_cmd *c, const char *data)
{
    int to_stdout = c->output == NULL || strcmp(c->output, "-") == 0;
    FILE *out = to_stdout ? stdout : fopen(c->output, "wb");
    int rc;

    if (out == NULL) {
        fprintf(stderr, "parallm report: cannot write %s: %s\n", c->output,
                strerror(errno));
        return CLI_EXIT_IO;
    }
    if (c->json)
        rc = fputs(data, out) == EOF || fputc('\n', out) == EOF ? -1 : 0;
    else
        rc = write_page(out, data);
    if (fflush(out) != 0)
        rc = -1;
    if (!to_stdout && fclose(out) != 0)
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "parallm report: cannot write %s: %s\n",
                to_stdout ? "the standard output" : c->output, strerror(errno));
        return CLI_EXIT_IO;
    }
    return CLI_EXIT_OK;
}

/* The trace's problems as a summary on stderr, after the lines named. */
static void warn_summary(const report_trace *t, const char *path)
{
    if (!t->have_header)
        fprintf(stderr,
                "parallm report: %s: no valid trace header; the "
                "limits are unknown\n",
                path);
    if (t->bad > REPORT_BAD_SHOWN)
        fprintf(stderr, "parallm report: ... and %lld more bad lines\n",
                (long long)(t->bad - REPORT_BAD_SHOWN));
    if (t->bad > 0)
        fprintf(stderr,
                "parallm report: %s: %lld bad line%s skipped (the "
                "page lists %s)\n",
                path, (long long)t->bad, t->bad == 1 ? "" : "s",
                t->bad > REPORT_MAX_BAD_KEPT ? "the first 1000" : "them");
}

int cmd_report(int argc, char **argv)
{
    struct report_cmd c;
    report_trace t;
    char err[512];
    int rc;

    memset(&c, 0, sizeof c);
    rc = parse_options(argc, argv, &c);
    if (rc >= 0)
        return rc;
    struct bad_ctx bad = { c.trace, 0 };
    if (report_trace_read(&t, c.trace, on_bad_line, &bad, err, sizeof err)) {
        fprintf(stderr, "parallm report: %s\n", err);
        report_trace_free(&t);
        return CLI_EXIT_USAGE;
    }
    warn_summary(&t, c.trace);

    json_t *data = report_aggregate(&t, &c.agg);
    char *text = NULL;
    if (data != NULL) {
        /* Escaped slashes keep "</script>" in an id from ending the
         * page's data block. */
        text = json_dumps(data, JSON_COMPACT | JSON_ESCAPE_SLASH);
    }
    json_decref(data);
    report_trace_free(&t);
    if (text == NULL) {
        fprintf(stderr, "parallm report: out of memory\n");
        return CLI_EXIT_FATAL;
    }
    rc = write_output(&c, text);
    free(text);
    return rc;
}
