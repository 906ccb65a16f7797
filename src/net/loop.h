/*
 * A small event loop for the engine: file-descriptor events on epoll,
 * timers in a binary heap armed on one timerfd, and an eventfd that other
 * threads and signal handlers write to wake the loop up. One thread runs
 * it; nothing here is thread-safe except plm__loop_wake().
 */
#ifndef PLM_LOOP_H
#define PLM_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"

typedef struct plm__loop plm__loop;

enum { PLM__LOOP_READ = 1, PLM__LOOP_WRITE = 2 };

/* Called with the events (PLM__LOOP_READ / WRITE) that fired on fd. An
 * error or hang-up is reported as both, so the owner reads the failure. */
typedef void (*plm__loop_fd_fn)(int fd, int events, void *user_data);

typedef struct plm__timer plm__timer;
typedef void (*plm__timer_fn)(plm__timer *timer, void *user_data);

/* A timer lives in its owner's memory; the loop only links it into its
 * heap. Initialise with plm__timer_init before the first start. */
struct plm__timer {
    int64_t due_ns;    /* CLOCK_MONOTONIC */
    size_t heap_index; /* position in the heap; SIZE_MAX when idle */
    plm__timer_fn fn;
    void *user_data;
};

int plm__loop_new(plm__loop **out);
void plm__loop_free(plm__loop *loop);

/* Watches fd for events (a mask of PLM__LOOP_READ / WRITE), replacing any
 * earlier watch on it; events == 0 stops watching. Returns 0 or -1. */
int plm__loop_watch(plm__loop *loop, int fd, int events, plm__loop_fd_fn fn,
                    void *user_data);
/* Stops watching fd like events == 0, but leaves it registered with the
 * kernel so that watching it again for the same events costs no system
 * call (an idle keep-alive connection between two requests). The caller
 * must still plm__loop_watch(fd, 0) before closing fd. */
void plm__loop_park(plm__loop *loop, int fd);
/* Forgets what the loop knows of fd without a system call: for a number
 * just returned by socket(), whose earlier file is necessarily gone. */
void plm__loop_forget(plm__loop *loop, int fd);

void plm__timer_init(plm__timer *t, plm__timer_fn fn, void *user_data);
/* (Re)starts the timer to fire once after delay_ms (0 = on the next
 * iteration). Returns 0 or -1 (out of memory). */
int plm__timer_start(plm__loop *loop, plm__timer *t, int64_t delay_ms);
/* Same with an absolute CLOCK_MONOTONIC time in nanoseconds. */
int plm__timer_start_at(plm__loop *loop, plm__timer *t, int64_t due_ns);
void plm__timer_stop(plm__loop *loop, plm__timer *t);
int plm__timer_active(const plm__timer *t);

/* Waits for at least one event, timer or wake-up and dispatches what is
 * ready. Returns 0, or -1 on an unexpected epoll failure. */
int plm__loop_run_once(plm__loop *loop);

/* The same, waiting at most max_wait_ms (-1: no limit; 0: only what is
 * ready now). */
int plm__loop_run_once_ms(plm__loop *loop, int max_wait_ms);

/* For a caller's own event loop: a descriptor that becomes readable when
 * the loop has something to dispatch (an event, a due timer, a wake-up),
 * and how long until the next timer is due in milliseconds (-1: none;
 * 0: overdue). */
int plm__loop_fd(const plm__loop *loop);
int64_t plm__loop_timeout_ms(plm__loop *loop);

/* Makes a waiting plm__loop_run_once return. Async-signal-safe and
 * callable from any thread: it only write()s to an eventfd. */
void plm__loop_wake(plm__loop *loop);

#endif
