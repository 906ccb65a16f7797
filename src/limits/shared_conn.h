/*
 * The connection to the Redis server that holds the shared limits: the
 * redis:// URL, hiredis's asynchronous client driven by the engine's loop
 * (its socket is one more fd watcher, its time-outs loop timers), a time
 * limit on every command, reconnection with backoff, and the grant
 * script sent by EVALSHA (its SHA-1 from SCRIPT LOAD on each connection;
 * EVAL until then and whenever the server answers NOSCRIPT). Nothing here
 * blocks the loop: a command that is not answered within PLM__RCONN_TIMEOUT_MS
 * fails (its callback gets NULL) and the connection is dropped and made again
 * later. Loop thread only.
 */
#ifndef PLM_SHARED_CONN_H
#define PLM_SHARED_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct redisReply;

/* How long a command (or the connection itself) may take before Redis
 * counts as failed for now. */
#define PLM__RCONN_TIMEOUT_MS 300
/* Reconnection backoff: doubling from the first to the last. */
#define PLM__RCONN_BACKOFF_MIN_MS 100
#define PLM__RCONN_BACKOFF_MAX_MS 2000

#define PLM__REDIS_NS_MAX 64

/* A parsed redis://[[user]:password@]host[:port][/db][?namespace=NAME]. */
typedef struct plm__redis_url {
    char host[256];
    int port;                       /* default 6379 */
    int db;                         /* default 0 */
    char *user;                     /* NULL = none (AUTH password) */
    char *password;                 /* NULL = no AUTH; never logged */
    char ns[PLM__REDIS_NS_MAX + 1]; /* default "default" */
} plm__redis_url;

/* Parses url into *out. Returns PLM_OK, PLM_EINVAL (the error detail,
 * field "shared_limits_url", says why without quoting a password) or
 * PLM_ENOMEM. On success free with plm__redis_url_clear. */
int plm__redis_url_parse(const char *url, plm__redis_url *out);
/* Frees (and wipes) the secrets of u. */
void plm__redis_url_clear(plm__redis_url *u);

typedef struct plm__rconn plm__rconn;

/* A command's answer: r is NULL when it failed (time-out, the connection
 * lost, an error reply); the reply is freed after the call. */
typedef void (*plm__rconn_reply_fn)(void *priv, const struct redisReply *r);
/* The connection went up (up = 1) or down (0, with a reason that never
 * contains a secret). */
typedef void (*plm__rconn_state_fn)(void *data, int up, const char *why);

/* Creates the connection object (copies u); it connects on the first
 * plm__rconn_start. Returns PLM_OK or PLM_ENOMEM. */
int plm__rconn_new(plm__rconn **out, plm__loop *loop, const plm__redis_url *u,
                   const char *script, plm__rconn_state_fn state, void *data);
/* Drops the connection (pending callbacks get NULL) and frees c. */
void plm__rconn_free(plm__rconn *c);

/* Starts connecting unless connected, connecting or waiting to retry. */
void plm__rconn_start(plm__rconn *c);
/* 1 when commands can be sent: connected, or connecting for the first
 * time since the last failure (they are queued meanwhile). */
int plm__rconn_usable(const plm__rconn *c);
/* 1 when the connection is established and Redis has answered on it. */
int plm__rconn_up(const plm__rconn *c);

/* Runs the script with argv (numkeys, keys..., args...; copied) by
 * EVALSHA, falling back to EVAL on NOSCRIPT. fn (may be NULL) gets the
 * answer, or NULL. Returns 0 when sent, -1 when not (down: fn is not
 * called). */
int plm__rconn_eval(plm__rconn *c, plm__rconn_reply_fn fn, void *priv, int argc,
                    const char **argv);

/* Writes what is queued now, without blocking (the socket is
 * non-blocking; what does not fit is written by the loop later). */
void plm__rconn_flush(plm__rconn *c);

/* Where the server is, for messages: "host:port" (no password). */
const char *plm__rconn_where(const plm__rconn *c);

#endif
