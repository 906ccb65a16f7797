/*
 * A raw body read from its text without a tree (src/proto/body_summary.c)
 * against the same body read through jansson's tree.
 *
 * Input: byte 0 picks the request path; then a body text. When jansson
 * reads the text as an object (json_loadb, flags 0), the request made
 * from the text (plm__request_new_raw_text, which summarizes it or falls
 * back to jansson) and the one made from the tree must agree on the
 * model, the stream flag, the prompt bytes and both token estimates;
 * the text is sent as given; and asking for stream usage changes both
 * the same way. When jansson refuses the text (or it holds a NUL), so
 * does the request.
 */
#include <jansson.h>

#include "fuzz_util.h"
#include "request.h"

static const char *const paths[] = { "/v1/chat/completions", "/v1/embeddings",
                                     "/v1/responses", "/v1/messages" };

static void same_requests(plm_request *a, plm_request *b)
{
    const char *ma = plm__request_model(a), *mb = plm__request_model(b);

    FUZZ_CHECK((ma == NULL) == (mb == NULL));
    FUZZ_CHECK(!ma || strcmp(ma, mb) == 0);
    FUZZ_CHECK(a->stream == b->stream);
    FUZZ_CHECK(plm__request_prompt_bytes(a) == plm__request_prompt_bytes(b));
    FUZZ_CHECK(plm__request_estimate_tokens(a) ==
               plm__request_estimate_tokens(b));
    FUZZ_CHECK(plm__request_estimate_output_tokens(a) ==
               plm__request_estimate_output_tokens(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = paths[fuzz_take(&data, &size) % 4];
    json_t *tree = json_loadb((const char *)data, size, 0, NULL);
    char *text = fuzz_cstr(data, size);
    plm_request *a = NULL, *b = NULL;
    int rc = plm__request_new_raw_text(&a, PLM_PROVIDER_OPENAI, "POST", path,
                                       text, size);
    json_t *sent;

    /* A NUL in the text (which jansson may take for its end) is
     * refused, as the public constructor's C string cannot hold one. */
    if (!json_is_object(tree) || memchr(data, '\0', size)) {
        FUZZ_CHECK(rc == PLM_EINVAL && a == NULL);
        json_decref(tree);
        return 0;
    }
    FUZZ_CHECK(rc == PLM_OK);
    FUZZ_CHECK(a->summarized ? a->body == NULL : a->body != NULL);
    FUZZ_CHECK(strlen(plm_request_body(a)) == size);
    FUZZ_CHECK(memcmp(plm_request_body(a), data, size) == 0);
    FUZZ_CHECK(plm__request_new_raw_take(&b, PLM_PROVIDER_OPENAI, "POST", path,
                                         tree, NULL) == PLM_OK);
    same_requests(a, b);
    /* The usage splice: the text sent reads as the tree changed. */
    FUZZ_CHECK(plm__request_ask_stream_usage(a) == PLM_OK);
    FUZZ_CHECK(plm__request_ask_stream_usage(b) == PLM_OK);
    sent = json_loads(plm_request_body(a), 0, NULL);
    FUZZ_CHECK(sent != NULL);
    FUZZ_CHECK(json_equal(sent, b->body));
    json_decref(sent);
    same_requests(a, b);
    plm_request_free(a);
    plm_request_free(b);
    return 0;
}
