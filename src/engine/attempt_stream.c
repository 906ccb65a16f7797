/*
 * One attempt's streamed answer, parsed as it arrives (see
 * attempt_stream.h).
 */
#include "attempt_stream.h"

void plm__attempt_stream_init(plm__attempt_stream *as)
{
    as->s = NULL;
    as->decided = 0;
}

/* Decides, from the status, the headers and the first bytes, whether this
 * answer is read as a stream; opens the reader on everything so far. */
static int decide(plm__attempt_stream *as, plm_provider provider, plm__xfer *x,
                  plm_result *res)
{
    int status = plm__xfer_response_code(x), sse;

    if (status < 200 || status > 299) {
        as->decided = 1;
        return 0;
    }
    sse = plm__provider_sniff_sse(&x->headers, x->body, x->body_len);
    if (sse < 0)
        return 0; /* too few bytes to tell: wait for more */
    as->decided = 1;
    if (sse == 0)
        return 0;
    as->s = plm__provider_stream_open(provider, res);
    if (!as->s)
        return PLM_ENOMEM;
    return plm__provider_stream_feed(as->s, x->body, x->body_len);
}

int plm__attempt_stream_data(plm__attempt_stream *as, plm_provider provider,
                             plm__xfer *x, plm_result *res, const char *data,
                             size_t n)
{
    if (as->s)
        return plm__provider_stream_feed(as->s, data, n);
    if (as->decided)
        return 0;
    return decide(as, provider, x, res);
}

int plm__attempt_stream_settle(plm__attempt_stream *as, plm__xfer *x,
                               plm_result *res)
{
    plm__provider_stream *s = as->s;

    if (!s)
        return 0;
    as->s = NULL;
    plm__provider_stream_close(s, x->http_status, &x->headers, res->body,
                               res->body_len);
    return 1;
}

void plm__attempt_stream_drop(plm__attempt_stream *as, plm_result *res)
{
    if (as->s) {
        plm__provider_stream_free(as->s);
        as->s = NULL;
        if (res)
            plm__result_reset_attempt(res);
    }
    as->decided = 0;
}
