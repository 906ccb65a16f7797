/*
 * Server-sent events: splitting a stream's body into events, settling a
 * result once a provider's event callback has read them all, and the
 * pieces helpers with which the providers assemble a streamed answer into
 * the object the endpoint returns without streaming.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "provider_parse.h"

/* One complete line (without its '\n'; a trailing '\r' is dropped
 * here). An empty line dispatches the pending event. */
static int reader_line(plm__sse_reader *r, const char *line, size_t line_len)
{
    const char *colon, *value;
    size_t name_len, value_len;

    if (line_len && line[line_len - 1] == '\r')
        line_len--;
    if (line_len == 0) {
        int rc = 0;

        /* An event whose data is empty ("data:" alone, as some servers
         * send to keep a connection alive) carries nothing: no
         * provider's stream has an empty chunk, and taking it for one
         * failed the whole answer as invalid JSON. */
        if (r->have_data && r->data.len > 0)
            rc = r->fn(r->event, r->data.data, r->data.len, r->ctx);
        r->have_data = 0;
        r->data.len = 0;
        r->event[0] = '\0';
        return rc;
    }
    if (line[0] == ':')
        return 0; /* comment (keep-alive) */
    colon = memchr(line, ':', line_len);
    name_len = colon ? (size_t)(colon - line) : line_len;
    value = colon ? colon + 1 : line + line_len;
    if (value < line + line_len && *value == ' ')
        value++;
    value_len = (size_t)(line + line_len - value);
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        if ((r->have_data && plm__buf_append(&r->data, "\n", 1)) ||
            plm__buf_append(&r->data, value, value_len))
            return PLM_ENOMEM;
        r->have_data = 1;
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        size_t n = value_len < sizeof r->event - 1 ? value_len
                                                   : sizeof r->event - 1;

        memcpy(r->event, value, n);
        r->event[n] = '\0';
    }
    return 0;
}

void plm__sse_reader_init(plm__sse_reader *r, plm__sse_fn fn, void *ctx)
{
    memset(r, 0, sizeof *r);
    r->fn = fn;
    r->ctx = ctx;
}

void plm__sse_reader_free(plm__sse_reader *r)
{
    plm__buf_free(&r->line);
    plm__buf_free(&r->data);
}

/* Lines are read from the chunk in place; only a line that a chunk
 * boundary splits is copied (into r->line) until its '\n' arrives. */
int plm__sse_reader_feed(plm__sse_reader *r, const char *bytes, size_t n)
{
    size_t pos = 0;

    while (!r->rc && pos < n) {
        const char *line = bytes + pos;
        const char *nl = memchr(line, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - line) : n - pos;

        pos += len + (nl ? 1 : 0);
        if (!nl) {
            if (plm__buf_append(&r->line, line, len))
                r->rc = PLM_ENOMEM;
            break;
        }
        if (r->line.len) {
            if (plm__buf_append(&r->line, line, len)) {
                r->rc = PLM_ENOMEM;
                break;
            }
            r->rc = reader_line(r, r->line.data, r->line.len);
            r->line.len = 0;
        } else {
            r->rc = reader_line(r, line, len);
        }
    }
    return r->rc;
}

int plm__sse_reader_finish(plm__sse_reader *r)
{
    if (!r->rc && r->line.len) {
        r->rc = reader_line(r, r->line.data, r->line.len);
        r->line.len = 0;
    }
    /* The end of the body dispatches a pending event. */
    if (!r->rc && r->have_data)
        r->rc = reader_line(r, "", 0);
    return r->rc;
}

int plm__sse_each(const char *body, size_t len, plm__sse_fn fn, void *ctx)
{
    plm__sse_reader r;
    int rc;

    plm__sse_reader_init(&r, fn, ctx);
    rc = plm__sse_reader_feed(&r, body, len);
    if (!rc)
        rc = plm__sse_reader_finish(&r);
    plm__sse_reader_free(&r);
    return rc;
}

int plm__pieces_add(json_t *obj, const char *key, const json_t *piece)
{
    json_t *arr = json_object_get(obj, key);

    if (!json_is_string(piece))
        return PLM_OK;
    if (!json_is_array(arr)) {
        json_t *fresh = json_array();

        if (!fresh)
            return PLM_ENOMEM;
        if (json_is_string(arr) && json_string_length(arr) > 0 &&
            json_array_append(fresh, arr)) {
            json_decref(fresh);
            return PLM_ENOMEM;
        }
        if (json_object_set_new(obj, key, fresh))
            return PLM_ENOMEM;
        arr = fresh;
    }
    return json_array_append_new(arr, json_incref((json_t *)piece)) ? PLM_ENOMEM
                                                                    : PLM_OK;
}

int plm__pieces_join(json_t *obj, const char *key)
{
    json_t *arr = json_object_get(obj, key), *piece, *joined;
    plm__buf text = { 0 };
    size_t i;

    if (!json_is_array(arr))
        return PLM_OK;
    json_array_foreach(arr, i, piece)
    {
        if (plm__buf_append(&text, json_string_value(piece),
                            json_string_length(piece))) {
            plm__buf_free(&text);
            return PLM_ENOMEM;
        }
    }
    joined = json_stringn(text.data ? text.data : "", text.len);
    plm__buf_free(&text);
    return !joined || json_object_set_new(obj, key, joined) ? PLM_ENOMEM
                                                            : PLM_OK;
}

json_t *plm__json_find_index(const json_t *array, json_int_t idx)
{
    json_t *item, *index;
    size_t i;

    json_array_foreach(array, i, item)
    {
        index = json_object_get(item, "index");
        if (json_is_integer(index) && json_integer_value(index) == idx)
            return item;
    }
    return NULL;
}

int plm__sse_delta(plm__sse_state *st, plm_delta *d)
{
    if (!st->delta || st->stopped)
        return st->stopped;
    if (st->delta(d, st->delta_ctx) != 0)
        st->stopped = 1;
    return st->stopped;
}

int plm__sse_text_delta(plm__sse_state *st, plm_delta_kind kind, int choice,
                        const json_t *text)
{
    plm_delta d;

    if (!st->delta || !json_is_string(text) || json_string_length(text) == 0)
        return 0;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    d.choice = choice;
    d.text = json_string_value(text);
    d.text_len = json_string_length(text);
    return plm__sse_delta(st, &d);
}

/* A JSON string's value, or NULL for anything else and for "". */
static const char *nonempty(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) ? json_string_value(v)
                                                      : NULL;
}

int plm__sse_tool_delta(plm__sse_state *st, int choice, int tool_index,
                        const json_t *id, const json_t *name,
                        const json_t *args)
{
    plm_delta d;

    if (!st->delta)
        return 0;
    memset(&d, 0, sizeof d);
    d.kind = PLM_DELTA_TOOL_CALL;
    d.choice = choice;
    d.tool_index = tool_index;
    d.tool_id = nonempty(id);
    d.tool_name = nonempty(name);
    d.tool_arguments = json_is_string(args) ? json_string_value(args) : "";
    d.tool_arguments_len = json_is_string(args) ? json_string_length(args) : 0;
    if (!d.tool_id && !d.tool_name && d.tool_arguments_len == 0)
        return 0;
    return plm__sse_delta(st, &d);
}

/* Stores the assembled answer as res->assembled (compact JSON text). */
static int take_assembled(plm__sse_state *st, plm__sse_finish_fn finish)
{
    plm_result *res = st->res;
    json_t *obj;
    char *text;

    if (finish) {
        obj = finish(st);
    } else {
        obj = st->answer;
        st->answer = NULL;
    }
    if (!obj)
        return res->code;
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text) {
        plm__result_set_error(res, PLM_ENOMEM, PLM_CLASS_LOCAL,
                              "out of memory assembling the stream");
        return PLM_ENOMEM;
    }
    free(res->assembled);
    res->assembled = text;
    res->assembled_len = strlen(text);
    return PLM_OK;
}

/* The reader's callback: counts the event, then hands it to the
 * provider's. */
static int stream_event(const char *event, const char *data, size_t len,
                        void *ctx)
{
    plm__sse_stream *s = ctx;

    s->events++;
    return s->fn(event, data, len, &s->st);
}

void plm__sse_stream_open(plm__sse_stream *s, plm__sse_fn fn,
                          plm__sse_finish_fn finish, const char *what,
                          plm_result *res)
{
    memset(s, 0, sizeof *s);
    plm__sse_reader_init(&s->rd, stream_event, s);
    s->st.res = res;
    s->fn = fn;
    s->finish = finish;
    s->what = what;
}

int plm__sse_stream_feed(plm__sse_stream *s, const char *bytes, size_t n)
{
    s->events_before_last = s->events;
    return plm__sse_reader_feed(&s->rd, bytes, n) == PLM_ENOMEM ? PLM_ENOMEM
                                                                : PLM_OK;
}

void plm__sse_stream_drop(plm__sse_stream *s)
{
    plm__sse_reader_free(&s->rd);
    plm__buf_free(&s->st.content);
    json_decref(s->st.answer);
    s->st.answer = NULL;
}

int plm__sse_stream_close(plm__sse_stream *s, const char *body, size_t len)
{
    plm__sse_state *st = &s->st;
    plm_result *res = st->res;
    int rc = plm__sse_reader_finish(&s->rd);

    res->stream_events_early = s->events_before_last;
    if (rc == PLM_ENOMEM) {
        plm__result_set_error(res, PLM_ENOMEM, PLM_CLASS_LOCAL,
                              "out of memory reading the stream");
        goto out;
    }
    if (st->failed) {
        rc = res->code;
        goto out;
    }
    /* A stream that stopped before its end marker and before any finish
     * reason was cut short: its text is incomplete. */
    if (!st->ended && !res->finish_reason) {
        plm__parse_fail(res, s->what, "stream ended early", body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    if (st->any_content) {
        free(res->content);
        res->content = st->content.data;
        st->content.data = NULL;
    }
    rc = take_assembled(st, s->finish);
out:
    plm__sse_stream_drop(s);
    return rc;
}

int plm__sse_collect(const char *body, size_t len, plm__sse_fn fn,
                     plm__sse_finish_fn finish, plm_result *res,
                     const char *what)
{
    plm__sse_stream s;

    plm__sse_stream_open(&s, fn, finish, what, res);
    (void)plm__sse_stream_feed(&s, body, len);
    return plm__sse_stream_close(&s, body, len);
}
