/*
 * Parsers for option values shared by the subcommands: durations ("50",
 * "50ms", "3s", "1.5s"), bounded integers and fractions. Each parser
 * accepts the whole string or nothing, so "5x" or "" is an error rather
 * than a silent 5 or 0.
 */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <stdint.h>

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
int cli_parse_int64(const char *text, int64_t min, int64_t max,
                         int64_t *out);
int cli_parse_int(const char *text, int min, int max, int *out);

/* Parses an unsigned decimal integer (a seed). Returns 0 or -1. */
int cli_parse_uint64(const char *text, uint64_t *out);

/* Parses a plain decimal number ("0.25", "1") in [min, max]; no
 * exponents, hex, infinities. Returns 0 or -1. */
int cli_parse_double(const char *text, double min, double max,
                          double *out);

#endif
