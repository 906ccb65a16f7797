/*
 * Carries out the mock's decided answers on evhttp: JSON bodies, provider
 * error bodies, SSE streams as chunked replies, and the faults (reset,
 * bad JSON, a big body sent chunk by chunk as the socket drains, a slow
 * body dribbled by timers). Runs on the loop thread only.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mock_internal.h"

#define BIG_DEFAULT (INT64_C(64) * 1024 * 1024)
#define BIG_CHUNK (64 * 1024)
#define BIG_PREFIX "{\"id\":\"mock-big\",\"object\":\"padding\",\"data\":\""
#define SLOW_PIECES 10

static void add_common_headers(plm__mock_req *r, struct evkeyvalq *h)
{
    char id[48];

    snprintf(id, sizeof id, "req_mock_%" PRIu64, r->seq);
    evhttp_add_header(h, r->anthropic ? "request-id" : "x-request-id", id);
    if (r->limit_headers)
        plm__mock_limits_headers(&r->m->limits, &r->limit, r->anthropic, h);
    if (r->fault_applied) {
        if (r->dir.retry_after[0])
            evhttp_add_header(h, "Retry-After", r->dir.retry_after);
        if (r->dir.retry_after_ms[0])
            evhttp_add_header(h, "retry-after-ms", r->dir.retry_after_ms);
        if (r->dir.should_retry >= 0)
            evhttp_add_header(h, "x-should-retry",
                              r->dir.should_retry ? "true" : "false");
    }
}

static void send_text(plm__mock_req *r, int status, const char *ctype,
                      const char *text)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    struct evbuffer *b = evbuffer_new();

    plm__mock_clear_closecb(r);
    evhttp_add_header(h, "Content-Type", ctype);
    add_common_headers(r, h);
    if (b != NULL && text != NULL)
        evbuffer_add(b, text, strlen(text));
    plm__mock_book(r, status, 0);
    evhttp_send_reply(r->req, status, NULL, b);
    if (b != NULL)
        evbuffer_free(b);
    r->req = NULL;
    plm__mock_finish(r, status, 0);
}

static void answer_error(plm__mock_req *r)
{
    char *body = plm__mock_error_body(r->anthropic, r->status, r->message,
                                      r->dir.error_code,
                                      r->m->opts.simulated_marker);

    send_text(r, r->status, "application/json",
              body ? body : "{\"error\":{\"message\":\"mock\"}}");
    free(body);
}

static void emit_chunk(void *arg, const char *event, const char *data)
{
    struct evbuffer *b = arg;

    if (event != NULL)
        evbuffer_add_printf(b, "event: %s\n", event);
    evbuffer_add_printf(b, "data: %s\n\n", data);
}

static void emit_send(void *arg, const char *event, const char *data)
{
    plm__mock_req *r = arg;
    struct evbuffer *b = evbuffer_new();

    if (b == NULL)
        return;
    emit_chunk(b, event, data);
    evhttp_send_reply_chunk(r->req, b);
    evbuffer_free(b);
}

/* Ends a chunked 200 answer whose last chunk went out: the request is
 * counted and done, and a later close of its connection is not a reset. */
static void end_chunked_ok(plm__mock_req *r)
{
    plm__mock_clear_closecb(r);
    plm__mock_book(r, 200, 0);
    evhttp_send_reply_end(r->req);
    r->req = NULL;
    plm__mock_finish(r, 200, 0);
}

static void answer_stream(plm__mock_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    plm__mock_clear_closecb(r);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    add_common_headers(r, h);
    evhttp_send_reply_start(r->req, 200, "OK");
    plm__mock_reply_sse(r->ep, &r->parsed, r->seq, r->completion_tokens,
                        r->m->opts.simulated_marker, emit_send, r);
    end_chunked_ok(r);
}

/* The endpoints that answer "stream": true with server-sent events. */
static int streams(plm__mock_endpoint ep)
{
    return ep == PLM__MOCK_EP_CHAT || ep == PLM__MOCK_EP_COMPLETIONS ||
           ep == PLM__MOCK_EP_MESSAGES || ep == PLM__MOCK_EP_RESPONSES;
}

static void answer_reply(plm__mock_req *r)
{
    char *body;

    if (r->parsed.stream && streams(r->ep)) {
        answer_stream(r);
        return;
    }
    body = plm__mock_reply_body(r->ep, &r->parsed, r->seq, r->completion_tokens,
                                r->m->opts.simulated_marker);
    if (body == NULL) {
        r->status = 500;
        snprintf(r->message, sizeof r->message, "mock: out of memory");
        answer_error(r);
        return;
    }
    send_text(r, r->status >= 200 && r->status < 300 ? r->status : 200,
              "application/json", body);
    free(body);
}

/* Closes the connection without an answer; SO_LINGER 0 makes it a real
 * reset (RST) rather than an orderly end of stream. */
void plm__mock_answer_reset(plm__mock_req *r)
{
    struct evhttp_connection *c = evhttp_request_get_connection(r->req);

    if (c != NULL) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c);
        evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
        struct linger lg = { 1, 0 };

        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        evhttp_connection_set_closecb(c, NULL, NULL);
        plm__mock_book(r, 0, 1);
        evhttp_connection_free(c);
    } else {
        evhttp_request_free(r->req);
    }
    r->req = NULL;
    plm__mock_finish(r, 0, 1);
}

static void big_next(struct evhttp_connection *c, void *arg);

static void big_fill(plm__mock_req *r, char *buf, size_t n)
{
    size_t plen = sizeof(BIG_PREFIX) - 1;

    for (size_t i = 0; i < n; i++) {
        int64_t at = r->big_sent + (int64_t)i;

        if (at < (int64_t)plen && r->big_size >= (int64_t)plen + 2)
            buf[i] = BIG_PREFIX[at];
        else if (at == r->big_size - 2 && r->big_size >= (int64_t)plen + 2)
            buf[i] = '"';
        else if (at == r->big_size - 1 && r->big_size >= (int64_t)plen + 2)
            buf[i] = '}';
        else
            buf[i] = 'x';
    }
}

/* Sends the next chunk once the previous one left, so at most one chunk
 * of the body is ever in memory. */
static void big_next(struct evhttp_connection *c, void *arg)
{
    plm__mock_req *r = arg;
    struct evbuffer *b;
    char *space;
    size_t n;
    struct evbuffer_iovec v;

    (void)c;
    if (r->big_sent >= r->big_size) {
        end_chunked_ok(r);
        return;
    }
    n = (size_t)(r->big_size - r->big_sent);
    if (n > BIG_CHUNK)
        n = BIG_CHUNK;
    b = evbuffer_new();
    if (b == NULL || evbuffer_reserve_space(b, (ev_ssize_t)n, &v, 1) < 1) {
        if (b != NULL)
            evbuffer_free(b);
        plm__mock_answer_reset(r);
        return;
    }
    space = v.iov_base;
    big_fill(r, space, n);
    v.iov_len = n;
    evbuffer_commit_space(b, &v, 1);
    r->big_sent += (int64_t)n;
    evhttp_send_reply_chunk_with_cb(r->req, b, big_next, r);
    evbuffer_free(b);
}

static void answer_big(plm__mock_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    r->big_size = r->dir.size >= 0 ? r->dir.size : BIG_DEFAULT;
    evhttp_add_header(h, "Content-Type", "application/json");
    add_common_headers(r, h);
    evhttp_send_reply_start(r->req, 200, "OK");
    big_next(NULL, r);
}

static void slow_next(evutil_socket_t fd, short what, void *arg)
{
    plm__mock_req *r = arg;
    struct evbuffer *b = evbuffer_new();
    struct timeval tv;

    (void)fd;
    (void)what;
    if (b != NULL) {
        evbuffer_remove_buffer(r->slow, b, r->slow_piece);
        evhttp_send_reply_chunk(r->req, b);
        evbuffer_free(b);
    }
    if (evbuffer_get_length(r->slow) == 0 || b == NULL) {
        end_chunked_ok(r);
        return;
    }
    tv.tv_sec = r->slow_step_ms / 1000;
    tv.tv_usec = (r->slow_step_ms % 1000) * 1000;
    evtimer_add(r->timer, &tv);
}

/* Dribbles a normal answer over the latency in SLOW_PIECES pieces. */
static void answer_slow(plm__mock_req *r, int64_t latency_ms)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    int sse = r->parsed.stream && streams(r->ep);
    char *body = NULL;
    size_t len;

    r->slow = evbuffer_new();
    if (r->slow == NULL)
        goto fail;
    if (sse) {
        if (plm__mock_reply_sse(r->ep, &r->parsed, r->seq, r->completion_tokens,
                                r->m->opts.simulated_marker, emit_chunk,
                                r->slow) != 0)
            goto fail;
    } else {
        body = plm__mock_reply_body(r->ep, &r->parsed, r->seq,
                                    r->completion_tokens,
                                    r->m->opts.simulated_marker);
        if (body == NULL)
            goto fail;
        evbuffer_add(r->slow, body, strlen(body));
        free(body);
    }
    len = evbuffer_get_length(r->slow);
    r->slow_piece = (len + SLOW_PIECES - 1) / SLOW_PIECES;
    if (r->slow_piece == 0)
        r->slow_piece = 1;
    r->slow_step_ms = latency_ms / SLOW_PIECES;
    if (r->timer == NULL)
        r->timer = evtimer_new(r->m->base, slow_next, r);
    else
        event_assign(r->timer, r->m->base, -1, 0, slow_next, r);
    if (r->timer == NULL)
        goto fail;
    evhttp_add_header(h, "Content-Type",
                      sse ? "text/event-stream" : "application/json");
    add_common_headers(r, h);
    evhttp_send_reply_start(r->req, 200, "OK");
    slow_next(-1, 0, r);
    return;
fail:
    r->status = 500;
    snprintf(r->message, sizeof r->message, "mock: out of memory");
    answer_error(r);
}

static int nonempty(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

/* Whether a stream event carries a piece of the answer: OpenAI chat or
 * completion text, a tool call delta, an Anthropic text or tool input
 * delta or tool_use block start, a Responses API delta. */
static int carries_piece(const char *data)
{
    json_t *o = json_loads(data, 0, NULL);
    const json_t *choice = json_array_get(json_object_get(o, "choices"), 0);
    const json_t *cdelta = json_object_get(choice, "delta");
    const json_t *delta = json_object_get(o, "delta");
    const json_t *block = json_object_get(o, "content_block");
    const char *btype = json_string_value(json_object_get(block, "type"));
    int yes;

    yes = nonempty(json_object_get(cdelta, "content")) ||
          nonempty(json_object_get(choice, "text")) ||
          json_array_size(json_object_get(cdelta, "tool_calls")) > 0 ||
          nonempty(delta) || nonempty(json_object_get(delta, "text")) ||
          nonempty(json_object_get(delta, "partial_json")) ||
          (btype && strcmp(btype, "tool_use") == 0);
    json_decref(o);
    return yes;
}

/* Collects a paced stream's events, ending a chunk after each one that
 * carries a piece. */
static void emit_paced(void *arg, const char *event, const char *data)
{
    plm__mock_req *r = arg;

    emit_chunk(r->slow, event, data);
    r->pace_bytes = evbuffer_get_length(r->slow);
    if (!carries_piece(data))
        return;
    if (r->pace_chunks == r->pace_cap) {
        int cap = r->pace_cap ? r->pace_cap * 2 : 64;
        size_t *p = realloc(r->pace_ends, (size_t)cap * sizeof *p);

        if (p == NULL)
            return; /* the piece joins the next chunk */
        r->pace_ends = p;
        r->pace_cap = cap;
    }
    r->pace_ends[r->pace_chunks++] = r->pace_bytes;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The first chunk reached the socket (evhttp's output buffer drained):
 * its wall time replaces the one taken when it was handed over, which
 * a loop busy with other requests may have written much later. */
static void first_chunk_written(struct evhttp_connection *c, void *arg)
{
    plm__mock_req *r = arg;

    (void)c;
    r->first_chunk_realtime_ns = realtime_ns();
}

/* Sends a paced stream's next chunk; the last one ends the reply. */
static void paced_next(evutil_socket_t fd, short what, void *arg)
{
    plm__mock_req *r = arg;
    struct evbuffer *b = evbuffer_new();
    int last = r->pace_sent + 1 >= r->pace_chunks;
    size_t end = last ? r->pace_bytes : r->pace_ends[r->pace_sent];
    struct timeval tv;

    (void)fd;
    (void)what;
    if (b != NULL) {
        evbuffer_remove_buffer(r->slow, b, end - r->pace_taken);
        r->pace_taken = end;
        r->pace_sent++;
        if (r->pace_sent == 1 && !last) {
            r->first_chunk_realtime_ns = realtime_ns();
            evhttp_send_reply_chunk_with_cb(r->req, b, first_chunk_written, r);
        } else {
            if (r->pace_sent == 1)
                r->first_chunk_realtime_ns = realtime_ns();
            evhttp_send_reply_chunk(r->req, b);
        }
        evbuffer_free(b);
    }
    if (last || b == NULL) {
        end_chunked_ok(r);
        return;
    }
    tv.tv_sec = r->dir.interval_ms / 1000;
    tv.tv_usec = (r->dir.interval_ms % 1000) * 1000;
    evtimer_add(r->timer, &tv);
}

/* A stream sent in chunks interval= apart (see mock.h). */
static void answer_paced(plm__mock_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    if (!streams(r->ep)) {
        answer_reply(r);
        return;
    }
    r->slow = evbuffer_new();
    if (r->slow == NULL ||
        plm__mock_reply_sse(r->ep, &r->parsed, r->seq, r->completion_tokens,
                            r->m->opts.simulated_marker, emit_paced, r) != 0) {
        r->status = 500;
        snprintf(r->message, sizeof r->message, "mock: out of memory");
        answer_error(r);
        return;
    }
    /* The closing events (after the last piece) are one more chunk. */
    if (r->pace_chunks == 0 || r->pace_ends[r->pace_chunks - 1] < r->pace_bytes)
        r->pace_chunks++;
    if (r->timer == NULL)
        r->timer = evtimer_new(r->m->base, paced_next, r);
    else
        event_assign(r->timer, r->m->base, -1, 0, paced_next, r);
    if (r->timer == NULL) {
        r->status = 500;
        snprintf(r->message, sizeof r->message, "mock: out of memory");
        answer_error(r);
        return;
    }
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    add_common_headers(r, h);
    evhttp_send_reply_start(r->req, 200, "OK");
    paced_next(-1, 0, r);
}

/* A 200 whose JSON (or event stream) stops halfway, as from a connection
 * cut by a proxy after the headers: the length is right, the content is
 * not whole. */
static void answer_cut(plm__mock_req *r)
{
    struct evbuffer *events = NULL;
    int sse = r->parsed.stream && streams(r->ep);
    char *body = NULL;
    size_t len;

    if (sse) {
        events = evbuffer_new();
        if (events != NULL &&
            plm__mock_reply_sse(r->ep, &r->parsed, r->seq, r->completion_tokens,
                                r->m->opts.simulated_marker, emit_chunk,
                                events) == 0) {
            len = evbuffer_get_length(events);
            body = malloc(len + 1);
            if (body != NULL) {
                evbuffer_remove(events, body, len);
                body[len] = '\0';
            }
        }
        if (events != NULL)
            evbuffer_free(events);
    } else {
        body = plm__mock_reply_body(r->ep, &r->parsed, r->seq,
                                    r->completion_tokens,
                                    r->m->opts.simulated_marker);
    }
    if (body != NULL)
        body[strlen(body) / 2] = '\0';
    send_text(r, 200, sse ? "text/event-stream" : "application/json",
              body ? body : "{\"id\": ");
    free(body);
}

void plm__mock_perform(plm__mock_req *r, int64_t latency_ms)
{
    switch (r->act) {
    case PLM__MOCK_ACT_REPLY: answer_reply(r); break;
    case PLM__MOCK_ACT_ERROR: answer_error(r); break;
    case PLM__MOCK_ACT_RESET: plm__mock_answer_reset(r); break;
    case PLM__MOCK_ACT_BADJSON:
        send_text(r, 200, "application/json",
                  "{\"id\": \"mock-badjson\", \"choices\": [{\"message\": ");
        break;
    case PLM__MOCK_ACT_BIG: answer_big(r); break;
    case PLM__MOCK_ACT_SLOW: answer_slow(r, latency_ms); break;
    case PLM__MOCK_ACT_CUT: answer_cut(r); break;
    case PLM__MOCK_ACT_PACED: answer_paced(r); break;
    case PLM__MOCK_ACT_HANG: break;
    }
}
