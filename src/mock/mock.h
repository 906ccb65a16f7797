/*
 * The mock LLM server: a single-threaded libevent evhttp server on loopback
 * that speaks the OpenAI and Anthropic protocols well enough to test every
 * client behaviour (latency, faults, provider-style limits, SSE, TLS) and
 * records what it received so tests can assert on the server's side.
 *
 * It runs on its own thread (plm_mock_start) for tests and the embedded
 * `--provider mock`, or on the caller's thread (plm_mock_serve) for the
 * `parallm mock` command.
 *
 * Per-request behaviour: a directive in the request selects faults so one
 * batch can mix them. The directive is read from the HTTP header
 * "X-Mock: key=value;key=value" or, if absent, from the text "[mock ...]"
 * inside the last user message (e.g. "[mock latency=200 status=500
 * times=2]"). Keys:
 *   latency=MS        reply after MS (replaces the global latency)
 *   status=CODE       answer CODE with a provider-style error body
 *   times=N           apply status/fault only to the first N attempts of
 *                     this request (attempts are counted per directive
 *                     "key=" value, else per whole message text)
 *   key=NAME          identity for `times` counting
 *   retry_after=S     send Retry-After: S (seconds, may be fractional)
 *   retry_after_ms=MS send retry-after-ms
 *   should_retry=true|false   send x-should-retry
 *   error_code=CODE   error.code in the error body (e.g.
 *                     insufficient_quota)
 *   fault=reset|hang|badjson|big|slow   reset: close the connection
 *                     without answering; hang: never answer; badjson: 200
 *                     with a body that is not JSON; big: 200 with a body of
 *                     `size` bytes (default 64 MiB, streamed in chunks);
 *                     slow: body dribbled over `latency`
 *   size=BYTES        for fault=big
 *   tokens=N          completion tokens to report (default 8)
 *   interval=MS       a streamed answer goes out in chunks MS apart: the
 *                     first chunk at once, holding the opening events and
 *                     the first that carries a piece of the answer (text,
 *                     a tool call's name or arguments), then one chunk per
 *                     such event (with the events before it), then one
 *                     with the closing events (finish, usage, [DONE]).
 *                     The record and the log line say how many chunks
 *                     there were, how many went out, and when the first
 *                     went out (wall clock)
 *
 * Replies identify the request: the content is "mock reply: " followed by
 * the last user message (directive included), so tests can check order.
 * When the user or system text names both "summary" and "references" the
 * content is instead the JSON {"summary": "...", "references": []} (the
 * summary quotes the text's first line); with response_format
 * {"type":"json_object"} it is {"reply": "mock reply: ..."}.
 *
 * Endpoints (POST): /v1/chat/completions, /v1/completions, /v1/embeddings,
 * /v1/responses, /v1/moderations (OpenAI shapes, header x-request-id) and
 * /v1/messages (Anthropic shape, header request-id; a key in x-api-key or
 * Authorization: Bearer, else 401; any anthropic-version, none 400); GET
 * /v1/models and /v1/models/{id} (any id; Anthropic's shape when the
 * request has anthropic-version). The same endpoints answer under the
 * bases of OpenAI-compatible services: "/v1beta/openai", "/openai/v1",
 * "/api/v1", "/openai/deployments/{name}" and "/openai" stand for "/v1"
 * ("/openai/deployments/D/chat/completions?api-version=..." is chat). "stream":
 * true gives server-sent events for chat, completions, responses (the full
 * event sequence) and messages. "n" gives n choices; embeddings honour
 * encoding_format (float, base64 of little-endian float32) and dimensions
 * (default 8). With "tools", a tool_choice that requires or names a tool, or
 * "[mock tool_call]" in the user text, answers with a call of it
 * (arguments from its JSON schema); "[mock flagged]" flags a moderation
 * input. Other paths 404, other methods 405, a body that is not a JSON
 * object 400, a request line and headers over 64 KiB 431, bodies over
 * 32 MiB 413: every error is a provider JSON body (Anthropic's on
 * /v1/messages or when anthropic-version is sent) with the request id
 * header. Only what evhttp refuses before the handler runs gets its own
 * HTML page: malformed HTTP, headers over 1 MiB, bodies over 256 MiB
 * (libevent 2.1 has no hook for those answers). Prompt tokens are the
 * characters of every message and system prompt / 4 (at least 1).
 *
 * Refusals (max_in_flight, rpm, tpm, request errors) are answered at once,
 * without latency; a request refused by max_in_flight never counts in
 * in_flight. The tpm estimate is prompt tokens + max_tokens (or
 * max_completion_tokens / max_output_tokens, else tokens=). The log_file
 * holds one JSON line per answered request: time, method, path, status,
 * in_flight, user_text and whether credentials were present (never their
 * values); for an interval= stream also stream_chunks, stream_chunks_sent
 * and first_chunk_unix_ns.
 */
#ifndef PLM_MOCK_H
#define PLM_MOCK_H

#include <stddef.h>
#include <stdint.h>

typedef struct plm_mock plm_mock;

typedef struct plm_mock_options {
    const char *host;   /* default "127.0.0.1" */
    int port;           /* 0 = ephemeral */
    int64_t latency_ms; /* base reply latency */
    int64_t jitter_ms;  /* uniform extra 0..jitter (seeded) */
    uint64_t seed;      /* jitter / fault randomness; 0 = fixed 1 */
    /* Global fault injection (applies to every request without a
     * directive): a fraction 0..1 of requests answered with fault_status
     * (default 429 with Retry-After: fault_retry_after seconds). */
    double fault_rate;
    int fault_status;
    double fault_retry_after;
    /* Provider-style limits: 0 = off. Over the limit the mock answers 429
     * with provider rate-limit headers and Retry-After. */
    int64_t rpm;                /* requests per minute (sliding 60 s) */
    int64_t tpm;                /* tokens per minute */
    int max_in_flight;          /* answers 429 beyond this many open */
    int send_ratelimit_headers; /* 1: x-ratelimit-* on every answer */
    /* TLS: PEM files; both set = HTTPS only. */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *port_file; /* write the bound port here (then rename) */
    const char *log_file;  /* JSONL: one line per request received */
    int record;            /* 1: keep per-request records in memory */
    int simulated_marker;  /* 1: add "simulated": true to bodies */
    /* A seeded fault mix, for storms: every request without a directive
     * draws once from the seeded RNG (one draw per request received,
     * retries included, so a given seed gives the same sequence of
     * answers in arrival order) and gets at most one of these faults, by
     * rate (fractions 0..1 of requests, summing to at most 1 together with
     * fault_rate, which takes the slice after them); the rest are answered
     * normally. Each fault is answered after the usual latency. */
    double mix_429_rate;        /* 429 rate_limit_exceeded */
    double mix_429_retry_after; /* its Retry-After in seconds (fractional
                                   allowed); 0 = none */
    double mix_500_rate;        /* 500 server error */
    double mix_529_rate;        /* 529 overloaded */
    double mix_reset_rate;      /* connection reset, no answer */
    double mix_cut_rate;        /* 200 whose JSON body is cut off halfway */
    /* When the server stops, one JSON line of its plm_mock_stats
     * (requests, answers by class, resets, max_in_flight_seen) is
     * written here (then renamed into place), so a benchmark or a user
     * of `parallm mock` learns the peak number of requests it held open
     * at once. */
    const char *stats_file;
    /* 1: the server has its process to itself (`parallm mock`,
     * plm_mock_serve): libevent may then fold each loop iteration's epoll
     * changes into one call. 0 (the default) where other threads open
     * sockets: a change for a descriptor the mock has closed is applied
     * on its next iteration, when the number may already be another
     * thread's socket. */
    int alone_in_process;
} plm_mock_options;

/* One request as the mock received it. */
typedef struct plm_mock_record {
    int64_t arrival_ns;       /* CLOCK_MONOTONIC */
    int64_t done_ns;          /* when the answer (or reset) went out */
    int in_flight_at_arrival; /* including this one */
    int status;               /* what it answered; 0 for reset/hang */
    char method[8];
    char path[128];
    char *body;          /* request body, NUL-terminated */
    char *authorization; /* Authorization header or NULL */
    char *api_key;       /* x-api-key header or NULL */
    char *anthropic_version;
    char *user_text;      /* last user message or NULL */
    char query[256];      /* the URI's query without '?' ("" for none),
                             values of key/token parameters masked */
    char auth_header[16]; /* the name of the header that carried a key:
                             "authorization", "x-api-key", "api-key", or
                             "" (never its value) */
    /* A stream paced by interval=: its chunks, how many went out before
     * it ended or the client closed, and when the first was written to
     * the socket (CLOCK_REALTIME ns). All 0 for other answers. */
    int stream_chunks;
    int stream_chunks_sent;
    int64_t first_chunk_realtime_ns;
} plm_mock_record;

typedef struct plm_mock_stats {
    uint64_t requests;
    uint64_t answered_2xx;
    uint64_t answered_429;
    uint64_t answered_other;
    uint64_t resets;
    int in_flight;
    int max_in_flight_seen;
} plm_mock_stats;

/* Starts the server on a new thread; returns once it listens. 0 or -1
 * (errbuf says why). */
int plm_mock_start(plm_mock **out, const plm_mock_options *opts, char *errbuf,
                   size_t errlen);
int plm_mock_port(const plm_mock *mock);
/* Stops the thread, closes every connection, frees everything. */
void plm_mock_free(plm_mock *mock);

/* Thread-safe snapshots. */
void plm_mock_get_stats(plm_mock *mock, plm_mock_stats *out);
/* Copies the records (caller frees with plm_mock_records_free). */
size_t plm_mock_get_records(plm_mock *mock, plm_mock_record **out);
void plm_mock_records_free(plm_mock_record *recs, size_t n);
/* Forgets records and counters (not the limits' state). */
void plm_mock_reset(plm_mock *mock);
/* Releases every hanging request (fault=hang) with a reset. */
void plm_mock_release_hung(plm_mock *mock);
/* Blocks until the mock has handled at least n requests since start (or
 * the last plm_mock_reset): each answered, or held for its latency or a
 * hang, with its stats booked. Tests wait on the server's side this way
 * instead of sleeping. Returns 0, or -1 after timeout_ms. */
int plm_mock_wait_requests(plm_mock *mock, uint64_t n, int64_t timeout_ms);

/* Blocks until at least n requests since start (or the last
 * plm_mock_reset) have their outcome booked: answered to the end, reset,
 * or closed by the client before the end (status 0 in the record). A
 * test waits this way for what the server saw of a request the client
 * gave up on. Returns 0, or -1 after timeout_ms. */
int plm_mock_wait_done(plm_mock *mock, uint64_t n, int64_t timeout_ms);

/* Runs the server on the calling thread until SIGINT/SIGTERM (the
 * `parallm mock` command). Returns 0 or -1. */
int plm_mock_serve(const plm_mock_options *opts, char *errbuf, size_t errlen);

#endif
