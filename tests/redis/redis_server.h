/*
 * A real redis-server for a test: started on a free loopback port with no
 * persistence (--save '' --appendonly no), killed and reaped at the end.
 */
#ifndef PLM_TEST_REDIS_SERVER_H
#define PLM_TEST_REDIS_SERVER_H

#include <sys/types.h>

typedef struct plm_test_redis {
    pid_t pid;
    int port;
} plm_test_redis;

/* Starts redis-server and waits (bounded, 10 s) until it answers PING.
 * Returns 0, or -1 after printing why (redis-server missing names the
 * Debian package to install). */
int plm_test_redis_start(plm_test_redis *r);
/* Starts it again on the same port (after a kill). 0 or -1. */
int plm_test_redis_restart(plm_test_redis *r);
/* SIGKILLs and reaps it (no-op when not running). */
void plm_test_redis_kill(plm_test_redis *r);

#endif
