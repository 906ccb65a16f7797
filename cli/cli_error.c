/*
 * Error text for the parallm command: the library's name for a code, and
 * for PLM_EINVAL the detail it keeps in plm_last_error() (which option,
 * and why), so "invalid argument" says what was invalid.
 */
#include <stdio.h>

#include "commands.h"
#include "parallm.h"

const char *cli_strerror(int code, char *buf, size_t len)
{
    /* Only a failure with PLM_EINVAL sets the detail; after any other
     * code it may be left from an earlier call. */
    const char *detail = code == PLM_EINVAL ? plm_last_error() : NULL;

    if (detail != NULL && detail[0] != '\0')
        snprintf(buf, len, "%s (%s)", plm_strerror(code), detail);
    else
        snprintf(buf, len, "%s", plm_strerror(code));
    return buf;
}
