/*
 * The shared limits' grant script (src/limits/shared_script.c) against a
 * real redis-server, called the way the client calls it (EVAL, the same
 * keys and arguments): pacing and the half-burst room, blocks, reserving
 * ahead, refunds (never below a zero debt, even after the debt drained),
 * Redis's clock rather than the client's, pauses, learned limits, a cost
 * that can never fit, the token rule, and that nothing is written outside
 * the namespace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "redis_server.h"
#include "shared.h"

#define KEY "parallm:{t}:ep:0123456789abcdef"

static plm_test_redis server;
static redisContext *rc;

typedef struct grant {
    long long n, delay_us, limit[4];
} grant;

/* Queues one grant call (pipelined: calls queued together run on the
 * server microseconds apart, whatever the load on this machine): want
 * units at the limits (rpm, tpm, in, out), unit costs and deltas given. */
static void append_grant(int want, const double lim[4], const double cost[4],
                         const double delta[4])
{
    char num[15][32];
    const char *argv[24];
    int n = 0, j = 0;

    argv[n++] = "EVAL";
    argv[n++] = plm__shared_script;
    argv[n++] = "3";
    argv[n++] = KEY;
    argv[n++] = KEY ":pause";
    argv[n++] = KEY ":learned";
    argv[n++] = "grant";
    snprintf(num[j], 32, "%d", want);
    argv[n++] = num[j++];
    argv[n++] = "1000"; /* burst_ms */
    argv[n++] = "100";  /* lease_ms */
    for (int k = 0; k < 4; k++, j++) {
        snprintf(num[j], 32, "%.17g", lim[k]);
        argv[n++] = num[j];
    }
    for (int k = 0; k < 4; k++, j++) {
        snprintf(num[j], 32, "%.17g", cost[k]);
        argv[n++] = num[j];
    }
    for (int k = 0; k < 4; k++, j++) {
        snprintf(num[j], 32, "%.17g", delta ? delta[k] : 0.0);
        argv[n++] = num[j];
    }
    argv[n++] = "180000";
    argv[n++] = "500"; /* ahead_ms */
    assert_int_equal(redisAppendCommandArgv(rc, n, argv, NULL), REDIS_OK);
}

/* The answer of the oldest call queued. */
static grant read_grant(void)
{
    redisReply *r = NULL;
    grant g;

    assert_int_equal(redisGetReply(rc, (void **)&r), REDIS_OK);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("script error: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 6);
    g.n = r->element[0]->integer;
    g.delay_us = r->element[1]->integer;
    for (int k = 0; k < 4; k++)
        g.limit[k] = r->element[2 + k]->integer;
    freeReplyObject(r);
    return g;
}

static grant call_grant(int want, const double lim[4], const double cost[4],
                        const double delta[4])
{
    append_grant(want, lim, cost, delta);
    return read_grant();
}

static void cmd(const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(rc, fmt, a, b);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static double hash_num(const char *field)
{
    redisReply *r = redisCommand(rc, "HGET %s %s", KEY, field);
    double v;
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    v = strtod(r->str, NULL);
    freeReplyObject(r);
    return v;
}

static int setup(void **state)
{
    (void)state;
    if (plm_test_redis_start(&server) != 0)
        return -1;
    rc = redisConnect("127.0.0.1", server.port);
    return rc && !rc->err ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (rc)
        redisFree(rc);
    plm_test_redis_kill(&server);
    return 0;
}

/* Each test starts on a fresh connection (a failed test may leave
 * pipelined replies unread) and an empty server. */
static int flush(void **state)
{
    (void)state;
    if (rc)
        redisFree(rc);
    rc = redisConnect("127.0.0.1", server.port);
    if (!rc || rc->err)
        return -1;
    redisReply *r = redisCommand(rc, "FLUSHALL");
    freeReplyObject(r);
    return 0;
}

static long long wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* 640 RPM: r = 640 / 61 s = 10.49/s; half the burst less the lease's
 * worth is 5.25 - 1.05 = 4.2 requests: four go at once (a fifth only
 * once 0.8 of a request drained: 76 ms, far more than the calls take),
 * then one unit at a time is reserved, 1/r = 95.3 ms apart, up to 500 ms
 * ahead; past that the answer is "ask again later", nothing charged.
 * Each delay is counted from the server's clock at its call, so two
 * reservations' delays differ by one pace less the time between the two
 * calls: never more than a pace, and the shortfall of all the gaps
 * together is at most the time the twelve calls took (a loaded machine
 * may spread them; the test measures that instead of assuming it). */
static void test_pacing(void **state)
{
    const double lim[4] = { 640, 0, 0, 0 }, cost[4] = { 1, 0, 0, 0 };
    long long last = 0, gaps = 0, started = wall_us(), took;
    int now_ok = 0, reserved = 0;
    grant g;
    (void)state;

    for (int i = 0; i < 12; i++)
        append_grant(1, lim, cost, NULL);
    for (int i = 0; i < 12; i++) {
        g = read_grant();
        if (g.n == 0) {
            /* Refused once the reach is full, and so are the rest. */
            for (i++; i < 12; i++)
                assert_int_equal(read_grant().n, 0);
            break;
        }
        assert_int_equal(g.n, 1);
        if (g.delay_us == 0) {
            assert_int_equal(reserved, 0);
            now_ok++;
        } else {
            if (reserved > 0) {
                long long gap = g.delay_us - last;
                assert_true(gap > 0 && gap <= 95400);
                gaps += gap;
            }
            last = g.delay_us;
            reserved++;
        }
    }
    took = wall_us() - started;
    assert_int_equal(now_ok, 4);
    assert_true(reserved >= 4 && reserved <= 7);
    assert_true((long long)(reserved - 1) * 95300 - gaps <= took + 1000);
    assert_true(last <= 500000);
    /* Refused: the wait until a reservation would be within reach. */
    assert_true(g.delay_us > 0 && g.delay_us <= 100000);
    assert_int_equal(g.limit[0], 640);
}

/* A block: at 6,000 RPM the room is 39 requests; 7 are granted at once
 * and the debt is 7; then what is left of the room, not the 64 asked. */
static void test_block(void **state)
{
    const double lim[4] = { 6000, 0, 0, 0 }, cost[4] = { 1, 0, 0, 0 };
    grant g;
    (void)state;

    g = call_grant(7, lim, cost, NULL);
    assert_int_equal(g.n, 7);
    assert_int_equal(g.delay_us, 0);
    assert_true(hash_num("l1") > 6.9 && hash_num("l1") <= 7.0);
    /* 39 fit in all: a block of 64 is cut to what fits now. */
    g = call_grant(64, lim, cost, NULL);
    assert_true(g.n >= 31 && g.n <= 34);
    assert_int_equal(g.delay_us, 0);
}

/* A refund lowers the debt but never below zero: one larger than the
 * debt left (the charge it corrects was made before the debt drained)
 * gives no credit. */
static void test_refund(void **state)
{
    const double lim[4] = { 640, 0, 0, 0 }, cost[4] = { 1, 0, 0, 0 };
    const double refund[4] = { -100, 0, 0, 0 };
    const double none[4] = { 0, 0, 0, 0 };
    grant g;
    int now_ok = 0;
    (void)state;

    for (int i = 0; i < 4; i++)
        assert_int_equal(call_grant(1, lim, cost, NULL).delay_us, 0);
    assert_true(hash_num("l1") > 3.2);
    /* Only the refund (want 0): the debt goes to 0, not to -96. */
    g = call_grant(0, lim, none, refund);
    assert_int_equal(g.n, 0);
    assert_true(hash_num("l1") == 0);
    /* So exactly the same four go at once again, no more. */
    for (int i = 0; i < 6; i++)
        append_grant(1, lim, cost, NULL);
    for (int i = 0; i < 6; i++) {
        g = read_grant();
        now_ok += g.n == 1 && g.delay_us == 0;
    }
    assert_int_equal(now_ok, 4);
}

/* The debt drains by Redis's TIME: the state records the server's time,
 * and a recorded time in the future (another server's clock after a
 * failover) drains nothing rather than going negative. */
static void test_server_time(void **state)
{
    const double lim[4] = { 640, 0, 0, 0 }, cost[4] = { 1, 0, 0, 0 };
    redisReply *r;
    double server_us, at;
    (void)state;

    call_grant(1, lim, cost, NULL);
    r = redisCommand(rc, "TIME");
    assert_non_null(r);
    server_us = strtod(r->element[0]->str, NULL) * 1e6 +
                strtod(r->element[1]->str, NULL);
    freeReplyObject(r);
    at = hash_num("at");
    assert_true(at <= server_us && server_us - at < 1e6);
    /* An hour ahead: the elapsed time counts as 0, the debt stays. */
    cmd("HSET " KEY " at %s l1 %s", "9999999999999999", "3");
    call_grant(0, lim, cost, NULL);
    assert_true(hash_num("l1") == 3);
    assert_true(hash_num("at") <= server_us + 1e6);
}

/* A pause (a 429's, published by another process) holds every grant:
 * the block is reserved for its end when that is within reach. */
static void test_pause(void **state)
{
    const double lim[4] = { 640, 0, 0, 0 }, cost[4] = { 1, 0, 0, 0 };
    redisReply *r;
    grant g;
    (void)state;

    r = redisCommand(rc, "EVAL %s 1 %s pause 300", plm__shared_script,
                     KEY ":pause");
    freeReplyObject(r);
    g = call_grant(4, lim, cost, NULL);
    assert_int_equal(g.n, 4);
    assert_true(g.delay_us > 250000 && g.delay_us <= 300000);
    /* A shorter pause does not shorten it. */
    r = redisCommand(rc, "EVAL %s 1 %s pause 10", plm__shared_script,
                     KEY ":pause");
    freeReplyObject(r);
    r = redisCommand(rc, "PTTL %s", KEY ":pause");
    assert_true(r->integer > 200);
    freeReplyObject(r);
    /* A pause past the reach: ask again when it is within 500 ms. */
    r = redisCommand(rc, "EVAL %s 1 %s pause 2000", plm__shared_script,
                     KEY ":pause");
    freeReplyObject(r);
    g = call_grant(1, lim, cost, NULL);
    assert_int_equal(g.n, 0);
    assert_true(g.delay_us > 1400000 && g.delay_us <= 1500000);
}

/* A limit learned from headers by any process, when lower, is used. */
static void test_learned(void **state)
{
    const double lim[4] = { 640, 0, 0, 0 }, cost[4] = { 1, 0, 0, 0 };
    redisReply *r;
    grant g;
    (void)state;

    r = redisCommand(rc, "EVAL %s 1 %s learn 1 60 60000", plm__shared_script,
                     KEY ":learned");
    freeReplyObject(r);
    g = call_grant(1, lim, cost, NULL);
    assert_int_equal(g.limit[0], 60);
    /* 60 RPM: half the burst is 0.49 of a request, so only a lone request
     * at zero debt goes; the next is reserved a pace (1.017 s) later,
     * beyond the reach. */
    assert_int_equal(g.n, 1);
    assert_int_equal(g.delay_us, 0);
    g = call_grant(1, lim, cost, NULL);
    assert_int_equal(g.n, 0);
}

/* Tokens: 6,100 TPM is 100 a second; a unit goes while the debt before it
 * is at most the burst (100), so three of 50 go at once; a cost over
 * the limit never fits. */
static void test_tokens(void **state)
{
    const double lim[4] = { 0, 6100, 0, 0 }, cost[4] = { 1, 50, 0, 0 };
    const double huge[4] = { 1, 7000, 0, 0 };
    grant g;
    (void)state;

    g = call_grant(8, lim, cost, NULL);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.delay_us, 0);
    g = call_grant(1, lim, huge, NULL);
    assert_int_equal(g.n, -1);
}

/* The heartbeat counts live processes; nothing outside the namespace. */
static void test_processes_and_keys(void **state)
{
    redisReply *r;
    (void)state;

    cmd("SET %s %s", "other:key", "1");
    for (int i = 0; i < 3; i++) {
        char member[8];
        snprintf(member, sizeof member, "p%d", i);
        r = redisCommand(rc, "EVAL %s 1 parallm:{t}:procs beat %s 5000",
                         plm__shared_script, member);
        assert_int_equal(r->integer, i + 1);
        freeReplyObject(r);
    }
    r = redisCommand(rc, "EVAL %s 1 parallm:{t}:procs leave p0",
                     plm__shared_script);
    freeReplyObject(r);
    r = redisCommand(rc, "EVAL %s 1 parallm:{t}:procs beat p1 5000",
                     plm__shared_script);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    test_pacing(state);
    r = redisCommand(rc, "KEYS *");
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str;
        assert_true(strcmp(k, "other:key") == 0 ||
                    strncmp(k, "parallm:{t}:", 12) == 0);
    }
    freeReplyObject(r);
    r = redisCommand(rc, "GET other:key");
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pacing, flush),
        cmocka_unit_test_setup(test_block, flush),
        cmocka_unit_test_setup(test_refund, flush),
        cmocka_unit_test_setup(test_server_time, flush),
        cmocka_unit_test_setup(test_pause, flush),
        cmocka_unit_test_setup(test_learned, flush),
        cmocka_unit_test_setup(test_tokens, flush),
        cmocka_unit_test_setup(test_processes_and_keys, flush),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
