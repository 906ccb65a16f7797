/*
 * What the server receives for a base URL as the SDKs read it: the path
 * under an SDK-style base (Gemini's /v1beta/openai, OpenRouter's /api/v1),
 * a bare host's /v1, and Azure's addressing (deployment path from the
 * body's model, api-version query, key in "api-key"), checked in the
 * mock's records. Also the checks on the new options.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine_fixture.h"

#define AZURE_KEY "0123456789abcdef0123456789abcdef"

typedef struct batch {
    plm_request **reqs;
    size_t n, next, done;
    plm_result *res[4];
} batch;

static int batch_source(plm_request **out, void *user_data)
{
    batch *b = user_data;
    if (b->next >= b->n)
        return 0;
    *out = b->reqs[b->next++];
    return 1;
}

static int batch_complete(plm_request *req, plm_result *res, void *user_data)
{
    batch *b = user_data;
    (void)req;
    b->res[b->done++] = res;
    return 0;
}

/* Sends reqs (freed here) with a client made from co to the mock, one at
 * a time so the records are in order; every result must succeed. */
static void send_all(const plm_client_options *co, plm_request **reqs, size_t n)
{
    plm_client *c = NULL;
    plm_run_options ro = PLM_RUN_OPTIONS_INIT;
    batch b;

    memset(&b, 0, sizeof b);
    b.reqs = reqs;
    b.n = n;
    ro.max_concurrent = 1;
    assert_int_equal(plm_client_new(&c, co), PLM_OK);
    assert_int_equal(plm_client_run(c, batch_source, batch_complete, &ro, &b),
                     PLM_OK);
    assert_int_equal(b.done, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(plm_result_code(b.res[i]), PLM_OK);
        assert_null(strstr(plm_result_error_message(b.res[i]), AZURE_KEY));
        plm_result_free(b.res[i]);
        plm_request_free(reqs[i]);
    }
    plm_client_free(c);
}

static plm_request *embeddings(const char *model)
{
    plm_request *req = NULL;
    char body[128];

    snprintf(body, sizeof body, "{\"model\":\"%s\",\"input\":\"x\"}", model);
    assert_int_equal(plm_request_new_raw(&req, PLM_PROVIDER_OPENAI, "POST",
                                         "/v1/embeddings", body),
                     PLM_OK);
    return req;
}

static size_t records(plm_fx *fx, plm_mock_record **recs)
{
    size_t n = plm_mock_get_records(fx->mock, recs);
    plm_mock_reset(fx->mock);
    return n;
}

static void test_client_urls__sdk_style_bases(void **state)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock_record *recs = NULL;
    plm_request *reqs[2];
    char url[160];
    plm_fx fx;
    size_t n;

    (void)state;
    plm_fx_start(&fx, NULL, NULL);
    co.openai_api_key = "sk-test-urls-0001";
    /* Gemini's OpenAI-compatible base: version in the base, no /v1. */
    snprintf(url, sizeof url, "%s/v1beta/openai/", fx.base_url);
    co.openai_base_url = url;
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "gemini");
    reqs[1] = embeddings("e");
    send_all(&co, reqs, 2);
    n = records(&fx, &recs);
    assert_int_equal(n, 2);
    assert_string_equal(recs[0].path, "/v1beta/openai/chat/completions");
    assert_string_equal(recs[1].path, "/v1beta/openai/embeddings");
    assert_string_equal(recs[0].query, "");
    assert_string_equal(recs[0].auth_header, "authorization");
    assert_string_equal(recs[0].authorization, "Bearer sk-test-urls-0001");
    plm_mock_records_free(recs, n);

    /* A bare host is its /v1; "/api/v1" is taken as given. */
    co.openai_base_url = fx.base_url;
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "bare");
    send_all(&co, reqs, 1);
    snprintf(url, sizeof url, "%s/api/v1", fx.base_url);
    co.openai_base_url = url;
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "router");
    send_all(&co, reqs, 1);
    n = records(&fx, &recs);
    assert_int_equal(n, 2);
    assert_string_equal(recs[0].path, "/v1/chat/completions");
    assert_string_equal(recs[1].path, "/api/v1/chat/completions");
    plm_mock_records_free(recs, n);
    plm_fx_stop(&fx);
}

static void test_client_urls__azure(void **state)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_mock_record *recs = NULL;
    plm_request *reqs[3];
    char url[160];
    plm_fx fx;
    size_t n;

    (void)state;
    plm_fx_start(&fx, NULL, NULL);
    snprintf(url, sizeof url, "%s/openai", fx.base_url);
    co.openai_base_url = url;
    co.openai_api_key = AZURE_KEY;
    co.openai_api_key_header = "api-key";
    co.openai_query = "api-version=2024-10-21";
    co.openai_deployment_paths = 1;
    reqs[0] = plm_fx_chat(PLM_PROVIDER_OPENAI, "azure");
    reqs[1] = embeddings("my emb");
    assert_int_equal(plm_request_new_raw(&reqs[2], PLM_PROVIDER_OPENAI, "POST",
                                         "/v1/responses",
                                         "{\"model\":\"r\",\"input\":\"x\"}"),
                     PLM_OK);
    send_all(&co, reqs, 3);
    n = records(&fx, &recs);
    assert_int_equal(n, 3);
    assert_string_equal(recs[0].path,
                        "/openai/deployments/gpt-test/chat/completions");
    assert_string_equal(recs[1].path,
                        "/openai/deployments/my%20emb/embeddings");
    assert_string_equal(recs[2].path, "/openai/responses");
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(recs[i].query, "api-version=2024-10-21");
        assert_string_equal(recs[i].auth_header, "api-key");
        assert_null(recs[i].authorization);
    }
    plm_mock_records_free(recs, n);
    plm_fx_stop(&fx);
}

static void test_client_urls__options_checked(void **state)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c = NULL;

    (void)state;
    co.openai_api_key_header = "api-key: x";
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    assert_non_null(strstr(plm_last_error(), "openai_api_key_header"));
    co.openai_api_key_header = "";
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.openai_api_key_header = "api-key";
    co.openai_query = "a=b c";
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    assert_non_null(strstr(plm_last_error(), "openai_query"));
    co.openai_query = "a=b\r\nX: y";
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.openai_query = "a=b#c";
    assert_int_equal(plm_client_new(&c, &co), PLM_EINVAL);
    co.openai_query = "?api-version=1";
    assert_int_equal(plm_client_new(&c, &co), PLM_OK);
    plm_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_urls__sdk_style_bases),
        cmocka_unit_test(test_client_urls__azure),
        cmocka_unit_test(test_client_urls__options_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
