/*
 * Error detail for calls that validate their arguments: which field was
 * wrong and why, kept per thread (as libgit2's git_error_last) and read
 * with the public plm_last_error(). A call that succeeds leaves it alone;
 * a call that fails with PLM_EINVAL sets it. Never holds a secret.
 */
#ifndef PLM_UTIL_ERRDETAIL_H
#define PLM_UTIL_ERRDETAIL_H

#include "parallm.h"

/* Sets this thread's last error to "<field>: <why>" (field may be NULL)
 * and returns code, so a check can `return plm__error_set(...)`. */
int plm__error_set(int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Empties this thread's last error (at the start of a validating call). */
void plm__error_clear(void);

#endif
