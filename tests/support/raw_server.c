/* See raw_server.h. */
#include "raw_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads one request: up to the blank line, then Content-Length bytes.
 * Its head, up to and with the blank line, goes to head (truncated). */
static int read_request(int fd, char *head, size_t head_size)
{
    char buf[65536];
    size_t have = 0;
    char *end = NULL;

    while (!end) {
        ssize_t r;
        if (have == sizeof buf - 1)
            return -1;
        r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t body = 0, got = have - (size_t)(end + 4 - buf);
    snprintf(head, head_size, "%.*s", (int)(end + 4 - buf), buf);
    for (char *p = buf; p < end; p++) {
        if ((p == buf || p[-1] == '\n') &&
            strncasecmp(p, "content-length:", 15) == 0)
            body = (size_t)strtoul(p + 15, NULL, 10);
    }
    while (got < body) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        /* MSG_NOSIGNAL: a client that gives up mid-answer must not kill
         * the test with SIGPIPE on this thread. */
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void *serve(void *arg)
{
    plm_raw_server *s = arg;

    for (;;) {
        struct pollfd pf[2] = { { s->listen_fd, POLLIN, 0 },
                                { s->stop_fd[0], POLLIN, 0 } };
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents)
            break;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        if (read_request(fd, s->head, sizeof s->head) == 0) {
            write_all(fd, s->reply, s->reply_len);
            __atomic_add_fetch(&s->served, 1, __ATOMIC_SEQ_CST);
        }
        close(fd);
    }
    return NULL;
}

int plm_raw_server_start(plm_raw_server *s, const char *reply, size_t reply_len)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;

    memset(s, 0, sizeof *s);
    s->stop_fd[0] = s->stop_fd[1] = -1;
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->listen_fd, 64) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0 ||
        pipe(s->stop_fd) != 0)
        goto fail;
    s->port = ntohs(a.sin_port);
    s->reply = malloc(reply_len ? reply_len : 1);
    if (!s->reply)
        goto fail;
    memcpy(s->reply, reply, reply_len);
    s->reply_len = reply_len;
    if (pthread_create(&s->thread, NULL, serve, s) != 0)
        goto fail;
    return 0;
fail:
    close(s->listen_fd);
    if (s->stop_fd[0] >= 0) {
        close(s->stop_fd[0]);
        close(s->stop_fd[1]);
    }
    free(s->reply);
    return -1;
}

void plm_raw_server_stop(plm_raw_server *s)
{
    ssize_t w = write(s->stop_fd[1], "x", 1);
    (void)w;
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->stop_fd[0]);
    close(s->stop_fd[1]);
    free(s->reply);
    s->reply = NULL;
}

char *plm_raw_http_answer(const char *extra_headers, const char *json,
                          size_t *len)
{
    size_t jlen = strlen(json), hlen = strlen(extra_headers);
    size_t cap = hlen + jlen + 256;
    char *out = malloc(cap);
    int n;

    if (!out)
        return NULL;
    n = snprintf(out, cap,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 extra_headers, jlen, json);
    if (n < 0 || (size_t)n >= cap) {
        free(out);
        return NULL;
    }
    *len = (size_t)n;
    return out;
}
