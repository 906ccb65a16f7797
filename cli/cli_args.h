/*
 * The command line of every subcommand: a declarative option table read
 * by one generic parser, and the parsers for option values it uses:
 * durations ("50", "50ms", "3s", "1.5s"), bounded integers and fractions.
 * Each value parser accepts the whole string or nothing, so "5x" or "" is
 * an error rather than a silent 5 or 0.
 */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <stdint.h>
#include <stdio.h>

/*
 * Parses a non-negative duration into milliseconds (rounded to the
 * nearest). Accepted: a decimal number ("50", "1.5") with an optional unit
 * "ms", "s", "m" or "h". A number without a unit is in default_unit_ms
 * milliseconds (1 for options documented in ms, 1000 for seconds).
 * Returns 0, or -1 on a malformed or out-of-range value.
 */
int cli_parse_duration(const char *text, int64_t default_unit_ms,
                       int64_t *out_ms);

/* Parses a decimal integer in [min, max]. Returns 0 or -1. */
int cli_parse_int64(const char *text, int64_t min, int64_t max, int64_t *out);
int cli_parse_int(const char *text, int min, int max, int *out);

/* Parses an integer as strtol reads it (leading blanks and a sign
 * allowed), the whole string, in [min, max]. Returns 0 or -1. */
int cli_parse_long(const char *text, int64_t min, int64_t max, int *out);

/* Parses a finite number as strtod reads it, the whole string, in
 * [min, max]. Returns 0 or -1. */
int cli_parse_number(const char *text, double min, double max, double *out);

/* Parses an unsigned decimal integer (a seed). Returns 0 or -1. */
int cli_parse_uint64(const char *text, uint64_t *out);

/* Parses a plain decimal number ("0.25", "1") in [min, max]; no
 * exponents, hex, infinities. Returns 0 or -1. */
int cli_parse_double(const char *text, double min, double max, double *out);

/* ------------------------------------------------------------------ */
/* The option table. */

enum cli_opt_kind {
    CLI_OPT_END = 0,  /* ends a table */
    CLI_OPT_HELP,     /* prints the usage on stdout, exit 0 */
    CLI_OPT_FLAG,     /* int *dest = flag_value */
    CLI_OPT_STRING,   /* const char **dest = the argument */
    CLI_OPT_INT,      /* int *dest, cli_parse_int in [min, max] */
    CLI_OPT_INT64,    /* int64_t *dest, cli_parse_int64 in [min, max] */
    CLI_OPT_UINT64,   /* uint64_t *dest, cli_parse_uint64 */
    CLI_OPT_DOUBLE,   /* double *dest, cli_parse_double in [dmin, dmax] */
    CLI_OPT_DURATION, /* int64_t *dest in ms, cli_parse_duration with
                       * unit_ms for a bare number, in [min, max] */
    CLI_OPT_LONG,     /* int *dest, read as strtol reads it (leading blanks
                       * and a sign allowed), in [min, max] */
    CLI_OPT_NUMBER,   /* double *dest, read as strtod reads it, finite, in
                       * [dmin, dmax] */
    CLI_OPT_CHOICE,   /* int *dest = index of the argument in choices */
    CLI_OPT_CUSTOM    /* convert(argument, dest) decides */
};

typedef struct cli_option {
    const char *name; /* long name, without "--" */
    int letter;       /* short option, or 0 for none */
    enum cli_opt_kind kind;
    void *dest;
    int64_t min, max;           /* INT, INT64, DURATION, LONG */
    int64_t unit_ms;            /* DURATION: unit of a bare number */
    double dmin, dmax;          /* DOUBLE, NUMBER */
    const char *const *choices; /* CHOICE: names, NULL-terminated */
    int flag_value;             /* FLAG: the value stored */
    /* CUSTOM: 0, or -1 to refuse the argument. */
    int (*convert)(const char *text, void *dest);
    /* What a refused argument prints after "parallm CMD: ": "%o" stands
     * for --name and "%v" for the argument. NULL: the table's default. */
    const char *bad;
    /* Instead of bad: prints the whole complaint itself. */
    void (*complain)(const char *text);
    int *given; /* set to 1 when the option is given */
} cli_option;

typedef struct cli_command_line {
    const char *command;       /* "run": messages start "parallm run: " */
    const cli_option *options; /* ends with a CLI_OPT_END entry */
    const char *bad;           /* default template for a refused value */
    void (*usage)(FILE *out);  /* for --help */
} cli_command_line;

/*
 * Parses argv (argv[0] is the subcommand's name) against the table: sets
 * each given option's destination, refusing a bad value with its message
 * and an unknown option with getopt's and "Try 'parallm CMD --help'.".
 * Returns -1 to go on, with *first_arg the index of the first operand, or
 * an exit code to stop with (0 after --help).
 */
int cli_parse_command_line(const cli_command_line *cl, int argc, char **argv,
                           int *first_arg);

#endif
