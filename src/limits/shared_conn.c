/*
 * The Redis connection of the shared limits (see shared_conn.h): the
 * redis:// URL, an adapter that lets hiredis's asynchronous client run on
 * the engine's loop (like hiredis's own adapters/ae.h: the loop watches
 * the socket and calls redisAsyncHandleRead/Write), a watchdog timer that
 * fails commands Redis does not answer in time, and reconnection with
 * backoff. Every command is a script call; the script's SHA-1 comes from
 * SCRIPT LOAD, sent first on every connection.
 */
#include "shared_conn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "errdetail.h"
#include "parallm.h"

enum { ST_DOWN, ST_CONNECTING, ST_UP };

/* One command sent and not yet answered, in the order sent (Redis
 * answers in that order, so the oldest is the first to time out). */
typedef struct pending {
    struct pending *prev, *next;
    plm__rconn *conn;
    plm__rconn_reply_fn fn;
    void *priv;
    int64_t sent_ns;
    int argc;     /* of the script's arguments (after the script) */
    char **argv;  /* copies */
    size_t *lens; /* their lengths */
    int by_sha;   /* sent as EVALSHA */
} pending;

struct plm__rconn {
    plm__loop *loop;
    plm__redis_url url;
    char *script;
    char sha[41]; /* "" until SCRIPT LOAD answered */
    plm__rconn_state_fn state_fn;
    void *state_data;
    redisAsyncContext *ac;
    int fd, mask;
    int state;
    int64_t connect_started;
    int64_t backoff_ms;
    int retry_waiting;    /* the reconnect timer is armed */
    pending head;         /* sentinel of the list of pending commands */
    plm__timer watchdog;  /* time-outs while commands are pending */
    plm__timer reconnect; /* the next attempt after a failure */
    plm__timer teardown;  /* a failure seen inside a hiredis callback */
    char why[160];        /* the reason of the deferred teardown */
    char where[280];
};

/* ---- the URL ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A copy of s[0..n) with %XX decoded; NULL when out of memory. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t i, j = 0;
    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

static int bad(const char *why)
{
    return plm__error_set(PLM_EINVAL, "shared_limits_url", "%s", why);
}

static int parse_number(const char *s, size_t n, int max, int *out)
{
    long v = 0;
    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int ns_ok(const char *s, size_t n)
{
    if (n == 0 || n > PLM__REDIS_NS_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return 0;
    return 1;
}

/* The part after the authority: [/db][?namespace=NAME]. */
static int parse_tail(const char *p, plm__redis_url *out)
{
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);

    if (plen > 1 && parse_number(p + 1, plen - 1, 1000000, &out->db) != 0)
        return bad("the path must be a database number (redis://host:port/0)");
    if (!q)
        return PLM_OK;
    q++;
    if (strncmp(q, "namespace=", 10) != 0)
        return bad("the only query parameter is namespace=NAME");
    q += 10;
    if (!ns_ok(q, strlen(q)))
        return bad("namespace must be 1 to 64 characters of A-Z a-z 0-9 _ . -");
    memcpy(out->ns, q, strlen(q) + 1);
    return PLM_OK;
}

/* [[user]:password@] */
static int parse_userinfo(const char *s, size_t n, plm__redis_url *out)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return bad("the part before @ must be [user]:password");
    if (colon > s && !(out->user = pct_decode(s, (size_t)(colon - s))))
        return PLM_ENOMEM;
    if (!(out->password = pct_decode(colon + 1, n - (size_t)(colon - s) - 1)))
        return PLM_ENOMEM;
    return PLM_OK;
}

int plm__redis_url_parse(const char *url, plm__redis_url *out)
{
    const char *p, *at, *end, *colon;
    size_t hlen;
    int rc;

    memset(out, 0, sizeof *out);
    out->port = 6379;
    strcpy(out->ns, "default");
    if (strncmp(url, "rediss://", 9) == 0)
        return bad("rediss:// (TLS) is not supported: the Redis client "
                   "(hiredis 0.14) has no TLS; use redis:// on a trusted "
                   "network or through a TLS tunnel");
    if (strncmp(url, "redis://", 8) != 0)
        return bad("must start with redis://");
    p = url + 8;
    end = p + strcspn(p, "/?");
    at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        if ((rc = parse_userinfo(p, (size_t)(at - p), out)) != PLM_OK)
            goto fail;
        p = at + 1;
    }
    colon = memchr(p, ':', (size_t)(end - p));
    hlen = (size_t)((colon ? colon : end) - p);
    if (hlen == 0 || hlen >= sizeof out->host) {
        rc = bad("no host (redis://host:port)");
        goto fail;
    }
    memcpy(out->host, p, hlen);
    out->host[hlen] = '\0';
    if (colon && (parse_number(colon + 1, (size_t)(end - colon - 1), 65535,
                               &out->port) != 0 ||
                  out->port == 0)) {
        rc = bad("the port must be a number from 1 to 65535");
        goto fail;
    }
    if ((rc = parse_tail(end, out)) != PLM_OK)
        goto fail;
    return PLM_OK;
fail:
    plm__redis_url_clear(out);
    return rc;
}

void plm__redis_url_clear(plm__redis_url *u)
{
    if (u->password) {
        memset(u->password, 0, strlen(u->password));
        free(u->password);
    }
    free(u->user);
    u->password = u->user = NULL;
}

/* ---- the loop adapter ---- */

static void on_fd(int fd, int events, void *data)
{
    plm__rconn *c = data;
    redisAsyncContext *ac = c->ac;
    (void)fd;
    if (!ac)
        return;
    if (events & PLM__LOOP_READ)
        redisAsyncHandleRead(ac);
    /* Reading may have ended (and freed) the connection. */
    if (c->ac == ac && (events & PLM__LOOP_WRITE))
        redisAsyncHandleWrite(ac);
}

static void set_mask(plm__rconn *c, int mask)
{
    if (mask == c->mask)
        return;
    c->mask = mask;
    plm__loop_watch(c->loop, c->fd, mask, mask ? on_fd : NULL, c);
}

static void ev_add_read(void *d)
{
    plm__rconn *c = d;
    set_mask(c, c->mask | PLM__LOOP_READ);
}

static void ev_del_read(void *d)
{
    plm__rconn *c = d;
    set_mask(c, c->mask & ~PLM__LOOP_READ);
}

static void ev_add_write(void *d)
{
    plm__rconn *c = d;
    set_mask(c, c->mask | PLM__LOOP_WRITE);
}

static void ev_del_write(void *d)
{
    plm__rconn *c = d;
    set_mask(c, c->mask & ~PLM__LOOP_WRITE);
}

/* hiredis is about to close the socket. */
static void ev_cleanup(void *d)
{
    plm__rconn *c = d;
    set_mask(c, 0);
    c->fd = -1;
}

/* ---- failures and reconnection ---- */

static void go_down(plm__rconn *c, const char *why)
{
    int was = c->state;
    redisAsyncContext *ac = c->ac;

    c->state = ST_DOWN;
    c->ac = NULL;
    c->sha[0] = '\0';
    if (ac) {
        /* Calls every pending callback with NULL, then ev_cleanup. */
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    plm__timer_stop(c->loop, &c->watchdog);
    if (!c->retry_waiting) {
        c->retry_waiting = 1;
        plm__timer_start(c->loop, &c->reconnect, c->backoff_ms);
        c->backoff_ms = c->backoff_ms * 2 > PLM__RCONN_BACKOFF_MAX_MS
                            ? PLM__RCONN_BACKOFF_MAX_MS
                            : c->backoff_ms * 2;
    }
    if (was != ST_DOWN && c->state_fn)
        c->state_fn(c->state_data, 0, why);
}

/* A failure noticed inside a hiredis callback: hiredis must not free the
 * context from there, so the teardown waits for the next loop turn. */
static void defer_down(plm__rconn *c, const char *why)
{
    snprintf(c->why, sizeof c->why, "%s", why);
    plm__timer_start(c->loop, &c->teardown, 0);
}

static void on_teardown(plm__timer *t, void *data)
{
    plm__rconn *c = data;
    (void)t;
    go_down(c, c->why);
}

static void on_reconnect(plm__timer *t, void *data)
{
    plm__rconn *c = data;
    (void)t;
    c->retry_waiting = 0;
    plm__rconn_start(c);
}

static void on_watchdog(plm__timer *t, void *data)
{
    plm__rconn *c = data;
    int64_t now = plm__now_ns();
    int64_t limit = PLM__RCONN_TIMEOUT_MS * INT64_C(1000000);
    redisAsyncContext *ac = c->ac;
    (void)t;

    /* Answers may wait unread in the socket when the loop was not run
     * (between two runs): read them before judging. */
    if (ac && c->state == ST_UP)
        redisAsyncHandleRead(ac);
    if (c->state == ST_DOWN)
        return;
    if (c->state == ST_CONNECTING && now - c->connect_started > limit) {
        go_down(c, "no connection within the time limit");
        return;
    }
    if (c->head.next != &c->head && now - c->head.next->sent_ns > limit) {
        go_down(c, "no answer within the time limit");
        return;
    }
    if (c->state == ST_CONNECTING || c->head.next != &c->head)
        plm__timer_start(c->loop, &c->watchdog, 50);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    plm__rconn *c = ac->data;
    if (!c)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        c->ac = NULL;
        go_down(c, ac->errstr[0] ? ac->errstr : "connection failed");
    }
    /* Connected is not up: a stopped server's kernel still accepts
     * connections. Up is the first answer (on_loaded). */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    plm__rconn *c = ac->data;
    (void)status;
    if (!c)
        return;
    /* hiredis frees the context after this callback. */
    c->ac = NULL;
    go_down(c, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* ---- commands ---- */

static void pending_unlink(pending *p)
{
    p->prev->next = p->next;
    p->next->prev = p->prev;
    p->prev = p->next = p;
}

static void pending_free(pending *p)
{
    for (int i = 0; i < p->argc; i++)
        free(p->argv[i]);
    free(p->argv);
    free(p->lens);
    free(p);
}

static int send_pending(plm__rconn *c, pending *p);

static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    pending *p = priv;
    plm__rconn *c = p->conn;
    redisReply *reply = r;
    (void)ac;

    pending_unlink(p);
    if (reply && reply->type == REDIS_REPLY_ERROR && p->by_sha &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && c->ac) {
        /* The server lost its script cache (a restart, SCRIPT FLUSH). */
        c->sha[0] = '\0';
        p->by_sha = 0;
        if (send_pending(c, p) == 0)
            return;
        reply = NULL;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof why, "Redis answered: %.120s", reply->str);
        defer_down(c, why);
        reply = NULL;
    }
    if (p->fn)
        p->fn(p->priv, reply);
    pending_free(p);
}

static int send_pending(plm__rconn *c, pending *p)
{
    const char *argv[64];
    size_t lens[64];
    int n = 0;

    if (!c->ac || p->argc + 2 > 64)
        return -1;
    p->by_sha = c->sha[0] != '\0';
    argv[n] = p->by_sha ? "EVALSHA" : "EVAL";
    lens[n] = strlen(argv[n]);
    n++;
    argv[n] = p->by_sha ? c->sha : c->script;
    lens[n] = strlen(argv[n]);
    n++;
    for (int i = 0; i < p->argc; i++, n++) {
        argv[n] = p->argv[i];
        lens[n] = p->lens[i];
    }
    if (redisAsyncCommandArgv(c->ac, on_reply, p, n, argv, lens) != REDIS_OK)
        return -1;
    p->sent_ns = plm__now_ns();
    p->prev = c->head.prev;
    p->next = &c->head;
    c->head.prev->next = p;
    c->head.prev = p;
    if (!plm__timer_active(&c->watchdog))
        plm__timer_start(c->loop, &c->watchdog, 50);
    return 0;
}

int plm__rconn_eval(plm__rconn *c, plm__rconn_reply_fn fn, void *priv, int argc,
                    const char **argv)
{
    pending *p;

    if (!plm__rconn_usable(c) || argc > 60)
        return -1;
    p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->prev = p->next = p;
    p->conn = c;
    p->fn = fn;
    p->priv = priv;
    p->argv = calloc((size_t)argc + 1, sizeof *p->argv);
    p->lens = calloc((size_t)argc + 1, sizeof *p->lens);
    if (!p->argv || !p->lens)
        goto fail;
    for (int i = 0; i < argc; i++, p->argc++) {
        p->lens[i] = strlen(argv[i]);
        if (!(p->argv[i] = strdup(argv[i])))
            goto fail;
    }
    if (send_pending(c, p) != 0)
        goto fail;
    return 0;
fail:
    pending_free(p);
    return -1;
}

/* SCRIPT LOAD's answer: the SHA-1 to call the script by from now on. */
static void on_loaded(redisAsyncContext *ac, void *r, void *priv)
{
    plm__rconn *c = priv;
    redisReply *reply = r;
    (void)ac;
    if (!reply || !ac->data)
        return;
    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        defer_down(c, "SCRIPT LOAD failed");
        return;
    }
    memcpy(c->sha, reply->str, 41);
    if (c->state == ST_CONNECTING) {
        c->state = ST_UP;
        c->backoff_ms = PLM__RCONN_BACKOFF_MIN_MS;
        if (c->state_fn)
            c->state_fn(c->state_data, 1, NULL);
    }
}

/* AUTH and SELECT: an error reply ends the connection (the password
 * itself is never quoted). */
static void on_setup(redisAsyncContext *ac, void *r, void *priv)
{
    plm__rconn *c = ac->data;
    redisReply *reply = r;
    if (!c || !reply || reply->type != REDIS_REPLY_ERROR)
        return;
    defer_down(c, priv ? "AUTH was refused (check the password)"
                       : "SELECT was refused (check the database number)");
}

static void queue_setup(plm__rconn *c)
{
    const char *argv[3];
    size_t lens[3];
    char db[16];
    int n = 0;

    if (c->url.password) {
        argv[n++] = "AUTH";
        if (c->url.user)
            argv[n++] = c->url.user;
        argv[n++] = c->url.password;
        for (int i = 0; i < n; i++)
            lens[i] = strlen(argv[i]);
        redisAsyncCommandArgv(c->ac, on_setup, c, n, argv, lens);
    }
    if (c->url.db) {
        snprintf(db, sizeof db, "%d", c->url.db);
        argv[0] = "SELECT";
        argv[1] = db;
        lens[0] = 6;
        lens[1] = strlen(db);
        redisAsyncCommandArgv(c->ac, on_setup, NULL, 2, argv, lens);
    }
    argv[0] = "SCRIPT";
    argv[1] = "LOAD";
    argv[2] = c->script;
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    redisAsyncCommandArgv(c->ac, on_loaded, c, 3, argv, lens);
}

void plm__rconn_start(plm__rconn *c)
{
    redisAsyncContext *ac;

    if (!c || c->state != ST_DOWN || c->retry_waiting)
        return;
    /* A host name is resolved here, synchronously (hiredis 0.14 has no
     * asynchronous resolver): an address or a name from /etc/hosts keeps
     * this instant. */
    ac = redisAsyncConnect(c->url.host, c->url.port);
    if (!ac) {
        go_down(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        c->state = ST_CONNECTING; /* so that go_down reports it */
        go_down(c, why);
        return;
    }
    c->ac = ac;
    c->fd = ac->c.fd;
    c->mask = 0;
    ac->data = c;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->state = ST_CONNECTING;
    c->connect_started = plm__now_ns();
    /* The connection is complete when the socket becomes writable. */
    ev_add_write(c);
    queue_setup(c);
    plm__timer_start(c->loop, &c->watchdog, 50);
}

int plm__rconn_new(plm__rconn **out, plm__loop *loop, const plm__redis_url *u,
                   const char *script, plm__rconn_state_fn state, void *data)
{
    plm__rconn *c = calloc(1, sizeof *c);

    *out = NULL;
    if (!c)
        return PLM_ENOMEM;
    c->loop = loop;
    c->url = *u;
    c->url.user = c->url.password = NULL;
    c->script = strdup(script);
    if (!c->script || (u->user && !(c->url.user = strdup(u->user))) ||
        (u->password && !(c->url.password = strdup(u->password)))) {
        plm__rconn_free(c);
        return PLM_ENOMEM;
    }
    c->state_fn = state;
    c->state_data = data;
    c->fd = -1;
    c->state = ST_DOWN;
    c->backoff_ms = PLM__RCONN_BACKOFF_MIN_MS;
    c->head.prev = c->head.next = &c->head;
    plm__timer_init(&c->watchdog, on_watchdog, c);
    plm__timer_init(&c->reconnect, on_reconnect, c);
    plm__timer_init(&c->teardown, on_teardown, c);
    snprintf(c->where, sizeof c->where, "%s:%d", u->host, u->port);
    *out = c;
    return PLM_OK;
}

void plm__rconn_free(plm__rconn *c)
{
    if (!c)
        return;
    c->state_fn = NULL;
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    plm__timer_stop(c->loop, &c->watchdog);
    plm__timer_stop(c->loop, &c->reconnect);
    plm__timer_stop(c->loop, &c->teardown);
    plm__redis_url_clear(&c->url);
    free(c->script);
    free(c);
}

int plm__rconn_usable(const plm__rconn *c)
{
    return c && c->ac && c->state != ST_DOWN;
}

int plm__rconn_up(const plm__rconn *c)
{
    return c && c->ac && c->state == ST_UP;
}

void plm__rconn_flush(plm__rconn *c)
{
    if (c && c->ac && c->state == ST_UP)
        redisAsyncHandleWrite(c->ac);
}

const char *plm__rconn_where(const plm__rconn *c)
{
    return c->where;
}
