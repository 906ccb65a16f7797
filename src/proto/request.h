/*
 * The request object: what to send (provider, method, path, JSON body) and
 * per-request policy. The body is kept as a jansson object while the caller
 * builds it and serialized once, when the engine takes the request; a
 * raw body given as text keeps the text and a summary instead of a tree.
 */
#ifndef PLM_REQUEST_H
#define PLM_REQUEST_H

#include <jansson.h>

#include "body_summary.h"
#include "parallm.h"

struct plm_request {
    plm_provider provider;
    int is_raw;      /* built by plm_request_new_raw */
    char *method;    /* "POST" */
    char *path;      /* "/v1/chat/completions", always starts with / */
    json_t *body;    /* owned; NULL for a raw body read as a summary */
    char *body_text; /* serialized body; NULL until needed */
    size_t body_len;
    int stream;         /* body asks for SSE */
    int64_t timeout_ms; /* per attempt; 0 = client default */
    int max_retries;    /* -1 = client default */
    void *user_data;
    int json_response;     /* chat: ask for a JSON object answer */
    plm_delta_fn delta_fn; /* a streamed answer's pieces, as they arrive */
    void *delta_user_data;
    int summarized;        /* sum holds what is read of the body, body NULL */
    plm__body_summary sum; /* a raw body given as text, read without jansson */
};

/*
 * plm_request_new_raw for a caller that has already parsed the body:
 * takes ownership of body (a JSON object) and of body_text (its compact
 * serialization, malloc'd, or NULL to serialize later), whatever the
 * outcome. Saves the parse and the dump that the public constructor
 * costs. PLM_OK, PLM_EINVAL or PLM_ENOMEM.
 */
int plm__request_new_raw_take(plm_request **out, plm_provider provider,
                              const char *method, const char *path,
                              json_t *body, char *body_text);

/*
 * plm_request_new_raw from a body's text: takes ownership of body_text
 * (malloc'd, NUL-terminated, len = its length) whatever the outcome. The
 * text is what is sent, byte for byte. What the library reads of the
 * body comes from a scan of the text (body_summary.c) and, where the
 * scan cannot decide, from jansson's tree of it, as the public
 * constructor reads it. PLM_OK, PLM_EINVAL (not a JSON object, bad
 * method or path) or PLM_ENOMEM.
 */
int plm__request_new_raw_text(plm_request **out, plm_provider provider,
                              const char *method, const char *path,
                              char *body_text, size_t len);

/*
 * For a raw request whose body has "stream": true and no "stream_options"
 * member: adds "stream_options":{"include_usage":true}, spliced into the
 * text before its closing brace so the rest goes out byte for byte.
 * PLM_OK (also when there is nothing to add), PLM_EINVAL (not a raw
 * request) or PLM_ENOMEM.
 */
int plm__request_ask_stream_usage(plm_request *req);

/* The body's "model" when it is a string, else NULL; borrowed. */
const char *plm__request_model(const plm_request *req);

/* Serializes the body once (cached until the next builder call).
 * Returns PLM_OK or PLM_ENOMEM. */
int plm__request_serialize(plm_request *req);

/*
 * The one token estimate of the library (the common rule): about four
 * bytes of prompt per token, rounded up, plus the output limit times the
 * number of choices (n below 1 counts as 1, a negative limit as 0).
 * Saturates at INT64_MAX.
 */
int64_t plm__token_estimate(uint64_t prompt_bytes, int64_t max_output,
                            int64_t n);

/* Rough token estimate for budgets: prompt characters / 4 plus
 * max_tokens (times n). */
int64_t plm__request_estimate_tokens(const plm_request *req);

/* The bytes of prompt text that estimate counts (the JSON strings'
 * decoded bytes, as json_string_length gives them). */
uint64_t plm__request_prompt_bytes(const plm_request *req);

/* The output part of that estimate (max_tokens times n), for budgets that
 * count input and output tokens apart. */
int64_t plm__request_estimate_output_tokens(const plm_request *req);

#endif
