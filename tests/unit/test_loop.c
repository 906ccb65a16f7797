/*
 * The event loop on its own: timers fire in due order and not before they
 * are due, a stopped timer never fires, a zero-delay timer that re-arms
 * itself does not starve file events, fd events are delivered, and
 * plm__loop_wake from another thread ends a wait with no timer armed.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

typedef struct rec {
    int order[16];
    int n;
} rec;

typedef struct tctx {
    rec *r;
    int id;
    int64_t due_ns;
    int64_t fired_ns;
} tctx;

static void on_fire(plm__timer *t, void *user_data)
{
    tctx *c = user_data;
    (void)t;
    c->fired_ns = plm__now_ns();
    c->r->order[c->r->n++] = c->id;
}

static void test_loop__timers_fire_in_order(void **state)
{
    plm__loop *loop = NULL;
    plm__timer t[5];
    tctx c[5];
    rec r;
    static const int64_t delays[5] = { 40, 10, 30, 20, 50 };
    int i;
    (void)state;

    memset(&r, 0, sizeof r);
    assert_int_equal(plm__loop_new(&loop), 0);
    for (i = 0; i < 5; i++) {
        c[i].r = &r;
        c[i].id = i;
        c[i].fired_ns = 0;
        plm__timer_init(&t[i], on_fire, &c[i]);
        c[i].due_ns = plm__now_ns() + delays[i] * 1000000;
        assert_int_equal(plm__timer_start(loop, &t[i], delays[i]), 0);
    }
    plm__timer_stop(loop, &t[2]);
    assert_false(plm__timer_active(&t[2]));
    while (r.n < 4)
        assert_int_equal(plm__loop_run_once(loop), 0);
    assert_int_equal(r.order[0], 1);
    assert_int_equal(r.order[1], 3);
    assert_int_equal(r.order[2], 0);
    assert_int_equal(r.order[3], 4);
    for (i = 0; i < 5; i++)
        if (i != 2)
            assert_true(c[i].fired_ns >= c[i].due_ns);
    assert_int_equal(c[2].fired_ns, 0);
    plm__loop_free(loop);
}

typedef struct spin {
    plm__loop *loop;
    int count;
} spin;

static void on_spin(plm__timer *t, void *user_data)
{
    spin *s = user_data;
    s->count++;
    plm__timer_start(s->loop, t, 0);
}

static void on_fd(int fd, int events, void *user_data)
{
    int *seen = user_data;
    char buf[8];
    assert_true(events & PLM__LOOP_READ);
    assert_true(read(fd, buf, sizeof buf) > 0);
    (*seen)++;
}

static void test_loop__fd_events_not_starved(void **state)
{
    plm__loop *loop = NULL;
    plm__timer t;
    spin s;
    int fds[2], seen = 0, rounds = 0;
    (void)state;

    assert_int_equal(plm__loop_new(&loop), 0);
    assert_int_equal(pipe(fds), 0);
    s.loop = loop;
    s.count = 0;
    plm__timer_init(&t, on_spin, &s);
    assert_int_equal(plm__timer_start(loop, &t, 0), 0);
    assert_int_equal(plm__loop_watch(loop, fds[0], PLM__LOOP_READ, on_fd,
                                     &seen),
                     0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    while (seen == 0 && rounds++ < 10)
        assert_int_equal(plm__loop_run_once(loop), 0);
    assert_int_equal(seen, 1);
    assert_true(s.count >= 1);
    plm__timer_stop(loop, &t);
    assert_int_equal(plm__loop_watch(loop, fds[0], 0, NULL, NULL), 0);
    close(fds[0]);
    close(fds[1]);
    plm__loop_free(loop);
}

static void *waker(void *arg)
{
    plm__loop_wake(arg);
    return NULL;
}

static void test_loop__wake_from_another_thread(void **state)
{
    plm__loop *loop = NULL;
    pthread_t th;
    (void)state;

    assert_int_equal(plm__loop_new(&loop), 0);
    assert_int_equal(pthread_create(&th, NULL, waker, loop), 0);
    /* No timer and no fd: only the wake-up can end this wait. */
    assert_int_equal(plm__loop_run_once(loop), 0);
    pthread_join(th, NULL);
    plm__loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop__timers_fire_in_order),
        cmocka_unit_test(test_loop__fd_events_not_starved),
        cmocka_unit_test(test_loop__wake_from_another_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
