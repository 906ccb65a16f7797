/*
 * One attempt's streamed answer, parsed as it arrives, and its deltas
 * (see attempt_stream.h).
 */
#include "attempt_stream.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

void plm__attempt_stream_init(plm__attempt_stream *as)
{
    memset(as, 0, sizeof *as);
    as->first_token_ns = -1;
}

/* The provider's delta sink: numbers the piece, times it, keeps choice
 * 0's text for a failure that must not lose it, and hands it on. */
static int on_delta(plm_delta *d, void *ctx)
{
    plm__attempt_stream *as = ctx;
    int64_t now;

    if (as->deltas == 0 || as->fn) {
        now = plm__now_ns();
        d->elapsed_ns = now - as->sent_ns;
        if (as->deltas == 0) {
            as->first_token_ns = now - as->run_started_ns;
            as->res->first_token_ns = as->first_token_ns;
        }
    }
    d->index = as->deltas++;
    if (!as->fn)
        return 0;
    if (d->kind == PLM_DELTA_TEXT && d->choice == 0 &&
        plm__buf_append(&as->text, d->text, d->text_len)) {
        as->no_memory = 1;
        return 1;
    }
    if (as->fn(d, as->user_data) != 0)
        as->stopped = 1;
    return as->stopped;
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
    as->res = res;
    plm__provider_stream_set_delta(as->s, on_delta, as);
    return plm__provider_stream_feed(as->s, x->body, x->body_len);
}

int plm__attempt_stream_data(plm__attempt_stream *as, const plm_request *req,
                             int64_t sent_ns, int64_t run_started_ns,
                             plm__xfer *x, plm_result *res, const char *data,
                             size_t n)
{
    int rc;

    if (as->s) {
        rc = plm__provider_stream_feed(as->s, data, n);
    } else if (as->decided) {
        return 0;
    } else {
        as->fn = req->delta_fn;
        as->user_data = req->delta_user_data;
        as->sent_ns = sent_ns;
        as->run_started_ns = run_started_ns;
        rc = decide(as, req->provider, x, res);
    }
    if (rc == PLM_OK && as->no_memory)
        rc = PLM_ENOMEM;
    if (rc == PLM_OK && as->stopped)
        rc = PLM_ECANCELLED;
    return rc;
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
    res->first_token_ns = as->first_token_ns;
    return 1;
}

/* Puts the text handed to the callback back as res's content. */
static void keep_text(plm__attempt_stream *as, plm_result *res)
{
    char *copy = malloc(as->text.len + 1);

    free(res->content);
    res->content = copy;
    if (copy) {
        if (as->text.len)
            memcpy(copy, as->text.data, as->text.len);
        copy[as->text.len] = '\0';
    }
    free(res->finish_reason);
    res->finish_reason = NULL;
    free(res->assembled);
    res->assembled = NULL;
    res->assembled_len = 0;
    res->first_token_ns = as->first_token_ns;
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
    if (res) {
        if (as->fn && as->deltas > 0)
            keep_text(as, res);
        else if (as->deltas > 0)
            res->first_token_ns = as->first_token_ns;
        return;
    }
    plm__buf_free(&as->text);
    plm__attempt_stream_init(as);
}

int plm__attempt_stream_final(plm__attempt_stream *as, plm_result *res)
{
    char *why;

    if (res->code == PLM_OK || !as->fn || as->deltas == 0)
        return 0;
    keep_text(as, res);
    if (as->stopped) {
        plm__result_set_error(res, PLM_ECANCELLED, PLM_CLASS_CANCELLED,
                              "stopped by the delta callback after %zu "
                              "bytes of text (%lld deltas)",
                              as->text.len, (long long)as->deltas);
        return 1;
    }
    why = res->error_message ? strdup(res->error_message) : NULL;
    plm__result_set_error(res, res->code, res->error_class,
                          "%s%sthe stream stopped after %zu bytes of text "
                          "(%lld deltas); not retried because deltas were "
                          "delivered",
                          why ? why : "", why && *why ? "; " : "", as->text.len,
                          (long long)as->deltas);
    free(why);
    return 1;
}
