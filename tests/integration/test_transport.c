/*
 * The transport's recycling of curl easy handles, through the engine: a
 * handle is not reset between attempts, so every attempt must set all the
 * options that differ between requests. One request at a time makes each
 * attempt reuse the previous one's handle; the mock's records show what
 * went out. Transfers beyond one loop round's batch wait in the
 * transport; cancelling them there is tested too, and the spreading of
 * plain-http transfers over several curl multi handles (lanes), and a
 * proxy named in the environment.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "engine_fixture.h"

#define MAX_REQS 300
#define MAX_CODES 400

typedef struct feed {
    plm_request **reqs;
    size_t n, next, ndone;
    int codes[MAX_CODES];
    plm_client *interrupt; /* interrupted (level 2) after the last pull */
} feed;

static int feed_source(plm_request **out, void *user_data)
{
    feed *f = user_data;
    if (f->next >= f->n)
        return 0;
    *out = f->reqs[f->next++];
    if (f->interrupt && f->next == f->n)
        plm_client_interrupt(f->interrupt, 2);
    return 1;
}

static int feed_complete(plm_request *req, plm_result *res, void *user_data)
{
    feed *f = user_data;
    (void)req;
    assert_true(f->ndone < MAX_CODES);
    f->codes[f->ndone++] = plm_result_code(res);
    plm_result_free(res);
    return 0;
}

static plm_request *raw(const char *method, const char *path)
{
    plm_request *req = NULL;
    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, method,
                                         path,
                                         "{\"model\":\"m\",\"messages\":"
                                         "[{\"role\":\"user\","
                                         "\"content\":\"hi\"}]}"),
                     PLM_OK);
    assert_int_equal(plm_request_set_max_retries(req, 0), PLM_OK);
    return req;
}

static void test_transport__recycled_handle_sets_method_and_body(void **state)
{
    static const char *const methods[] = { "POST", "GET", "DELETE",
                                           "POST", "PUT", "GET" };
    const size_t n = sizeof methods / sizeof methods[0];
    plm_request *reqs[6];
    plm_run_options o = PLM_RUN_OPTIONS_INIT;
    plm_mock_record *recs = NULL;
    plm_fx fx;
    feed f;
    size_t i, nrec;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    for (i = 0; i < n; i++)
        reqs[i] = raw(methods[i], strcmp(methods[i], "GET") == 0
                                      ? "/v1/models"
                                      : "/v1/chat/completions");
    memset(&f, 0, sizeof f);
    f.reqs = reqs;
    f.n = n;
    o.max_concurrent = 1;
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_int_equal(f.ndone, n);
    /* The chat POST after a GET and a DELETE is a plain POST again. */
    assert_int_equal(f.codes[0], PLM_OK);
    assert_int_equal(f.codes[3], PLM_OK);

    nrec = plm_mock_get_records(fx.mock, &recs);
    assert_int_equal(nrec, n);
    for (i = 0; i < n; i++) {
        assert_string_equal(recs[i].method, methods[i]);
        if (strcmp(methods[i], "GET") == 0)
            assert_true(recs[i].body == NULL || recs[i].body[0] == '\0');
        else
            assert_non_null(strstr(recs[i].body, "\"content\""));
    }
    plm_mock_records_free(recs, nrec);
    for (i = 0; i < n; i++)
        plm_request_free(reqs[i]);
    plm_fx_stop(&fx);
}

/* Transfers started together beyond one loop round's batch wait for the
 * next round inside the transport. Cancelling them there (an interrupt
 * in the same round) must complete each once and leave the transport
 * fit for the next run. */
static void
test_transport__cancel_transfers_waiting_for_their_round(void **state)
{
    plm_request *reqs[MAX_REQS];
    plm_run_options o = PLM_RUN_OPTIONS_INIT;
    plm_fx fx;
    feed f;
    size_t i;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    for (i = 0; i < MAX_REQS; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "hello");
    memset(&f, 0, sizeof f);
    f.reqs = reqs;
    f.n = MAX_REQS;
    f.interrupt = fx.client;
    o.max_concurrent = MAX_REQS;
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_ECANCELLED);
    assert_int_equal(f.ndone, MAX_REQS);
    for (i = 0; i < MAX_REQS; i++)
        assert_int_equal(f.codes[i], PLM_ECANCELLED);

    /* The same requests again, all the way through. */
    memset(&f, 0, sizeof f);
    f.reqs = reqs;
    f.n = MAX_REQS;
    assert_int_equal(plm_client_run(fx.client, feed_source, feed_complete, &o,
                                    &f),
                     PLM_OK);
    assert_int_equal(f.ndone, MAX_REQS);
    for (i = 0; i < MAX_REQS; i++)
        assert_int_equal(f.codes[i], PLM_OK);
    for (i = 0; i < MAX_REQS; i++)
        plm_request_free(reqs[i]);
    plm_fx_stop(&fx);
}

/* Runs reqs[0..n-1] with c in flight; all must pass. */
static void run_ok_at(plm_client *client, plm_request **reqs, size_t n, int c)
{
    plm_run_options o = PLM_RUN_OPTIONS_INIT;
    feed f;
    size_t i;

    memset(&f, 0, sizeof f);
    f.reqs = reqs;
    f.n = n;
    o.max_concurrent = c;
    assert_int_equal(plm_client_run(client, feed_source, feed_complete, &o, &f),
                     PLM_OK);
    assert_int_equal(f.ndone, n);
    for (i = 0; i < n; i++)
        assert_int_equal(f.codes[i], PLM_OK);
}

/* Runs reqs[0..n-1] through the client, one at a time; all must pass. */
static void run_ok(plm_client *client, plm_request **reqs, size_t n)
{
    run_ok_at(client, reqs, n, 1);
}

/* The transport keeps a parsed URL (CURLOPT_CURLU) for each of the first
 * few distinct URLs and hands curl the text of any further one, on the
 * same recycled handle: each request must still go where it says, the
 * cached URLs after an uncached one and the other way round. */
static void test_transport__many_urls_on_one_handle(void **state)
{
    enum { N = 12 };
    static const int order[] = { 0, 1,  2,  3, 4,  5, 6,  7, 8,
                                 9, 10, 11, 0, 11, 3, 10, 7 };
    const size_t n = sizeof order / sizeof order[0];
    plm_request *reqs[sizeof order / sizeof order[0]];
    plm_mock_record *recs = NULL;
    char path[64];
    plm_fx fx;
    size_t i, nrec;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/v1/chat/completions?n=%d", order[i]);
        reqs[i] = raw("POST", path);
    }
    run_ok(fx.client, reqs, n);
    nrec = plm_mock_get_records(fx.mock, &recs);
    assert_int_equal(nrec, n);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "n=%d", order[i]);
        assert_string_equal(recs[i].query, path);
    }
    plm_mock_records_free(recs, nrec);
    for (i = 0; i < n; i++)
        plm_request_free(reqs[i]);
    plm_fx_stop(&fx);
}

/* Between requests an idle keep-alive socket stays parked in the loop's
 * epoll set. When the server goes away meanwhile (every connection
 * closed), the next request must find the connection dead, close the
 * parked socket and open a new one (whose descriptor number usually is
 * the old one), then park and reuse that. (The loop's own test covers a
 * reused number registered under the same events.) */
static void test_transport__parked_connection_closed_by_server(void **state)
{
    plm_request *reqs[2];
    plm_mock_options mo;
    plm_mock_stats ms;
    char err[256];
    plm_fx fx;
    int port;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    port = plm_mock_port(fx.mock);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "first");
    reqs[1] = plm_fx_chat(PLM_PROVIDER_OPENAI, "second");
    run_ok(fx.client, reqs, 1);

    /* The same port, a new server: the old connection is gone. */
    plm_mock_free(fx.mock);
    memset(&mo, 0, sizeof mo);
    mo.port = port;
    mo.record = 1;
    assert_int_equal(plm_mock_start(&fx.mock, &mo, err, sizeof err), 0);
    run_ok(fx.client, reqs + 1, 1);
    plm_mock_get_stats(fx.mock, &ms);
    assert_int_equal(ms.requests, 1);

    /* And the new connection, parked in turn, is reused. */
    run_ok(fx.client, reqs, 2);
    plm_mock_get_stats(fx.mock, &ms);
    assert_int_equal(ms.requests, 3);
    plm_request_free(reqs[0]);
    plm_request_free(reqs[1]);
    plm_fx_stop(&fx);
}

/* At 200 in flight plain-http transfers go to 7 lanes of about 32, the
 * least busy first: no lane ever holds more than ceil(200 / 7) + 1
 * transfers, so the run opens at most 200 + 7 connections, and a second
 * run at the same concurrency reuses them (a lane may peak one higher
 * than it did, so at most one new connection per lane). A smaller run
 * gives back the lanes it does not need, and a larger one after it
 * works again. */
static void test_transport__lanes_spread_and_reuse(void **state)
{
    enum { C = 200, N = 2 * C };
    plm_request *reqs[N];
    plm_mock_options mo;
    plm_mock_stats ms;
    plm_fx fx;
    uint64_t first;
    size_t i;
    (void)state;

    memset(&mo, 0, sizeof mo);
    mo.latency_ms = 20;
    plm_fx_start(&fx, &mo, NULL);
    for (i = 0; i < N; i++)
        reqs[i] = plm_fx_chat(PLM_PROVIDER_OPENAI, "lane");

    run_ok_at(fx.client, reqs, N, C);
    assert_int_equal(plm__transport_lanes(fx.client->transport), 7);
    first = plm__transport_connects(fx.client->transport);
    assert_true(first >= 7);
    assert_true(first <= C + 7);

    run_ok_at(fx.client, reqs, N, C);
    assert_true(plm__transport_connects(fx.client->transport) <= first + 7);

    run_ok_at(fx.client, reqs, 20, 10);
    assert_int_equal(plm__transport_lanes(fx.client->transport), 1);
    run_ok_at(fx.client, reqs, N, C);
    assert_int_equal(plm__transport_lanes(fx.client->transport), 7);
    plm_mock_get_stats(fx.mock, &ms);
    assert_int_equal(ms.requests, 3 * N + 20);
    for (i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_fx_stop(&fx);
}

/* One request, no retries, through a new client on base_url (made after
 * the environment was set); its result code. */
static int one_request(const char *base_url)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_run_options o = PLM_RUN_OPTIONS_INIT;
    plm_request *req = plm_fx_chat(PLM_PROVIDER_OPENAI, "proxy?");
    plm_client *client = NULL;
    feed f;

    co.openai_base_url = base_url;
    co.openai_api_key = PLM_FX_KEY;
    assert_int_equal(plm_client_new(&client, &co), PLM_OK);
    assert_int_equal(plm_request_set_max_retries(req, 0), PLM_OK);
    memset(&f, 0, sizeof f);
    f.reqs = &req;
    f.n = 1;
    o.max_concurrent = 1;
    (void)plm_client_run(client, feed_source, feed_complete, &o, &f);
    assert_int_equal(f.ndone, 1);
    plm_client_free(client);
    plm_request_free(req);
    return f.codes[0];
}

/* A loopback port that refuses connections: bound, never listening. */
static int refusing_port(int *fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* With no proxy variable set, the transport tells curl "no proxy" once
 * per handle instead of letting it read the environment on every
 * transfer; a variable that is set must still be honoured, as curl
 * does. A proxy where nothing listens fails the request, no_proxy naming
 * the host lets it through, and without either it goes straight. */
static void test_transport__proxy_from_environment(void **state)
{
    char proxy[64];
    plm_fx fx;
    int fd;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", refusing_port(&fd));
    assert_int_equal(one_request(fx.base_url), PLM_OK);
    assert_int_equal(setenv("http_proxy", proxy, 1), 0);
    assert_int_equal(one_request(fx.base_url), PLM_ENETWORK);
    assert_int_equal(setenv("no_proxy", "127.0.0.1", 1), 0);
    assert_int_equal(one_request(fx.base_url), PLM_OK);
    unsetenv("http_proxy");
    unsetenv("no_proxy");
    assert_int_equal(one_request(fx.base_url), PLM_OK);
    close(fd);
    plm_fx_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport__recycled_handle_sets_method_and_body),
        cmocka_unit_test(test_transport__many_urls_on_one_handle),
        cmocka_unit_test(
            test_transport__cancel_transfers_waiting_for_their_round),
        cmocka_unit_test(test_transport__parked_connection_closed_by_server),
        cmocka_unit_test(test_transport__lanes_spread_and_reuse),
        cmocka_unit_test(test_transport__proxy_from_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
