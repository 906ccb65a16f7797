/*
 * The result object: the final outcome of one request. Created by the
 * engine, filled by the provider parser and the retry logic, handed to the
 * completion callback.
 */
#ifndef PLM_RESULT_H
#define PLM_RESULT_H

#include "parallm.h"

struct plm_result {
    int code; /* plm_code */
    plm_error_class error_class;
    char *error_message; /* malloc'd, never NULL after finish */
    char *error_type;    /* provider's error.type, or NULL */
    char *error_code;    /* provider's error.code, or NULL */
    int http_status;
    char *content;
    char *finish_reason;
    int64_t prompt_tokens;     /* -1 = unknown */
    int64_t completion_tokens; /* -1 = unknown */
    char *request_id;          /* the server's request-id header, or NULL */
    char *body;                /* last attempt's body, NUL-terminated */
    size_t body_len;
    char *assembled; /* a stream's answer as one JSON object, or NULL */
    size_t assembled_len;
    /* A stream's events that were read before its last bytes arrived
     * (parsed as the answer came in); 0 for an answer read whole. */
    int64_t stream_events_early;
    /* When the last attempt's first delta was parsed: monotonic ns since
     * the run began (plm_result_first_token_ns); -1 = none. */
    int64_t first_token_ns;
    int attempts;
    int started;
    double latency; /* seconds, first send to completion */
    void *user_data;
    plm_timings timings; /* set at completion; -1 = did not happen */
};

/* A new result with code PLM_OK, tokens -1. NULL on out of memory. */
plm_result *plm__result_new(void *user_data);

/* Sets code, class and a printf-style message (replacing any). */
void plm__result_set_error(plm_result *res, int code, plm_error_class cls,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears what an earlier attempt left (content, error, body, status...),
 * keeping attempts, started and user_data. */
void plm__result_reset_attempt(plm_result *res);

/* Replaces *dst with a copy of src (NULL allowed). PLM_OK or PLM_ENOMEM. */
int plm__strdup_into(char **dst, const char *src);

#endif
