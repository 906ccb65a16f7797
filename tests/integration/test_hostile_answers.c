/*
 * Answers no provider should send, from a raw server in the test (the
 * mock cannot produce them): usage figures at INT64_MAX, which must
 * neither overflow the client's token sums nor stall a run under a TPM
 * limit, and a response header of a megabyte, which must be reported as
 * a header over the cap, not as "out of memory".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <curl/curl.h>

#include "parallm.h"
#include "raw_server.h"

#define USAGE_MAX                                                              \
    "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,"              \
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"         \
    "\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"          \
    "\"usage\":{\"prompt_tokens\":9223372036854775807,"                        \
    "\"completion_tokens\":9223372036854775807,"                               \
    "\"total_tokens\":9223372036854775807}}"

#define SMALL_ANSWER                                                           \
    "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,"              \
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"         \
    "\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"          \
    "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,"                  \
    "\"total_tokens\":2}}"

static void start(plm_raw_server *s, const char *headers, const char *json)
{
    size_t len = 0;
    char *reply = plm_raw_http_answer(headers, json, &len);
    assert_non_null(reply);
    assert_int_equal(plm_raw_server_start(s, reply, len), 0);
    free(reply);
}

static plm_client *client_on(const plm_raw_server *s, double tpm,
                             int max_retries)
{
    static char url[64];
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c = NULL;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", s->port);
    co.openai_api_key = "sk-test";
    co.openai_base_url = url;
    co.tpm = tpm;
    co.max_retries = max_retries;
    assert_int_equal(plm_client_new(&c, &co), PLM_OK);
    return c;
}

static plm_request *chat(int max_tokens)
{
    plm_request *req = NULL;
    assert_int_equal(plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, "m"),
                     PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", "hello"), PLM_OK);
    assert_int_equal(plm_request_set_max_tokens(req, max_tokens), PLM_OK);
    return req;
}

static void test_hostile__usage_at_int64_max_saturates(void **state)
{
    enum { N = 3 };
    plm_raw_server s;
    plm_request *reqs[N];
    plm_result *res[N];
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;
    plm_stats st;
    (void)state;

    start(&s, "", USAGE_MAX);
    /* A TPM limit far above what three small requests could use: charged
     * INT64_MAX tokens, the second would wait for ever (the run's
     * deadline, far away, would end it); charged what it could have used,
     * it goes at once. */
    plm_client *c = client_on(&s, 600000, -1);
    for (size_t i = 0; i < N; i++)
        reqs[i] = chat(16);
    go.max_concurrent = 1;
    go.timeout_ms = 30000;
    assert_int_equal(plm_gather(c, reqs, N, res, &go), PLM_OK);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
        /* The result keeps what the server said. */
        assert_true(plm_result_prompt_tokens(res[i]) == INT64_MAX);
    }
    plm_client_stats(c, &st);
    /* The sums saturate instead of overflowing (UBSan aborts on that). */
    assert_true(st.prompt_tokens == INT64_MAX);
    assert_true(st.completion_tokens == INT64_MAX);
    plm_results_free(res, N);
    for (size_t i = 0; i < N; i++)
        plm_request_free(reqs[i]);
    plm_client_free(c);
    plm_raw_server_stop(&s);
}

static void test_hostile__megabyte_header(void **state)
{
    plm_raw_server s;
    plm_request *req = chat(16);
    plm_result *res = NULL;
    size_t big = 1024 * 1024;
    char *headers = malloc(big + 32);
    char cap[32];
    (void)state;

    assert_non_null(headers);
    memcpy(headers, "X-Big: ", 7);
    memset(headers + 7, 'a', big);
    memcpy(headers + 7 + big, "\r\n", 3);
    start(&s, headers, SMALL_ANSWER);
    free(headers);
    plm_client *c = client_on(&s, 0, 2);
    assert_int_equal(plm_gather(c, &req, 1, &res, NULL), PLM_ETOOBIG);
    const char *msg = plm_result_error_message(res);
    assert_non_null(msg);
    if (strstr(msg, "emory"))
        fail_msg("reported as memory: %s", msg);
    assert_non_null(strstr(msg, "header"));
    snprintf(cap, sizeof cap, "%d", CURL_MAX_HTTP_HEADER);
    assert_non_null(strstr(msg, cap));
    assert_int_equal(plm_result_code(res), PLM_ETOOBIG);
    assert_int_equal(plm_result_error_class(res), PLM_CLASS_BAD_REQUEST);
    /* Not retried: the same request gets the same answer. */
    assert_int_equal(plm_result_attempts(res), 1);
    plm_result_free(res);
    plm_client_free(c);
    plm_raw_server_stop(&s);

    /* Many headers of 10 KB, over curl's cap for all of them together. */
    headers = malloc(40 * 10020 + 1);
    assert_non_null(headers);
    char *p = headers;
    for (int i = 0; i < 40; i++) {
        p += sprintf(p, "X-H%d: ", i);
        memset(p, 'a', 10000);
        p += 10000;
        p += sprintf(p, "\r\n");
    }
    start(&s, headers, SMALL_ANSWER);
    free(headers);
    c = client_on(&s, 0, 2);
    assert_int_equal(plm_gather(c, &req, 1, &res, NULL), PLM_ETOOBIG);
    msg = plm_result_error_message(res);
    assert_non_null(strstr(msg, "headers too large"));
    assert_int_equal(plm_result_attempts(res), 1);
    plm_result_free(res);
    plm_request_free(req);
    plm_client_free(c);
    plm_raw_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile__usage_at_int64_max_saturates),
        cmocka_unit_test(test_hostile__megabyte_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
