/*
 * The executor (add, run once, read results by index) and TLS against the
 * mock's HTTPS listener with a generated CA: verification on by default,
 * ca_file trusting the CA, insecure_skip_verify.
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
#include "test_util.h"
#include "tls_test_cert.h"

static void test_executor__runs_once_in_order(void **state)
{
    plm_fx fx;
    plm_executor *ex = NULL;
    plm_gather_options go;
    char text[64];
    size_t i, idx = 99;
    plm_request *extra;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    memset(&go, 0, sizeof go);
    go.version = PLM_GATHER_OPTIONS_VERSION;
    go.max_concurrent = 2;
    go.return_errors = 1;
    assert_int_equal(plm_executor_new(&ex, fx.client, &go), PLM_OK);
    assert_int_equal(plm_executor_count(ex), 0);
    for (i = 0; i < 5; i++) {
        snprintf(text, sizeof text, "e%zu [mock latency=%zu]", i, (5 - i) * 10);
        assert_int_equal(
            plm_executor_add(ex, plm_fx_chat(PLM_PROVIDER_OPENAI, text), &idx),
            PLM_OK);
        assert_int_equal(idx, i);
    }
    assert_null(plm_executor_result(ex, 0));
    assert_int_equal(plm_executor_add(ex, NULL, NULL), PLM_EINVAL);
    assert_int_equal(plm_executor_run(ex), PLM_OK);
    assert_int_equal(plm_executor_count(ex), 5);
    for (i = 0; i < 5; i++) {
        snprintf(text, sizeof text, "e%zu [mock latency=%zu]", i, (5 - i) * 10);
        assert_true(plm_fx_reply_is(plm_executor_result(ex, i), text));
    }
    assert_null(plm_executor_result(ex, 5));
    extra = plm_fx_chat(PLM_PROVIDER_OPENAI, "late");
    assert_int_equal(plm_executor_add(ex, extra, NULL), PLM_ESTATE);
    plm_request_free(extra); /* not taken on failure */
    assert_int_equal(plm_executor_run(ex), PLM_ESTATE);
    plm_executor_free(ex);
    plm_executor_free(NULL);
    plm_fx_stop(&fx);
}

static void test_executor__fail_fast_and_empty(void **state)
{
    plm_fx fx;
    plm_executor *ex = NULL;
    (void)state;

    plm_fx_start(&fx, NULL, NULL);
    assert_int_equal(plm_executor_new(&ex, fx.client, NULL), PLM_OK);
    assert_int_equal(plm_executor_run(ex), PLM_OK);
    assert_int_equal(plm_executor_run(ex), PLM_ESTATE);
    plm_executor_free(ex);

    /* Default options: fail fast. */
    assert_int_equal(plm_executor_new(&ex, fx.client, NULL), PLM_OK);
    assert_int_equal(plm_executor_add(ex,
                                      plm_fx_chat(PLM_PROVIDER_OPENAI,
                                                  "[mock status=404]"),
                                      NULL),
                     PLM_OK);
    assert_int_equal(plm_executor_add(ex,
                                      plm_fx_chat(PLM_PROVIDER_OPENAI,
                                                  "[mock fault=hang]"),
                                      NULL),
                     PLM_OK);
    assert_int_equal(plm_executor_run(ex), PLM_EBADREQUEST);
    assert_int_equal(plm_result_code(plm_executor_result(ex, 0)),
                     PLM_EBADREQUEST);
    assert_int_equal(plm_result_code(plm_executor_result(ex, 1)),
                     PLM_ECANCELLED);
    plm_executor_free(ex);
    plm_fx_stop(&fx);
}

typedef enum tls_mode { TLS_DEFAULT, TLS_CA_FILE, TLS_INSECURE } tls_mode;

static int tls_run(tls_mode mode, const char *ca, const char *cert,
                   const char *key, char *msg, size_t msglen)
{
    plm_fx fx;
    plm_mock_options mo;
    plm_client_options co;
    plm_request *req;
    plm_result *res = NULL;
    plm_gather_options go;
    int code;

    memset(&mo, 0, sizeof mo);
    mo.tls_cert_file = cert;
    mo.tls_key_file = key;
    memset(&co, 0, sizeof co);
    co.max_retries = -1;
    if (mode == TLS_CA_FILE)
        co.ca_file = ca;
    if (mode == TLS_INSECURE)
        co.insecure_skip_verify = 1;
    plm_fx_start(&fx, &mo, &co);
    memset(&go, 0, sizeof go);
    go.version = PLM_GATHER_OPTIONS_VERSION;
    go.return_errors = 1;
    req = plm_fx_chat(PLM_PROVIDER_OPENAI, "over tls");
    assert_int_equal(plm_gather(fx.client, &req, 1, &res, &go), PLM_OK);
    code = plm_result_code(res);
    if (code == PLM_OK)
        assert_true(plm_fx_reply_is(res, "over tls"));
    snprintf(msg, msglen, "%s", plm_result_error_message(res));
    assert_false(plm_fx_key_leaked(&fx, &res, 1));
    plm_result_free(res);
    plm_request_free(req);
    plm_fx_stop(&fx);
    return code;
}

static void test_tls__verification(void **state)
{
    char dir[512], ca[600], cert[600], key[600], msg[512];
    (void)state;

    assert_int_equal(plm_test_tmpdir("plm-tls", dir, sizeof dir), 0);
    assert_int_equal(plm_test_tls_make(dir, ca, cert, key, sizeof ca), 0);
    /* The mock's CA is not in the system bundle: refused. */
    assert_int_equal(tls_run(TLS_DEFAULT, ca, cert, key, msg, sizeof msg),
                     PLM_ENETWORK);
    assert_true(strlen(msg) > 0);
    assert_int_equal(tls_run(TLS_CA_FILE, ca, cert, key, msg, sizeof msg),
                     PLM_OK);
    assert_int_equal(tls_run(TLS_INSECURE, ca, cert, key, msg, sizeof msg),
                     PLM_OK);
    plm_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_executor__runs_once_in_order),
        cmocka_unit_test(test_executor__fail_fast_and_empty),
        cmocka_unit_test(test_tls__verification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
