/*
 * Provider usage tiers: the published per-minute limits of the common
 * tiers, so a user can say "openai-1" instead of looking numbers up.
 *
 * Suggested concurrency follows Little's law (in flight = rate x latency)
 * with ~5 s per LLM call, capped so a fresh client does not open hundreds
 * of connections at once: tier 1 budgets sustain a request every few
 * seconds at typical prompt sizes, so 5-10 slots keep them busy; tier 4
 * budgets sustain tens of requests per second,
 * which 64 slots (plus the adaptive limit, if enabled) can approach.
 */
#include <string.h>

#include "parallm.h"

static const plm_tier tiers[] = {
    { "openai-1", 500, 30000, 10 },  { "openai-4", 10000, 10000000, 64 },
    { "anthropic-1", 50, 50000, 5 }, { "anthropic-4", 4000, 4000000, 64 },
    { "local", 0, 0, 32 },
};

#define TIER_COUNT (sizeof tiers / sizeof tiers[0])

int plm_tier_lookup(const char *name, plm_tier *out)
{
    if (!name || !out)
        return PLM_EINVAL;
    for (size_t i = 0; i < TIER_COUNT; i++) {
        if (strcmp(tiers[i].name, name) == 0) {
            *out = tiers[i];
            return PLM_OK;
        }
    }
    return PLM_EINVAL;
}

const char *plm_tier_name(size_t index)
{
    return index < TIER_COUNT ? tiers[index].name : NULL;
}
