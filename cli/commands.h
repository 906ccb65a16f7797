/*
 * The parallm command's subcommands. Each lives in its own file and takes
 * the arguments after its name (argv[0] is the subcommand's name); each
 * returns one of the exit codes below.
 */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

#include <stddef.h>

/* Exit codes, documented in parallm.1 and the README. */
enum cli_exit {
    CLI_EXIT_OK = 0,          /* everything succeeded */
    CLI_EXIT_PARTIAL = 1,     /* the run finished, some requests failed */
    CLI_EXIT_USAGE = 2,       /* bad command line or refused input */
    CLI_EXIT_IO = 3,          /* input/output file error (disk full, ...) */
    CLI_EXIT_INTERRUPTED = 4, /* stopped by SIGINT/SIGTERM */
    CLI_EXIT_TIMEOUT = 5,     /* the whole-run --timeout passed */
    CLI_EXIT_FATAL = 6        /* auth/quota: every request was doomed */
};

/* The text for a failed library call's code, with plm_last_error()'s
 * detail for PLM_EINVAL: "invalid argument (retry_max_ms: ...)". Call it
 * right after the failing call; the text is written into buf (len bytes,
 * CLI_ERROR_LEN is enough), which is returned. */
#define CLI_ERROR_LEN 640
const char *cli_strerror(int code, char *buf, size_t len);

int cmd_run(int argc, char **argv);
int cmd_mock(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_describe(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
