/*
 * HTTP transport: one libcurl multi handle driven by the event loop
 * (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION + curl_multi_socket_action).
 * One transfer is one attempt of one request. Easy handles are recycled
 * through a free-list and TLS sessions are shared, so connections stay warm
 * across attempts and runs. Loop thread only.
 */
#ifndef PLM_TRANSPORT_H
#define PLM_TRANSPORT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "fd_room.h"
#include "headers.h"

typedef struct plm__transport plm__transport;

typedef struct plm__transport_config {
    const char *ca_file; /* replaces curl's CA bundle; NULL = system */
    int insecure_skip_verify;
    int64_t connect_timeout_ms;
    size_t max_response_bytes; /* cap on one response body */
} plm__transport_config;

/* One attempt. Owned by the caller (embedded in the engine's request
 * state); the transport borrows it while it is in flight. */
typedef struct plm__xfer {
    CURL *easy; /* non-NULL while in flight */
    char *body; /* response body, NUL-terminated, or NULL */
    size_t body_len, body_cap;
    plm__headers headers;               /* of the final response */
    int http_status;                    /* 0 when no answer */
    int error;                          /* 0 or PLM_ENETWORK / PLM_ETIMEOUT /
                                           PLM_ETOOBIG (body over the cap,
                                           or a header over curl's) /
                                           PLM_ECANCELLED / PLM_ENOMEM */
    char message[CURL_ERROR_SIZE + 64]; /* why, when error != 0 */
    char curl_error[CURL_ERROR_SIZE];   /* curl's CURLOPT_ERRORBUFFER */
    int unreachable;                    /* no connection at all: refused on
                                           every address, DNS or TLS failure */
    int too_big;
    int no_memory;
    int in_headers;            /* between a status line and its end */
    int no_descriptor;         /* EMFILE / ENFILE opening a socket */
    plm__transport *transport; /* set when started */
    struct plm__lane *lane;    /* its multi handle, while in flight */
    size_t limit;
    void *owner;           /* the caller's back-pointer */
    int64_t first_byte_us; /* from the transfer's start to the first
                              response byte (curl's STARTTRANSFER time);
                              -1 when nothing came back */
    int data_error;        /* the data callback's non-zero return, or 0 */
} plm__xfer;

typedef struct plm__xfer_params {
    const char *url;    /* copied by curl */
    const char *method; /* "POST", "GET", ... */
    const char *body;   /* borrowed until completion; may be NULL */
    size_t body_len;
    const struct curl_slist *headers; /* borrowed until completion */
    int64_t timeout_ms;               /* this attempt; 0 = none */
} plm__xfer_params;

/* Called on the loop thread when a transfer finished (x->error and
 * x->http_status tell how). Not called for a cancelled transfer. */
typedef void (*plm__xfer_done_fn)(plm__xfer *x, void *user_data);

/* Called on the loop thread with each piece of a response body as it
 * arrives, after it was appended to x->body (the body is still buffered
 * whole). A non-zero return (a plm_code) ends the transfer with that
 * error (message "aborted while reading the response body"). Optional. */
typedef int (*plm__xfer_data_fn)(plm__xfer *x, const char *data, size_t n,
                                 void *user_data);

int plm__transport_new(plm__transport **out, plm__loop *loop,
                       const plm__transport_config *cfg);
/* Frees the transport. No transfer may be in flight. */
void plm__transport_free(plm__transport *t);

void plm__transport_set_done(plm__transport *t, plm__xfer_done_fn fn,
                             void *user_data);
void plm__transport_set_data(plm__transport *t, plm__xfer_data_fn fn,
                             void *user_data);
/* The status code of the response being received (0 before one). */
int plm__xfer_response_code(const plm__xfer *x);
/* Sizes the connection cache for this many parallel attempts (0 =
 * unlimited). */
void plm__transport_set_concurrency(plm__transport *t, int n);
/* Keeps at most cap connections open, idle ones included (a run capped
 * by its descriptors: see plm__fd_room_get). */
void plm__transport_cap_connections(plm__transport *t, int cap);
/* Connections opened so far, by every finished transfer. */
uint64_t plm__transport_connects(const plm__transport *t);
/* Multi handles that take new transfers (see plm__lane in transport.c). */
size_t plm__transport_lanes(const plm__transport *t);

/* Starts an attempt. Clears x's response fields first. Returns PLM_OK or
 * a plm_code (x->message says why); on failure nothing is in flight. */
int plm__transport_start(plm__transport *t, plm__xfer *x,
                         const plm__xfer_params *p);
/* Stops an attempt in flight without calling the done callback; sets
 * x->error to PLM_ECANCELLED. No-op if x is not in flight. */
void plm__transport_cancel(plm__transport *t, plm__xfer *x);
/* Frees x's response body and headers. */
void plm__xfer_clear(plm__xfer *x);

#endif
