/*
 * A tiny HTTP server for tests that need answers the mock cannot give
 * (a header of a megabyte, usage numbers at INT64_MAX): a thread on an
 * ephemeral loopback port that reads each request (headers and a
 * Content-Length body) and writes the same fixed bytes back, then closes
 * the connection. One connection at a time; enough for a few requests.
 * The last request's head (request line and headers) is kept, for tests
 * of what the client sends.
 */
#ifndef PLM_RAW_SERVER_H
#define PLM_RAW_SERVER_H

#include <pthread.h>
#include <stddef.h>

typedef struct plm_raw_server {
    int listen_fd;
    int stop_fd[2]; /* a pipe: writing to it stops the thread */
    int port;
    char *reply;
    size_t reply_len;
    unsigned served; /* requests answered (read after stop) */
    char head[8192]; /* the last request's head, NUL-ended (after stop) */
    pthread_t thread;
} plm_raw_server;

/* Starts serving reply (copied) on 127.0.0.1:<s->port>. 0 or -1. */
int plm_raw_server_start(plm_raw_server *s, const char *reply,
                         size_t reply_len);
/* Stops the thread and frees everything. */
void plm_raw_server_stop(plm_raw_server *s);

/* An HTTP/1.1 200 answer with a JSON body (Content-Length and Connection:
 * close added), optionally preceded by extra header lines ("" for none;
 * each line ends in \r\n). The caller frees it; *len gets its size. */
char *plm_raw_http_answer(const char *extra_headers, const char *json,
                          size_t *len);

#endif
