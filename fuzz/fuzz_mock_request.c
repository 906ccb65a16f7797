/*
 * What the mock server reads from a request (src/mock): the body's fields
 * for each endpoint (plm__mock_parse_body), the directive from an X-Mock
 * header or from "[mock ...]" in the user text, and the answers built
 * from them: success body, event stream and error body, each of which
 * must be JSON whatever the request held (a client would otherwise see a
 * broken answer it never asked for).
 *
 * Input: byte 0 picks the endpoint and whether an X-Mock header is sent
 * (then it is the first line of the rest); the rest is the body.
 */
#include <jansson.h>

#include "fuzz_util.h"
#include "mock_internal.h"

static void on_event(void *arg, const char *event, const char *data)
{
    int *n = arg;
    (*n)++;
    FUZZ_CHECK(data != NULL);
    if (strcmp(data, "[DONE]") == 0)
        return;
    json_t *v = json_loads(data, 0, NULL);
    FUZZ_CHECK(v != NULL);
    FUZZ_CHECK(!event || strchr(event, '\n') == NULL);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned b0 = fuzz_take(&data, &size);
    plm__mock_endpoint ep = (plm__mock_endpoint)(1 + b0 % 5);
    int anthropic = ep == PLM__MOCK_EP_MESSAGES;
    plm__mock_directive d;
    plm__mock_parsed parsed;
    char *xmock = NULL;

    plm__mock_directive_init(&d);
    if (b0 & 8) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t n = nl ? (size_t)(nl - data) : size;
        xmock = fuzz_cstr(data, n);
        data += nl ? n + 1 : n;
        size -= nl ? n + 1 : n;
    }
    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(body))
        goto out;
    FUZZ_CHECK(plm__mock_parse_body(ep, body, &parsed) == 0);
    FUZZ_CHECK(parsed.prompt_tokens >= 1);
    if (xmock)
        plm__mock_directive_parse(xmock, strlen(xmock), &d);
    else
        plm__mock_directive_find(parsed.user_text, &d);
    int64_t ct = d.tokens >= 0 ? d.tokens : 16;

    char *reply = plm__mock_reply_body(ep, &parsed, 1, ct, b0 & 16);
    FUZZ_CHECK(reply != NULL);
    json_t *v = json_loads(reply, 0, NULL);
    FUZZ_CHECK(json_is_object(v));
    json_decref(v);
    free(reply);

    if (ep != PLM__MOCK_EP_EMBEDDINGS) {
        int events = 0;
        FUZZ_CHECK(plm__mock_reply_sse(ep, &parsed, 2, ct, b0 & 16, on_event,
                                       &events) == 0);
        FUZZ_CHECK(events > 0);
    }

    int status = d.status >= 300 ? d.status : 429;
    char *err = plm__mock_error_body(anthropic, status, "mock: injected",
                                     d.error_code, b0 & 32);
    FUZZ_CHECK(err != NULL);
    v = json_loads(err, 0, NULL);
    FUZZ_CHECK(json_is_object(v));
    json_decref(v);
    free(err);
    plm__mock_parsed_free(&parsed);
out:
    json_decref(body);
    free(xmock);
    return 0;
}
