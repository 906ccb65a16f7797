/*
 * A validating JSON scanner that builds no tree, for the providers'
 * non-streamed answers.
 *
 * Why not jansson here (which STYLE prefers, and which every other JSON
 * reader in src/ uses): a 300-byte chat answer cost the client about
 * 56,000 instructions in json_loadb and json_decref (a hash table per
 * object, a malloc per string and number), more than libcurl's whole
 * transfer, to read four or five fields (callgrind, docs/PERFORMANCE.md).
 * This scanner checks the whole document and then finds those fields in
 * place, with no allocation but the strings it returns.
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

#define PLM__JSCAN_DEPTH 64

struct scan {
    const unsigned char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
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

/* Length of the well-formed UTF-8 sequence at p (its lead byte >= 0x80),
 * or 0 (RFC 3629's table, which is what jansson's utf8_check_* accept). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;

    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* What a byte is inside a string: plain, or one that needs a look. */
static int string_special(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

/* A string at s->p (its opening quote); key: a member name, which must
 * have no escape. 1 when scanned, 0 to fall back. */
static int scan_string(struct scan *s, int key)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c = *s->p;

        if (!string_special(c)) {
            s->p++;
            continue;
        }
        if (c == '"') {
            s->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            long u;

            if (key || s->end - s->p < 2)
                return 0;
            c = s->p[1];
            if (c != 'u') {
                if (!strchr("\"\\/bfnrt", c) || c == '\0')
                    return 0;
                s->p += 2;
                continue;
            }
            if (s->end - s->p < 6)
                return 0;
            u = hex4(s->p + 2);
            if (u <= 0 || (u >= 0xD800 && u <= 0xDFFF))
                return 0;
            s->p += 6;
        } else {
            size_t n = utf8_len(s->p, s->end);
            if (n == 0)
                return 0;
            s->p += n;
        }
    }
    return 0;
}

static int scan_digits(struct scan *s, size_t *count)
{
    const unsigned char *start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    *count = (size_t)(s->p - start);
    return *count > 0;
}

/* A number, as jansson's lexer reads one; 0 also for those whose value
 * jansson would refuse (integer out of range, real overflow). */
static int scan_number(struct scan *s)
{
    size_t int_digits, n;
    long exp = 0;
    int real = 0, exp_negative = 0;

    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0') {
        s->p++;
        int_digits = 1;
        if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            return 0;
    } else if (!scan_digits(s, &int_digits)) {
        return 0;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        real = 1;
        if (!scan_digits(s, &n))
            return 0;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        const unsigned char *d;

        s->p++;
        real = 1;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            exp_negative = *s->p++ == '-';
        d = s->p;
        if (!scan_digits(s, &n) || n > 4)
            return 0;
        for (; d < s->p; d++)
            exp = exp * 10 + (*d - '0');
    }
    if (!real)
        return int_digits <= 18;
    /* Below 10^(int_digits + exp) <= 10^300: never strtod's HUGE_VAL. */
    return int_digits <= 300 && (exp_negative || (long)int_digits + exp <= 300);
}

static int scan_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

static int scan_value(struct scan *s, int depth);

/* An object or array at s->p; 1 when scanned, 0 to fall back. */
static int scan_container(struct scan *s, int depth)
{
    unsigned char close = *s->p == '{' ? '}' : ']';
    int object = close == '}';

    if (depth >= PLM__JSCAN_DEPTH)
        return 0;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 1;
    }
    for (;;) {
        if (object) {
            if (s->p >= s->end || *s->p != '"' || !scan_string(s, 1))
                return 0;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return 0;
            s->p++;
            skip_ws(s);
        }
        if (!scan_value(s, depth + 1))
            return 0;
        skip_ws(s);
        if (s->p >= s->end)
            return 0;
        if (*s->p == close) {
            s->p++;
            return 1;
        }
        if (*s->p != ',')
            return 0;
        s->p++;
        skip_ws(s);
    }
}

static int scan_value(struct scan *s, int depth)
{
    if (s->p >= s->end)
        return 0;
    switch (*s->p) {
    case '{':
    case '[': return scan_container(s, depth);
    case '"': return scan_string(s, 0);
    case 't': return scan_literal(s, "true");
    case 'f': return scan_literal(s, "false");
    case 'n': return scan_literal(s, "null");
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return scan_number(s);
        return 0;
    }
}

int plm__jscan_object(const char *body, size_t len, plm__jspan *root)
{
    struct scan s = { (const unsigned char *)body,
                      (const unsigned char *)body + len };
    const unsigned char *start;

    if (!body)
        return 0;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return 0;
    start = s.p;
    if (!scan_value(&s, 0))
        return 0;
    root->p = (const char *)start;
    root->n = (size_t)(s.p - start);
    skip_ws(&s);
    return s.p == s.end;
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

/* The end of the (already scanned, so valid) value at p. */
static const char *skip_value(const char *p, const char *end)
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

static const char *skip_ws_text(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

int plm__jscan_members(plm__jspan obj, const char *const *keys, size_t nkeys,
                       plm__jspan *out)
{
    const char *p, *end;

    for (size_t i = 0; i < nkeys; i++) {
        out[i].p = NULL;
        out[i].n = 0;
    }
    if (plm__jscan_kind(obj) != '{')
        return 0;
    end = obj.p + obj.n - 1; /* the closing brace */
    p = skip_ws_text(obj.p + 1, end);
    while (p < end) {
        const char *name = p + 1, *value;
        size_t nlen;

        p = skip_value(p, end); /* the name: no escapes in a scanned one */
        nlen = (size_t)(p - 1 - name);
        p = skip_ws_text(p, end) + 1; /* the colon */
        value = skip_ws_text(p, end);
        p = skip_value(value, end);
        for (size_t i = 0; i < nkeys; i++) {
            if (strncmp(keys[i], name, nlen) != 0 || keys[i][nlen] != '\0')
                continue;
            if (out[i].p)
                return -1;
            out[i].p = value;
            out[i].n = (size_t)(p - value);
        }
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
    it->n = (size_t)(skip_value(p, end) - p);
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
        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        p++;
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
