/*
 * Internal interfaces between the mock server's files: the server object
 * (mock_server.c), the per-request handler (mock_handler.c), the directive
 * parser (mock_directive.c), the provider-style limits (mock_limits.c) and
 * the body builders (mock_body.c). Everything here runs on the loop thread
 * except the fields guarded by plm_mock.lock.
 */
#ifndef PLM_MOCK_INTERNAL_H
#define PLM_MOCK_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "mock.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct evkeyvalq;
struct evconnlistener;
struct event;
struct evbuffer;

/* Request bodies above PLM__MOCK_MAX_BODY get the mock's own JSON 413
 * (the command sends lines up to 16 MiB: twice that leaves headroom);
 * evhttp reads at most PLM__MOCK_MAX_BODY_HARD and answers above it with
 * its own page (libevent 2.1 has no hook for that answer). */
#define PLM__MOCK_MAX_BODY (32 * 1024 * 1024)
#define PLM__MOCK_MAX_BODY_HARD (256 * 1024 * 1024)
/* Likewise for the request line and headers: above PLM__MOCK_MAX_HEADERS
 * the mock's own JSON 431; evhttp reads up to PLM__MOCK_MAX_HEADERS_HARD
 * and answers above it (and any malformed request) with its own page. */
#define PLM__MOCK_MAX_HEADERS (64 * 1024)
#define PLM__MOCK_MAX_HEADERS_HARD (1024 * 1024)
#define PLM__MOCK_BACKLOG 4096

typedef enum plm__mock_fault {
    PLM__MOCK_FAULT_NONE = 0,
    PLM__MOCK_FAULT_RESET,
    PLM__MOCK_FAULT_HANG,
    PLM__MOCK_FAULT_BADJSON,
    PLM__MOCK_FAULT_BIG,
    PLM__MOCK_FAULT_SLOW,
    PLM__MOCK_FAULT_CUT,
    PLM__MOCK_FAULT_LAST = PLM__MOCK_FAULT_CUT /* keep on the last one */
} plm__mock_fault;

/* A parsed "X-Mock" header or "[mock ...]" directive. */
typedef struct plm__mock_directive {
    int present;
    int64_t latency_ms;   /* -1: not given */
    int status;           /* 0: none */
    int64_t times;        /* -1: every attempt */
    char key[128];        /* empty: identity is the message text */
    char retry_after[32]; /* empty: none; validated number */
    char retry_after_ms[32];
    int should_retry; /* -1: none, 0 false, 1 true */
    char error_code[64];
    plm__mock_fault fault;
    int64_t size;        /* -1: default */
    int64_t tokens;      /* -1: default */
    int64_t interval_ms; /* a stream's chunks this far apart; 0: at once */
} plm__mock_directive;

void plm__mock_directive_init(plm__mock_directive *d);
/* Parses "k=v;k=v" (also separated by spaces or commas). Unknown keys and
 * bad values are ignored. Returns 1 if at least one key was understood. */
int plm__mock_directive_parse(const char *text, size_t len,
                              plm__mock_directive *d);
/* Finds "[mock ...]" in text and parses it. Returns 1 if found. */
int plm__mock_directive_find(const char *text, plm__mock_directive *d);

/* Sliding 60 s window of accepted requests and their token estimates. */
typedef struct plm__mock_limits {
    int64_t rpm;
    int64_t tpm;
    int64_t *when_ns;
    int64_t *tokens;
    size_t head;
    size_t len;
    size_t cap;
    int64_t token_sum;
} plm__mock_limits;

typedef struct plm__mock_limit_info {
    int64_t req_limit, req_remaining, req_reset_ns;
    int64_t tok_limit, tok_remaining, tok_reset_ns;
    int64_t retry_after_ns; /* set when rejected */
} plm__mock_limit_info;

void plm__mock_limits_init(plm__mock_limits *l, int64_t rpm, int64_t tpm);
void plm__mock_limits_free(plm__mock_limits *l);
/* Admits (and counts) a request costing `tokens`, or refuses it. Fills
 * info either way. Returns 1 admitted, 0 refused, -1 out of memory. */
int plm__mock_limits_admit(plm__mock_limits *l, int64_t now_ns, int64_t tokens,
                           plm__mock_limit_info *info);
/* Adds the provider's rate-limit headers for info to hdrs. */
void plm__mock_limits_headers(const plm__mock_limits *l,
                              const plm__mock_limit_info *info, int anthropic,
                              struct evkeyvalq *hdrs);
/* Go duration ("1.2s", "6m0s", "12ms") of ns into buf. */
void plm__mock_go_duration(int64_t ns, char *buf, size_t len);

typedef enum plm__mock_endpoint {
    PLM__MOCK_EP_UNKNOWN = 0,
    PLM__MOCK_EP_CHAT,
    PLM__MOCK_EP_MESSAGES,
    PLM__MOCK_EP_COMPLETIONS,
    PLM__MOCK_EP_EMBEDDINGS,
    PLM__MOCK_EP_RESPONSES,
    PLM__MOCK_EP_MODERATIONS,
    PLM__MOCK_EP_IMAGES, /* /v1/images/generations and /v1/images/edits */
    PLM__MOCK_EP_MODELS, /* GET /v1/models */
    PLM__MOCK_EP_MODEL   /* GET /v1/models/{id} */
} plm__mock_endpoint;

/* What the handler needs from a request body. */
typedef struct plm__mock_parsed {
    char *user_text;   /* last user message, or NULL */
    char *system_text; /* system prompt, or NULL */
    const char *model; /* borrowed from body */
    int64_t prompt_tokens;
    int64_t max_tokens; /* -1: absent */
    int n_inputs;       /* embeddings */
    int stream;
    int include_usage;
    int want_json;
    int n_choices;         /* "n": 1..PLM__MOCK_MAX_CHOICES */
    const char *tool_name; /* borrowed: the tool to call, or NULL */
    char *tool_args;       /* its arguments (a JSON object's text) */
    int embed_base64;      /* encoding_format "base64" */
    int dimensions;        /* embedding length (default 8) */
    json_t *input;         /* borrowed: moderations' "input" */
    int anthropic_shape;   /* GET /v1/models in Anthropic's shape */
    int image_url;         /* images: response_format "url" */
} plm__mock_parsed;

#define PLM__MOCK_MAX_CHOICES 128

/* Reads the fields of body for endpoint. Returns 0 or -1 (out of memory).
 * body is borrowed and must outlive out->model. */
int plm__mock_parse_body(plm__mock_endpoint ep, json_t *body,
                         plm__mock_parsed *out);
void plm__mock_parsed_free(plm__mock_parsed *p);

/* Success body for a non-streamed answer; caller frees. */
char *plm__mock_reply_body(plm__mock_endpoint ep, const plm__mock_parsed *p,
                           uint64_t seq, int64_t completion_tokens,
                           int simulated);
/* Provider-style error body; caller frees. */
char *plm__mock_error_body(int anthropic, int status, const char *message,
                           const char *error_code, int simulated);

/* Bodies of the endpoints beyond the generation ones (mock_extra.c):
 * models list or one model, moderations, embeddings. Caller frees. */
char *plm__mock_models_body(const plm__mock_parsed *p, const char *id,
                            int simulated);
char *plm__mock_moderations_body(const plm__mock_parsed *p, uint64_t seq,
                                 int simulated);
char *plm__mock_embeddings_body(const plm__mock_parsed *p, int simulated);
/* Images (generations and edits): n images as b64_json, or as URLs when
 * asked; usage for gpt-image models. Caller frees. */
char *plm__mock_images_body(const plm__mock_parsed *p, uint64_t seq,
                            int64_t completion_tokens, int simulated);
/* Picks the tool a request asks to call (tools given and tool_choice
 * required / named, or "[mock tool_call]" in the user text) and builds
 * arguments from its JSON schema. Returns 0 or -1 (out of memory). */
int plm__mock_pick_tool(plm__mock_endpoint ep, json_t *body,
                        plm__mock_parsed *p);
/* The assistant's text for p ("mock reply: ..." or JSON); caller frees. */
char *plm__mock_reply_text(const plm__mock_parsed *p);
/* A JSON value serialized with the "simulated" marker; frees o. */
char *plm__mock_dump(json_t *o, int simulated);

/* Calls emit once per server-sent event of a streamed answer. */
typedef void (*plm__mock_sse_emit)(void *arg, const char *event,
                                   const char *data);
int plm__mock_reply_sse(plm__mock_endpoint ep, const plm__mock_parsed *p,
                        uint64_t seq, int64_t completion_tokens, int simulated,
                        plm__mock_sse_emit emit, void *arg);

typedef struct plm__mock_req plm__mock_req;

struct plm_mock {
    plm_mock_options opts; /* strings owned (copied) */
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener;
    struct event *stop_ev;
    struct event *release_ev;
    struct event *sigint_ev;
    struct event *sigterm_ev;
    SSL_CTX *ssl_ctx;
    pthread_t thread;
    int thread_started;
    int port;

    /* Guarded by lock: read by other threads. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    plm_mock_stats stats;
    uint64_t handled; /* requests answered or held so far */
    uint64_t booked;  /* requests whose outcome is booked */
    plm_mock_record *records;
    size_t n_records;
    size_t cap_records;
    uint64_t record_gen; /* bumped by plm_mock_reset */

    /* Loop thread only. */
    plm__mock_limits limits;
    uint64_t rng;
    uint64_t seq;
    json_t *attempts;    /* identity -> attempts seen */
    plm__mock_req *live; /* every request not yet answered */
    FILE *log;
};

/* What a request gets. */
typedef enum plm__mock_action {
    PLM__MOCK_ACT_REPLY = 0,
    PLM__MOCK_ACT_ERROR,
    PLM__MOCK_ACT_RESET,
    PLM__MOCK_ACT_HANG,
    PLM__MOCK_ACT_BADJSON,
    PLM__MOCK_ACT_BIG,
    PLM__MOCK_ACT_SLOW,
    PLM__MOCK_ACT_CUT,
    PLM__MOCK_ACT_PACED /* a stream sent chunk by chunk (interval=) */
} plm__mock_action;

/* One request whose answer is being decided or carried out. */
struct plm__mock_req {
    plm_mock *m;
    struct evhttp_request *req;
    struct event *timer;
    plm__mock_req *prev;
    plm__mock_req *next;
    int on_list;
    plm__mock_endpoint ep;
    int anthropic;
    plm__mock_action act;
    int status;
    int counted;       /* in stats.in_flight */
    int limit_headers; /* send rate-limit headers */
    int fault_applied; /* directive's retry headers apply */
    int immediate;     /* refusal: answered without latency */
    int booked;        /* outcome counted (plm__mock_book) */
    char message[192];
    json_t *body;
    plm__mock_parsed parsed;
    plm__mock_directive dir;
    plm__mock_limit_info limit;
    int64_t completion_tokens;
    uint64_t seq;
    uint64_t rec_gen;
    size_t rec_index;
    int has_record;
    char method[8];
    char path[128];
    char query[256];      /* see plm_mock_record */
    char auth_header[16]; /* see plm_mock_record */
    const char *route;    /* path with a known base prefix read as /v1 */
    char route_buf[128];
    int has_auth;
    int has_api_key;
    /* fault=big and fault=slow progress */
    int64_t big_size;
    int64_t big_sent;
    struct evbuffer *slow;
    size_t slow_piece;
    int64_t slow_step_ms;
    /* interval= streams: where each chunk ends in slow (bytes from the
     * stream's start), how many went out, the first one's wall time. */
    size_t *pace_ends;
    int pace_chunks, pace_cap, pace_sent;
    size_t pace_bytes; /* bytes of the stream put into slow */
    size_t pace_taken; /* bytes of the stream already sent */
    int64_t first_chunk_realtime_ns;
};

/* Carries out r's decided answer (mock_answer.c); latency_ms is the
 * dribble time of fault=slow. */
void plm__mock_perform(plm__mock_req *r, int64_t latency_ms);
/* Closes r's connection without an answer. */
void plm__mock_answer_reset(plm__mock_req *r);
/* Books r's outcome in stats, record and log (once). Answers call it just
 * before the last bytes go out, so a client that has its answer always
 * finds it counted. */
void plm__mock_book(plm__mock_req *r, int status, int reset);
/* Books the outcome if not yet done and frees r (mock_handler.c); r->req
 * must already be answered or handed back. */
void plm__mock_finish(plm__mock_req *r, int status, int reset);
/* Forgets the close callback set while r's answer was pending. */
void plm__mock_clear_closecb(plm__mock_req *r);

/* The evhttp callback for every request (mock_handler.c). */
void plm__mock_handle(struct evhttp_request *req, void *arg);
/* Answers every hanging request with a reset. */
void plm__mock_release_hung(plm_mock *m);
/* Forgets every live request before the server is freed. */
void plm__mock_drop_live(plm_mock *m);
int64_t plm__mock_now_ns(void);

#endif
