/*
 * Starts a private redis-server for a test (see redis_server.h).
 */
#include "redis_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

/* A port the kernel just handed out on loopback (free a moment ago). */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int spawn(plm_test_redis *r)
{
    char port[16];
    pid_t pid;

    snprintf(port, sizeof port, "%d", r->port);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    return 0;
}

/* Polls PING (the server's readiness, not a fixed sleep), up to 10 s. */
static int wait_ready(plm_test_redis *r)
{
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    for (int i = 0; i < 500; i++) {
        int status;
        redisContext *c;
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            r->pid = 0;
            return -1;
        }
        c = redisConnect("127.0.0.1", r->port);
        if (c && !c->err) {
            redisReply *rep = redisCommand(c, "PING");
            int ok = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return 0;
        } else if (c) {
            redisFree(c);
        }
        nanosleep(&ts, NULL);
    }
    return -1;
}

int plm_test_redis_start(plm_test_redis *r)
{
    memset(r, 0, sizeof *r);
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        fprintf(stderr, "FAIL: redis-server not found: install the Debian "
                        "package redis-server (scripts/install-deps.sh)\n");
        return -1;
    }
    for (int tries = 0; tries < 5; tries++) {
        r->port = free_port();
        if (r->port > 0 && spawn(r) == 0 && wait_ready(r) == 0)
            return 0;
        plm_test_redis_kill(r);
    }
    fprintf(stderr, "FAIL: redis-server did not start\n");
    return -1;
}

int plm_test_redis_restart(plm_test_redis *r)
{
    if (spawn(r) != 0 || wait_ready(r) != 0) {
        fprintf(stderr, "FAIL: redis-server did not restart\n");
        return -1;
    }
    return 0;
}

void plm_test_redis_kill(plm_test_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    r->pid = 0;
}
