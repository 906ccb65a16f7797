/*
 * Entry points for the parallm command only: not installed, not part of
 * the public API, no stability promise. They exist where the command must
 * do something the public header does not offer without a cost it cannot
 * pay (here: handing over a Batch line's body as text, which the library
 * reads without building a tree of it). Exported from the shared
 * library under the plm_tool_ prefix.
 */
#ifndef PARALLM_TOOL_H
#define PARALLM_TOOL_H

#include <stddef.h>

#include "parallm.h"

/*
 * plm_request_new_raw from a body's text, without the parse the public
 * constructor makes when the library can read what it needs from the
 * text itself: takes ownership of body_text (malloc'd, NUL-terminated,
 * len its length) whatever the outcome; the text is sent byte for byte.
 * PLM_OK, PLM_EINVAL (not a JSON object, bad method or path) or
 * PLM_ENOMEM.
 */
PLM_EXTERN int plm_tool_request_new_raw_text(plm_request **out,
                                             plm_provider provider,
                                             const char *method,
                                             const char *path, char *body_text,
                                             size_t len);

/*
 * For a raw request whose body has "stream": true and no "stream_options":
 * adds "stream_options":{"include_usage":true}, spliced in before the
 * body's closing brace so the rest goes out as written. PLM_OK (also when
 * there is nothing to add), PLM_EINVAL or PLM_ENOMEM.
 */
PLM_EXTERN int plm_tool_request_ask_stream_usage(plm_request *req);

#endif
