/*
 * Entry point of the parallm command: global options and the table of
 * subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "parallm.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    { "run", cmd_run, "run a Batch JSONL file of requests, resumably" },
    { "mock", cmd_mock, "serve the mock LLM API for offline testing" },
    { "demo", cmd_demo, "sequential vs parallel benchmark on the mock" },
    { "describe", cmd_describe, "describe files in parallel with an LLM" },
    { "report", cmd_report, "an HTML report of a run's trace" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: parallm <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'parallm <command> --help' shows a command's options.\n"
                 "Also: parallm --help, parallm --version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("parallm %s\n", plm_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "parallm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
