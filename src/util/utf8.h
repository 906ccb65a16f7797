/*
 * One UTF-8 sequence's length, for the JSON code that must accept
 * exactly what jansson accepts (json_scan.c reading answers, json_write.c
 * writing bodies). Inline: both call it once per non-ASCII character of
 * every string they read or write.
 */
#ifndef PLM_UTIL_UTF8_H
#define PLM_UTIL_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at p (its lead byte >= 0x80,
 * end the end of the text), or 0: RFC 3629's table, which is what
 * jansson's utf8_check_* accept (no overlong forms, no surrogates,
 * nothing past U+10FFFF). */
static inline size_t plm__utf8_len(const unsigned char *p,
                                   const unsigned char *end)
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

#endif
