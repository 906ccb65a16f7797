/*
 * The client object's insides, shared by client.c (construction, options,
 * logging) and engine.c (runs). A client owns the event loop and the HTTP
 * transport, so connections and TLS sessions outlive a single run.
 */
#ifndef PLM_CLIENT_H
#define PLM_CLIENT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "engine.h"
#include "loop.h"
#include "parallm.h"
#include "provider.h"
#include "transport.h"

#define PLM__MAX_HOOKS 8

struct plm_client {
    /* By plm_provider: the key (NULL = none), the endpoint's identity
     * for limits and messages (no trailing / or /v1), where requests go
     * (plm__urlbase), the auth + protocol headers (built once). */
    char *api_key[PLM__PROVIDER_COUNT];
    char *base_url[PLM__PROVIDER_COUNT];
    plm__urlbase urlbase[PLM__PROVIDER_COUNT];
    struct curl_slist *headers[PLM__PROVIDER_COUNT];
    int max_retries; /* resolved: 0 means none */
    int64_t request_timeout_ms;
    int64_t connect_timeout_ms;
    size_t max_response_bytes;
    int64_t retry_base_ms, retry_max_ms, retry_after_max_ms;
    int64_t retry_time_ms; /* resolved: 0 means no time bound */
    plm_log_fn log;
    void *log_user_data;
    int log_level;
    int log_batches;

    plm__loop *loop;
    plm__transport *transport;

    /* Admission and outcome hooks, called in registration order. */
    plm__engine_hooks hooks[PLM__MAX_HOOKS];
    int nhooks;
    struct plm__policy *policy; /* limits: budget, breaker, ... (policy.c) */

    /* Written by other threads and signal handlers. */
    atomic_int running;
    atomic_int interrupt_level;

    plm_stats stats; /* of the current or last run; loop thread */
    /* A copy of stats for other threads, refreshed after every dispatch
     * (plm__client_publish_stats); and the thread running the loop. */
    pthread_mutex_t stats_mu;
    plm_stats stats_pub;
    int64_t pub_started_ns, pub_ended_ns;
    atomic_ulong loop_thread; /* a pthread_t */
    atomic_int loop_thread_set;

    /* Shared use (service.c): svc is non-NULL while started; svc_mu
     * guards it and its queues. */
    pthread_mutex_t svc_mu;
    struct plm__service *svc;
    int64_t run_started_ns;
    int64_t run_ended_ns; /* 0 while running */

    /* Observation (observe.c): metrics, on unless turned off, and the
     * attempt trace callback. */
    struct plm__metrics *metrics; /* NULL until the first run records */
    int metrics_off;
    plm_trace_fn trace;
    void *trace_user_data;
};

/* The URL req goes to (plm__urlbase_url with the client's endpoint).
 * malloc'd, or NULL on out of memory. */
char *plm__client_url(const plm_client *c, const plm_request *req);

/* Logs a message at level through the client's log callback (or stderr).
 * The message must not contain a secret. */
void plm__log(const plm_client *client, plm_log_level level, const char *fmt,
              ...) __attribute__((format(printf, 3, 4)));

/* Sends a message to the sink without filtering by level. */
void plm__log_emit(const plm_client *client, plm_log_level level,
                   const char *message);

/* Caps *max_concurrent (0 = unlimited) at the connections the process may
 * still open for a run of batch_size requests (-1 = unknown), raising the
 * soft RLIMIT_NOFILE to the hard limit first when the run needs more, and
 * logs the cap (WARN). Returns 1 when it capped. */
int plm__client_cap_to_descriptors(plm_client *c, int *max_concurrent,
                                   int64_t batch_size);

/* Publishes client->stats for plm_client_stats on other threads. */
void plm__client_publish_stats(plm_client *c);

/* The calling thread runs the loop from now on / no longer. */
void plm__client_set_loop_thread(plm_client *c);
void plm__client_clear_loop_thread(plm_client *c);
/* 1 when the calling thread is the one running the client's loop. */
int plm__client_on_loop_thread(const plm_client *c);

/* The batch line (log_batches): "Executed N LLM requests in parallel"
 * with N = batch_size, or the requests taken when batch_size is -1. */
void plm__client_log_batch(plm_client *c, int64_t batch_size);
/* The same line for n requests in total seconds; any thread. */
void plm__client_log_batch_line(const plm_client *c, uint64_t n, double total);

#endif
