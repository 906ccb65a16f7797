/*
 * How many connections this process may still open, from RLIMIT_NOFILE
 * and the descriptors already in use. The engine caps a run's
 * concurrency with it (src/engine/client.c). Any thread.
 */
#ifndef PLM_FD_ROOM_H
#define PLM_FD_ROOM_H

#include <stdint.h>

/* Descriptors kept for everything but connections: this many plus a
 * sixteenth of the soft limit. */
#define PLM__FD_RESERVE_MIN 16

typedef struct plm__fd_room {
    int64_t soft, hard; /* RLIMIT_NOFILE after any raise; hard -1: none */
    int64_t in_use;     /* descriptors open when asked */
    int64_t reserve;    /* kept for files, DNS, the caller */
    int64_t room;       /* connections that may still be opened; -1: no
                           limit */
    int raised;         /* the soft limit was raised to the hard one */
} plm__fd_room;

/*
 * How many connections this process may still open: the soft
 * RLIMIT_NOFILE less the descriptors open now and a reserve. When in use
 * + reserve + wanted is over the soft limit, the soft limit is first
 * raised to the hard one (process-wide). room is at least 1. Returns 1,
 * or 0 when there is no limit (room -1).
 */
int plm__fd_room_get(int64_t wanted, plm__fd_room *r);

#endif
