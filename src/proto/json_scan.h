/*
 * A JSON reader that builds no tree, for the one place where jansson's
 * tree was the client's largest cost: reading a few fields of every
 * non-streamed answer (see json_scan.c for why, and for the subset of
 * JSON it decides on its own). Internal to src/proto.
 */
#ifndef PLM_JSON_SCAN_H
#define PLM_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* Values a scan records (in document order); lookups walk the text of
 * a document with more. */
#define PLM__JSCAN_VALUES 64

/* One value of a scanned document: its text, its name if it is an
 * object's member, and the values inside it (a container's) and beside it
 * (the next member or element of its container), as indexes of records
 * (0: none; 0 is the top object's own). */
typedef struct plm__jscan_value {
    const char *p, *end;
    const char *name; /* no escape in a scanned name */
    size_t name_len;
    uint32_t first, next;
    uint32_t complete; /* a container all of whose values are recorded */
} plm__jscan_value;

/* What the validating pass learnt about a document, so that a lookup
 * reads the members it wants from the record instead of walking the text
 * again. The caller's (on its stack), filled by plm__jscan_object. */
typedef struct plm__jscan_doc {
    size_t count; /* values seen; the first PLM__JSCAN_VALUES recorded */
    plm__jscan_value values[PLM__JSCAN_VALUES];
} plm__jscan_doc;

/* A value's text inside the scanned document (p NULL: absent), and the
 * document's record (NULL: none; lookups then walk the text). */
typedef struct plm__jspan {
    const char *p;
    size_t n;
    const plm__jscan_doc *doc;
} plm__jspan;

/*
 * 1 when body (len bytes) is one JSON object that jansson's
 * json_loadb(body, len, 0, ...) accepts too and that lies in the subset
 * the scanner reads exactly as jansson would; *root is then the whole
 * object, its spans pointing into body and doc, which must outlive
 * them. 0 otherwise (invalid JSON, or valid but outside the subset):
 * the caller parses with jansson instead.
 */
int plm__jscan_object(const char *body, size_t len, plm__jscan_doc *doc,
                      plm__jspan *root);

/* The value of member key in a scanned object: 1 with *out set, 0 when
 * obj is not an object or has no such member, -1 when the key appears
 * more than once (jansson keeps the last; the caller falls back). */
int plm__jscan_member(plm__jspan obj, const char *key, plm__jspan *out);

/* The values of several members in one pass: out[i] for keys[i] (p NULL
 * when absent, or when obj is not an object); 0, or -1 when one of the
 * keys appears more than once. */
int plm__jscan_members(plm__jspan obj, const char *const *keys, size_t nkeys,
                       plm__jspan *out);

/* The next element of a scanned array: start with *it = { NULL, 0, NULL
 * }; 1 with *it set to the element, 0 after the last (or if arr is not
 * an array). */
int plm__jscan_next(plm__jspan arr, plm__jspan *it);

/* What a span holds: '{', '[', '"', 'n' (null), 't', 'f', or '0' for a
 * number; 0 for an absent span. */
int plm__jscan_kind(plm__jspan v);

/* 1 and *out when v is an integer (no fraction, no exponent), as
 * jansson's json_is_integer would say; 0 otherwise. */
int plm__jscan_integer(plm__jspan v, int64_t *out);

/* A scanned string's decoded bytes, NUL-terminated (malloc'd; the
 * caller frees), *len_out its length; NULL when v is not a string or
 * out of memory (*oom says which). */
char *plm__jscan_string(plm__jspan v, size_t *len_out, int *oom);

#endif
