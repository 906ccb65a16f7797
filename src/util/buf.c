/*
 * The growable byte buffer and array helper (see buf.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "parallm.h"

int plm__buf_append(plm__buf *b, const char *s, size_t n)
{
    if (n >= SIZE_MAX / 2 - b->len)
        return PLM_ENOMEM;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
            return PLM_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PLM_OK;
}

void plm__buf_free(plm__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int plm__array_reserve(void **data, size_t *cap, size_t need, size_t elem,
                       size_t first)
{
    size_t n = *cap ? *cap : (first ? first : 1);
    void *p;

    if (need <= *cap)
        return 0;
    if (elem == 0 || need > SIZE_MAX / elem)
        return -1;
    while (n < need)
        n = n > SIZE_MAX / 2 / elem ? need : n * 2;
    p = realloc(*data, n * elem);
    if (!p)
        return -1;
    *data = p;
    *cap = n;
    return 0;
}

int plm__array_reserve_typed(void *arr_ptr, size_t *cap, size_t need,
                             size_t elem, size_t first)
{
    void *data;
    int rc;

    /* Every object pointer has the representation of void * on the
     * platforms we build for; memcpy keeps the access well defined. */
    memcpy(&data, arr_ptr, sizeof data);
    rc = plm__array_reserve(&data, cap, need, elem, first);
    memcpy(arr_ptr, &data, sizeof data);
    return rc;
}
