/*
 * The end of a transfer: curl's result code, and what the write and
 * socket callbacks noted on the way, mapped to a plm code and a message.
 */
#include "xfer_finish.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "parallm.h"

/* What curl 7.8x says when all the headers together pass its cap. */
#define PLM__HEADERS_TOO_LARGE "Too large response headers: "

/* curl fails a header line over CURL_MAX_HTTP_HEADER with
 * CURLE_OUT_OF_MEMORY (and no error text), and a header block over its
 * total cap with CURLE_RECV_ERROR. Either is the server's answer being
 * too large, not a lack of memory here. */
static int header_too_big(const plm__xfer *x, CURLcode cc)
{
    /* Only between a status line and the end of its headers: before
     * any answer, an allocation failure is just that. */
    if (!x->in_headers)
        return 0;
    if (cc == CURLE_OUT_OF_MEMORY)
        return 1;
    return cc == CURLE_RECV_ERROR &&
           strncmp(x->curl_error, PLM__HEADERS_TOO_LARGE,
                   strlen(PLM__HEADERS_TOO_LARGE)) == 0;
}

/* The first byte's time comes from curl's own timer (read once, at the
 * end), so the write path stays untouched. 0 means nothing arrived. */
static void first_byte_time(plm__xfer *x)
{
    curl_off_t us = 0;

    x->first_byte_us = -1;
    if (curl_easy_getinfo(x->easy, CURLINFO_STARTTRANSFER_TIME_T, &us) ==
            CURLE_OK &&
        us > 0)
        x->first_byte_us = (int64_t)us;
}

/* Maps a finished transfer's curl code to a plm code and message. The
 * message holds curl's error text, which may name the host but never a
 * header, so the API key cannot leak through it. */
void plm__xfer_finish(plm__xfer *x, CURLcode cc)
{
    const char *detail;
    long status = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    x->http_status = (int)status;
    first_byte_time(x);
    if (cc == CURLE_OK) {
        x->error = 0;
        x->message[0] = '\0';
        return;
    }
    detail = x->curl_error[0] ? x->curl_error : curl_easy_strerror(cc);
    if (!x->no_descriptor && cc == CURLE_COULDNT_CONNECT) {
        long os_errno = 0;
        curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == EMFILE || os_errno == ENFILE)
            x->no_descriptor = (int)os_errno;
    }
    if (x->no_descriptor) {
        /* PLM_ENETWORK for the code; no_descriptor tells the engine it is
         * local (retried, never the provider's failure). */
        x->error = PLM_ENETWORK;
        snprintf(x->message, sizeof x->message,
                 "could not open a connection: %s (this process's limit "
                 "on open files, not the server)",
                 strerror(x->no_descriptor));
    } else if (x->data_error) {
        x->error = x->data_error;
        snprintf(x->message, sizeof x->message,
                 "aborted while reading the response body: %s",
                 x->data_error == PLM_ENOMEM ? "out of memory" : "refused");
    } else if (x->no_memory) {
        x->error = PLM_ENOMEM;
        snprintf(x->message, sizeof x->message,
                 "out of memory for the response body");
    } else if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        x->error = PLM_ETOOBIG;
        snprintf(x->message, sizeof x->message,
                 "response body larger than %zu bytes", x->limit);
    } else if (header_too_big(x, cc)) {
        /* Same class as an oversized body (not retried: the same request
         * gets the same answer). */
        x->error = PLM_ETOOBIG;
        if (cc == CURLE_OUT_OF_MEMORY)
            snprintf(x->message, sizeof x->message,
                     "response header line larger than curl's cap of %d "
                     "bytes (CURL_MAX_HTTP_HEADER)",
                     CURL_MAX_HTTP_HEADER);
        else
            snprintf(x->message, sizeof x->message,
                     "response headers too large (%s bytes, curl's cap)",
                     x->curl_error + strlen(PLM__HEADERS_TOO_LARGE));
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        x->error = PLM_ETIMEOUT;
        snprintf(x->message, sizeof x->message, "timed out: %s", detail);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        x->error = PLM_ECANCELLED;
        snprintf(x->message, sizeof x->message, "cancelled");
    } else {
        x->error = PLM_ENETWORK;
        x->unreachable = cc == CURLE_COULDNT_CONNECT ||
                         cc == CURLE_COULDNT_RESOLVE_HOST ||
                         cc == CURLE_COULDNT_RESOLVE_PROXY ||
                         cc == CURLE_SSL_CONNECT_ERROR ||
                         cc == CURLE_PEER_FAILED_VERIFICATION ||
                         cc == CURLE_SSL_CACERT_BADFILE;
        snprintf(x->message, sizeof x->message, "network error: %s", detail);
    }
    /* A failed transfer's partial answer is not the server's reply. */
    x->http_status = 0;
}
