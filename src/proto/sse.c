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

int plm__sse_each(const char *body, size_t len, plm__sse_fn fn, void *ctx)
{
    plm__buf data = { 0 };
    char event[64] = "";
    int have_data = 0, rc = 0;
    size_t pos = 0;

    while (pos < len || have_data) {
        const char *line = body + pos, *nl, *colon, *value;
        size_t line_len, name_len, value_len;

        if (pos >= len) {
            line_len = 0; /* end of body dispatches a pending event */
        } else {
            nl = memchr(line, '\n', len - pos);
            line_len = nl ? (size_t)(nl - line) : len - pos;
            pos += line_len + (nl ? 1 : 0);
            if (line_len && line[line_len - 1] == '\r')
                line_len--;
        }
        if (line_len == 0) {
            /* An event whose data is empty ("data:" alone, as some
             * servers send to keep a connection alive) carries nothing:
             * no provider's stream has an empty chunk, and taking it for
             * one failed the whole answer as invalid JSON. */
            if (have_data && data.len > 0) {
                rc = fn(event, data.data ? data.data : "", data.len, ctx);
                if (rc)
                    goto out;
            }
            have_data = 0;
            data.len = 0;
            event[0] = '\0';
            continue;
        }
        if (line[0] == ':')
            continue; /* comment (keep-alive) */
        colon = memchr(line, ':', line_len);
        name_len = colon ? (size_t)(colon - line) : line_len;
        value = colon ? colon + 1 : line + line_len;
        if (value < line + line_len && *value == ' ')
            value++;
        value_len = (size_t)(line + line_len - value);
        if (name_len == 4 && memcmp(line, "data", 4) == 0) {
            if ((have_data && plm__buf_append(&data, "\n", 1)) ||
                plm__buf_append(&data, value, value_len)) {
                rc = PLM_ENOMEM;
                goto out;
            }
            have_data = 1;
        } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
            size_t n = value_len < sizeof event - 1 ? value_len
                                                    : sizeof event - 1;

            memcpy(event, value, n);
            event[n] = '\0';
        }
    }
out:
    plm__buf_free(&data);
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

int plm__sse_collect(const char *body, size_t len, plm__sse_fn fn,
                     plm__sse_finish_fn finish, plm_result *res,
                     const char *what)
{
    plm__sse_state st = { 0 };
    int rc;

    st.res = res;
    rc = plm__sse_each(body, len, fn, &st);
    if (rc == PLM_ENOMEM) {
        plm__result_set_error(res, PLM_ENOMEM, PLM_CLASS_LOCAL,
                              "out of memory reading the stream");
        goto out;
    }
    if (st.failed) {
        rc = res->code;
        goto out;
    }
    /* A stream that stopped before its end marker and before any finish
     * reason was cut short: its text is incomplete. */
    if (!st.ended && !res->finish_reason) {
        plm__parse_fail(res, what, "stream ended early", body, len);
        rc = PLM_EPARSE;
        goto out;
    }
    if (st.any_content) {
        free(res->content);
        res->content = st.content.data;
        st.content.data = NULL;
    }
    rc = take_assembled(&st, finish);
out:
    plm__buf_free(&st.content);
    json_decref(st.answer);
    return rc;
}
