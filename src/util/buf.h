/*
 * The one growable byte buffer and the one growable-array helper of the
 * library. Everything that accumulates bytes (a response body, the text of
 * a stream, an SSE event's data) or keeps a resizable array grows through
 * here, so the overflow checks and the doubling policy exist once.
 */
#ifndef PLM_UTIL_BUF_H
#define PLM_UTIL_BUF_H

#include <stddef.h>

typedef struct plm__buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
} plm__buf;

/* Appends n bytes. PLM_OK or PLM_ENOMEM (b unchanged). */
int plm__buf_append(plm__buf *b, const char *s, size_t n);
/* Frees the bytes and empties b. */
void plm__buf_free(plm__buf *b);

/*
 * Makes room for at least `need` elements of `elem` bytes in the array at
 * *data whose capacity is *cap elements, doubling (from `first`, at least
 * 1). Returns 0, or -1 on overflow or out of memory (array unchanged).
 */
int plm__array_reserve(void **data, size_t *cap, size_t need, size_t elem,
                       size_t first);

/* The same for a typed array pointer `arr` (an lvalue), without
 * accessing it through a void ** (which strict aliasing forbids). */
#define PLM__ARRAY_RESERVE(arr, cap, need, first)                              \
    plm__array_reserve_typed((void *)&(arr), &(cap), (need), sizeof *(arr),    \
                             (first))

/* What PLM__ARRAY_RESERVE calls: arr_ptr points at the array pointer. */
int plm__array_reserve_typed(void *arr_ptr, size_t *cap, size_t need,
                             size_t elem, size_t first);

#endif
