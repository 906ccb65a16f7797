/*
 * What the library reads from a raw request's body, read from its text
 * without building a tree (json_scan.c), so that a body handed over as
 * text (one `parallm run` input line's) is never parsed by jansson when
 * the scanner can decide. Internal to src/proto.
 */
#ifndef PLM_BODY_SUMMARY_H
#define PLM_BODY_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

typedef struct plm__body_summary {
    char *model;            /* "model" when a string (malloc'd), else NULL */
    int stream;             /* "stream" is true */
    int has_stream_options; /* the body has a "stream_options" member */
    uint64_t prompt_bytes;  /* decoded bytes the token estimate counts */
    int64_t n;              /* "n" when an integer, else 1 */
    int64_t max_output;     /* the first non-negative integer of
                               max_tokens, max_completion_tokens,
                               max_output_tokens; -1 when none is */
} plm__body_summary;

/*
 * Fills *out from a body's text (len bytes): 1 when the text is one JSON
 * object the scanner reads exactly as jansson would, and every field
 * above equals what the jansson tree of the same text gives; 0 when the
 * caller must parse with jansson instead (invalid JSON, outside the
 * scanner's subset, a key that matters repeated); -1 out of memory.
 * *out holds nothing to free unless 1 is returned.
 */
int plm__body_summarize(const char *text, size_t len, plm__body_summary *out);

void plm__body_summary_clear(plm__body_summary *s);

#endif
