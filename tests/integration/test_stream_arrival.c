/*
 * Streamed answers parsed as they arrive, against the mock: a stream the
 * mock dribbles out in pieces (fault=slow) has its events read before its
 * last bytes come in (the result's stream_events_early), with the same
 * answer as when it is read whole; an answer that is not a stream is read
 * whole as before; an attempt that fails halfway through a stream leaves
 * nothing of it in the result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine_fixture.h"
#include "result.h"

static void gather(plm_fx *fx, plm_request **reqs, size_t n, plm_result **res)
{
    plm_gather_options go;

    memset(&go, 0, sizeof go);
    go.version = PLM_GATHER_OPTIONS_VERSION;
    go.return_errors = 1;
    assert_int_equal(plm_gather(fx->client, reqs, n, res, &go), PLM_OK);
}

#define SLOW "[mock fault=slow latency=500]"

static void test_stream_arrival__parsed_before_the_end(void **state)
{
    enum { N = 4 };
    plm_fx fx;
    plm_request *reqs[N];
    plm_result *res[N];
    size_t i;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "openai " SLOW);
    reqs[1] = plm_fx_chat(PLM_PROVIDER_ANTHROPIC, "anthropic " SLOW);
    assert_int_equal(plm_request_set_stream(reqs[0], 1), PLM_OK);
    assert_int_equal(plm_request_set_stream(reqs[1], 1), PLM_OK);
    /* The same, not streamed: read whole, as before. */
    reqs[2] = plm_fx_chat(PLM_PROVIDER_OPENAI, "openai " SLOW);
    reqs[3] = plm_fx_chat(PLM_PROVIDER_ANTHROPIC, "anthropic " SLOW);
    gather(&fx, reqs, N, res);
    for (i = 0; i < N; i++) {
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
        assert_int_equal(res[i]->http_status, 200);
        assert_true(plm_fx_reply_is(res[i], i % 2 ? "anthropic " SLOW
                                                  : "openai " SLOW));
        assert_true(res[i]->completion_tokens > 0);
        assert_non_null(res[i]->request_id);
        assert_non_null(res[i]->body);
    }
    /* Streams: events were read while later bytes were still on the
     * way, and the stream's answer was assembled. */
    for (i = 0; i < 2; i++) {
        assert_true(res[i]->stream_events_early > 0);
        assert_non_null(res[i]->assembled);
        assert_non_null(strstr(res[i]->body, "data:"));
    }
    for (i = 2; i < N; i++) {
        assert_int_equal(res[i]->stream_events_early, 0);
        assert_null(res[i]->assembled);
    }
    plm_results_free(res, N);
    for (i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_fx_stop(&fx);
}

/* An Anthropic stream's first event reports the prompt's usage; an
 * attempt that times out after it leaves the result with the timeout
 * alone, no usage from the stream it dropped. */
static void test_stream_arrival__failed_attempt_leaves_nothing(void **state)
{
    plm_fx fx;
    plm_request *req;
    plm_result *res;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    req = plm_fx_chat(PLM_PROVIDER_ANTHROPIC,
                      "cut [mock fault=slow latency=3000]");
    assert_int_equal(plm_request_set_stream(req, 1), PLM_OK);
    assert_int_equal(plm_request_set_timeout_ms(req, 900), PLM_OK);
    assert_int_equal(plm_request_set_max_retries(req, 0), PLM_OK);
    gather(&fx, &req, 1, &res);
    assert_int_equal(plm_result_code(res), PLM_ETIMEOUT);
    assert_int_equal(plm_result_prompt_tokens(res), -1);
    assert_null(res->finish_reason);
    assert_null(res->content);
    assert_null(res->assembled);
    assert_int_equal(res->stream_events_early, 0);
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_arrival__parsed_before_the_end),
        cmocka_unit_test(test_stream_arrival__failed_attempt_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
