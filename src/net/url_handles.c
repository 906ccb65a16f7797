/*
 * Parsed URLs kept for CURLOPT_CURLU: see url_handles.h.
 *
 * curl copies the handle at the start of each transfer (curl_url_dup)
 * and reads it again only when a transfer starts, but an easy handle
 * keeps pointing at it until it is given another, so a handle lives as
 * long as the transport.
 */
#include "url_handles.h"

#include <stdlib.h>
#include <string.h>

CURLU *plm__url_handle(plm__url_handles *h, const char *url)
{
    CURLU *u;
    char *copy;
    size_t i;

    for (i = 0; i < h->n; i++)
        if (strcmp(h->url[i], url) == 0)
            return h->handle[i];
    if (h->n == PLM__URL_HANDLES)
        return NULL;
    u = curl_url();
    copy = strdup(url);
    /* The flags curl itself parses CURLOPT_URL text with. */
    if (!u || !copy ||
        curl_url_set(u, CURLUPART_URL, url,
                     CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) !=
            CURLUE_OK) {
        curl_url_cleanup(u);
        free(copy);
        return NULL;
    }
    h->url[h->n] = copy;
    h->handle[h->n] = u;
    h->n++;
    return u;
}

void plm__url_handles_free(plm__url_handles *h)
{
    size_t i;

    for (i = 0; i < h->n; i++) {
        curl_url_cleanup(h->handle[i]);
        free(h->url[i]);
    }
    h->n = 0;
}
