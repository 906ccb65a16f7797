/*
 * Small helpers for `parallm run`: strict number parsing for options (the
 * whole string or an error, so "5x" is refused rather than read as 5), the
 * monotonic clock, the colour rule (a TTY and NO_COLOR unset) and printing
 * untrusted text (ids from the input) without letting it drive the
 * terminal.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cli_args.h"
#include "run.h"

int run_parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    if (!text || !*text)
        return -1;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int run_parse_seconds(const char *text, int64_t *out_ms)
{
    /* One duration grammar for every subcommand (cli_args.c): a bare
     * number is seconds here, and "500ms", "30s", "5m" work too. */
    if (cli_parse_duration(text, 1000, out_ms) != 0 ||
        *out_ms > (int64_t)365 * 86400 * 1000)
        return -1;
    return 0;
}

double run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int run_use_color(int fd)
{
    const char *no_color = getenv("NO_COLOR");
    if (no_color && *no_color)
        return 0;
    return isatty(fd);
}

void run_print_safe(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}
