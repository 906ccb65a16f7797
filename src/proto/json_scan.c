/*
 * A validating JSON scanner that builds no tree, for the providers'
 * non-streamed answers.
 *
 * Why not jansson here (which STYLE prefers, and which every other JSON
 * reader in src/ uses): a 300-byte chat answer cost the client about
 * 56,000 instructions in json_loadb and json_decref (a hash table per
 * object, a malloc per string and number), more than libcurl's whole
 * transfer, to read four or five fields (callgrind, docs/PERFORMANCE.md).
 * This scanner checks the whole document in one pass, recording its
 * first PLM__JSCAN_VALUES values as it goes (where each starts and ends,
 * a member's name, the values of each container in order: a
 * plm__jscan_doc on the caller's stack), and then finds those fields in
 * the record instead of the text, with no allocation but the strings it
 * returns. Past the record (a larger document), lookups walk the text.
 *
 * It decides only where it is certain to agree with jansson; everywhere
 * else plm__jscan_object returns 0 and the caller parses with jansson, so
 * every answer still reads the same and every error message is jansson's
 * path's. It answers 0 for: anything that is not valid JSON, a top level
 * that is not an object, nesting deeper than PLM__JSCAN_DEPTH, a member
 * name with an escape, a \u escape of U+0000 or of a surrogate, an
 * integer of more than 18 digits (jansson's range check), and a real
 * whose magnitude could overflow a double (jansson's overflow check).
 * UTF-8 is checked as jansson checks it (no overlong forms, no
 * surrogates, nothing past U+10FFFF). fuzz/fuzz_json_scan.c checks, on
 * any input, that an accepted document is one jansson accepts and that
 * every field read here equals jansson's.
 */
#include "json_scan.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define PLM__JSCAN_DEPTH 64

typedef const unsigned char *pos;

/* 1 for the bytes a string's text holds as they are: printable ASCII but
 * the quote and the backslash. A control, '"', '\\' and every byte of a
 * UTF-8 sequence need a look (scan_string). */
static const unsigned char plain_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xA0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xB0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xC0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xD0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xE0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xF0 */
};

/*
 * The scanning functions take the position p and the end of the text and
 * return the position past what they scanned, or NULL when the document
 * is to be left to jansson: positions in locals stay in registers, where
 * a position in a struct written through a pointer went to memory at
 * every byte.
 */

static pos skip_ws(pos p, pos end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p (the caller checked there are four). */
static long hex4(const unsigned char *p)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The escape at p (its backslash) inside a string's text. */
static pos scan_escape(pos p, pos end)
{
    long u;

    if (end - p < 2)
        return NULL;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': return p + 2;
    case 'u': break;
    default: return NULL;
    }
    if (end - p < 6)
        return NULL;
    u = hex4(p + 2);
    if (u <= 0 || (u >= 0xD800 && u <= 0xDFFF))
        return NULL;
    return p + 6;
}

/* Past the plain bytes at p: one bounds check for four bytes, then one
 * for each. */
static pos skip_plain(pos p, pos end)
{
    while (end - p >= 4) {
        if (!plain_byte[p[0]])
            return p;
        if (!plain_byte[p[1]])
            return p + 1;
        if (!plain_byte[p[2]])
            return p + 2;
        if (!plain_byte[p[3]])
            return p + 3;
        p += 4;
    }
    while (p < end && plain_byte[*p])
        p++;
    return p;
}

/* A string at p (its opening quote); key: a member name, which must have
 * no escape. */
static pos scan_string(pos p, pos end, int key)
{
    p++;
    for (;;) {
        size_t n;

        p = skip_plain(p, end);
        if (p >= end || *p < 0x20)
            return NULL;
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            if (key)
                return NULL;
            p = scan_escape(p, end);
            if (!p)
                return NULL;
            continue;
        }
        n = plm__utf8_len(p, end);
        if (n == 0)
            return NULL;
        p += n;
    }
}

static pos scan_digits(pos p, pos end, size_t *count)
{
    pos start = p;

    while (p < end && *p >= '0' && *p <= '9')
        p++;
    *count = (size_t)(p - start);
    return p;
}

/* A number, as jansson's lexer reads one; NULL also for those whose value
 * jansson would refuse (integer out of range, real overflow). */
static pos scan_number(pos p, pos end)
{
    size_t int_digits, n;
    long exp = 0;
    int real = 0, exp_negative = 0;

    if (*p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
        int_digits = 1;
        if (p < end && *p >= '0' && *p <= '9')
            return NULL;
    } else {
        p = scan_digits(p, end, &int_digits);
        if (int_digits == 0)
            return NULL;
    }
    if (p < end && *p == '.') {
        real = 1;
        p = scan_digits(p + 1, end, &n);
        if (n == 0)
            return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        pos d;

        p++;
        real = 1;
        if (p < end && (*p == '+' || *p == '-'))
            exp_negative = *p++ == '-';
        d = p;
        p = scan_digits(p, end, &n);
        if (n == 0 || n > 4)
            return NULL;
        for (; d < p; d++)
            exp = exp * 10 + (*d - '0');
    }
    if (!real)
        return int_digits <= 18 ? p : NULL;
    /* Below 10^(int_digits + exp) <= 10^300: never strtod's HUGE_VAL. */
    if (int_digits > 300 || (!exp_negative && (long)int_digits + exp > 300))
        return NULL;
    return p;
}

static pos scan_literal(pos p, pos end, const char *word, size_t n)
{
    if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
        return NULL;
    return p + n;
}

/* A value that is not an object or an array, at p (p < end). */
static pos scan_scalar(pos p, pos end)
{
    switch (*p) {
    case '"': return scan_string(p, end, 0);
    case 't': return scan_literal(p, end, "true", 4);
    case 'f': return scan_literal(p, end, "false", 5);
    case 'n': return scan_literal(p, end, "null", 4);
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9'))
            return scan_number(p, end);
        return NULL;
    }
}

/* A member's name and its colon at p: the start of its value; *name
 * and *name_len the name's text. */
static inline pos scan_name(pos p, pos end, pos *name, size_t *name_len)
{
    pos after;

    if (p >= end || *p != '"')
        return NULL;
    after = scan_string(p, end, 1);
    if (!after)
        return NULL;
    *name = p + 1;
    *name_len = (size_t)(after - p - 2);
    p = skip_ws(after, end);
    if (p >= end || *p != ':')
        return NULL;
    return skip_ws(p + 1, end);
}

/* The containers open around the scanner: bit d of objects says whether
 * the one at depth d is an object, rec[d] is its record's index and
 * last[d] that of its last value so far (0: none yet). */
struct nest {
    uint64_t objects;
    int depth;
    size_t rec[PLM__JSCAN_DEPTH], last[PLM__JSCAN_DEPTH];
};

static int nest_in_object(const struct nest *nest)
{
    return (nest->objects >> (nest->depth - 1)) & 1;
}

/* A value starts at p (name: its member name, or NULL): its record,
 * linked to its container's values. Its index, kept or not. */
static size_t record_value(plm__jscan_doc *doc, struct nest *nest, pos p,
                           pos name, size_t name_len)
{
    size_t k = doc->count++;
    plm__jscan_value *v;
    int d = nest->depth - 1;

    if (k >= PLM__JSCAN_VALUES)
        return k; /* its container will not be complete */
    v = &doc->values[k];
    v->p = (const char *)p;
    v->name = (const char *)name;
    v->name_len = name_len;
    v->first = v->next = v->complete = 0;
    if (d >= 0) {
        if (nest->last[d])
            doc->values[nest->last[d]].next = (uint32_t)k;
        else
            doc->values[nest->rec[d]].first = (uint32_t)k;
        nest->last[d] = k;
    }
    return k;
}

/* The container whose record is k opens at p; 0 when nested too deep. */
static int nest_open(struct nest *nest, size_t k, pos p)
{
    uint64_t bit;

    if (nest->depth >= PLM__JSCAN_DEPTH)
        return 0;
    bit = (uint64_t)1 << nest->depth;
    if (*p == '{')
        nest->objects |= bit;
    else
        nest->objects &= ~bit;
    nest->rec[nest->depth] = k;
    nest->last[nest->depth] = 0;
    nest->depth++;
    return 1;
}

/* The innermost container closes at p (its bracket). */
static void nest_close(struct nest *nest, plm__jscan_doc *doc, pos p)
{
    size_t k = nest->rec[--nest->depth];

    if (k < PLM__JSCAN_VALUES) {
        doc->values[k].end = (const char *)p + 1;
        doc->values[k].complete = doc->count <= PLM__JSCAN_VALUES;
    }
}

/*
 * The document's value at p: past it when scanned, NULL to fall back.
 * One loop over the values in document order (no recursion), recording
 * each: a value, then the commas and closing brackets after it, then the
 * next member's name where the container is an object.
 */
static pos scan_document(pos p, pos end, plm__jscan_doc *doc)
{
    struct nest nest;
    pos name = NULL;
    size_t name_len = 0;

    nest.objects = 0;
    nest.depth = 0;
    for (;;) {
        size_t k = record_value(doc, &nest, p, name, name_len);

        if (p >= end)
            return NULL;
        if (*p == '{' || *p == '[') {
            if (!nest_open(&nest, k, p))
                return NULL;
            p = skip_ws(p + 1, end);
            if (p >= end)
                return NULL;
            /* Unless it is empty, its first value next. */
            if (*p != (nest_in_object(&nest) ? '}' : ']')) {
                name = NULL;
                if (nest_in_object(&nest))
                    p = scan_name(p, end, &name, &name_len);
                if (!p)
                    return NULL;
                continue;
            }
        } else {
            p = scan_scalar(p, end);
            if (!p)
                return NULL;
            if (k < PLM__JSCAN_VALUES)
                doc->values[k].end = (const char *)p;
        }
        for (;;) { /* after a value */
            if (nest.depth == 0)
                return p;
            p = skip_ws(p, end);
            if (p >= end)
                return NULL;
            if (*p == ',')
                break;
            if (*p != (nest_in_object(&nest) ? '}' : ']'))
                return NULL;
            nest_close(&nest, doc, p++);
        }
        p = skip_ws(p + 1, end);
        name = NULL;
        if (nest_in_object(&nest))
            p = scan_name(p, end, &name, &name_len);
        if (!p)
            return NULL;
    }
}

int plm__jscan_object(const char *body, size_t len, plm__jscan_doc *doc,
                      plm__jspan *root)
{
    pos p = (pos)body, end = p + len, start;

    if (!body)
        return 0;
    doc->count = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return 0;
    start = p;
    p = scan_document(p, end, doc);
    if (!p)
        return 0;
    root->p = (const char *)start;
    root->n = (size_t)(p - start);
    root->doc = doc;
    return skip_ws(p, end) == end;
}

/* What ends a number or a literal. */
static int ends_scalar(char c)
{
    return c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' ||
           c == '\r' || c == '\t' || c == ':';
}

/* Past the closing quote of the (scanned, so terminated) string whose
 * text starts at p: the first quote not escaped by an odd number of
 * backslashes. */
static const char *skip_string(const char *p)
{
    for (;;) {
        const char *q = strchr(p, '"'), *b = q;

        while (b > p && b[-1] == '\\')
            b--;
        if ((q - b) % 2 == 0)
            return q + 1;
        p = q + 1;
    }
}

/* The record of the value whose text starts at p, or NULL (past the
 * first PLM__JSCAN_VALUES, or no doc). */
static const plm__jscan_value *find_value(const plm__jscan_doc *doc,
                                          const char *p)
{
    size_t lo = 0, hi, n;

    if (!doc)
        return NULL;
    n = doc->count < PLM__JSCAN_VALUES ? doc->count : PLM__JSCAN_VALUES;
    hi = n;
    while (lo < hi) { /* the values start in document order */
        size_t mid = lo + (hi - lo) / 2;

        if (doc->values[mid].p < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && doc->values[lo].p == p ? &doc->values[lo] : NULL;
}

/* The end of the (already scanned, so valid) container at p, walked. */
static const char *walk_container(const char *p, const char *end)
{
    int depth = 0;

    do {
        char c = *p;

        if (c == '"') {
            p = skip_string(p + 1);
        } else if (c == '{' || c == '[') {
            depth++;
            p++;
        } else if (c == '}' || c == ']') {
            depth--;
            p++;
        } else if (ends_scalar(c)) {
            p++;
        } else {
            while (p < end && !ends_scalar(*p))
                p++;
        }
    } while (depth > 0 && p < end);
    return p;
}

/* The end of the (already scanned, so valid) value at p. */
static const char *skip_value(const char *p, const char *end,
                              const plm__jscan_doc *doc)
{
    if (*p == '"')
        return skip_string(p + 1);
    if (*p == '{' || *p == '[') {
        const plm__jscan_value *v = find_value(doc, p);

        return v ? v->end : walk_container(p, end);
    }
    while (p < end && !ends_scalar(*p))
        p++;
    return p;
}

static const char *skip_ws_text(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* key equals the member name of nlen bytes at name (which holds no NUL). */
static inline int name_is(const char *key, const char *name, size_t nlen)
{
    return key[0] == (nlen ? name[0] : '\0') && strncmp(key, name, nlen) == 0 &&
           key[nlen] == '\0';
}

/* One member of an object for plm__jscan_members: into out[i] when its
 * name is keys[i]; -1 when out[i] was already set. */
static inline int take_member(const char *const *keys, size_t nkeys,
                              plm__jspan *out, const char *name,
                              size_t name_len, const char *value,
                              const char *end)
{
    for (size_t i = 0; i < nkeys; i++) {
        if (!name_is(keys[i], name, name_len))
            continue;
        if (out[i].p)
            return -1;
        out[i].p = value;
        out[i].n = (size_t)(end - value);
    }
    return 0;
}

int plm__jscan_members(plm__jspan obj, const char *const *keys, size_t nkeys,
                       plm__jspan *out)
{
    const plm__jscan_value *rec;
    const char *p, *end;

    for (size_t i = 0; i < nkeys; i++) {
        out[i].p = NULL;
        out[i].n = 0;
        out[i].doc = obj.doc;
    }
    if (plm__jscan_kind(obj) != '{')
        return 0;
    rec = find_value(obj.doc, obj.p);
    if (rec && rec->complete) { /* the members as the scan recorded them */
        for (uint32_t i = rec->first; i != 0; i = obj.doc->values[i].next) {
            const plm__jscan_value *m = &obj.doc->values[i];

            if (take_member(keys, nkeys, out, m->name, m->name_len, m->p,
                            m->end) < 0)
                return -1;
        }
        return 0;
    }
    end = obj.p + obj.n - 1; /* the closing brace */
    p = skip_ws_text(obj.p + 1, end);
    while (p < end) {
        const char *name = p + 1, *value;
        size_t nlen;

        p = strchr(name, '"'); /* a scanned name has no escape */
        nlen = (size_t)(p - name);
        p = skip_ws_text(p + 1, end) + 1; /* the colon */
        value = skip_ws_text(p, end);
        p = skip_value(value, end, obj.doc);
        if (take_member(keys, nkeys, out, name, nlen, value, p) < 0)
            return -1;
        p = skip_ws_text(p, end);
        if (p < end) /* the comma */
            p = skip_ws_text(p + 1, end);
    }
    return 0;
}

int plm__jscan_member(plm__jspan obj, const char *key, plm__jspan *out)
{
    if (plm__jscan_members(obj, &key, 1, out) < 0)
        return -1;
    return out->p != NULL;
}

int plm__jscan_next(plm__jspan arr, plm__jspan *it)
{
    const char *p, *end;

    if (plm__jscan_kind(arr) != '[')
        return 0;
    end = arr.p + arr.n - 1; /* the closing bracket */
    if (it->p == NULL) {
        p = skip_ws_text(arr.p + 1, end);
    } else {
        p = skip_ws_text(it->p + it->n, end);
        if (p >= end)
            return 0;
        p = skip_ws_text(p + 1, end); /* the comma */
    }
    if (p >= end)
        return 0;
    it->p = p;
    it->n = (size_t)(skip_value(p, end, arr.doc) - p);
    it->doc = arr.doc;
    return 1;
}

int plm__jscan_kind(plm__jspan v)
{
    if (!v.p || v.n == 0)
        return 0;
    if (v.p[0] == '-' || (v.p[0] >= '0' && v.p[0] <= '9'))
        return '0';
    return v.p[0];
}
int plm__jscan_integer(plm__jspan v, int64_t *out)
{
    int64_t value = 0;
    size_t i = 0;
    int negative = 0;

    if (plm__jscan_kind(v) != '0')
        return 0;
    if (v.p[0] == '-') {
        negative = 1;
        i = 1;
    }
    for (size_t j = i; j < v.n; j++)
        if (v.p[j] < '0' || v.p[j] > '9')
            return 0; /* a fraction or an exponent: a real */
    for (; i < v.n; i++)
        value = value * 10 + (v.p[i] - '0'); /* <= 18 digits: no overflow */
    *out = negative ? -value : value;
    return 1;
}

static size_t put_utf8(char *dst, long u)
{
    if (u < 0x80) {
        dst[0] = (char)u;
        return 1;
    }
    if (u < 0x800) {
        dst[0] = (char)(0xC0 | (u >> 6));
        dst[1] = (char)(0x80 | (u & 0x3F));
        return 2;
    }
    dst[0] = (char)(0xE0 | (u >> 12));
    dst[1] = (char)(0x80 | ((u >> 6) & 0x3F));
    dst[2] = (char)(0x80 | (u & 0x3F));
    return 3;
}

char *plm__jscan_string(plm__jspan v, size_t *len_out, int *oom)
{
    const char *p, *end;
    char *out;
    size_t n = 0;

    *oom = 0;
    if (plm__jscan_kind(v) != '"')
        return NULL;
    /* A decoded string is never longer than its text: a \u escape (6 bytes)
     * gives at most 3. */
    out = malloc(v.n);
    if (!out) {
        *oom = 1;
        return NULL;
    }
    end = v.p + v.n - 1; /* the closing quote */
    for (p = v.p + 1; p < end; p++) {
        const char *escape = memchr(p, '\\', (size_t)(end - p));
        size_t run = (size_t)((escape ? escape : end) - p);

        memcpy(out + n, p, run); /* the text up to the next escape */
        n += run;
        if (!escape)
            break;
        p = escape + 1;
        switch (*p) {
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u':
            n += put_utf8(out + n, hex4((const unsigned char *)p + 1));
            p += 4;
            break;
        default: out[n++] = *p; break; /* " \ / */
        }
    }
    out[n] = '\0';
    if (len_out)
        *len_out = n;
    return out;
}
