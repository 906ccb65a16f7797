/*
 * Test helpers around the mock LLM server: start one on an ephemeral port
 * (failing the test with the reason if it cannot), build OpenAI and
 * Anthropic request bodies, send them, and read fields of JSON answers by
 * dotted path ("choices.0.message.content"). Built on cmocka assertions.
 */
#ifndef PLM_MOCK_CLIENT_H
#define PLM_MOCK_CLIENT_H

#include <jansson.h>

#include "http_xfer.h"
#include "mock.h"

/* Starts a mock with o (NULL: all defaults) or fails the test. */
plm_mock *plm_test_mock_start(const plm_mock_options *o);
/* A chat completions body with a system and a user message; extra_json,
 * when given, is an object merged into it. Caller frees. */
char *plm_test_chat_body(const char *user, const char *extra_json);
/* An Anthropic messages body (model, max_tokens 64, system, one user
 * message) merged with extra_json. Caller frees. */
char *plm_test_messages_body(const char *user, const char *extra_json);
/* Prepares a request to path on m with the NULL-terminated header lines
 * that follow body. */
void plm_test_mock_xfer(plm_test_xfer *x, plm_mock *m, const char *path,
                        const char *body, ...);
/* Sends a chat request for user, with one extra header line (or NULL),
 * and waits for the answer. */
void plm_test_chat(plm_test_xfer *x, plm_mock *m, const char *user,
                   const char *header);
/* Sends an Anthropic request with valid headers and waits. */
void plm_test_anthropic(plm_test_xfer *x, plm_mock *m, const char *user,
                        const char *extra_json);
/* Parses text as JSON or fails the test. Caller decrefs. */
json_t *plm_test_json(const char *text);
/* The string / integer at a dotted path (NULL / fails when absent). */
const char *plm_test_jstr(json_t *j, const char *path);
json_int_t plm_test_jint(json_t *j, const char *path);

#endif
