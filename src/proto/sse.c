/*
 * Server-sent events: splitting a stream's body into events, and settling
 * a result once a provider's event callback has read them all.
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

int plm__sse_collect(const char *body, size_t len, plm__sse_fn fn,
                     plm_result *res, const char *what)
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
    rc = PLM_OK;
out:
    plm__buf_free(&st.content);
    return rc;
}
