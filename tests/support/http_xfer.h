/*
 * A small libcurl client for tests: one transfer's request (URL, optional
 * POST body, header lines) and everything that came back (status, headers,
 * body, curl result), run alone or many at once on a curl multi in a
 * thread of its own so the test can wait on the server meanwhile.
 */
#ifndef PLM_HTTP_XFER_H
#define PLM_HTTP_XFER_H

#include <pthread.h>
#include <stddef.h>

#include <curl/curl.h>

typedef struct plm_test_buf {
    char *p; /* NUL-terminated, or NULL when empty */
    size_t len;
} plm_test_buf;

typedef struct plm_test_xfer {
    CURL *h;
    struct curl_slist *hdrs;
    char *post;
    plm_test_buf body;
    plm_test_buf head; /* raw response header lines */
    long status;
    CURLcode rc;
} plm_test_xfer;

/* Prepares a POST of body (a GET when body is NULL) to url with the
 * NULL-terminated header lines (may be NULL). Returns 0 or -1. */
int plm_test_xfer_init(plm_test_xfer *x, const char *url, const char *body,
                       const char *const *headers);
/* Runs the transfer to its end; fills rc and status. */
void plm_test_xfer_run(plm_test_xfer *x);
/* Forgets the previous answer so the handle can be run again. */
void plm_test_xfer_clear(plm_test_xfer *x);
void plm_test_xfer_free(plm_test_xfer *x);
/* The value of the last response header called name (any case), copied
 * into out, or NULL. */
const char *plm_test_xfer_header(const plm_test_xfer *x, const char *name,
                                 char *out, size_t len);
/* A CURLOPT_WRITEFUNCTION appending to the plm_test_buf given as data. */
size_t plm_test_buf_append(char *p, size_t size, size_t n, void *arg);

typedef struct plm_test_multi {
    plm_test_xfer *xs;
    int n;
    pthread_t thread;
} plm_test_multi;

/* Runs xs[0..n) in parallel on a thread until all finish. 0 or -1. */
int plm_test_multi_start(plm_test_multi *r, plm_test_xfer *xs, int n);
void plm_test_multi_join(plm_test_multi *r);

#endif
