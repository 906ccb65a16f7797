/*
 * Key masking and excerpts of untrusted bytes (see scrub.h).
 */
#include <ctype.h>
#include <string.h>

#include "scrub.h"

static int key_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Masks what looks like an API key ("sk-..." as OpenAI and Anthropic keys
 * begin) so that a provider echoing a key cannot leak it through us. */
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

/* A printable, key-free excerpt of at most PLM_EXCERPT_MAX bytes. */
void plm__excerpt(char *out, size_t out_size, const char *body, size_t len)
{
    size_t n = len < PLM_EXCERPT_MAX ? len : PLM_EXCERPT_MAX;

    if (n > out_size - 4)
        n = out_size - 4;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];

        out[i] = (c < 0x20 || c == 0x7f) ? ' ' : c >= 0x80 ? '?' : (char)c;
    }
    out[n] = '\0';
    if (n < len) {
        mask_cut_key(out, n, body[n]);
        memcpy(out + n, "...", 4);
    }
    plm__scrub_keys(out);
}
