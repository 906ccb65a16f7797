/*
 * One attempt's streamed answer, parsed as it arrives: the seam between
 * the transport's per-chunk data callback and the provider's incremental
 * SSE reader, and where the answer's pieces (deltas) go to the request's
 * delta callback as each event is parsed. The engine holds one per
 * request; it costs one branch per chunk for an answer that is not a
 * stream. Loop thread only.
 */
#ifndef PLM_ATTEMPT_STREAM_H
#define PLM_ATTEMPT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "provider.h"
#include "request.h"
#include "result.h"
#include "transport.h"

typedef struct plm__attempt_stream {
    plm__provider_stream *s; /* open while a 2xx SSE answer arrives */
    int decided;             /* 0: not yet; 1: streaming or not a stream */
    /* The attempt's deltas; kept until plm__attempt_stream_drop(as, NULL)
     * (the next attempt, or the request's end). */
    plm_delta_fn fn; /* the request's callback, or NULL */
    void *user_data;
    plm_result *res;
    int64_t sent_ns;        /* the attempt went on the wire (monotonic) */
    int64_t run_started_ns; /* the time base of the result's timings */
    int64_t first_token_ns; /* relative to run_started_ns; -1: none yet */
    int64_t deltas;         /* parsed this attempt (handed to fn if set) */
    plm__buf text;          /* choice 0's text handed to fn, joined */
    int stopped;            /* fn asked to stop reading */
    int no_memory;          /* keeping the text failed */
} plm__attempt_stream;

/* Once, before the request's first attempt. */
void plm__attempt_stream_init(plm__attempt_stream *as);

/* A body piece of x arrived (already appended to x->body). Once the
 * answer is known to be a 2xx stream, opens the provider's reader on res
 * (fed what arrived so far) and feeds it each piece; the pieces it parses
 * go to req's delta callback (elapsed times from sent_ns; the first one's
 * time, relative to run_started_ns, is res's first token). Returns 0,
 * PLM_ENOMEM, or PLM_ECANCELLED when the callback asked to stop: either
 * ends the transfer. */
int plm__attempt_stream_data(plm__attempt_stream *as, const plm_request *req,
                             int64_t sent_ns, int64_t run_started_ns,
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
 * NULL), so a partial stream's finish reason or usage never outlives it;
 * text already handed to a delta callback is put back as res's content
 * (with its first token time), and the attempt's delta count is kept for
 * plm__attempt_stream_final. With res NULL (a new attempt, or the
 * request's end) the delta state is cleared too. */
void plm__attempt_stream_drop(plm__attempt_stream *as, plm_result *res);

/* After the retry decision on res: when the attempt failed after deltas
 * were handed to the request's callback, the failure is final. res then
 * keeps the text delivered as its content (finish reason NULL), a stop
 * the callback asked for becomes PLM_ECANCELLED, the message says how
 * much text came and that it was not retried, and 1 is returned (do not
 * retry). Otherwise res is untouched and 0 is returned. */
int plm__attempt_stream_final(plm__attempt_stream *as, plm_result *res);

#endif
