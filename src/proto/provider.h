/*
 * Provider protocols: which headers a request carries, how a chat body is
 * shaped and how an answer is read. Everything that differs between
 * providers is in one table of operations per provider (as curl's
 * protocol handlers), defined in src/proto/providers/<name>.c and listed
 * once in PLM__PROVIDER_LIST below; the code that uses it (request.c,
 * provider.c, the client) is generic over that table.
 *
 * Adding a provider: a value in the public plm_provider enum, one file
 * providers/<name>.c defining its plm__provider_ops, and one line in
 * PLM__PROVIDER_LIST.
 */
#ifndef PLM_PROVIDER_H
#define PLM_PROVIDER_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "defaults.h"
#include "parallm.h"
#include "headers.h"
#include "result.h"

/*
 * The registered providers, one line each: the public enum value and the
 * name of its ops object. The table is indexed by the enum value, so the
 * values must be 0, 1, ... without gaps (providers.c checks this).
 */
#define PLM__PROVIDER_LIST(X)                                                  \
    X(PLM_PROVIDER_OPENAI, plm__provider_openai)                               \
    X(PLM_PROVIDER_ANTHROPIC, plm__provider_anthropic)

#define PLM__PROVIDER_PLUS_ONE(id, ops) +1
/* How many providers there are: the size of arrays indexed by provider. */
#define PLM__PROVIDER_COUNT (0 PLM__PROVIDER_LIST(PLM__PROVIDER_PLUS_ONE))

/*
 * One provider's protocol. The strings are static and required; a NULL
 * function means the provider needs nothing beyond the shared behaviour
 * described at that field. Builder functions are called only for chat
 * requests (plm_request_new_chat), after the shared checks, with the
 * request's JSON body; they return PLM_OK or PLM_ENOMEM.
 */
struct plm__sse_state;

typedef struct plm__provider_ops {
    plm_provider id;              /* its index in the table */
    const char *name;             /* short, lower case: "openai" */
    const char *display_name;     /* in messages: "OpenAI" */
    const char *default_base_url; /* used without option or env variable */
    const char *env_api_key;      /* env variable with the key */
    const char *env_base_url;     /* env variable with the base URL */
    const char *chat_path;        /* plm_request_new_chat's path */

    /* The plm_client_options fields naming this provider's key and base
     * URL (they win over the env variables). NULL: no such fields. */
    void (*client_options)(const plm_client_options *o, const char **api_key,
                           const char **base_url);
    /* The plm_client_options fields that change how this provider's
     * requests are addressed and authenticated (a key header other than
     * the provider's own, a query for every URL, deployment paths). NULL:
     * none; the provider's own header, no query. */
    void (*client_url_options)(const plm_client_options *o,
                               const char **key_header, const char **query,
                               int *deployment_paths);
    /* With deployment paths on, the endpoint paths (after the base URL)
     * that go to "/deployments/{model}" + path, NULL-terminated, as
     * openai-node's AzureOpenAI client routes them. NULL: none. */
    const char *const *deployment_paths;

    /* Appends the auth and protocol headers to list, which already holds
     * the shared ones (Content-Type, Expect). api_key is NULL when there
     * is none that may be sent. Returns list, or NULL on out of memory
     * (the caller frees list, which still holds what was appended). */
    struct curl_slist *(*request_headers)(const char *api_key,
                                          struct curl_slist *list);

    /* The provider's default body fields, after "model" and "messages".
     * NULL: none. */
    int (*chat_init)(json_t *body);
    /* Sets (replaces) the system prompt. Required. */
    int (*set_system)(json_t *body, const char *text);
    /* Adds a message with role. NULL: plm__chat_append_message. */
    int (*add_message)(json_t *body, const char *role, const char *content);
    /* JSON-response mode turned on or off. NULL: nothing in the body. */
    int (*set_json_response)(json_t *body, int on);
    /* Streaming turned on or off, after the shared "stream" field was set
     * or removed. NULL: nothing more. */
    int (*set_stream)(json_t *body, int on);
    /* Serializes a chat body (compact), its length in *len_out;
     * json_response is the mode the caller asked for. Must leave body as
     * it found it. NULL: plm__json_write_compact(body) (json_write.h).
     * Returns NULL on out of memory. */
    char *(*serialize)(json_t *body, int json_response, size_t *len_out);
    /* Prompt bytes the serialization adds that are not in the body (for
     * the token estimate). NULL: none. */
    int64_t (*estimate_extra_bytes)(int json_response);

    /* The 2xx JSON parser. Returns PLM_OK, or sets an error in res
     * (code, class, message) and returns it. Required. */
    int (*parse_json)(const char *path, const char *body, size_t len,
                      plm_result *res);
    /* A 2xx SSE body is read as it arrives (src/proto/sse.c,
     * plm__sse_stream): sse_event is called once per event with the
     * stream's struct plm__sse_state as ctx, sse_finish turns what the
     * events gathered into the endpoint's non-streamed object (NULL:
     * the state's answer as it is), sse_what names the stream in
     * messages ("OpenAI stream"). sse_event and sse_what required. */
    int (*sse_event)(const char *event, const char *data, size_t data_len,
                     void *ctx);
    json_t *(*sse_finish)(struct plm__sse_state *st);
    const char *sse_what;
    /* Fills error_message/type/code from an error answer's "error"
     * object. NULL: plm__error_fields. */
    void (*error_fields)(plm_result *res, const json_t *error);
} plm__provider_ops;

/* The ops objects, each defined in its providers/<name>.c. */
#define PLM__PROVIDER_DECLARE(id, ops) extern const plm__provider_ops ops;
PLM__PROVIDER_LIST(PLM__PROVIDER_DECLARE)

/* The provider's operations, or NULL for a value that names none. */
const plm__provider_ops *plm__provider_get(plm_provider provider);

/* Appends the auth and protocol headers (Content-Type, Expect, then the
 * provider's own: auth, version) to list. The key goes only into this
 * list, never into a message; a key with a control byte is not sent.
 * Returns the new list, or NULL on out of memory or an unknown provider
 * (list freed). */
struct curl_slist *plm__provider_headers(plm_provider provider,
                                         const char *api_key,
                                         struct curl_slist *list);

/*
 * Reads a completed HTTP answer into res: on 2xx the content, finish
 * reason, usage and request id (JSON or SSE body); otherwise the provider's
 * error message/type/code. Sets res->code/error_class for a 2xx body that
 * does not parse (PLM_EPARSE) and for an error event inside a 2xx stream
 * (PLM_EOVERLOADED / PLM_ERATELIMIT / PLM_ESERVER); for non-2xx it only
 * fills the error fields (the retry module decides the code). An unknown
 * provider is PLM_EINVAL. Does not touch res->body. body is
 * NUL-terminated.
 */
void plm__provider_parse(plm_provider provider, const char *path,
                         int http_status, const plm__headers *headers,
                         const char *body, size_t len, plm_result *res);

/*
 * A 2xx answer read as it arrives. plm__provider_sniff_sse says whether
 * an answer with these headers and first body bytes is a server-sent
 * event stream: 1 yes, 0 no, -1 not yet known (fewer bytes than "event:"
 * and what there is could start it; ask again with more). open starts
 * reading one into res (NULL on out of memory or an unknown provider);
 * feed gives it the next bytes (PLM_OK or PLM_ENOMEM); close settles res
 * as plm__provider_parse does for the whole body (status, request id,
 * content, assembled answer, or the stream's error; body, the whole
 * answer, is only quoted in a message) and frees the stream; free drops
 * it unsettled (what the events already wrote into res stays there: the
 * caller clears res). plm__provider_parse on an SSE body is open, one
 * feed, close.
 */
typedef struct plm__sse_stream plm__provider_stream;

/* A streamed answer's pieces, handed on as each event is parsed. The
 * providers fill d but for index and elapsed_ns, which are the sink's.
 * Returns 0 to go on, non-zero to stop reading the stream. */
typedef int (*plm__delta_sink)(plm_delta *d, void *ctx);
/* Sends s's pieces to fn from now on; stopped says whether fn asked to
 * stop (the stream then ignores what it is fed). */
void plm__provider_stream_set_delta(plm__provider_stream *s, plm__delta_sink fn,
                                    void *ctx);
int plm__provider_stream_stopped(const plm__provider_stream *s);
int plm__provider_sniff_sse(const plm__headers *h, const char *body,
                            size_t len);
plm__provider_stream *plm__provider_stream_open(plm_provider provider,
                                                plm_result *res);
int plm__provider_stream_feed(plm__provider_stream *s, const char *bytes,
                              size_t n);
void plm__provider_stream_close(plm__provider_stream *s, int http_status,
                                const plm__headers *headers, const char *body,
                                size_t len);
void plm__provider_stream_free(plm__provider_stream *s);

/* As plm__provider_headers, with the key in the header named key_header
 * ("api-key: KEY") instead of the provider's own auth header; NULL
 * key_header: the provider's own. The provider's other headers (a version)
 * are sent either way. */
struct curl_slist *plm__provider_headers_keyed(plm_provider provider,
                                               const char *api_key,
                                               const char *key_header,
                                               struct curl_slist *list);

/* The endpoint's identity, for limits and messages: "https://host/v1/" ->
 * "https://host" (trailing slashes and one trailing "/v1" stripped), so
 * every spelling of one server names the same endpoint. Not the URL that
 * requests go to (plm__urlbase). Returns a malloc'd string or NULL. */
char *plm__base_url_normalize(const char *url);

/*
 * Where a provider's requests go, as the official SDKs read a base URL:
 * a bare "scheme://host[:port]" (no path, or only "/") means
 * "scheme://host[:port]/v1"; any other base is taken as given, trailing
 * slashes trimmed ("https://generativelanguage.googleapis.com/v1beta/
 * openai", "https://openrouter.ai/api/v1"). A request path's leading "/v1"
 * is replaced by that base: "/v1/chat/completions" on ".../v1beta/openai"
 * is ".../v1beta/openai/chat/completions". A path not under "/v1" is
 * absolute on the server (the base's scheme://host[:port] + path).
 */
typedef struct plm__urlbase {
    char *base;           /* trimmed, no query: "https://api.openai.com/v1" */
    size_t origin_len;    /* bytes of base that are scheme://host[:port] */
    char *query;          /* for every request, without '?'; NULL: none */
    int deployment_paths; /* see plm__provider_ops.deployment_paths */
    int base_has_deployment; /* base already names a /deployments/ path */
} plm__urlbase;

/* Reads base_url (a query in it is kept for every request, before query,
 * the option's, which may start with '?'). PLM_OK or PLM_ENOMEM (ep then
 * cleared). */
int plm__urlbase_init(plm__urlbase *ep, const char *base_url, const char *query,
                      int deployment_paths);
void plm__urlbase_clear(plm__urlbase *ep);

/* The URL of one request: the base (see plm__urlbase), the path with its
 * "/v1" replaced, "/deployments/{model}" inserted for a POST to one of the
 * provider's deployment paths when ep asks for it (model percent-encoded;
 * not when the base already names a deployment), then the path's own
 * query, the base's and ep's, joined by '&'. malloc'd, or NULL on out of
 * memory or an unknown provider. */
char *plm__urlbase_url(const plm__urlbase *ep, plm_provider provider,
                       const char *method, const char *path, const char *model);

/* ---- helpers for the providers' operations ---- */

/* Appends the header line "prefix key", wiping its temporary copy.
 * Returns the list or NULL on out of memory (list left as it was). */
struct curl_slist *plm__header_append_secret(struct curl_slist *list,
                                             const char *prefix,
                                             const char *key);

/* Appends {"role": role, "content": content} to the body's "messages"
 * (the shared add_message); both are UTF-8 the caller has checked.
 * PLM_OK or PLM_ENOMEM. */
int plm__chat_append_message(json_t *body, const char *role,
                             const char *content);

#endif
