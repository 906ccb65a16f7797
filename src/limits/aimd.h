/*
 * Adaptive concurrency limit (AIMD, as Netflix's concurrency-limits and
 * TCP): grow by one on success while the limit is actually being used,
 * shrink by ~10% when the server drops a request (429, 529/503, timeout).
 * The engine admits a request only while in-flight < plm__aimd_limit().
 * Pure: the caller passes times (monotonic ns).
 *
 * One burst of simultaneous drops must not collapse the limit to 1: every
 * request in flight when the server got overloaded fails at about the same
 * time, and they all describe the same event. So a drop counts only if its
 * request started at or after the last decrease; requests sent under the
 * old, larger limit have already been answered for (TCP's one reduction
 * per window of data in flight).
 */
#ifndef PLM_AIMD_H
#define PLM_AIMD_H

#include <stdint.h>

#include "parallm.h"

#define PLM__AIMD_INITIAL 10
/* Ceiling used when the caller gives no maximum (unlimited concurrency). */
#define PLM__AIMD_DEFAULT_MAX 1000

typedef enum plm__aimd_outcome {
    PLM__AIMD_SUCCESS = 0,
    PLM__AIMD_DROP,  /* the server shed load: 429, 529, 503, timeout */
    PLM__AIMD_IGNORE /* says nothing about load: 4xx, cancelled, ... */
} plm__aimd_outcome;

typedef struct plm__aimd {
    int limit;
    int max;
    int64_t last_decrease_ns;
    int decreased; /* 0 until the first decrease */
} plm__aimd;

/* Starts at min(PLM__AIMD_INITIAL, max); max <= 0 means
 * PLM__AIMD_DEFAULT_MAX. */
void plm__aimd_init(plm__aimd *a, int max);

/*
 * Feeds one completed attempt. request_start_ns is when that attempt went
 * in flight; in_flight counts the attempts in flight just before this one
 * completed (this one included). Returns the new limit.
 */
int plm__aimd_on_outcome(plm__aimd *a, plm__aimd_outcome outcome,
                         int64_t request_start_ns, int in_flight,
                         int64_t now_ns);

int plm__aimd_limit(const plm__aimd *a);

/* Maps a final class to an outcome: success; rate limited, overloaded and
 * timeout are drops; the rest is ignored (a network error or a plain 5xx
 * is the breaker's business, not a load signal). */
plm__aimd_outcome plm__aimd_outcome_from_class(plm_error_class cls);

#endif
