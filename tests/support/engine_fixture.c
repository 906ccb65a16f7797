/*
 * Implementation of the engine tests' fixture: mock + client, request
 * builder and the secret-leak check.
 */
#include "engine_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void capture_log(plm_log_level level, const char *message,
                        void *user_data)
{
    plm_fx *fx = user_data;
    char **p = realloc(fx->log_lines, (fx->nlog + 1) * sizeof *p);
    (void)level;
    assert_non_null(p);
    fx->log_lines = p;
    fx->log_lines[fx->nlog] = strdup(message);
    assert_non_null(fx->log_lines[fx->nlog]);
    fx->nlog++;
}

void plm_fx_start(plm_fx *fx, const plm_mock_options *mopts,
                  const plm_client_options *copts)
{
    plm_mock_options mo;
    plm_client_options co;
    char err[256];

    memset(fx, 0, sizeof *fx);
    memset(&mo, 0, sizeof mo);
    if (mopts)
        mo = *mopts;
    mo.record = 1;
    assert_int_equal(plm_mock_start(&fx->mock, &mo, err, sizeof err), 0);
    snprintf(fx->base_url, sizeof fx->base_url, "%s://127.0.0.1:%d",
             mo.tls_cert_file ? "https" : "http", plm_mock_port(fx->mock));

    memset(&co, 0, sizeof co);
    if (copts)
        co = *copts;
    co.version = PLM_CLIENT_OPTIONS_VERSION;
    co.openai_api_key = PLM_FX_KEY;
    co.anthropic_api_key = PLM_FX_KEY;
    co.openai_base_url = fx->base_url;
    co.anthropic_base_url = fx->base_url;
    if (!co.log) {
        co.log = capture_log;
        co.log_user_data = fx;
        if (co.log_level == 0)
            co.log_level = PLM_LOG_DEBUG;
    }
    /* Short backoff unless a test wants the real one. */
    if (co.retry_base_ms == 0)
        co.retry_base_ms = 5;
    if (co.retry_max_ms == 0)
        co.retry_max_ms = 20;
    assert_int_equal(plm_client_new(&fx->client, &co), PLM_OK);
}

void plm_fx_stop(plm_fx *fx)
{
    size_t i;
    plm_client_free(fx->client);
    if (fx->mock)
        plm_mock_release_hung(fx->mock);
    plm_mock_free(fx->mock);
    for (i = 0; i < fx->nlog; i++)
        free(fx->log_lines[i]);
    free(fx->log_lines);
    memset(fx, 0, sizeof *fx);
}

plm_request *plm_fx_chat(plm_provider provider, const char *text)
{
    plm_request *req = NULL;
    assert_int_equal(plm_request_new_chat(&req, provider,
                                          provider == PLM_PROVIDER_OPENAI
                                              ? "gpt-test"
                                              : "claude-test"),
                     PLM_OK);
    if (provider == PLM_PROVIDER_ANTHROPIC)
        assert_int_equal(plm_request_set_max_tokens(req, 16), PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", text), PLM_OK);
    return req;
}

int plm_fx_reply_is(const plm_result *res, const char *text)
{
    const char *c = plm_result_content(res);
    const char *prefix = "mock reply: ";
    size_t n = strlen(prefix);
    if (!c || strncmp(c, prefix, n) != 0)
        return 0;
    return strcmp(c + n, text) == 0;
}

int plm_fx_key_leaked(const plm_fx *fx, plm_result *const *results, size_t n)
{
    size_t i;
    for (i = 0; i < fx->nlog; i++)
        if (strstr(fx->log_lines[i], PLM_FX_KEY))
            return 1;
    for (i = 0; i < n; i++)
        if (results[i] &&
            strstr(plm_result_error_message(results[i]), PLM_FX_KEY))
            return 1;
    return 0;
}
