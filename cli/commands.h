/*
 * The parallm command's subcommands. Each lives in its own file and takes
 * the arguments after its name (argv[0] is the subcommand's name); each
 * returns one of the exit codes below.
 */
#ifndef PLM_CLI_COMMANDS_H
#define PLM_CLI_COMMANDS_H

/* Exit codes, documented in parallm.1 and the README. */
enum plm_exit {
    PLM_EXIT_OK = 0,          /* everything succeeded */
    PLM_EXIT_PARTIAL = 1,     /* the run finished, some requests failed */
    PLM_EXIT_USAGE = 2,       /* bad command line or refused input */
    PLM_EXIT_IO = 3,          /* input/output file error (disk full, ...) */
    PLM_EXIT_INTERRUPTED = 4, /* stopped by SIGINT/SIGTERM */
    PLM_EXIT_TIMEOUT = 5,     /* the whole-run --timeout passed */
    PLM_EXIT_FATAL = 6        /* auth/quota: every request was doomed */
};

int plm_cmd_run(int argc, char **argv);
int plm_cmd_mock(int argc, char **argv);
int plm_cmd_demo(int argc, char **argv);
int plm_cmd_describe(int argc, char **argv);

#endif
