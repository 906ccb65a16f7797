/*
 * JSON text for the output writer of `parallm run` without building a
 * tree: a strict check that a response body can be embedded in an output
 * line byte for byte, and a string encoder. Parsing each body into a
 * jansson tree only to dump it again was most of the command's CPU per
 * request; checking it is a fraction of that. The check is conservative:
 * whatever it refuses goes through jansson as before, so it only has to
 * accept text that is valid JSON (RFC 8259), fits on one line, and that
 * jansson would read back to the same values when a later run resumes
 * from the file.
 */
#include <stdlib.h>
#include <string.h>

#include "run.h"

/* Deeper bodies take the jansson path, whose own limit is 2048. */
#define MAX_DEPTH 512
/* Integers of up to 18 digits fit jansson's 64-bit integers; reals whose
 * magnitude could pass 1e300 might overflow its doubles. */
#define MAX_INT_DIGITS 18
#define MAX_REAL_MAGNITUDE 300

/* Keys of the objects open during a scan of an input line, so that a
 * duplicate (which jansson refuses under JSON_REJECT_DUPLICATES) is
 * seen: an object's keys sit above the ones of the objects around it. */
#define SCAN_MAX_KEYS 512

typedef struct keyset {
    size_t n;
    struct {
        const unsigned char *p;
        size_t len;
    } k[SCAN_MAX_KEYS];
} keyset;

typedef struct cursor {
    const unsigned char *p, *end;
    int cr;       /* '\r' is whitespace (input lines, CRLF files) */
    int escaped;  /* check_string met a backslash */
    keyset *keys; /* NULL: duplicate keys are not looked for */
} cursor;

/* 1 for the bytes a string holds as they are: printable ASCII but the
 * quote and the backslash (one table lookup per byte of a body). */
#define PLAIN8(a, b, c, d, e, f, g, h) a, b, c, d, e, f, g, h
static const unsigned char plain[256] = {
    PLAIN8(0, 0, 0, 0, 0, 0, 0, 0), PLAIN8(0, 0, 0, 0, 0, 0, 0, 0),
    PLAIN8(0, 0, 0, 0, 0, 0, 0, 0), PLAIN8(0, 0, 0, 0, 0, 0, 0, 0),
    PLAIN8(1, 1, 0, 1, 1, 1, 1, 1), PLAIN8(1, 1, 1, 1, 1, 1, 1, 1),
    PLAIN8(1, 1, 1, 1, 1, 1, 1, 1), PLAIN8(1, 1, 1, 1, 1, 1, 1, 1),
    PLAIN8(1, 1, 1, 1, 1, 1, 1, 1), PLAIN8(1, 1, 1, 1, 1, 1, 1, 1),
    PLAIN8(1, 1, 1, 1, 1, 1, 1, 1), PLAIN8(1, 1, 1, 1, 0, 1, 1, 1),
    PLAIN8(1, 1, 1, 1, 1, 1, 1, 1), PLAIN8(1, 1, 1, 1, 1, 1, 1, 1),
    PLAIN8(1, 1, 1, 1, 1, 1, 1, 1), PLAIN8(1, 1, 1, 1, 1, 1, 1, 1),
    /* 0x80 and above: UTF-8, checked sequence by sequence */
};

static void skip_ws(cursor *s)
{
    /* Newlines would split the output line: not accepted here. */
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || (*s->p == '\r' && s->cr)))
        s->p++;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at p (1-4), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int check_string(cursor *s)
{
    s->p++; /* the opening quote */
    while (s->p < s->end) {
        /* Plain ASCII is most of any body: one lookup per byte. */
        while (s->p < s->end && plain[*s->p])
            s->p++;
        if (s->p == s->end)
            break;
        unsigned c = *s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            size_t n = utf8_len(s->p, s->end);
            if (!n)
                return -1;
            s->p += n;
            continue;
        }
        if (s->end - s->p < 2)
            return -1;
        s->escaped = 1;
        c = s->p[1];
        if (c && strchr("\"\\/bfnrt", (int)c)) {
            s->p += 2;
            continue;
        }
        unsigned u, lo;
        if (c != 'u' || s->end - s->p < 6 || hex4(s->p + 2, &u) != 0)
            return -1;
        s->p += 6;
        /* jansson refuses \u0000 and lone or reversed surrogates. */
        if (u == 0 || (u >= 0xdc00 && u <= 0xdfff))
            return -1;
        if (u >= 0xd800 && u <= 0xdbff) {
            if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
                hex4(s->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                return -1;
            s->p += 6;
        }
    }
    return -1;
}

static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static int check_number(cursor *s)
{
    size_t int_digits = 0;
    int real = 0;
    long exp = 0;
    if (*s->p == '-')
        s->p++;
    if (s->p == s->end || !is_digit(*s->p))
        return -1;
    if (*s->p == '0') {
        s->p++;
    } else {
        while (s->p < s->end && is_digit(*s->p)) {
            s->p++;
            int_digits++;
        }
    }
    if (s->p < s->end && *s->p == '.') {
        real = 1;
        s->p++;
        if (s->p == s->end || !is_digit(*s->p))
            return -1;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        int neg = 0;
        real = 1;
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            neg = *s->p++ == '-';
        if (s->p == s->end || !is_digit(*s->p))
            return -1;
        while (s->p < s->end && is_digit(*s->p)) {
            if (exp < 100000)
                exp = exp * 10 + (*s->p - '0');
            s->p++;
        }
        if (neg)
            exp = -exp;
    }
    if (!real)
        return int_digits <= MAX_INT_DIGITS ? 0 : -1;
    return (long)int_digits + exp <= MAX_REAL_MAGNITUDE ? 0 : -1;
}

static int check_literal(cursor *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int check_value(cursor *s, int depth);

/* Records the key at p (len bytes, as written) of the object whose keys
 * start at base: -1 when it is already there, or cannot be compared as
 * written (escapes), or the set is full; the scan is then unsure. */
static int add_key(keyset *ks, size_t base, const unsigned char *p, size_t len,
                   int escaped)
{
    if (escaped || ks->n == SCAN_MAX_KEYS)
        return -1;
    for (size_t i = base; i < ks->n; i++) {
        if (ks->k[i].len == len && memcmp(ks->k[i].p, p, len) == 0)
            return -1;
    }
    ks->k[ks->n].p = p;
    ks->k[ks->n].len = len;
    ks->n++;
    return 0;
}

/* The key of an object member at s->p, checked (and recorded when the
 * scan looks for duplicates). */
static int check_key(cursor *s, size_t base)
{
    const unsigned char *k = s->p + 1;
    if (s->p == s->end || *s->p != '"')
        return -1;
    s->escaped = 0;
    if (check_string(s) != 0)
        return -1;
    if (s->keys &&
        add_key(s->keys, base, k, (size_t)(s->p - 1 - k), s->escaped) != 0)
        return -1;
    return 0;
}

static int check_container(cursor *s, int depth)
{
    unsigned char close = *s->p == '{' ? '}' : ']';
    int object = close == '}';
    size_t base = s->keys ? s->keys->n : 0;
    if (depth >= MAX_DEPTH)
        return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (object) {
            if (check_key(s, base) != 0)
                return -1;
            skip_ws(s);
            if (s->p == s->end || *s->p != ':')
                return -1;
            s->p++;
            skip_ws(s);
        }
        if (check_value(s, depth + 1) != 0)
            return -1;
        skip_ws(s);
        if (s->p == s->end)
            return -1;
        if (*s->p == close) {
            s->p++;
            if (s->keys)
                s->keys->n = base; /* the object's keys are done with */
            return 0;
        }
        if (*s->p != ',')
            return -1;
        s->p++;
        skip_ws(s);
    }
}

static int check_value(cursor *s, int depth)
{
    if (s->p == s->end)
        return -1;
    switch (*s->p) {
    case '{':
    case '[': return check_container(s, depth);
    case '"': return check_string(s);
    case 't': return check_literal(s, "true");
    case 'f': return check_literal(s, "false");
    case 'n': return check_literal(s, "null");
    default: return check_number(s);
    }
}

int cli_json_embeddable(const char *text, size_t len)
{
    cursor s = { (const unsigned char *)text, (const unsigned char *)text + len,
                 0, 0, NULL };
    skip_ws(&s);
    /* jansson reads only objects and arrays at the top without
     * JSON_DECODE_ANY; the output has always done the same. */
    if (s.p == s.end || (*s.p != '{' && *s.p != '['))
        return 0;
    if (check_value(&s, 0) != 0)
        return 0;
    skip_ws(&s);
    return s.p == s.end;
}

char *cli_json_put_string(char *out, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)str;
    const unsigned char *end = p + strlen(str);
    *out++ = '"';
    while (p < end) {
        unsigned c = *p;
        if (c >= 0x80) {
            size_t n = utf8_len(p, end);
            if (!n)
                return NULL;
            memcpy(out, p, n);
            out += n;
            p += n;
            continue;
        }
        p++;
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c == '\n') {
            *out++ = '\\';
            *out++ = 'n';
        } else if (c == '\t') {
            *out++ = '\\';
            *out++ = 't';
        } else if (c < 0x20) {
            memcpy(out, "\\u00", 4);
            out[4] = hex[c >> 4];
            out[5] = hex[c & 15];
            out += 6;
        } else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    return out;
}

/* Walks the object at s->p to its end, noting in m[0..n) where the
 * members named there sit, as written. 0 when the whole text is one
 * object the checks accept (then nothing but whitespace may follow). */
static int scan_members(cursor *s, cli_json_member *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        m[i].value = NULL;
        m[i].len = 0;
        m[i].escaped = 0;
    }
    skip_ws(s);
    if (s->p == s->end || *s->p != '{')
        return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        goto end;
    }
    for (;;) {
        const unsigned char *k = s->p + 1;
        if (check_key(s, 0) != 0)
            return -1;
        /* A key spelled with escapes matches no name (the scan looking
         * for duplicates has already given up on it). */
        size_t klen = (size_t)(s->p - 1 - k);
        int escaped = s->escaped;
        skip_ws(s);
        if (s->p == s->end || *s->p != ':')
            return -1;
        s->p++;
        skip_ws(s);
        const unsigned char *v = s->p;
        s->escaped = 0;
        if (check_value(s, 1) != 0)
            return -1;
        for (size_t i = 0; i < n && !escaped; i++) {
            if (strlen(m[i].key) == klen && memcmp(k, m[i].key, klen) == 0) {
                m[i].value = (const char *)v;
                m[i].len = (size_t)(s->p - v);
                m[i].escaped = s->escaped;
            }
        }
        skip_ws(s);
        if (s->p == s->end)
            return -1;
        if (*s->p == '}') {
            s->p++;
            break;
        }
        if (*s->p != ',')
            return -1;
        s->p++;
        skip_ws(s);
    }
end:
    skip_ws(s);
    return s->p == s->end ? 0 : -1;
}

int cli_json_scan_object(const char *text, size_t len, cli_json_member *m,
                         size_t n)
{
    keyset keys; /* only n is read before a write */
    cursor s = { (const unsigned char *)text, (const unsigned char *)text + len,
                 1, 0, &keys };
    keys.n = 0;
    return scan_members(&s, m, n) == 0;
}

int cli_json_member_text(const char *text, size_t len, const char *key,
                         char **out)
{
    cursor s = { (const unsigned char *)text, (const unsigned char *)text + len,
                 1, 0, NULL };
    cli_json_member m = { key, NULL, 0, 0 };
    *out = NULL;
    if (scan_members(&s, &m, 1) != 0 || !m.value)
        return -1;
    /* The bytes as written: whitespace, escapes and the spelling of
     * numbers are the user's, and go out as they are. */
    *out = strndup(m.value, m.len);
    return *out ? 0 : -2;
}

char *cli_utf8_repair(const char *s, size_t len, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    /* Each bad byte becomes U+FFFD, three bytes. */
    char *out = malloc(3 * len + 1), *o = out;
    if (!out)
        return NULL;
    while (p < end) {
        size_t n = utf8_len(p, end);
        if (n) {
            memcpy(o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        }
    }
    *o = '\0';
    *outlen = (size_t)(o - out);
    return out;
}

size_t cli_utf8_cut(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0;
    while (i < len) {
        size_t n = utf8_len(p + i, p + len);
        if (n == 0)
            n = 1;
        if (i + n > max)
            break;
        i += n;
    }
    return i;
}

int cli_json_depth_over(const char *text, size_t len, int limit)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > limit)
                return 1;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}
