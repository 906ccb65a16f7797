/*
 * Helpers shared by the providers' answer parsers (providers/<name>.c)
 * and the dispatcher in provider.c: a growable text buffer, an SSE event
 * splitter, and the common ways of filling a result. Internal to the
 * provider modules.
 */
#ifndef PLM_PROVIDER_PARSE_H
#define PLM_PROVIDER_PARSE_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "provider.h"
#include "result.h"

/* Cap on an error message copied from a provider's answer. */
#define PLM_ERROR_MESSAGE_MAX 1024

/*
 * Calls fn once per SSE event in body (event name or "" and the joined
 * data lines). Stops at the first non-zero return of fn and returns it;
 * returns 0 after the last event, PLM_ENOMEM on out of memory.
 */
typedef int (*plm__sse_fn)(const char *event, const char *data, size_t data_len,
                           void *ctx);
int plm__sse_each(const char *body, size_t len, plm__sse_fn fn, void *ctx);

/*
 * The incremental splitter behind plm__sse_each: bytes are fed as they
 * arrive, split anywhere (inside a line, between "\r" and "\n"), and fn
 * is called as soon as an event's blank line is read. It holds the line
 * a chunk boundary cut (until its "\n") and the data of the event being
 * read, never more than the bytes fed (which the transport caps). feed
 * and finish return 0, or the first non-zero return of fn or PLM_ENOMEM;
 * after that the reader ignores what it is fed and keeps returning it.
 * finish reads a last line without "\n" and dispatches a pending event.
 */
typedef struct plm__sse_reader {
    plm__buf line; /* a line cut by a chunk boundary */
    plm__buf data; /* the pending event's data lines, joined */
    char event[64];
    int have_data;
    int rc; /* sticky: what stopped the reader */
    plm__sse_fn fn;
    void *ctx;
} plm__sse_reader;
void plm__sse_reader_init(plm__sse_reader *r, plm__sse_fn fn, void *ctx);
int plm__sse_reader_feed(plm__sse_reader *r, const char *bytes, size_t n);
int plm__sse_reader_finish(plm__sse_reader *r);
void plm__sse_reader_free(plm__sse_reader *r);

/* What a stream parser's event callback gathers. */
typedef struct plm__sse_state {
    plm_result *res;
    plm__buf content; /* the text deltas, joined */
    int any_content;
    int ended;  /* the stream's own end marker was seen */
    int failed; /* an error event set res's code */
    /* The answer being assembled in the shape the endpoint returns
     * without streaming (owned; NULL until the stream starts one), and
     * which endpoint's shape it is (the provider's own values). */
    json_t *answer;
    int kind;
    /* Where the stream's pieces go as they are parsed (NULL: nowhere),
     * and whether it asked to stop reading. */
    plm__delta_sink delta;
    void *delta_ctx;
    int stopped;
} plm__sse_state;

/*
 * The providers' event callbacks hand each piece of the answer on with
 * these, after the event was taken into the state. Each returns 0, or 1
 * when the sink asked to stop (st->stopped is then set, and the event
 * callback returns 1 at once). plm__sse_text_delta skips a value that is
 * not a string or is empty; plm__sse_tool_delta skips a fragment with no
 * id, no name and no argument text. id, name and args are JSON strings
 * or NULL (a name or id "" counts as none).
 */
int plm__sse_delta(plm__sse_state *st, plm_delta *d);
int plm__sse_text_delta(plm__sse_state *st, plm_delta_kind kind, int choice,
                        const json_t *text);
int plm__sse_tool_delta(plm__sse_state *st, int choice, int tool_index,
                        const json_t *id, const json_t *name,
                        const json_t *args);

/*
 * Turns st->answer, after the whole stream was read, into the endpoint's
 * non-streamed object (a new reference). NULL with res's code set when
 * the stream's pieces do not make one (out of memory, a tool input that
 * is not JSON); NULL with res untouched when there is nothing to
 * assemble.
 */
typedef json_t *(*plm__sse_finish_fn)(plm__sse_state *st);

/*
 * One streamed answer read as it arrives: open with the provider's event
 * callback (called with the stream's plm__sse_state as ctx), its finish
 * function and the stream's name for messages ("OpenAI stream"); feed
 * each chunk (PLM_OK, or PLM_ENOMEM; an event that stops the stream, its
 * end marker or an error, makes later bytes ignored); close settles res:
 * out of memory, the error an event reported, a stream cut short
 * (PLM_EPARSE; body, the whole answer, quoted in the message), or the
 * joined text as the content and, through finish (NULL: st.answer as it
 * is), the assembled answer as res->assembled. close returns the
 * resulting code and frees what the stream held; drop frees it without
 * settling (an attempt that failed). Events write into res while they are
 * read (finish reason, usage, an error event's fields).
 */
typedef struct plm__sse_stream {
    plm__sse_reader rd;
    plm__sse_state st;
    plm__sse_fn fn;
    plm__sse_finish_fn finish;
    const char *what;
    int64_t events;             /* dispatched so far */
    int64_t events_before_last; /* dispatched before the last feed */
} plm__sse_stream;
void plm__sse_stream_open(plm__sse_stream *s, plm__sse_fn fn,
                          plm__sse_finish_fn finish, const char *what,
                          plm_result *res);
int plm__sse_stream_feed(plm__sse_stream *s, const char *bytes, size_t n);
int plm__sse_stream_close(plm__sse_stream *s, const char *body, size_t len);
void plm__sse_stream_drop(plm__sse_stream *s);

/* The whole body at once: open, one feed, close. */
int plm__sse_collect(const char *body, size_t len, plm__sse_fn fn,
                     plm__sse_finish_fn finish, plm_result *res,
                     const char *what);

/*
 * Text that arrives in pieces, kept as a JSON array of the pieces under
 * obj[key] while the stream is read (appending to a JSON string would
 * copy it whole for every delta), then joined into one string.
 * plm__pieces_add appends piece (a JSON string; others are ignored),
 * first turning a string already at obj[key] into the array's first
 * piece and replacing any other value. plm__pieces_join replaces such an
 * array with the joined string and leaves other values alone. Both return
 * PLM_OK or PLM_ENOMEM.
 */
int plm__pieces_add(json_t *obj, const char *key, const json_t *piece);
int plm__pieces_join(json_t *obj, const char *key);

/* The element of array whose integer member "index" is idx, or NULL. */
json_t *plm__json_find_index(const json_t *array, json_int_t idx);

/* Copies a JSON string value into *dst (leaves *dst alone otherwise). */
void plm__json_take_string(char **dst, const json_t *v);
/* Stores a non-negative JSON integer into *dst (leaves it otherwise). */
void plm__json_take_tokens(int64_t *dst, const json_t *v);

/* Copies msg into res->error_message: at most PLM_ERROR_MESSAGE_MAX bytes,
 * not cutting a UTF-8 sequence, keys scrubbed. */
void plm__take_message(plm_result *res, const char *msg);

/* Marks res as PLM_EPARSE with reason and a sanitized excerpt of body. */
void plm__parse_fail(plm_result *res, const char *what, const char *reason,
                     const char *body, size_t len);

/* Fills error_message/type/code from a provider's error object ({"message",
 * "type", "code"}); the message is truncated and scrubbed. */
void plm__error_fields(plm_result *res, const json_t *error);

/* An error reported inside a 2xx stream: sets code and class from the
 * error's type (overloaded, rate limit, otherwise server error). */
void plm__stream_error(plm_result *res, const json_t *error);

/* Path equality ignoring a query string. */
int plm__path_is(const char *path, const char *want);

#endif
