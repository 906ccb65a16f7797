/*
 * Key masking and excerpts of untrusted bytes (see scrub.h).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "scrub.h"

static int key_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* A byte of a key sent in a header: base64 and URL-safe alphabets. */
static int value_char(char c)
{
    return key_char(c) || c == '.' || c == '~' || c == '+' || c == '/' ||
           c == '=';
}

/* The auth headers whose values are keys, lower case, as a server may
 * echo them ("api-key: ..." also covers Anthropic's "x-api-key"): the
 * value after the name and its separator (": ", "=", "\":\"", a space
 * after "bearer") is masked, whatever the key's shape (Azure keys are
 * hex, with no "sk-" to recognise). */
static const char *const key_headers[] = { "api-key", "bearer", NULL };

/* Where the value after a key header name at p starts, or NULL. */
static char *header_value(char *p, size_t name_len)
{
    char *v = p + name_len;
    int seps = 0;

    while (*v == ' ' || *v == ':' || *v == '=' || *v == '"' || *v == '\'' ||
           *v == '\\') {
        v++;
        if (++seps > 6)
            return NULL;
    }
    return seps ? v : NULL;
}

static void scrub_header_values(char *s)
{
    for (const char *const *h = key_headers; *h; h++) {
        size_t n = strlen(*h);

        for (char *p = s; *p; p++) {
            char *v;
            size_t run = 0;

            if (strncasecmp(p, *h, n) != 0 || !(v = header_value(p, n)))
                continue;
            while (value_char(v[run]) && v[run] != '*')
                run++;
            /* Shorter values are words ("Bearer auth", "Bearer YOUR_KEY"),
             * not keys. */
            if (run >= 16)
                memset(v, '*', run);
            /* Before the value's last byte, or before v when there is
             * none: v may be the string's end, which p++ must not pass. */
            p = run ? v + run - 1 : v - 1;
        }
    }
}

/* Masks what looks like an API key ("sk-..." as OpenAI and Anthropic keys
 * begin, or the value of a key header) so that a provider echoing a key
 * cannot leak it through us. */
void plm__scrub_keys(char *s)
{
    for (char *p = s; (p = strstr(p, "sk-")) != NULL;) {
        char *q = p + 3;
        size_t run = 0;

        while (key_char(q[run]))
            run++;
        if (run >= 8)
            memset(q, '*', run);
        p = q + run;
    }
    scrub_header_values(s);
}

/* out holds the first n bytes of a longer text whose next byte is `next`.
 * A key that the cut leaves too short for scrub_keys is masked too. */
static void mask_cut_key(char *out, size_t n, char next)
{
    size_t start = n;

    if (!key_char(next))
        return;
    while (start > 0 && key_char(out[start - 1]))
        start--;
    for (size_t i = start; i + 3 <= n; i++) {
        if (memcmp(out + i, "sk-", 3) == 0) {
            memset(out + i + 3, '*', n - i - 3);
            return;
        }
    }
}

/* A printable, key-free excerpt of at most PLM_EXCERPT_MAX bytes. The
 * keys are found in a wider window than the excerpt, so a key that the
 * cut leaves short is still recognised. */
void plm__excerpt(char *out, size_t out_size, const char *body, size_t len)
{
    char wide[PLM_EXCERPT_MAX + 129];
    size_t n = len < PLM_EXCERPT_MAX ? len : PLM_EXCERPT_MAX;
    size_t w;

    if (n > out_size - 4)
        n = out_size - 4;
    w = len < n + 128 ? len : n + 128;
    for (size_t i = 0; i < w; i++) {
        unsigned char c = (unsigned char)body[i];

        wide[i] = (c < 0x20 || c == 0x7f) ? ' ' : c >= 0x80 ? '?' : (char)c;
    }
    wide[w] = '\0';
    plm__scrub_keys(wide);
    memcpy(out, wide, n);
    out[n] = '\0';
    if (n < len) {
        mask_cut_key(out, n, body[n]);
        memcpy(out + n, "...", 4);
    }
    plm__scrub_keys(out);
}
