/*
 * The table of providers: PLM__PROVIDER_LIST (provider.h) names each
 * provider's operations object once; this file lays them out by their
 * enum value and looks one up.
 */
#include <stddef.h>

#include "provider.h"

#define PLM__PROVIDER_ENTRY(id, ops) [id] = &ops,
static const plm__provider_ops *const providers[] = { PLM__PROVIDER_LIST(
    PLM__PROVIDER_ENTRY) };

/* A gap or a repeated enum value would leave a NULL slot or shrink the
 * table: the enum values must be exactly 0 .. count - 1. */
_Static_assert(sizeof providers / sizeof providers[0] == PLM__PROVIDER_COUNT,
               "plm_provider values must be 0 .. PLM__PROVIDER_COUNT - 1");

const plm__provider_ops *plm__provider_get(plm_provider provider)
{
    /* Through unsigned: an out-of-range enum (a cast int) may be
     * negative. */
    if ((unsigned)provider >= (unsigned)PLM__PROVIDER_COUNT)
        return NULL;
    return providers[provider];
}
