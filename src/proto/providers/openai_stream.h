/*
 * Assembling an OpenAI stream into the object the endpoint returns without
 * streaming (openai_stream.c), for the stream parser in openai.c.
 */
#ifndef PLM_OPENAI_STREAM_H
#define PLM_OPENAI_STREAM_H

#include <jansson.h>

#include "provider_parse.h"

/* plm__sse_state.kind: which endpoint's shape st->answer has. */
enum {
    PLM__OPENAI_STREAM_NONE = 0,
    PLM__OPENAI_STREAM_CHAT,        /* chat.completion */
    PLM__OPENAI_STREAM_COMPLETIONS, /* text_completion */
    PLM__OPENAI_STREAM_RESPONSES,   /* the Responses API's response */
    PLM__OPENAI_STREAM_IMAGE        /* an images answer */
};

/* Adds a chat or legacy completions chunk to st->answer. PLM_OK or
 * PLM_ENOMEM. */
int plm__openai_stream_chunk(plm__sse_state *st, const json_t *chunk);

/* Keeps the final response of a Responses API stream (response.completed
 * or response.incomplete) as the answer. PLM_OK or PLM_ENOMEM. */
int plm__openai_stream_response(plm__sse_state *st, const json_t *response);

/* Keeps the final image of an image stream (image_generation.completed
 * or image_edit.completed) as an images answer. PLM_OK or PLM_ENOMEM. */
int plm__openai_stream_image(plm__sse_state *st, const json_t *ev);

/* The plm__sse_finish_fn of OpenAI streams. */
json_t *plm__openai_stream_finish(plm__sse_state *st);

#endif
