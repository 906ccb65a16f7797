/*
 * The result object: the final outcome of one request, created by the
 * engine, filled by the provider parser and the retry logic, and read by
 * the caller through the plm_result_* accessors. Every string field is
 * owned by the result and freed with it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

plm_result *plm__result_new(void *user_data)
{
    plm_result *res = calloc(1, sizeof *res);

    if (!res)
        return NULL;
    res->code = PLM_OK;
    res->error_class = PLM_CLASS_NONE;
    res->prompt_tokens = -1;
    res->completion_tokens = -1;
    res->user_data = user_data;
    res->timings.queued_ns = res->timings.first_sent_ns = -1;
    res->timings.admitted_ns = res->timings.sent_ns = -1;
    res->timings.first_byte_ns = res->timings.done_ns = -1;
    res->first_token_ns = -1;
    return res;
}

int plm__strdup_into(char **dst, const char *src)
{
    char *copy = NULL;

    if (src) {
        copy = strdup(src);
        if (!copy)
            return PLM_ENOMEM;
    }
    free(*dst);
    *dst = copy;
    return PLM_OK;
}

void plm__result_set_error(plm_result *res, int code, plm_error_class cls,
                           const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    int n;

    if (!res)
        return;
    res->code = code;
    res->error_class = cls;
    if (!fmt)
        fmt = "";
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        msg = malloc((size_t)n + 1);
        if (msg) {
            va_start(ap, fmt);
            vsnprintf(msg, (size_t)n + 1, fmt, ap);
            va_end(ap);
        }
    }
    /* Out of memory: keep the code and class, and fall back to no message
     * (the accessor then says ""), rather than keep a stale one. */
    free(res->error_message);
    res->error_message = msg;
}

void plm__result_reset_attempt(plm_result *res)
{
    if (!res)
        return;
    free(res->error_message);
    free(res->error_type);
    free(res->error_code);
    free(res->content);
    free(res->finish_reason);
    free(res->request_id);
    free(res->body);
    free(res->assembled);
    res->error_message = NULL;
    res->error_type = NULL;
    res->error_code = NULL;
    res->content = NULL;
    res->finish_reason = NULL;
    res->request_id = NULL;
    res->body = NULL;
    res->body_len = 0;
    res->assembled = NULL;
    res->assembled_len = 0;
    res->stream_events_early = 0;
    res->first_token_ns = -1;
    res->code = PLM_OK;
    res->error_class = PLM_CLASS_NONE;
    res->http_status = 0;
    res->prompt_tokens = -1;
    res->completion_tokens = -1;
}

int plm_result_code(const plm_result *res)
{
    return res ? res->code : PLM_EINVAL;
}

plm_error_class plm_result_error_class(const plm_result *res)
{
    return res ? res->error_class : PLM_CLASS_LOCAL;
}

const char *plm_result_error_message(const plm_result *res)
{
    if (!res || res->code == PLM_OK)
        return "";
    /* A failure without a message (out of memory while formatting it)
     * still says something useful. */
    if (!res->error_message)
        return plm_strerror(res->code);
    return res->error_message;
}

int plm_result_http_status(const plm_result *res)
{
    return res ? res->http_status : 0;
}

const char *plm_result_content(const plm_result *res)
{
    return res ? res->content : NULL;
}

const char *plm_result_finish_reason(const plm_result *res)
{
    return res ? res->finish_reason : NULL;
}

int64_t plm_result_prompt_tokens(const plm_result *res)
{
    return res ? res->prompt_tokens : -1;
}

int64_t plm_result_completion_tokens(const plm_result *res)
{
    return res ? res->completion_tokens : -1;
}

const char *plm_result_request_id(const plm_result *res)
{
    return res ? res->request_id : NULL;
}

int plm_result_attempts(const plm_result *res)
{
    return res ? res->attempts : 0;
}

double plm_result_latency(const plm_result *res)
{
    return res ? res->latency : 0.0;
}

int plm_result_started(const plm_result *res)
{
    return res ? res->started : 0;
}

const char *plm_result_body(const plm_result *res, size_t *len)
{
    if (!res || !res->body) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = res->body_len;
    return res->body;
}

const char *plm_result_assembled_body(const plm_result *res, size_t *len)
{
    if (!res || !res->assembled) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = res->assembled_len;
    return res->assembled;
}

void *plm_result_user_data(const plm_result *res)
{
    return res ? res->user_data : NULL;
}

void plm_result_free(plm_result *res)
{
    if (!res)
        return;
    plm__result_reset_attempt(res);
    free(res);
}

void plm_results_free(plm_result **results, size_t n)
{
    if (!results)
        return;
    for (size_t i = 0; i < n; i++) {
        plm_result_free(results[i]);
        results[i] = NULL;
    }
}

int plm_result_timings(const plm_result *res, plm_timings *out)
{
    if (!res || !out)
        return PLM_EINVAL;
    *out = res->timings;
    return PLM_OK;
}

int64_t plm_result_first_token_ns(const plm_result *res)
{
    return res ? res->first_token_ns : -1;
}
