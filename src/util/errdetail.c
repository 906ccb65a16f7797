/*
 * The per-thread last error message (see errdetail.h). A fixed buffer per
 * thread: setting it cannot fail, and reading it needs no free.
 */
#include <stdarg.h>
#include <stdio.h>

#include "errdetail.h"

static _Thread_local char last_error[512];

int plm__error_set(int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (field)
        n = snprintf(last_error, sizeof last_error, "%s: ", field);
    if (n < 0 || (size_t)n >= sizeof last_error)
        n = 0;
    va_start(ap, fmt);
    if (vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap) < 0)
        last_error[n] = '\0';
    va_end(ap);
    return code;
}

void plm__error_clear(void)
{
    last_error[0] = '\0';
}

const char *plm_last_error(void)
{
    return last_error;
}
