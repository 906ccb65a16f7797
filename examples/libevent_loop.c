/*
 * libevent_loop: parallm inside a program that already has an event loop.
 * The client is started caller-driven (no thread of its own): libevent
 * watches plm_client_fd() and a timer set from plm_client_timeout_ms(),
 * and calls plm_client_process() when either fires. Completion callbacks
 * then run on this thread, inside the libevent loop, like any other
 * event; a libevent timer of the program's own keeps ticking meanwhile.
 *
 * Sends one chat request per argument (OPENAI_API_KEY, OPENAI_BASE_URL,
 * PLM_MODEL as the other examples) and prints each answer as it arrives.
 *
 *   libevent_loop PROMPT...
 *
 * Exit status: 0 every request answered, 1 some failed, 2 setup error.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallm.h"

typedef struct app {
    plm_client *client;
    struct event_base *base;
    struct event *io;    /* plm_client_fd readable */
    struct event *timer; /* plm_client_timeout_ms passed */
    struct event *tick;  /* the program's own work */
    int left, failed, ticks;
} app;

/* After every plm_client_process: when must it run again at the latest. */
static void rearm(app *a)
{
    int64_t ms = plm_client_timeout_ms(a->client);
    if (ms >= 0) {
        struct timeval tv;
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
        evtimer_add(a->timer, &tv);
    } else {
        evtimer_del(a->timer);
    }
}

static void on_client(evutil_socket_t fd, short what, void *arg)
{
    app *a = arg;
    (void)fd;
    (void)what;
    if (plm_client_process(a->client) != PLM_OK) {
        fprintf(stderr, "libevent_loop: the client's loop failed\n");
        a->failed = 1;
        event_base_loopbreak(a->base);
        return;
    }
    if (a->left == 0)
        event_base_loopbreak(a->base);
    else
        rearm(a);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    app *a = arg;
    (void)fd;
    (void)what;
    a->ticks++;
}

static void on_answer(plm_call *call, void *user_data)
{
    app *a = user_data;
    const plm_result *res = plm_call_result(call);

    if (res && plm_result_code(res) == PLM_OK) {
        printf("answer: %s\n", plm_result_content(res));
    } else {
        printf("failed: %s\n",
               res ? plm_result_error_message(res) : "out of memory");
        a->failed = 1;
    }
    a->left--;
}

int main(int argc, char **argv)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_start_options so = PLM_START_OPTIONS_INIT;
    struct timeval tick = { 0, 10000 };
    plm_request **reqs;
    const char *model = getenv("PLM_MODEL");
    app a;
    int i, n = argc - 1;

    if (n < 1) {
        fprintf(stderr, "usage: libevent_loop PROMPT...\n");
        return 2;
    }
    memset(&a, 0, sizeof a);
    co.openai_api_key = getenv("OPENAI_API_KEY");
    co.openai_base_url = getenv("OPENAI_BASE_URL");
    so.caller_driven = 1;
    if (plm_client_new(&a.client, &co) != PLM_OK ||
        plm_client_start(a.client, &so) != PLM_OK) {
        fprintf(stderr, "libevent_loop: %s\n", plm_last_error());
        return 2;
    }
    a.base = event_base_new();
    reqs = calloc((size_t)n, sizeof *reqs);
    if (!a.base || !reqs)
        return 2;
    a.io = event_new(a.base, plm_client_fd(a.client), EV_READ | EV_PERSIST,
                     on_client, &a);
    a.timer = evtimer_new(a.base, on_client, &a);
    a.tick = event_new(a.base, -1, EV_PERSIST, on_tick, &a);
    event_add(a.io, NULL);
    event_add(a.tick, &tick);

    for (i = 0; i < n; i++) {
        if (plm_request_new_chat(&reqs[i], PLM_PROVIDER_OPENAI,
                                 model ? model : "gpt-4o-mini") != PLM_OK ||
            plm_request_add_message(reqs[i], "user", argv[i + 1]) != PLM_OK ||
            plm_submit(a.client, reqs[i], on_answer, &a, NULL) != PLM_OK) {
            fprintf(stderr, "libevent_loop: could not submit\n");
            return 2;
        }
        a.left++;
    }
    /* Submitting wrote to the client's descriptor: the loop takes it
     * from here. */
    rearm(&a);
    event_base_dispatch(a.base);
    fprintf(stderr,
            "libevent_loop: %d answers, the program's timer ran "
            "%d times meanwhile\n",
            n - a.left, a.ticks);

    plm_client_free(a.client); /* calls outstanding complete cancelled */
    event_free(a.io);
    event_free(a.timer);
    event_free(a.tick);
    event_base_free(a.base);
    for (i = 0; i < n; i++)
        plm_request_free(reqs[i]);
    free(reqs);
    return a.failed || a.left ? 1 : 0;
}
