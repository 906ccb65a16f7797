/*
 * A compact JSON writer for the request bodies the library sends.
 *
 * Why not json_dumps here (which STYLE prefers, and which still writes
 * everything else): bench_engine's 93-byte chat body cost the client
 * 14,300 instructions in json_dumps(body, JSON_COMPACT), for every
 * request (callgrind, docs/PERFORMANCE.md): jansson calls a callback per
 * token, grows a string buffer as it goes and copies the result once more
 * at the end, and sets up a hash table of the containers it is inside to
 * find reference cycles. This writer walks the same tree with the same
 * iterators into one buffer that it returns (trimmed when a long body left
 * much of it unused): 2,300 instructions for the same body.
 *
 * Its output is json_dumps's, byte for byte (jansson 2.14's dump.c):
 * members in the object's own order, "," and ":" with no spaces, in
 * strings '"' and '\\' escaped, \b \f \n \r \t for those five control
 * characters and \u00XX (upper-case hex) for the other ones below 0x20,
 * '/', DEL and non-ASCII UTF-8 as they are; integers in decimal; reals
 * as jansson's jsonp_dtostr spells them ("%.17g", the locale's decimal
 * point turned into '.', ".0" added when there is neither '.' nor 'e',
 * no '+' and no leading zeros in the exponent). Where jansson does
 * something else (a string that is not UTF-8, which it refuses as a
 * value and writes half of as a key; nesting deeper than
 * PLM__JWRITE_DEPTH, where it may also be looking at a cycle), this
 * writer hands the whole value to json_dumps. fuzz/fuzz_json_write.c
 * checks, on any input, that the two agree.
 */
#include "json_write.h"

#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define PLM__JWRITE_DEPTH 64

/* The buffer's first size, enough for a short chat body. A walk of the
 * tree to size the buffer exactly cost 550 instructions on a 93-byte body,
 * a fifth of the writer's whole cost; growing by doubling from here costs
 * a long body a few reallocs, each cheaper than writing what it copies. */
#define PLM__JWRITE_FIRST_SIZE 256

/* put_* results besides 0: out of memory, or "leave it to json_dumps". */
#define JWRITE_NOMEM (-1)
#define JWRITE_JANSSON (-2)

struct out {
    char *buf;
    size_t len, cap;
};

/* Room for n more bytes and the final NUL. */
static int reserve(struct out *o, size_t n)
{
    size_t cap;
    char *p;

    if (o->cap - o->len > n)
        return 0;
    cap = o->cap * 2;
    if (cap < o->len + n + 1)
        cap = o->len + n + 1;
    p = realloc(o->buf, cap);
    if (!p)
        return JWRITE_NOMEM;
    o->buf = p;
    o->cap = cap;
    return 0;
}

/* What put_string does with each byte: 0 copy it, 1 escape it (below
 * 0x20, '"', '\\'), 2 check the UTF-8 sequence it starts. */
static const unsigned char byte_kind[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xA0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xB0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xC0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xD0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xE0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xF0 */
};

/* The escape for byte c (below 0x20, '"' or '\\') at out; its length. */
static size_t escape(unsigned char c, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char short_form = 0;

    switch (c) {
    case '"': short_form = '"'; break;
    case '\\': short_form = '\\'; break;
    case '\b': short_form = 'b'; break;
    case '\f': short_form = 'f'; break;
    case '\n': short_form = 'n'; break;
    case '\r': short_form = 'r'; break;
    case '\t': short_form = 't'; break;
    default: break;
    }
    out[0] = '\\';
    if (short_form) {
        out[1] = short_form;
        return 2;
    }
    memcpy(out + 1, "u00", 3);
    out[4] = hex[c >> 4];
    out[5] = hex[c & 15];
    return 6;
}

static int put_string(struct out *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    if (reserve(o, n + 2))
        return JWRITE_NOMEM;
    o->buf[o->len++] = '"';
    while (p < end) {
        const unsigned char *run = p;

        while (p < end) {
            unsigned char kind = byte_kind[*p];
            size_t k;

            if (kind == 0) {
                p++;
                continue;
            }
            if (kind == 1)
                break;
            k = plm__utf8_len(p, end);
            if (!k)
                return JWRITE_JANSSON;
            p += k;
        }
        if (reserve(o, (size_t)(p - run)))
            return JWRITE_NOMEM;
        memcpy(o->buf + o->len, run, (size_t)(p - run));
        o->len += (size_t)(p - run);
        if (p == end)
            break;
        if (reserve(o, 6))
            return JWRITE_NOMEM;
        o->len += escape(*p++, o->buf + o->len);
    }
    if (reserve(o, 1))
        return JWRITE_NOMEM;
    o->buf[o->len++] = '"';
    return 0;
}

static int put_char(struct out *o, char c)
{
    if (o->cap - o->len <= 1 && reserve(o, 1))
        return JWRITE_NOMEM;
    o->buf[o->len++] = c;
    return 0;
}

static int put_bytes(struct out *o, const char *s, size_t n)
{
    if (reserve(o, n))
        return JWRITE_NOMEM;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

static int put_integer(struct out *o, json_int_t v)
{
    char digits[24];
    size_t i = sizeof digits;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        digits[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        digits[--i] = '-';
    return put_bytes(o, digits + i, sizeof digits - i);
}

/* jansson's jsonp_dtostr with its default precision of 17. */
static int put_real(struct out *o, double v)
{
    char buf[100];
    const char *point = localeconv()->decimal_point;
    char *start, *end;
    int ret = snprintf(buf, sizeof buf, "%.17g", v);
    size_t len;

    if (ret < 0 || (size_t)ret >= sizeof buf - 3)
        return JWRITE_JANSSON;
    len = (size_t)ret;
    if (*point != '.') {
        char *pos = strchr(buf, *point);
        if (pos)
            *pos = '.';
    }
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + len, ".0", 3);
        len += 2;
    }
    start = strchr(buf, 'e');
    if (start) {
        start++;
        end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - buf));
            len -= (size_t)(end - start);
        }
    }
    return put_bytes(o, buf, len);
}

static int put_value(struct out *o, const json_t *v, int depth);

static int put_object(struct out *o, const json_t *v, int depth)
{
    void *it = json_object_iter((json_t *)v);
    int rc;

    if (put_char(o, '{'))
        return JWRITE_NOMEM;
    for (int first = 1; it; it = json_object_iter_next((json_t *)v, it)) {
        if (!first && put_char(o, ','))
            return JWRITE_NOMEM;
        first = 0;
        rc = put_string(o, json_object_iter_key(it),
                        json_object_iter_key_len(it));
        if (!rc)
            rc = put_char(o, ':');
        if (!rc)
            rc = put_value(o, json_object_iter_value(it), depth + 1);
        if (rc)
            return rc;
    }
    return put_char(o, '}');
}

static int put_array(struct out *o, const json_t *v, int depth)
{
    size_t n = json_array_size(v);
    int rc;

    if (put_char(o, '['))
        return JWRITE_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && put_char(o, ','))
            return JWRITE_NOMEM;
        rc = put_value(o, json_array_get(v, i), depth + 1);
        if (rc)
            return rc;
    }
    return put_char(o, ']');
}

static int put_value(struct out *o, const json_t *v, int depth)
{
    if (!v || depth > PLM__JWRITE_DEPTH)
        return JWRITE_JANSSON;
    switch (json_typeof(v)) {
    case JSON_OBJECT: return put_object(o, v, depth);
    case JSON_ARRAY: return put_array(o, v, depth);
    case JSON_STRING:
        return put_string(o, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: return put_integer(o, json_integer_value(v));
    case JSON_REAL: return put_real(o, json_real_value(v));
    case JSON_TRUE: return put_bytes(o, "true", 4);
    case JSON_FALSE: return put_bytes(o, "false", 5);
    case JSON_NULL: return put_bytes(o, "null", 4);
    default: return JWRITE_JANSSON;
    }
}

char *plm__json_write_compact(const json_t *v, size_t *len_out)
{
    struct out o = { NULL, 0, 0 };
    char *text;
    int rc;

    if (!v)
        return NULL;
    o.cap = PLM__JWRITE_FIRST_SIZE;
    o.buf = malloc(o.cap);
    if (!o.buf)
        return NULL;
    rc = put_value(&o, v, 0);
    if (rc == 0) {
        o.buf[o.len] = '\0';
        if (len_out)
            *len_out = o.len;
        if (o.cap > PLM__JWRITE_FIRST_SIZE && o.cap - o.len > o.len / 8 + 1) {
            text = realloc(o.buf, o.len + 1);
            if (text)
                o.buf = text;
        }
        return o.buf;
    }
    free(o.buf);
    if (rc == JWRITE_NOMEM)
        return NULL;
    text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text && len_out)
        *len_out = strlen(text);
    return text;
}
