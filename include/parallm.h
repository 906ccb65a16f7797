/*
 * parallm: run many LLM API requests in parallel, inside the provider's
 * limits, losing nothing.
 *
 * This is the only public header. Every name starts with plm_ (PLM_ for
 * constants). Handles are opaque and library-allocated: an object returned
 * through a **out argument is the caller's and is released with the matching
 * _free function; _free(NULL) is a no-op. Every string passed in is copied.
 * Pointers returned by accessors are borrowed: valid until their parent
 * object is freed.
 *
 * Threads: a plm_client, and everything run through it, is used by one
 * thread at a time (a run blocks the calling thread; different clients may
 * run concurrently on different threads). plm_client_interrupt() is the one
 * exception: it may be called from any thread and from a signal handler.
 * plm_request and plm_result objects may move between threads but are not
 * shared. plm_task_gather() is re-entrant.
 */
#ifndef PARALLM_H
#define PARALLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's API: the only symbols the shared library exports
 * (everything else is built with hidden visibility). */
#if defined(__GNUC__) || defined(__clang__)
#define PLM_EXTERN __attribute__((visibility("default")))
#else
#define PLM_EXTERN
#endif

#define PLM_VERSION_MAJOR 0
#define PLM_VERSION_MINOR 1
#define PLM_VERSION_PATCH 0
#define PLM_VERSION_STRING "0.1.0"

/* Returns the library's version string, e.g. "0.1.0". */
PLM_EXTERN const char *plm_version(void);

/* ------------------------------------------------------------------------
 * Result codes. 0 is success; every failure is a distinct negative value.
 *
 * Durations: every value in milliseconds that the API takes (a field or
 * an argument whose name ends in _ms) must lie in [0, 7 days]; anything
 * else is PLM_EINVAL, and plm_last_error() names it.
 * ---------------------------------------------------------------------- */
/* The _INIT macros of the option structs: the version set, every other
 * field zero ("default"). */
#ifdef __cplusplus
/* C++ has no designated initializers before C++20, and { v } trips
 * -Wmissing-field-initializers: a value-initialized struct (every field
 * zero) with the version set. */
#define PLM__OPTIONS_INIT(type, v)                                             \
    ([] {                                                                      \
        type plm_options_ = type();                                            \
        plm_options_.version = (v);                                            \
        return plm_options_;                                                   \
    }())
#else
#define PLM__OPTIONS_INIT(type, v)                                             \
    {                                                                          \
        .version = (v)                                                         \
    }
#endif

typedef enum plm_code {
    PLM_OK = 0,
    PLM_EINVAL = -1,       /* invalid argument */
    PLM_ENOMEM = -2,       /* out of memory */
    PLM_ESTATE = -3,       /* call not allowed now (run twice, add after run) */
    PLM_ETIMEOUT = -4,     /* a request or the whole batch ran out of time */
    PLM_ECANCELLED = -5,   /* cancelled (fail-fast, interrupt, abort) */
    PLM_ENETWORK = -6,     /* connection refused/reset, DNS, TLS failure */
    PLM_EHTTP = -7,        /* final non-2xx answer not covered below */
    PLM_ERATELIMIT = -8,   /* 429 rate limited, retries exhausted */
    PLM_EQUOTA = -9,       /* 429 insufficient_quota: hard quota, no retry */
    PLM_EOVERLOADED = -10, /* 529/503 overloaded, retries exhausted */
    PLM_EAUTH = -11,       /* 401/403: key missing, wrong or not allowed */
    PLM_EBADREQUEST = -12, /* other 4xx: the request itself is wrong */
    PLM_ESERVER = -13,     /* 5xx server error, retries exhausted */
    PLM_EPARSE = -14,      /* response is not the JSON the provider sends */
    PLM_ETOOBIG = -15,     /* response body larger than the configured cap,
                              or a header larger than curl's */
    PLM_EABORTED = -16,    /* a user callback returned non-zero */
    PLM_EIO = -17,         /* local I/O error (file, disk full) */
    PLM_EBUDGET = -18,     /* request can never fit the rate budget */
    PLM_EBREAKER = -19,    /* the circuit breaker found the endpoint dead
                              (unreachable, or every probe failing for
                              breaker_dead_ms): failed without sending; the
                              message says why */
    PLM_ECONTEXT = -20,    /* prompt too long for the model's context */
    PLM_ENOTSTARTED = -21, /* the batch ended before this request started */
    PLM_EINTERNAL = -22    /* a bug in parallm; please report it */
} plm_code;

/* A short, static, human-readable description of a code. Never NULL. */
PLM_EXTERN const char *plm_strerror(int code);

/*
 * Why the last call on this thread that checks its arguments (plm_client_new,
 * plm_gather, plm_executor_new, plm_task_gather, ...) failed with
 * PLM_EINVAL: the option or argument concerned and the reason, e.g.
 * "retry_max_ms: must be between 0 and 604800000 (7 days), got 691200000".
 * Per thread, like errno; valid until the next such call on this thread.
 * Never NULL; "" when there is nothing to say. Never contains a key.
 */
PLM_EXTERN const char *plm_last_error(void);

/* The class of a final outcome. Retry decisions read the class. */
typedef enum plm_error_class {
    PLM_CLASS_NONE = 0,     /* success */
    PLM_CLASS_NETWORK,      /* connect, reset, DNS, TLS */
    PLM_CLASS_TIMEOUT,      /* per-request or batch deadline */
    PLM_CLASS_RATE_LIMITED, /* 429 (not quota) */
    PLM_CLASS_QUOTA,        /* insufficient_quota */
    PLM_CLASS_OVERLOADED,   /* 529, 503 */
    PLM_CLASS_SERVER,       /* other 5xx */
    PLM_CLASS_BAD_REQUEST,  /* other 4xx, context too long, oversized */
    PLM_CLASS_AUTH,         /* 401, 403 */
    PLM_CLASS_PARSE,        /* unparseable response */
    PLM_CLASS_CANCELLED,    /* cancelled or never started */
    PLM_CLASS_LOCAL         /* local failure: memory, budget, breaker, I/O */
} plm_error_class;

/* The class's name: "none", "network", "timeout", "rate_limited", ... */
PLM_EXTERN const char *plm_error_class_name(plm_error_class cls);

/* ------------------------------------------------------------------------
 * Providers and requests
 * ---------------------------------------------------------------------- */
typedef enum plm_provider {
    PLM_PROVIDER_OPENAI = 0,   /* OpenAI and every OpenAI-compatible server */
    PLM_PROVIDER_ANTHROPIC = 1 /* Anthropic messages API */
} plm_provider;

typedef struct plm_request plm_request;

/*
 * A chat request: OpenAI POST /v1/chat/completions or Anthropic POST
 * /v1/messages, depending on the provider. model is copied. Returns PLM_OK,
 * PLM_EINVAL or PLM_ENOMEM. Free with plm_request_free().
 */
PLM_EXTERN int plm_request_new_chat(plm_request **out, plm_provider provider,
                                    const char *model);

/*
 * A raw request: method, path (e.g. "/v1/embeddings") and JSON body sent as
 * given (what an OpenAI Batch input line holds). body_json must be a JSON
 * object; otherwise PLM_EINVAL.
 */
PLM_EXTERN int plm_request_new_raw(plm_request **out, plm_provider provider,
                                   const char *method, const char *path,
                                   const char *body_json);

/* Chat builders. Each copies its arguments; PLM_EINVAL on a raw request. */
PLM_EXTERN int plm_request_set_system(plm_request *req, const char *text);
PLM_EXTERN int plm_request_add_message(plm_request *req, const char *role,
                                       const char *content);
PLM_EXTERN int plm_request_set_temperature(plm_request *req,
                                           double temperature);
PLM_EXTERN int plm_request_set_max_tokens(plm_request *req, int max_tokens);
/* Ask for a JSON object answer (OpenAI response_format json_object). */
PLM_EXTERN int plm_request_set_json_response(plm_request *req, int on);
/* Ask for a streamed (SSE) answer; the result is assembled the same way. */
PLM_EXTERN int plm_request_set_stream(plm_request *req, int on);

/* Per-attempt timeout in milliseconds (0 = the client's default). Time spent
 * queued or waiting for budget does not count. */
PLM_EXTERN int plm_request_set_timeout_ms(plm_request *req, int64_t timeout_ms);
/* Retries for this request (-1 = the client's default). */
PLM_EXTERN int plm_request_set_max_retries(plm_request *req, int max_retries);
/* The caller's pointer, handed back in the result. */
PLM_EXTERN void plm_request_set_user_data(plm_request *req, void *user_data);
PLM_EXTERN void *plm_request_user_data(const plm_request *req);
/* The JSON body as it will be sent (borrowed until the next change). */
PLM_EXTERN const char *plm_request_body(plm_request *req);

/* Frees a request. Not while a run that was given it is still going. */
PLM_EXTERN void plm_request_free(plm_request *req);

/* ------------------------------------------------------------------------
 * Streamed answers, delta by delta
 *
 * A streamed request ("stream": true, set with plm_request_set_stream or
 * written in a raw body) is read as it arrives. With a delta callback set,
 * each piece of the answer is handed to the caller as soon as its event is
 * parsed, before the rest of the answer is in. Setting a callback asks for
 * nothing else: a request that is not streamed gets no deltas (its answer
 * arrives whole) and completes as usual.
 *
 * For OpenAI chat streams, plm_request_set_stream also adds
 * "stream_options": {"include_usage": true}, so the final chunk reports
 * the tokens used (the rate budget needs them); a raw body is sent as
 * written, and without include_usage its stream reports no usage.
 * ---------------------------------------------------------------------- */
typedef enum plm_delta_kind {
    PLM_DELTA_TEXT = 0,      /* a piece of the answer's text */
    PLM_DELTA_TOOL_CALL = 1, /* a piece of a tool call */
    PLM_DELTA_REASONING = 2  /* a piece of reasoning or thinking text */
} plm_delta_kind;

/*
 * One piece of a streamed answer, borrowed for the duration of the
 * callback (copy what you keep).
 *   text:  PLM_DELTA_TEXT and PLM_DELTA_REASONING: the piece,
 *          NUL-terminated, text_len bytes (never empty); NULL otherwise.
 *          The text deltas of choice 0 joined are plm_result_content.
 *          Sources: OpenAI chat choices[].delta.content, legacy
 *          completions choices[].text, Responses API
 *          response.output_text.delta; Anthropic content_block_delta
 *          text_delta. Reasoning: OpenAI-compatible servers'
 *          delta.reasoning_content (or delta.reasoning), Anthropic
 *          thinking_delta.
 *   tool_index, tool_id, tool_name, tool_arguments: PLM_DELTA_TOOL_CALL.
 *          tool_index is the call's position in the answer (OpenAI's
 *          tool_calls[].index, Anthropic's content block index); tool_id
 *          and tool_name are set on the call's first fragment (the one
 *          that names it: OpenAI's first tool_calls delta, Anthropic's
 *          content_block_start) and NULL on the fragments after it, as
 *          the providers send them; tool_arguments is a fragment of the
 *          arguments' JSON text, never NULL ("" on a first fragment that
 *          carries none); a call's fragments joined are its arguments
 *          (OpenAI function.arguments, Anthropic's input as JSON text).
 *   choice: the choice the piece belongs to (OpenAI "n" > 1), else 0.
 *   index: 0 for the request's first delta, then 1, 2, ...
 *   elapsed_ns: CLOCK_MONOTONIC nanoseconds since the attempt went on the
 *          wire.
 */
typedef struct plm_delta {
    plm_delta_kind kind;
    int choice;
    int64_t index;
    int64_t elapsed_ns;
    const char *text;
    size_t text_len;
    int tool_index;
    const char *tool_id;
    const char *tool_name;
    const char *tool_arguments;
    size_t tool_arguments_len;
} plm_delta;

/*
 * The delta callback: return 0 to go on, non-zero to stop reading this
 * request's stream at once. A stopped request completes with
 * PLM_ECANCELLED (class cancelled), its result holding the text received
 * so far in plm_result_content (finish reason NULL).
 *
 * It is called on the thread running the client's event loop (the thread
 * inside plm_client_run, plm_gather or plm_executor_run; a shared
 * client's engine thread, or the thread in plm_client_process), never
 * concurrently for one request, in arrival order. It must not block (every
 * request of the run waits while it runs). It may read the request
 * (plm_request_user_data), call plm_client_stats and
 * plm_client_interrupt, and on a shared client plm_submit and
 * plm_call_cancel, but must not start a run, gather or executor on the
 * same client, wait (plm_complete, plm_call_wait), nor free the request.
 *
 * Once a request has had a delta delivered, a later failure of that
 * attempt (a stream cut short, a reset, a timeout, an error event) is
 * final: the request is not retried (the caller already has the text; a
 * retry would repeat it). It completes with that failure's code, a message
 * saying how much text arrived and that it was not retried, and the text
 * received so far in plm_result_content (finish reason NULL). A failure
 * before the first delta retries as without a callback.
 */
typedef int (*plm_delta_fn)(const plm_delta *d, void *user_data);

/* Sets (or with fn NULL, clears) the request's delta callback and the
 * pointer handed to it. PLM_OK, or PLM_EINVAL when req is NULL. */
PLM_EXTERN int plm_request_set_delta_callback(plm_request *req, plm_delta_fn fn,
                                              void *user_data);

/* ------------------------------------------------------------------------
 * Results
 * ---------------------------------------------------------------------- */
typedef struct plm_result plm_result;

PLM_EXTERN int plm_result_code(const plm_result *res); /* plm_code */
PLM_EXTERN plm_error_class plm_result_error_class(const plm_result *res);
/* Readable message for a failure (never contains an API key); "" on
 * success. */
PLM_EXTERN const char *plm_result_error_message(const plm_result *res);
PLM_EXTERN int
plm_result_http_status(const plm_result *res); /* 0 if no answer */
/* The assistant's text (joined text blocks), or NULL. */
PLM_EXTERN const char *plm_result_content(const plm_result *res);
PLM_EXTERN const char *
plm_result_finish_reason(const plm_result *res); /* or NULL */
/* Tokens: prompt/input and completion/output; -1 when not reported. */
PLM_EXTERN int64_t plm_result_prompt_tokens(const plm_result *res);
PLM_EXTERN int64_t plm_result_completion_tokens(const plm_result *res);
/* The server's request id, from its x-request-id (OpenAI) or request-id
 * (Anthropic) header; NULL when it sent none (never the body's "id",
 * which names the completion, not the request). */
PLM_EXTERN const char *plm_result_request_id(const plm_result *res);
PLM_EXTERN int plm_result_attempts(const plm_result *res); /* 0 if never sent */
/* Seconds from first going in flight to completion (0 if never sent). */
PLM_EXTERN double plm_result_latency(const plm_result *res);
/* 1 if the request was ever sent; 0 if it never started. */
PLM_EXTERN int plm_result_started(const plm_result *res);
/* The raw response body of the last attempt (NUL-terminated), or NULL. */
PLM_EXTERN const char *plm_result_body(const plm_result *res, size_t *len);
/* A streamed answer ("stream": true, read to its end) as the one JSON
 * object the endpoint returns without streaming (a chat.completion, a
 * text_completion, the Responses API's final response, an Anthropic
 * message), assembled from the events; NUL-terminated, owned by res. NULL
 * for an answer that was not a stream or did not complete. */
PLM_EXTERN const char *plm_result_assembled_body(const plm_result *res,
                                                 size_t *len);
PLM_EXTERN void *plm_result_user_data(const plm_result *res);
PLM_EXTERN void plm_result_free(plm_result *res);

/* ------------------------------------------------------------------------
 * Client: long-lived; holds credentials, connections and policies.
 * ---------------------------------------------------------------------- */
typedef struct plm_client plm_client;

typedef enum plm_log_level {
    PLM_LOG_ERROR = 0,
    PLM_LOG_WARN = 1,
    PLM_LOG_INFO = 2,
    PLM_LOG_DEBUG = 3
} plm_log_level;

/* Log callback. The message never contains an API key. */
typedef void (*plm_log_fn)(plm_log_level level, const char *message,
                           void *user_data);

#define PLM_CLIENT_OPTIONS_VERSION 1

/* Zero (or NULL) in any field means "the default" given in its comment.
 * Every _ms duration must lie in [0, 7 days]; anything else is PLM_EINVAL.
 *
 * Base URLs are read as the official SDKs read them: a bare
 * "scheme://host[:port]" (no path, or only "/") means its "/v1"
 * ("http://localhost:8000" -> http://localhost:8000/v1); any base with a
 * path is taken as given, trailing slashes trimmed, version included
 * ("https://generativelanguage.googleapis.com/v1beta/openai",
 * "https://openrouter.ai/api/v1"). A request's path (e.g.
 * "/v1/chat/completions") has its leading "/v1" replaced by the base:
 * ".../v1beta/openai/chat/completions"; on "https://api.openai.com/v1" it
 * is unchanged. A path not under "/v1" goes to the base's
 * scheme://host[:port] as it is. A query in the base URL is sent with
 * every request. Limits and messages name an endpoint by its base URL
 * without a trailing "/v1", so ".../v1" and the bare host are one
 * endpoint.
 *
 * Proxies come from the environment as with curl (http_proxy,
 * https_proxy / HTTPS_PROXY, all_proxy / ALL_PROXY, no_proxy /
 * NO_PROXY), read when the client is created: set them before
 * plm_client_new. */
typedef struct plm_client_options {
    unsigned int version;           /* PLM_CLIENT_OPTIONS_VERSION */
    const char *openai_api_key;     /* default $OPENAI_API_KEY */
    const char *openai_base_url;    /* default $OPENAI_BASE_URL, else
                                       https://api.openai.com/v1 */
    const char *anthropic_api_key;  /* default $ANTHROPIC_API_KEY */
    const char *anthropic_base_url; /* default $ANTHROPIC_BASE_URL, else
                                       https://api.anthropic.com */
    const char *ca_file;            /* extra CA bundle (PEM) to trust */
    int insecure_skip_verify;       /* 1 turns TLS verification OFF */
    int max_retries;                /* default 15; -1 means none (see
                                       also retry_time_ms) */
    int64_t request_timeout_ms;     /* per attempt; default 600000 */
    int64_t connect_timeout_ms;     /* default 10000 */
    size_t max_response_bytes;      /* default 16 MiB */
    int64_t retry_base_ms;          /* backoff base; default 500 */
    int64_t retry_max_ms;           /* backoff cap; default 2000 */
    int64_t retry_after_max_ms;     /* cap on Retry-After; default 60000 */
    plm_log_fn log;                 /* default: stderr if log_level set */
    void *log_user_data;
    int log_level; /* 0 = errors only, ... 3 = debug */
    /* 1: one INFO line per batch, "Executed N LLM requests in parallel:
     * X.XXs (avg: Y.YYs per request)", not filtered by log_level. N is the
     * batch's size (plm_gather / executor: n, however many completed
     * before a deadline or a stop; plm_client_run: the requests taken from
     * the source); an empty batch says 0. */
    int log_batches;
    /* Rate limits per endpoint, per minute; 0 = none configured (learned
     * from the provider's rate-limit headers when learn_limits allows).
     * An endpoint is a provider base URL and a model: each model gets
     * these limits, as providers meter models apart. Requests are paced
     * evenly across the minute, never sent as a burst; a 429 delays its
     * own request by its Retry-After, and pauses the endpoint's requests
     * only when the budget is spent (rate-limit headers with remaining 0,
     * or 429s for at least half of the recent answers from several
     * requests), for the time the headers give. input_tpm / output_tpm
     * are Anthropic's separate token limits. A request whose estimated
     * tokens (prompt characters / 4 + max_tokens * n; corrected by the
     * usage the answer reports) exceed a limit fails at once with
     * PLM_EBUDGET. A provider's tier, with plm_tier_lookup():
     *   plm_tier t;
     *   if (plm_tier_lookup("openai-1", &t) == PLM_OK) {
     *       co.rpm = t.rpm; co.tpm = t.tpm;
     *       ro.max_concurrent = t.max_concurrent;  (plm_run_options)
     *   }
     * The circuit breaker (per endpoint) holds requests while open (they
     * wait, as for a rate-limit pause; nothing fails), sends one probe
     * after breaker_cooldown_ms, and lets traffic back gradually (one
     * more request in flight per successful probe). Only a dead endpoint
     * fails requests, with PLM_EBREAKER (class LOCAL) and the reason
     * (e.g. curl's "Couldn't connect to server") as their message, and
     * one warning in the log: connection refused on every address, DNS
     * or TLS failure when it never answered, or every probe failing for
     * breaker_dead_ms. */
    double rpm;
    double tpm;
    double input_tpm;
    double output_tpm;
    int adaptive_concurrency; /* 1: AIMD limit in [1, max_concurrent]
                                 (1000 when unlimited) starting at
                                 10, shrinking on 429/529/503/
                                 timeouts; plm_stats.
                                 concurrency_limit shows it; 0 =
                                 off */
    int breaker_failures;     /* consecutive failures (network,
                                 timeout, 5xx, overloaded) that open
                                 the circuit breaker; default
                                 max(5, the run's concurrency) (it
                                 also opens at 50% failures of the
                                 last max(20, 2 x concurrency)
                                 calls, with at least max(10,
                                 concurrency)); a value set here
                                 is used as given; -1 disables it */
    int breaker_cooldown_ms;  /* time open (holding requests)
                                 before a probe; default 10000;
                                 negative EINVAL */
    double retry_budget;      /* retries allowed as a fraction of
                                 first attempts (at least one per
                                 second, at most max(10,
                                 concurrency) saved up), per
                                 endpoint; default
                                 0.5; negative = no budget, only
                                 max_retries. Retries after a 429
                                 are paced by Retry-After instead
                                 and do not count */
    int learn_limits;         /* take limits from the provider's
                                 headers; 0 = default (on), -1 off */
    int stop_on_fatal;        /* 0 = default (on): the first
                                 PLM_EAUTH or PLM_EQUOTA answer stops
                                 the run (see plm_client_run); -1 =
                                 off, each request fails alone */
    int64_t retry_time_ms;    /* per request: no retry starts once
                                 this long has passed since its
                                 first attempt; default 900000 (15
                                 min); -1 = no time bound */
    int64_t breaker_dead_ms;  /* the endpoint is dead (its
                                 requests fail with PLM_EBREAKER)
                                 when the breaker's probes have
                                 kept failing this long since it
                                 opened; default 300000 (5 min) */
    /* OpenAI-compatible services that address requests their own way
     * (Azure OpenAI takes all three: "api-key", "api-version=2024-10-21",
     * 1). */
    const char *openai_api_key_header; /* the header carrying the
                                          key as its whole value
                                          ("api-key: KEY"); default
                                          NULL: "Authorization:
                                          Bearer KEY". A header name
                                          (letters, digits, -_.!#$%&'*+^`|~),
                                          else PLM_EINVAL */
    const char *openai_query;          /* appended to every OpenAI
                                          request URL ("?" or "&"
                                          added), e.g.
                                          "api-version=2024-10-21";
                                          no spaces, control bytes or
                                          '#', else PLM_EINVAL */
    int openai_deployment_paths;       /* 1: a POST to /v1/chat/
                                          completions, /v1/completions,
                                          /v1/embeddings (and the
                                          audio, images and batches
                                          endpoints) goes to
                                          {base}/deployments/{model}/
                                          chat/completions ..., model
                                          being the body's "model"
                                          (percent-encoded), as
                                          openai-node's AzureOpenAI
                                          client does; not when the
                                          base already has a
                                          /deployments/ segment.
                                          Other paths (/v1/responses)
                                          go to the base as usual */
    /* NULL = limits are this client's own. With
     * redis://[[user]:password@]host[:port][/db][?namespace=NAME], every
     * client given the same server and namespace shares each endpoint's
     * rpm/tpm budget through Redis (docs/shared-limits.md); when Redis
     * fails, each uses 1/N of the limits locally. rediss:// is EINVAL. */
    const char *shared_limits_url;
} plm_client_options;

#define PLM_CLIENT_OPTIONS_INIT                                                \
    PLM__OPTIONS_INIT(plm_client_options, PLM_CLIENT_OPTIONS_VERSION)

/* A provider usage tier's published limits and the concurrency we
 * suggest for it. Strings are static. */
typedef struct plm_tier {
    const char *name;   /* "openai-1", "anthropic-4", "local", ... */
    double rpm;         /* requests per minute; 0 = no limit */
    double tpm;         /* tokens per minute; 0 = no limit */
    int max_concurrent; /* suggested plm_run_options.max_concurrent */
} plm_tier;

/* Looks a tier up by name (case-sensitive). Returns PLM_OK and fills *out,
 * or PLM_EINVAL for an unknown name or NULL arguments. */
PLM_EXTERN int plm_tier_lookup(const char *name, plm_tier *out);

/* The index-th tier's name (0-based), or NULL past the last one; for
 * listing them, e.g. in --help. */
PLM_EXTERN const char *plm_tier_name(size_t index);

/*
 * Creates a client. opts may be NULL (all defaults). Strings are copied.
 * Returns PLM_OK, PLM_EINVAL (out NULL, a bad version or value, a base URL
 * that is not http(s), an unreadable ca_file; plm_last_error() says which)
 * or PLM_ENOMEM (out of memory, or curl, the event loop or its descriptors
 * could not be set up). On failure *out is NULL (when out is not).
 */
PLM_EXTERN int plm_client_new(plm_client **out, const plm_client_options *opts);

/* Frees a client. Never while a run on it is going. */
PLM_EXTERN void plm_client_free(plm_client *client);

/*
 * Asks a running run to stop. level 1: start no new requests, let the ones
 * in flight finish. level 2: also cancel the ones in flight. Safe from any
 * thread and from a signal handler; a no-op when nothing runs.
 */
PLM_EXTERN void plm_client_interrupt(plm_client *client, int level);

/* ------------------------------------------------------------------------
 * The streaming engine: a source and a completion callback.
 * ---------------------------------------------------------------------- */

/*
 * Source: called when the engine has room for one more request. Set *out to
 * the next request and return 1, or return 0 when there are no more, or a
 * negative plm_code to abort the run with it. The request stays the
 * caller's (borrowed by the engine until its completion callback returns).
 */
typedef int (*plm_source_fn)(plm_request **out, void *user_data);

/*
 * Completion: called once per request that the source handed over, in
 * completion order, with its final result. The result is the callee's to
 * free with plm_result_free(). A non-zero return aborts the run: requests in
 * flight are cancelled (their completions still arrive, with
 * PLM_ECANCELLED) and the source is not asked again.
 */
typedef int (*plm_complete_fn)(plm_request *req, plm_result *res,
                               void *user_data);

/* Counters of the current (or last) run on a client. */
typedef struct plm_stats {
    uint64_t submitted; /* requests taken from the source */
    uint64_t completed; /* completions delivered */
    uint64_t succeeded;
    uint64_t failed;
    uint64_t attempts; /* HTTP attempts sent, retries included */
    uint64_t retries;
    uint64_t rate_limited; /* 429 answers seen (every attempt) */
    uint64_t in_flight;    /* attempts on the wire now */
    uint64_t waiting;      /* taken, not on the wire (backoff, budget) */
    int64_t prompt_tokens; /* reported by the provider */
    int64_t completion_tokens;
    int concurrency_limit; /* current limit (0 = unlimited) */
    double elapsed;        /* seconds since the run started */
} plm_stats;

/* Copies the counters. Call from the run's thread (e.g. in a callback) or
 * after the run. */
PLM_EXTERN void plm_client_stats(const plm_client *client, plm_stats *out);

/* Called from the run's thread every tick_ms while a run goes on. */
typedef void (*plm_tick_fn)(const plm_stats *stats, void *user_data);

/* Called from the run's thread at the end of every round of the run's
 * loop: after the completions of the round were delivered and the source
 * was asked for more, before the run waits for the network again, and
 * once more before plm_client_run returns. The place to write out what
 * the callbacks of the round buffered (`parallm run` writes its output
 * lines here, one write() a round instead of one a line). A non-zero
 * return aborts the run as the completion callback's does. */
typedef int (*plm_flush_fn)(void *user_data);

#define PLM_RUN_OPTIONS_VERSION 1

typedef struct plm_run_options {
    unsigned int version; /* PLM_RUN_OPTIONS_VERSION */
    /* 0 = unlimited; negative is PLM_EINVAL. Either way a run never asks
     * for more connections than the process may open: when it needs more,
     * it raises the soft RLIMIT_NOFILE to the hard limit (process-wide),
     * then caps its concurrency below the descriptors left (less those in
     * use and a reserve of 16 + 1/16 of the limit) with a WARN line. */
    int max_concurrent;
    int64_t timeout_ms; /* whole run deadline; 0 = none */
    plm_tick_fn tick;   /* optional progress callback */
    int64_t tick_ms;    /* default 250 */
    plm_flush_fn flush; /* optional; user_data is the run's */
} plm_run_options;

#define PLM_RUN_OPTIONS_INIT                                                   \
    PLM__OPTIONS_INIT(plm_run_options, PLM_RUN_OPTIONS_VERSION)

/*
 * Runs requests from source until it is exhausted and every request has
 * completed, or the run is aborted, timed out or interrupted. Blocks the
 * calling thread. The run's concurrency is capped by the files the process
 * may open (see plm_run_options.max_concurrent). Returns exactly one of:
 *   PLM_OK          the source is exhausted and every request completed
 *                   (each result says how it went);
 *   PLM_ETIMEOUT    opts->timeout_ms passed: in-flight and backing-off
 *                   requests complete with PLM_ETIMEOUT, never sent ones
 *                   with PLM_ENOTSTARTED;
 *   PLM_ECANCELLED  plm_client_interrupt() stopped it;
 *   PLM_EABORTED    the completion callback returned non-zero;
 *   the source's own negative code, when the source returned one;
 *   PLM_EAUTH, PLM_EQUOTA  an answer that dooms every request stopped the
 *                   run (see stop_on_fatal): that request completes with
 *                   its error, the ones in flight as PLM_ECANCELLED, the
 *                   source is not asked again;
 *   PLM_ENOMEM      out of memory taking a request (the run stops);
 *   PLM_EINTERNAL   the event loop failed (a bug; the run stops);
 *   PLM_EINVAL      client, source or complete NULL, or a bad opts
 *                   (version, negative max_concurrent, timeout_ms or
 *                   tick_ms out of range; plm_last_error() says which);
 *   PLM_ESTATE      a run is already going on this client, or it is
 *                   started for shared use (plm_client_start, or a
 *                   plm_submit / plm_complete started it): stop it first.
 * On PLM_EINVAL and PLM_ESTATE nothing ran and no callback was called.
 * When several stops happen, the first one's code is returned.
 */
PLM_EXTERN int plm_client_run(plm_client *client, plm_source_fn source,
                              plm_complete_fn complete,
                              const plm_run_options *opts, void *user_data);

/* ------------------------------------------------------------------------
 * gather: n requests at once, results in input order, optional deadline.
 * ---------------------------------------------------------------------- */
#define PLM_GATHER_OPTIONS_VERSION 1

typedef struct plm_gather_options {
    unsigned int version; /* PLM_GATHER_OPTIONS_VERSION */
    int max_concurrent;   /* 0 = unlimited; negative is PLM_EINVAL;
                             capped by open files as in plm_run_options */
    int return_errors;    /* 1: every slot holds its own outcome;
                             0: fail fast on the first final failure */
    int64_t timeout_ms;   /* overall deadline; 0 = none */
} plm_gather_options;

#define PLM_GATHER_OPTIONS_INIT                                                \
    PLM__OPTIONS_INIT(plm_gather_options, PLM_GATHER_OPTIONS_VERSION)

/*
 * Runs n requests, results[i] for reqs[i] (input order). results must have
 * room for n pointers; each slot is set to a result the caller frees (see
 * plm_results_free). The requests stay the caller's.
 *
 * Returns exactly one of:
 *   PLM_OK          every request ran to completion (with return_errors,
 *                   some slots may hold failures); also n == 0, an empty
 *                   batch (reqs and results may then be NULL; it still
 *                   resets the statistics and logs its batch line);
 *   a request's code (fail-fast, return_errors = 0): the first request that
 *                   fails for good cancels the rest and its code is
 *                   returned: any code a result can hold (PLM_ENETWORK,
 *                   PLM_ETIMEOUT, PLM_EHTTP, PLM_ERATELIMIT, PLM_EQUOTA,
 *                   PLM_EOVERLOADED, PLM_EAUTH, PLM_EBADREQUEST,
 *                   PLM_ESERVER, PLM_EPARSE, PLM_ETOOBIG, PLM_EBUDGET,
 *                   PLM_EBREAKER, PLM_ECONTEXT, PLM_ENOMEM, PLM_EINVAL for
 *                   a request without a valid provider or path, ...);
 *                   finished slots keep their results, cancelled ones say
 *                   PLM_ECANCELLED and never started ones PLM_ENOTSTARTED;
 *   PLM_ETIMEOUT    opts->timeout_ms passed: completed results are kept,
 *                   in-flight ones say PLM_ETIMEOUT (started = 1), never
 *                   started ones PLM_ENOTSTARTED;
 *   PLM_ECANCELLED  plm_client_interrupt() stopped the batch: level 1 lets
 *                   requests on the wire finish, level 2 cancels them
 *                   (PLM_ECANCELLED); never sent ones say PLM_ENOTSTARTED;
 *   PLM_EAUTH, PLM_EQUOTA  an authentication or quota failure stopped the
 *                   batch, even with return_errors (unless the client's
 *                   stop_on_fatal is -1), the slots filled as for
 *                   fail-fast;
 *   PLM_ENOMEM      out of memory during the batch (slots of requests
 *                   never taken may then stay NULL);
 *   PLM_EINTERNAL   the event loop failed (a bug);
 *   PLM_EINVAL      client NULL, reqs or results NULL with n > 0, a NULL
 *                   element, or bad opts (version, negative
 *                   max_concurrent, timeout_ms out of range;
 *                   plm_last_error() says which): nothing ran, results
 *                   untouched;
 *   PLM_ESTATE      a run is already going on this client (a gather from
 *                   inside one of its callbacks, say), or called on a
 *                   started client's engine thread: nothing ran. (On a
 *                   started client, from any other thread, the batch
 *                   runs through the client's shared calls.)
 * Every slot holds a result unless nothing ran (PLM_EINVAL, PLM_ESTATE)
 * or memory ran out (PLM_ENOMEM). PLM_EABORTED is never returned.
 */
PLM_EXTERN int plm_gather(plm_client *client, plm_request *const *reqs,
                          size_t n, plm_result **results,
                          const plm_gather_options *opts);

/* Frees results[0..n-1] and sets them to NULL. */
PLM_EXTERN void plm_results_free(plm_result **results, size_t n);

/* ------------------------------------------------------------------------
 * Executor: add requests, run them once, read the results.
 * ---------------------------------------------------------------------- */
typedef struct plm_executor plm_executor;

/* Creates an executor on client (borrowed: keep it alive until the executor
 * is freed). opts may be NULL. Returns PLM_OK, PLM_EINVAL (out or client
 * NULL, bad opts as for plm_gather; *out is set to NULL) or PLM_ENOMEM. */
PLM_EXTERN int plm_executor_new(plm_executor **out, plm_client *client,
                                const plm_gather_options *opts);
/* Adds a request; the executor takes ownership of req on PLM_OK (and only
 * then). Sets *index if non-NULL. Returns PLM_OK, PLM_EINVAL (ex or req
 * NULL), PLM_ESTATE (after plm_executor_run) or PLM_ENOMEM. */
PLM_EXTERN int plm_executor_add(plm_executor *ex, plm_request *req,
                                size_t *index);
/* Runs every added request, as plm_gather with the executor's options:
 * the same return values (an empty executor runs an empty batch: PLM_OK),
 * plus PLM_EINVAL (ex NULL), PLM_ESTATE when called a second time (or a
 * run is going on the client) and PLM_ENOMEM (no memory for the results;
 * nothing ran). A second call does not run anything again. */
PLM_EXTERN int plm_executor_run(plm_executor *ex);
PLM_EXTERN size_t plm_executor_count(const plm_executor *ex);
/* The result for request i (borrowed), or NULL before run / out of range. */
PLM_EXTERN const plm_result *plm_executor_result(const plm_executor *ex,
                                                 size_t i);
PLM_EXTERN void plm_executor_free(plm_executor *ex);

/* ------------------------------------------------------------------------
 * Shared use: one client, many threads, asynchronous calls.
 *
 * Thread rules. A client started with plm_client_start (or implicitly by
 * the first plm_submit or plm_complete) keeps one engine thread that owns
 * its connections, limits, breaker and metrics; every thread submits work
 * to it. In caller-driven mode (plm_start_options.caller_driven) there is
 * no such thread: whichever thread calls plm_client_process is the engine
 * thread for that call. On a started client these may be called from any
 * thread at any time: plm_submit, plm_complete, plm_call_*,
 * plm_client_stats, plm_client_metrics_text, plm_client_metrics_summary
 * (rendered on the engine thread, which must be running: in caller-driven
 * mode the caller's next plm_client_process), plm_client_interrupt (also
 * from a signal handler: it cancels what is outstanding and the client
 * goes on serving), plm_client_stop, plm_client_fd. plm_client_process
 * and plm_client_timeout_ms: from the thread driving the loop. Calls
 * that would wait for the engine thread on the engine thread itself
 * return PLM_ESTATE instead: plm_complete and plm_call_wait inside a
 * callback or on the thread that drives a caller-driven client;
 * plm_client_stop inside a callback (a caller-driven client is stopped
 * by its driving thread, outside plm_client_process).
 * plm_gather and plm_executor_run on a started client run their batch
 * through its shared calls, from any thread but the engine thread: at
 * most their own max_concurrent at once and within the client's, with
 * the same results and return values as on a client of their own (the
 * statistics are the client's, counting every thread's calls).
 * plm_client_run needs the whole client and returns PLM_ESTATE while it
 * is started (stop it first); so do the setters (plm_client_set_trace,
 * plm_client_set_metrics).
 * plm_client_free cancels what is outstanding (each call completes with
 * PLM_ECANCELLED, its callback called), stops the engine and frees the
 * client; no other call on the client may begin once it has begun.
 * ---------------------------------------------------------------------- */
#define PLM_START_OPTIONS_VERSION 1

typedef struct plm_start_options {
    unsigned int version; /* PLM_START_OPTIONS_VERSION */
    /* Requests on the wire at once, over every thread's calls; 0 = the
     * default, 64. Capped by open files as in plm_run_options. */
    int max_concurrent;
    /* 1: create no thread; the caller's event loop watches plm_client_fd
     * and plm_client_timeout_ms and calls plm_client_process. */
    int caller_driven;
} plm_start_options;

#define PLM_START_OPTIONS_INIT                                                 \
    PLM__OPTIONS_INIT(plm_start_options, PLM_START_OPTIONS_VERSION)

/*
 * Starts the client's engine for shared use. opts may be NULL (defaults:
 * an engine thread, 64 in flight). Returns PLM_OK, PLM_EINVAL (client NULL
 * or bad opts), PLM_ESTATE (already started, or a plm_client_run /
 * plm_gather is going) or PLM_ENOMEM (no thread or memory). Statistics
 * (plm_client_stats) then count from the start.
 */
PLM_EXTERN int plm_client_start(plm_client *client,
                                const plm_start_options *opts);

/*
 * Stops shared use: calls not yet completed complete with PLM_ECANCELLED
 * (callbacks called), the engine thread is joined, and the client may run
 * plm_client_run / plm_gather again (or be started again). PLM_OK,
 * PLM_EINVAL (client NULL), PLM_ESTATE (not started, or called from the
 * engine thread, e.g. in a callback: it cannot wait for itself).
 */
PLM_EXTERN int plm_client_stop(plm_client *client);

/* Caller-driven mode. plm_client_fd: a descriptor that becomes readable
 * when the client has work (answers, timers, submitted calls); watch it
 * for reading, level-triggered. -1 when the client is not started in
 * caller-driven mode. plm_client_timeout_ms: call plm_client_process at
 * the latest after this many milliseconds (-1: only when the descriptor
 * is readable). plm_client_process: does what is ready without blocking
 * and returns PLM_OK, PLM_ESTATE (not started caller-driven) or
 * PLM_EINTERNAL (the event loop failed). Callbacks run inside it. */
PLM_EXTERN int plm_client_fd(const plm_client *client);
PLM_EXTERN int64_t plm_client_timeout_ms(plm_client *client);
PLM_EXTERN int plm_client_process(plm_client *client);

/* One submitted request: a handle to wait on, cancel, or read. */
typedef struct plm_call plm_call;

/* Called once per call, when its request completed (success or final
 * failure, cancellation included), on the engine thread. It may submit
 * more calls, cancel calls and read or take this call's result; it must
 * not block (no plm_call_wait, plm_complete, plm_client_stop or
 * plm_client_free on this client). */
typedef void (*plm_call_fn)(plm_call *call, void *user_data);

/*
 * Submits req. The request stays the caller's and must live until the
 * call completes. done (may be NULL) is called once on completion. With
 * out non-NULL, *out is a handle the caller frees with plm_call_free; with
 * out NULL the call frees itself after done returns (take the result in
 * done with plm_call_take_result). Starts the client with the defaults if
 * it was not started. Returns PLM_OK, PLM_EINVAL (client or req NULL),
 * PLM_ESTATE (a plm_client_run / plm_gather owns the client, or it is
 * being freed) or PLM_ENOMEM; on failure done is never called and *out is
 * NULL.
 */
PLM_EXTERN int plm_submit(plm_client *client, plm_request *req,
                          plm_call_fn done, void *user_data, plm_call **out);

/* Waits until the call completed or timeout_ms passed (-1: no limit).
 * PLM_OK (completed), PLM_ETIMEOUT (not yet), PLM_EINVAL (call NULL),
 * PLM_ESTATE (called on the engine thread, where it would wait
 * forever). */
PLM_EXTERN int plm_call_wait(plm_call *call, int64_t timeout_ms);

/* 1 when the call has completed (its result is readable), else 0. */
PLM_EXTERN int plm_call_done(const plm_call *call);

/* Asks for the call to end now; returns at once. A call not yet sent
 * completes with PLM_ECANCELLED (started = 0), one on the wire is cut
 * off (a stream stops being read) and completes with PLM_ECANCELLED; a
 * completed call is left alone. Other calls are not affected. Safe from
 * any thread, callbacks included. */
PLM_EXTERN void plm_call_cancel(plm_call *call);

/* The result (borrowed from the call), or NULL before completion or
 * after plm_call_take_result. */
PLM_EXTERN const plm_result *plm_call_result(const plm_call *call);

/* The result, now the caller's to free with plm_result_free; NULL before
 * completion or when already taken. */
PLM_EXTERN plm_result *plm_call_take_result(plm_call *call);

/* The request the call was submitted with. */
PLM_EXTERN plm_request *plm_call_request(const plm_call *call);

/* Releases the handle. An unfinished call is cancelled first and its
 * done callback is still called once; off the engine thread this waits
 * for the cancellation to complete (a moment: it does not wait for the
 * server), so that once it returns the client no longer uses the
 * request. On the engine thread (in a callback) it does not wait: the
 * request stays borrowed until the call's done callback ran. */
PLM_EXTERN void plm_call_free(plm_call *call);

/*
 * Runs one request and waits for it: the blocking call for code written
 * one request at a time. Any number of threads may call it at once on one
 * client: their requests share its connections, limits and concurrency
 * (plm_start_options.max_concurrent). Starts the client with the
 * defaults if needed. *out receives the result (the caller frees it) and
 * the return value is its plm_result_code, or PLM_EINVAL (a NULL
 * argument), PLM_ESTATE (a plm_client_run / plm_gather owns the client,
 * or called on the engine thread) or PLM_ENOMEM, with *out NULL.
 */
PLM_EXTERN int plm_complete(plm_client *client, plm_request *req,
                            plm_result **out);

/* ------------------------------------------------------------------------
 * Tasks: the same gather semantics for plain C functions, on a bounded
 * thread pool.
 * ---------------------------------------------------------------------- */
typedef struct plm_task_ctx plm_task_ctx;

/*
 * A task function. Returns its value (or NULL). To fail, call
 * plm_task_fail() and return. Long functions should poll
 * plm_task_cancelled(): C cannot stop a running thread, so a cancelled or
 * timed-out gather waits for running functions to return. ctx is valid
 * only until the function returns.
 */
typedef void *(*plm_task_fn)(void *arg, plm_task_ctx *ctx);

/*
 * Marks the current task failed with a message (copied; NULL gives the
 * default message "task failed"). Calling it again replaces the message:
 * the last one is kept. Without return_errors the first call cancels the
 * gather at once (before the function returns): no further task starts
 * and running ones see plm_task_cancelled() == 1, this one included. Call
 * it from the task's own thread, before the function returns. A NULL ctx
 * is ignored.
 */
PLM_EXTERN void plm_task_fail(plm_task_ctx *ctx, const char *message);
/* 1 once the gather was cancelled (fail-fast or deadline); 0 for NULL. Cheap
 * (an atomic load): poll it between steps of long work. */
PLM_EXTERN int plm_task_cancelled(const plm_task_ctx *ctx);

typedef struct plm_task {
    plm_task_fn fn;
    void *arg;
    /* Frees a value the function returned after its slot was already
     * decided (timed out or cancelled) or while failing; may be NULL (the
     * value is then dropped). Called on a worker thread. */
    void (*free_value)(void *value);
} plm_task;

typedef struct plm_task_result {
    int code;       /* PLM_OK, PLM_EABORTED (task failed), PLM_ETIMEOUT,
                       PLM_ECANCELLED, PLM_ENOTSTARTED */
    int started;    /* 1 if the function was called */
    void *value;    /* the function's return value, when code == PLM_OK;
                       NULL otherwise */
    char *error;    /* the failure message when code == PLM_EABORTED
                       (NULL only if memory ran out), else NULL; freed by
                       plm_task_results_clear() */
    double seconds; /* run time of the function (CLOCK_MONOTONIC); 0 if
                       not started */
} plm_task_result;

/*
 * Runs n tasks on up to max_concurrent threads (0 = one per task, capped at
 * 256), results[i] for tasks[i] (input order). opts may be NULL (no limit,
 * fail fast, no deadline). The threads are created by the call and joined
 * before it returns; nothing is left running and nothing is logged. The
 * call is re-entrant: gathers may run at once on different threads, and a
 * task may itself call plm_task_gather() (the inner gather is independent:
 * it does not see the outer one's cancellation unless the task forwards
 * it).
 *
 * Same return_errors and timeout semantics as plm_gather():
 * - return_errors = 1: every task runs; a task that called plm_task_fail()
 *   gets PLM_EABORTED and its message, the others PLM_OK and their values;
 *   returns PLM_OK.
 * - return_errors = 0 (fail fast): the first plm_task_fail() cancels the
 *   rest; that task's slot says PLM_EABORTED with its message, tasks that
 *   finished before keep PLM_OK, running ones say PLM_ECANCELLED, unstarted
 *   ones PLM_ENOTSTARTED (started = 0); returns PLM_EABORTED.
 * - timeout_ms > 0, measured from the call on CLOCK_MONOTONIC: if tasks are
 *   still undecided at the deadline, unstarted ones are never started
 *   (PLM_ENOTSTARTED), running ones see plm_task_cancelled() == 1 and are
 *   NOT interrupted: the call waits for each to return, then its slot says
 *   PLM_ETIMEOUT (started = 1) whatever it returned or reported, and its
 *   value goes to free_value. Completed slots keep their outcome. Returns
 *   PLM_ETIMEOUT. A running function that never returns blocks the call for
 *   ever: poll plm_task_cancelled().
 * Values of slots that do not end PLM_OK go to free_value when non-NULL.
 *
 * Returns PLM_EINVAL (tasks or results NULL with n > 0, a NULL fn, a bad
 * options version, negative max_concurrent, a timeout_ms beyond 7 days)
 * and PLM_ENOMEM (no memory or no thread could be created) before running
 * anything; on
 * PLM_EINVAL and on an allocation failure results are untouched; if no
 * thread could be created every slot says PLM_ENOTSTARTED. When some but
 * not all threads can be created, the tasks run on those. n == 0 returns
 * PLM_OK at once.
 */
/* In short, it returns exactly one of PLM_OK, PLM_EABORTED (fail-fast),
 * PLM_ETIMEOUT, PLM_EINVAL and PLM_ENOMEM: never PLM_ECANCELLED (a task
 * cannot be interrupted from outside) nor PLM_ESTATE (no client). */
PLM_EXTERN int plm_task_gather(const plm_task *tasks, size_t n,
                               plm_task_result *results,
                               const plm_gather_options *opts);

/* Frees the error strings in results[0..n-1] and sets them to NULL (not
 * the values). */
PLM_EXTERN void plm_task_results_clear(plm_task_result *results, size_t n);

/* ------------------------------------------------------------------------
 * Timings, the attempt trace and metrics
 *
 * Times are CLOCK_MONOTONIC nanoseconds relative to the start of the run
 * that handled the request (the moment plm_client_run, plm_gather or
 * plm_executor_run began); -1 means "did not happen". Divide by 1e6 for
 * milliseconds.
 * ---------------------------------------------------------------------- */

/* When a request went through each step. For a retried request, admitted,
 * sent and first_byte are those of its last attempt. */
typedef struct plm_timings {
    int64_t queued_ns;     /* taken from the source */
    int64_t first_sent_ns; /* first attempt on the wire; -1 never sent */
    int64_t admitted_ns;   /* last attempt admitted (limit, budget, breaker) */
    int64_t sent_ns;       /* last attempt on the wire */
    int64_t first_byte_ns; /* last attempt's first response byte; -1 none */
    int64_t done_ns;       /* completed */
} plm_timings;

/* Copies the result's timings into *out. PLM_OK, or PLM_EINVAL when
 * either pointer is NULL. */
PLM_EXTERN int plm_result_timings(const plm_result *res, plm_timings *out);

/* When the last attempt's first delta (see plm_delta) was parsed, in the
 * time base of plm_timings (ns since the run began): the time to first
 * token, next to plm_timings.sent_ns and first_byte_ns. Recorded for every
 * streamed answer, with or without a delta callback. -1 when no delta
 * arrived (an answer that was not streamed, or a stream without a text,
 * tool-call or reasoning piece). */
PLM_EXTERN int64_t plm_result_first_token_ns(const plm_result *res);

/* Why an attempt's request waited before its next attempt. */
typedef enum plm_wait_reason {
    PLM_WAIT_NONE = 0,    /* no next attempt */
    PLM_WAIT_RETRY_AFTER, /* the server's retry-after(-ms) */
    PLM_WAIT_BACKOFF,     /* exponential backoff with jitter */
    PLM_WAIT_BUDGET,      /* the endpoint's rate budget (RPM/TPM pacing) */
    PLM_WAIT_PAUSE,       /* the endpoint paused after a 429 */
    PLM_WAIT_BREAKER      /* the endpoint's circuit breaker was open */
} plm_wait_reason;

/* "retry_after", "backoff", "budget", "pause", "breaker"; NULL for
 * PLM_WAIT_NONE and unknown values. */
PLM_EXTERN const char *plm_wait_reason_name(plm_wait_reason reason);

/* One finished attempt, as handed to a plm_trace_fn. Every pointer is
 * borrowed for the duration of the call. */
typedef struct plm_attempt_trace {
    void *user_data; /* the request's (plm_request_set_user_data) */
    uint64_t index;  /* 0-based order the run took the request in */
    int attempt;     /* 1-based */
    plm_provider provider;
    const char *model;     /* the body's "model", "" when none */
    int64_t queued_ns;     /* this attempt began waiting for admission */
    int64_t admitted_ns;   /* admitted */
    int64_t sent_ns;       /* on the wire */
    int64_t first_byte_ns; /* first response byte; -1 none */
    int64_t done_ns;       /* the attempt's outcome was known */
    int http_status;       /* 0 when no answer */
    int code;              /* plm_code of this attempt's outcome */
    plm_error_class error_class;
    /* The time from done_ns to the next attempt on the wire and its main
     * cause (the longer of the retry delay and the admission wait); -1
     * and PLM_WAIT_NONE when no attempt followed (final outcome, or the
     * run stopped first). */
    int64_t retry_wait_ns;
    plm_wait_reason retry_reason;
    int64_t prompt_tokens; /* -1 = not reported */
    int64_t completion_tokens;
} plm_attempt_trace;

/* Called on the run's thread once per attempt that went on the wire. An
 * attempt followed by a retry is reported when the retry goes out (so its
 * wait is known), the last attempt just before the completion callback.
 * It must not call back into the client except plm_client_stats and
 * plm_client_metrics_text. */
typedef void (*plm_trace_fn)(const plm_attempt_trace *trace, void *user_data);

/* Sets (fn non-NULL) or clears the client's trace callback. PLM_OK,
 * PLM_EINVAL (client NULL), PLM_ESTATE during a run. */
PLM_EXTERN int plm_client_set_trace(plm_client *client, plm_trace_fn fn,
                                    void *user_data);

/* Turns the client's metrics recording on (the default) or off.
 * PLM_OK, PLM_EINVAL, PLM_ESTATE during a run. Counters persist across
 * runs of the client (Prometheus counters never go down). */
PLM_EXTERN int plm_client_set_metrics(plm_client *client, int on);

/*
 * Renders the client's metrics in the Prometheus text exposition format
 * (version 0.0.4; docs/metrics.md lists every metric). *out is a
 * NUL-terminated malloc'd string for the caller to free(), *len its length
 * (len may be NULL). Call it from the run's thread (in a tick, trace or
 * completion callback) or while no run goes on. PLM_OK, PLM_EINVAL,
 * PLM_ENOMEM (*out is then NULL).
 */
PLM_EXTERN int plm_client_metrics_text(plm_client *client, char **out,
                                       size_t *len);

/* A digest of the metrics for a status page: latency quantiles of the
 * requests completed so far (estimated from the duration histogram),
 * retries by plm_wait_reason and completions by plm_error_class, summed
 * over every run of the client. */
typedef struct plm_metrics_summary {
    double latency_p50_s, latency_p95_s, latency_p99_s; /* -1: no data */
    uint64_t retries[PLM_WAIT_BREAKER + 1];             /* by reason */
    uint64_t requests[PLM_CLASS_LOCAL + 1];             /* by class */
    int64_t prompt_tokens, completion_tokens;
} plm_metrics_summary;

/* Fills *out. Same thread rule as plm_client_metrics_text. PLM_OK or
 * PLM_EINVAL. */
PLM_EXTERN int plm_client_metrics_summary(plm_client *client,
                                          plm_metrics_summary *out);

#ifdef __cplusplus
}
#endif

#endif /* PARALLM_H */
