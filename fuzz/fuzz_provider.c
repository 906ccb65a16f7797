/*
 * Provider answers (src/proto): plm__provider_parse for both providers,
 * every endpoint path, 2xx and error statuses, with and without an SSE
 * content type; then the retry decision and the output line
 * `parallm run` writes for the result (cli/output.c), which must be one
 * line of JSON whatever the answer held.
 *
 * Input: byte 0 picks provider, content type and request id, byte 1 the
 * status and byte 2 the path; the rest is the body.
 */
#include <jansson.h>

#include "fuzz_util.h"
#include "headers.h"
#include "provider.h"
#include "result.h"
#include "retry.h"
#include "run.h"

static const int statuses[] = { 200, 200, 200, 201, 204, 400, 401, 403, 404,
                                408, 413, 429, 500, 502, 503, 529, 0,   302 };
static const char *const paths[] = {
    "/v1/chat/completions",
    "/v1/messages",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/chat/completions?x=1",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/other",
    NULL,
};
static const char *const types[] = { NULL, "application/json",
                                     "text/event-stream",
                                     "text/event-stream; charset=utf-8" };

/* The line `parallm run` writes for res, and what a resumed run reads
 * back from it: one record for custom_id, nothing cut. */
static void check_output_line(const char *custom_id, const plm_result *res,
                              int scan)
{
    run_record_meta meta = { .serial = 7 };
    int cls = -1, ok;
    size_t len = 0;
    char *line = run_out_format_result(custom_id, res, &meta, &cls, &len);
    FUZZ_CHECK(line != NULL);
    ok = cls == RUN_CLASS_OK;
    FUZZ_CHECK(len > 0 && line[len - 1] == '\n' && line[len] == '\0');
    FUZZ_CHECK(memchr(line, '\n', len - 1) == NULL);
    json_t *rec = json_loadb(line, len - 1, JSON_ALLOW_NUL, NULL);
    FUZZ_CHECK(json_is_object(rec));
    json_t *id = json_string(custom_id);
    FUZZ_CHECK(id != NULL);
    FUZZ_CHECK(json_equal(json_object_get(rec, "custom_id"), id));
    json_decref(id);
    json_t *resp = json_object_get(rec, "response");
    if (ok)
        FUZZ_CHECK(json_integer_value(json_object_get(resp, "status_code")) ==
                   plm_result_http_status(res));
    json_decref(rec);
    if (!scan) {
        free(line);
        return;
    }

    int fd = fuzz_memfd((const uint8_t *)line, len);
    char path[64], err[256];
    run_idset *ids = run_idset_new();
    run_resume_info info;
    run_out *o = NULL;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    FUZZ_CHECK(ids != NULL);
    FUZZ_CHECK(run_out_open(&o, path, 0, ids, &info, err, sizeof err) == 0);
    FUZZ_CHECK(info.lines == 1);
    FUZZ_CHECK(info.repaired_bytes == 0);
    unsigned char *f = run_idset_find(ids, custom_id, strlen(custom_id), 0);
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK((*f & (RUN_ID_DONE_OK | RUN_ID_DONE_FAILED)) ==
               (ok ? RUN_ID_DONE_OK : RUN_ID_DONE_FAILED));
    FUZZ_CHECK(run_out_close(o) == 0);
    run_idset_free(ids);
    close(fd);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned b0 = fuzz_take(&data, &size);
    unsigned b1 = fuzz_take(&data, &size);
    unsigned b2 = fuzz_take(&data, &size);
    plm_provider provider = (b0 & 1) ? PLM_PROVIDER_ANTHROPIC
                                     : PLM_PROVIDER_OPENAI;
    int status = statuses[b1 % (sizeof statuses / sizeof statuses[0])];
    const char *path = paths[b2 % (sizeof paths / sizeof paths[0])];
    plm__headers h = { 0 };
    char *body = fuzz_cstr(data, size);
    plm_result *res = plm__result_new(NULL);

    FUZZ_CHECK(res != NULL);
    if (types[(b0 >> 1) & 3])
        h.content_type = strdup(types[(b0 >> 1) & 3]);
    if (b0 & 8)
        h.request_id = strdup((b0 & 16) ? "req_\xff\x01" : "req_123");
    if (b0 & 32)
        h.should_retry = strdup((b0 & 64) ? "true" : "false");

    plm__provider_parse(provider, path, status, &h, body, size, res);
    plm__retry_policy policy = { .max_retries = 3, .base_ms = 100,
                                 .max_ms = 1000, .after_max_ms = 5000 };
    plm__attempt a = { .http_status = status,
                       .transport_error = status ? 0 : PLM_ENETWORK,
                       .headers = &h };
    (void)plm__retry_decide(&policy, 1, &a, res);
    FUZZ_CHECK(plm_result_prompt_tokens(res) >= -1);
    FUZZ_CHECK(plm_result_completion_tokens(res) >= -1);
    if (plm_result_code(res) != PLM_OK)
        FUZZ_CHECK(plm_result_error_message(res) != NULL);
    /* The engine keeps the body for the caller: then `parallm run`
     * writes the output line. */
    res->body = body;
    res->body_len = size;
    body = NULL;
    /* One resume scan per input: it is most of the time per input. */
    check_output_line("fuzz-1", res, 0);
    check_output_line("id \"\xc3\xa9\\\n\x01", res, 1);

    plm_result_free(res);
    plm__headers_clear(&h);
    free(body);
    return 0;
}
