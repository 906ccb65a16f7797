/*
 * One attempt's streamed answer, parsed as it arrives: the seam between
 * the transport's per-chunk data callback and the provider's incremental
 * SSE reader. The engine holds one per request; it costs one branch per
 * chunk for an answer that is not a stream. Loop thread only.
 */
#ifndef PLM_ATTEMPT_STREAM_H
#define PLM_ATTEMPT_STREAM_H

#include <stddef.h>

#include "provider.h"
#include "result.h"
#include "transport.h"

typedef struct plm__attempt_stream {
    plm__provider_stream *s; /* open while a 2xx SSE answer arrives */
    int decided;             /* 0: not yet; 1: streaming or not a stream */
} plm__attempt_stream;

/* Before an attempt starts (after plm__attempt_stream_drop). */
void plm__attempt_stream_init(plm__attempt_stream *as);

/* A body piece of x arrived (already appended to x->body). Once the
 * answer is known to be a 2xx stream, opens the provider's reader on res
 * (fed what arrived so far) and feeds it each piece. Returns 0, or
 * PLM_ENOMEM to end the transfer. */
int plm__attempt_stream_data(plm__attempt_stream *as, plm_provider provider,
                             plm__xfer *x, plm_result *res, const char *data,
                             size_t n);

/* The attempt finished on the wire without a transport error: settles res
 * from the open stream (status, request id, content, assembled answer;
 * res->body, already holding the answer, is only quoted in messages) and
 * returns 1, or returns 0 when no stream is open (the caller parses the
 * whole body). */
int plm__attempt_stream_settle(plm__attempt_stream *as, plm__xfer *x,
                               plm_result *res);

/* The attempt failed or was cancelled: frees an open stream, and when
 * one was open clears what its events wrote into res (when res is not
 * NULL), so a partial stream's finish reason or usage never outlives it. */
void plm__attempt_stream_drop(plm__attempt_stream *as, plm_result *res);

#endif
