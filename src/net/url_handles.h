/*
 * Parsed URLs for curl (CURLOPT_CURLU), one per distinct URL a transport
 * sends to, so that curl does not parse the same URL text again on every
 * transfer (libcurl 7.88 spends about 5,500 instructions on it). A run
 * sends to one or two URLs; past PLM__URL_HANDLES distinct ones the rest
 * are handed to curl as text. Loop thread only.
 */
#ifndef PLM_URL_HANDLES_H
#define PLM_URL_HANDLES_H

#include <curl/curl.h>
#include <stddef.h>

#define PLM__URL_HANDLES 8

typedef struct plm__url_handles {
    char *url[PLM__URL_HANDLES];
    CURLU *handle[PLM__URL_HANDLES];
    size_t n;
} plm__url_handles;

/* The parsed url, kept until plm__url_handles_free; NULL when there is no
 * room left, no memory, or curl refuses the URL (the caller then gives
 * curl the text, which reports the error as usual). */
CURLU *plm__url_handle(plm__url_handles *h, const char *url);
/* Frees every handle: no easy handle may still point at one. */
void plm__url_handles_free(plm__url_handles *h);

#endif
