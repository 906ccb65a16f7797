/*
 * SIGPIPE around a run. curl is told CURLOPT_NOSIGNAL, which leaves
 * SIGPIPE to the application; a TLS library writing to a connection the
 * server just reset could raise it and kill the process. The run blocks
 * SIGPIPE on its thread and swallows one that was raised meanwhile, the
 * way libpq does, without touching the process-wide disposition (other
 * threads, the caller's handler).
 */
#ifndef PLM_ENGINE_SIGPIPE_H
#define PLM_ENGINE_SIGPIPE_H

#include <signal.h>

typedef struct plm__sigpipe_guard {
    sigset_t old_mask;
    int was_pending;
} plm__sigpipe_guard;

/* Blocks SIGPIPE on the calling thread, remembering the old mask. */
void plm__sigpipe_block(plm__sigpipe_guard *g);
/* Drops a SIGPIPE raised since plm__sigpipe_block and restores the mask. */
void plm__sigpipe_restore(const plm__sigpipe_guard *g);

#endif
