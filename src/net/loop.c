/*
 * The engine's event loop, in the manner of Redis's ae_epoll.c and curl's
 * ephiperfifo.c example: epoll for sockets, one timerfd armed at the
 * earliest timer of a binary heap (so thousands of backoff timers cost one
 * kernel object), and an eventfd for wake-ups from other threads or signal
 * handlers. Everything but plm__loop_wake runs on the loop's thread.
 */
#include "buf.h"
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PLM__LOOP_BATCH 256

typedef struct plm__watch {
    int events;      /* 0 = not watched */
    uint32_t kernel; /* epoll mask registered; 0 = none */
    plm__loop_fd_fn fn;
    void *user_data;
} plm__watch;

struct plm__loop {
    int epfd;
    int timerfd;
    int wakefd;
    plm__watch *watches; /* indexed by fd */
    size_t nwatches;
    plm__timer **heap;
    size_t heap_len, heap_cap;
    int64_t armed_ns; /* when timerfd fires; 0 = not armed/fired */
    uint64_t round;   /* dispatch round, see run_timers */
};

static int epoll_add_internal(int epfd, int fd)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int plm__loop_new(plm__loop **out)
{
    plm__loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return -1;
    loop->timerfd = -1;
    loop->wakefd = -1;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        goto fail;
    loop->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (loop->timerfd < 0)
        goto fail;
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakefd < 0)
        goto fail;
    if (epoll_add_internal(loop->epfd, loop->timerfd) != 0 ||
        epoll_add_internal(loop->epfd, loop->wakefd) != 0)
        goto fail;
    *out = loop;
    return 0;
fail:
    plm__loop_free(loop);
    return -1;
}

void plm__loop_free(plm__loop *loop)
{
    if (!loop)
        return;
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->timerfd >= 0)
        close(loop->timerfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    free(loop->watches);
    free(loop->heap);
    free(loop);
}

int plm__loop_watch(plm__loop *loop, int fd, int events, plm__loop_fd_fn fn,
                    void *user_data)
{
    struct epoll_event ev;
    plm__watch *cur;
    int op = -1;

    if (fd < 0)
        return -1;
    if ((size_t)fd >= loop->nwatches) {
        size_t old = loop->nwatches;

        if (events == 0)
            return 0;
        if (PLM__ARRAY_RESERVE(loop->watches, loop->nwatches, (size_t)fd + 1,
                               64) != 0)
            return -1;
        memset(loop->watches + old, 0,
               (loop->nwatches - old) * sizeof *loop->watches);
    }
    cur = &loop->watches[fd];
    memset(&ev, 0, sizeof ev);
    ev.data.fd = fd;
    if (events & PLM__LOOP_READ)
        ev.events |= EPOLLIN;
    if (events & PLM__LOOP_WRITE)
        ev.events |= EPOLLOUT;
    if (events == 0)
        op = cur->kernel ? EPOLL_CTL_DEL : -1;
    else if (cur->kernel == 0)
        op = EPOLL_CTL_ADD;
    else if (cur->kernel != ev.events)
        op = EPOLL_CTL_MOD;
    /* else: registered as wanted already (parked, or unchanged) */
    if (op != -1) {
        int rc = epoll_ctl(loop->epfd, op, fd, &ev);
        /* Our table and the kernel's set can disagree when a descriptor
         * was closed and its number reused without an unwatch in between
         * (a closed fd leaves the epoll set by itself): retry with the
         * other operation rather than fail the socket. */
        if (rc != 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
            rc = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
        else if (rc != 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
            rc = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
        else if (rc != 0 && op == EPOLL_CTL_DEL &&
                 (errno == EBADF || errno == ENOENT))
            rc = 0;
        if (rc != 0)
            return -1;
        cur->kernel = ev.events;
    }
    cur->events = events;
    cur->fn = events ? fn : NULL;
    cur->user_data = events ? user_data : NULL;
    return 0;
}

void plm__loop_park(plm__loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->nwatches)
        return;
    loop->watches[fd].events = 0;
    loop->watches[fd].fn = NULL;
    loop->watches[fd].user_data = NULL;
}

void plm__loop_forget(plm__loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->nwatches)
        return;
    memset(&loop->watches[fd], 0, sizeof loop->watches[fd]);
}

/* ---- timers: a min-heap on due_ns ---- */

static int timer_before(const plm__timer *a, const plm__timer *b)
{
    return a->due_ns < b->due_ns;
}

static void heap_set(plm__loop *loop, size_t i, plm__timer *t)
{
    loop->heap[i] = t;
    t->heap_index = i;
}

static void heap_up(plm__loop *loop, size_t i)
{
    plm__timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent]))
            break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void heap_down(plm__loop *loop, size_t i)
{
    plm__timer *t = loop->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const plm__timer *best = t;
        if (l < loop->heap_len && timer_before(loop->heap[l], best)) {
            m = l;
            best = loop->heap[l];
        }
        if (r < loop->heap_len && timer_before(loop->heap[r], best))
            m = r;
        if (m == i)
            break;
        heap_set(loop, i, loop->heap[m]);
        i = m;
    }
    heap_set(loop, i, t);
}

/*
 * Arms the timerfd for the earliest due time, just before the loop sleeps.
 * Timers are started and stopped far more often than the loop sleeps (curl
 * moves its timeout several times per transfer), and each timerfd_settime
 * is a system call that took a third of the client's CPU at 10,000
 * requests/s. So the kernel timer is only ever moved EARLIER, here: when
 * the earliest timer was stopped or moved later, the armed one fires early
 * once, run_timers finds nothing due and the next round re-arms.
 */
static void timerfd_sync(plm__loop *loop)
{
    struct itimerspec its;
    int64_t due = loop->heap_len ? loop->heap[0]->due_ns : 0;

    if (due == 0 || (loop->armed_ns != 0 && loop->armed_ns <= due))
        return;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = due / 1000000000;
    its.it_value.tv_nsec = due % 1000000000;
    /* Cannot fail with a valid fd and value; if it did, run_once still
     * bounds its wait by the heap's top. */
    timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
    loop->armed_ns = due;
}

void plm__timer_init(plm__timer *t, plm__timer_fn fn, void *user_data)
{
    memset(t, 0, sizeof *t);
    t->heap_index = SIZE_MAX;
    t->fn = fn;
    t->user_data = user_data;
}

int plm__timer_active(const plm__timer *t)
{
    return t->heap_index != SIZE_MAX;
}

void plm__timer_stop(plm__loop *loop, plm__timer *t)
{
    size_t i = t->heap_index;
    plm__timer *last;

    if (i == SIZE_MAX)
        return;
    t->heap_index = SIZE_MAX;
    last = loop->heap[--loop->heap_len];
    if (last != t) {
        heap_set(loop, i, last);
        heap_up(loop, i);
        heap_down(loop, last->heap_index);
    }
}

int plm__timer_start_at(plm__loop *loop, plm__timer *t, int64_t due_ns)
{
    if (due_ns <= 0)
        due_ns = 1;
    if (t->heap_index != SIZE_MAX) {
        t->due_ns = due_ns;
        heap_up(loop, t->heap_index);
        heap_down(loop, t->heap_index);
        return 0;
    }
    if (PLM__ARRAY_RESERVE(loop->heap, loop->heap_cap, loop->heap_len + 1,
                           64) != 0)
        return -1;
    t->due_ns = due_ns;
    heap_set(loop, loop->heap_len++, t);
    heap_up(loop, t->heap_index);
    return 0;
}

int plm__timer_start(plm__loop *loop, plm__timer *t, int64_t delay_ms)
{
    if (delay_ms < 0)
        delay_ms = 0;
    if (delay_ms > INT64_MAX / 2000000)
        delay_ms = INT64_MAX / 2000000;
    return plm__timer_start_at(loop, t, plm__now_ns() + delay_ms * 1000000);
}

/* Fires the timers that were due when this round began. A timer that its
 * callback restarts with no delay waits for the next round, so a zero-delay
 * timer cannot starve the sockets. */
static void run_timers(plm__loop *loop)
{
    int64_t now = plm__now_ns();
    size_t budget = loop->heap_len;

    while (budget-- > 0 && loop->heap_len > 0 && loop->heap[0]->due_ns <= now) {
        plm__timer *t = loop->heap[0];
        plm__timer_stop(loop, t);
        t->fn(t, t->user_data);
    }
}

static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) > 0)
        ;
}

int plm__loop_fd(const plm__loop *loop)
{
    return loop->epfd;
}

int64_t plm__loop_timeout_ms(plm__loop *loop)
{
    int64_t wait_ns;

    if (loop->heap_len == 0)
        return -1;
    wait_ns = loop->heap[0]->due_ns - plm__now_ns();
    if (wait_ns <= 0)
        return 0;
    /* The timerfd, watched by the epoll descriptor, fires at the due
     * time: a caller that only watches plm__loop_fd misses nothing. */
    timerfd_sync(loop);
    return (wait_ns + 999999) / 1000000;
}

int plm__loop_run_once(plm__loop *loop)
{
    return plm__loop_run_once_ms(loop, -1);
}

int plm__loop_run_once_ms(plm__loop *loop, int max_wait_ms)
{
    struct epoll_event evs[PLM__LOOP_BATCH];
    int timeout = max_wait_ms, n, i;

    if (loop->heap_len > 0) {
        int64_t wait_ns = loop->heap[0]->due_ns - plm__now_ns();
        if (wait_ns <= 0)
            timeout = 0;
        else
            timerfd_sync(loop);
    }
    n = epoll_wait(loop->epfd, evs, PLM__LOOP_BATCH, timeout);
    if (n < 0) {
        if (errno != EINTR)
            return -1;
        n = 0;
    }
    for (i = 0; i < n; i++) {
        int fd = evs[i].data.fd, events = 0;
        const plm__watch *w;
        uint32_t e = evs[i].events;

        if (fd == loop->timerfd || fd == loop->wakefd) {
            drain(fd);
            if (fd == loop->timerfd)
                loop->armed_ns = 0;
            continue;
        }
        if ((size_t)fd >= loop->nwatches)
            continue;
        w = &loop->watches[fd];
        if (w->events == 0) {
            /* Parked (a keep-alive connection the server closed, say):
             * now it costs more to keep than to drop. Or unwatched by an
             * earlier callback in this batch. */
            if (loop->watches[fd].kernel != 0)
                plm__loop_watch(loop, fd, 0, NULL, NULL);
            continue;
        }
        if (e & EPOLLIN)
            events |= PLM__LOOP_READ;
        if (e & EPOLLOUT)
            events |= PLM__LOOP_WRITE;
        if (e & (EPOLLERR | EPOLLHUP))
            events |= w->events;
        events &= w->events;
        if (events)
            w->fn(fd, events, w->user_data);
    }
    run_timers(loop);
    return 0;
}

void plm__loop_wake(plm__loop *loop)
{
    uint64_t one = 1;
    int saved = errno; /* a signal handler must leave errno alone */
    ssize_t r = write(loop->wakefd, &one, sizeof one);
    (void)r; /* EAGAIN means a wake-up is already pending */
    errno = saved;
}
