/*
 * Shared set-up for the engine's integration tests: a mock server on an
 * ephemeral loopback port and a client pointed at it with a distinctive
 * fake API key, plus a builder for chat requests whose user text carries a
 * mock directive.
 */
#ifndef PLM_ENGINE_FIXTURE_H
#define PLM_ENGINE_FIXTURE_H

#include <stddef.h>

#include "mock.h"
#include "parallm.h"

/* Distinctive so a test can grep every message for it. */
#define PLM_FX_KEY "sk-fixture-SECRET-7f3a9c1e"

typedef struct plm_fx {
    plm_mock *mock;
    plm_client *client;
    char base_url[96];
    /* Log lines captured from the client (log_level debug). */
    char **log_lines;
    size_t nlog;
} plm_fx;

/* Starts a recording mock (mopts may be NULL) and a client on it. copts
 * may be NULL; its base URLs, keys and log fields are filled in. Fails
 * the test on error. */
void plm_fx_start(plm_fx *fx, const plm_mock_options *mopts,
                  const plm_client_options *copts);
void plm_fx_stop(plm_fx *fx);

/* A chat request (OpenAI or Anthropic) with one user message. */
plm_request *plm_fx_chat(plm_provider provider, const char *text);

/* "mock reply: <text>", what the mock answers to a request. */
int plm_fx_reply_is(const plm_result *res, const char *text);

/* 1 if the fake key appears in any captured log line or in the message of
 * any of results[0..n-1]. */
int plm_fx_key_leaked(const plm_fx *fx, plm_result *const *results, size_t n);

#endif
