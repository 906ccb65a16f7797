/*
 * AIMD concurrency limit: additive increase on used successes,
 * multiplicative decrease at most once per "generation" of requests.
 */
#include "aimd.h"

void plm__aimd_init(plm__aimd *a, int max)
{
    a->max = max > 0 ? max : PLM__AIMD_DEFAULT_MAX;
    a->limit = PLM__AIMD_INITIAL < a->max ? PLM__AIMD_INITIAL : a->max;
    a->last_decrease_ns = 0;
    a->decreased = 0;
}

plm__aimd_outcome plm__aimd_outcome_from_class(plm_error_class cls)
{
    switch (cls) {
    case PLM_CLASS_NONE: return PLM__AIMD_SUCCESS;
    case PLM_CLASS_RATE_LIMITED:
    case PLM_CLASS_OVERLOADED:
    case PLM_CLASS_TIMEOUT: return PLM__AIMD_DROP;
    default: return PLM__AIMD_IGNORE;
    }
}

int plm__aimd_on_outcome(plm__aimd *a, plm__aimd_outcome outcome,
                         int64_t request_start_ns, int in_flight,
                         int64_t now_ns)
{
    if (outcome == PLM__AIMD_DROP) {
        if (a->decreased && request_start_ns < a->last_decrease_ns)
            return a->limit;
        /* L = max(1, min(L - 1, floor(0.9 L))): at least one step down,
         * ten percent when the limit is large. */
        int tenth = a->limit - (a->limit * 9) / 10;
        int next = a->limit - (tenth > 1 ? tenth : 1);
        a->limit = next > 1 ? next : 1;
        a->last_decrease_ns = now_ns;
        a->decreased = 1;
    } else if (outcome == PLM__AIMD_SUCCESS) {
        /* Only grow while the limit is used: successes at low load prove
         * nothing about a higher one. 2 * in_flight >= L is in_flight >=
         * L/2 without rounding. */
        if (2 * (int64_t)in_flight >= a->limit && a->limit < a->max)
            a->limit++;
    }
    return a->limit;
}

int plm__aimd_limit(const plm__aimd *a)
{
    return a->limit;
}
