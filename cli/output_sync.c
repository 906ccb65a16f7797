/*
 * The output file's fdatasync, on a thread of its own. The event loop
 * asks for a sync and goes on: a sync waits for the disk (milliseconds
 * each, 0.7 s of a 10,000-line run at zero latency when the loop did it
 * itself), and nothing the loop does depends on it having finished. The
 * lines are in the page cache when write() returns, so a crash of the
 * process loses none of them either way; the sync is for a crash of the
 * machine, and it still runs every 100 lines or second (not twice within
 * 0.1 s: output.c), and once more before the file is closed. A sync that
 * fails is reported at the next request, and the run stops as for a
 * failed write.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "run.h"

struct run_syncer {
    int fd;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want; /* a sync was asked for since the last one began */
    int stop;
    int err; /* the first failed sync's errno; 0 = none */
};

static void *sync_main(void *arg)
{
    run_syncer *s = arg;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->want && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->want)
            break;
        s->want = 0;
        pthread_mutex_unlock(&s->mu);
        int rc = fdatasync(s->fd);
        int e = errno;
        pthread_mutex_lock(&s->mu);
        if (rc != 0 && !s->err)
            s->err = e;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

run_syncer *run_syncer_start(int fd)
{
    run_syncer *s = calloc(1, sizeof *s);
    sigset_t all, old;

    if (!s)
        return NULL;
    s->fd = fd;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* Signals (SIGINT above all) stay with the thread that handles them
     * and whose blocked write() they interrupt. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, sync_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    return s;
}

int run_syncer_request(run_syncer *s)
{
    pthread_mutex_lock(&s->mu);
    int err = s->err;
    if (!err) {
        s->want = 1;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    errno = err;
    return err ? -1 : 0;
}

int run_syncer_stop(run_syncer *s, int final_sync)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&s->mu);
    if (final_sync)
        s->want = 1;
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    int err = s->err;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    errno = err;
    return err ? -1 : 0;
}
