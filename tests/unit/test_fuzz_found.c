/*
 * What the fuzz targets in fuzz/ found, one test per finding, each
 * failing before its fix. The command's sources are compiled in directly,
 * as in test_run_files.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../cli/idset.c"
#include "../../cli/json_text.c"
#include "../../cli/jsonl_input.c"
#include "../../cli/output.c"
#include "../../cli/output_sync.c"
#include "../../cli/output_format.c"
#include "mock_internal.h"
#include "result.h"
#include "rlheaders.h"
#include "test_util.h"

double run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fuzz_provider: an error answer whose body holds a NUL byte is written
 * as a JSON string with "\u0000"; the resume scan must read that line
 * back as the record it is, not take it for a torn line and cut it. */
static void test_fuzz__resume_reads_body_with_nul(void **state)
{
    (void)state;
    static const char body[] = "{\"error\": \x01\0{\"mes";
    char dir[256], path[300];
    plm_result *res = plm__result_new(NULL);
    run_record_meta meta = { .serial = 1 };
    int cls = -1;
    size_t len = 0;

    assert_non_null(res);
    res->http_status = 429;
    res->body = malloc(sizeof body);
    assert_non_null(res->body);
    memcpy(res->body, body, sizeof body);
    res->body_len = sizeof body - 1;
    char *line = run_out_format_result("nul-1", res, &meta, &cls, &len);
    assert_non_null(line);
    assert_int_equal(cls, RUN_CLASS_RATE);

    assert_int_equal(plm_test_tmpdir("plm-fuzz-found", dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/out.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(line, 1, len, f), len);
    fclose(f);

    run_idset *ids = run_idset_new();
    run_resume_info info;
    run_out *o = NULL;
    char err[256];
    assert_int_equal(run_out_open(&o, path, 0, ids, &info, err, sizeof err), 0);
    assert_int_equal(info.lines, 1);
    assert_int_equal(info.failed, 1);
    assert_int_equal(info.repaired_bytes, 0);
    unsigned char *flags = run_idset_find(ids, "nul-1", 5, 0);
    assert_non_null(flags);
    assert_true(*flags & RUN_ID_DONE_FAILED);
    assert_int_equal(run_out_close(o), 0);
    size_t kept = 0;
    char *now = plm_test_read_file(path, &kept);
    assert_non_null(now);
    assert_int_equal(kept, len);
    free(now);

    run_idset_free(ids);
    free(line);
    plm_result_free(res);
    assert_int_equal(plm_test_rmtree(dir), 0);
}

/* fuzz_rlvalues: a bare number of seconds just past what int64
 * nanoseconds hold overflowed (signed overflow, then a negative reset). */
static void test_fuzz__reset_seconds_overflow(void **state)
{
    (void)state;
    const int64_t now = INT64_C(1767225600) * 1000000000;
    int64_t v = -1;

    assert_int_equal(plm__rl_reset_parse("9223372037", now, &v), 0);
    assert_int_equal(plm__rl_reset_parse("9223372036.9", now, &v), 0);
    assert_int_equal(plm__rl_reset_parse("99999999999", now, &v), 0);
    /* Just below the limit still reads. */
    assert_int_equal(plm__rl_reset_parse("9223372035.999999999", now, &v), 1);
    assert_int_equal(v, INT64_C(9223372035999999999));
    assert_int_equal(plm__rl_reset_parse("20.5", now, &v), 1);
    assert_int_equal(v, INT64_C(20500000000));
}

/* fuzz_mock_request: an X-Mock error_code that is not UTF-8 made the
 * mock's error body fail to build (the answer lost its type and code);
 * such a value is bad and ignored, like every other bad value. */
static void test_fuzz__mock_error_code_not_utf8(void **state)
{
    (void)state;
    static const char hdr[] = "status=429;error_code=over\xec"
                              "oaded";
    plm__mock_directive d;

    plm__mock_directive_init(&d);
    plm__mock_directive_parse(hdr, sizeof hdr - 1, &d);
    assert_int_equal(d.status, 429);
    char *body = plm__mock_error_body(0, d.status, "mock: injected",
                                      d.error_code, 0);
    assert_non_null(body);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "error"), "code")),
        "rate_limit_exceeded");
    json_decref(j);
    free(body);

    plm__mock_directive_init(&d);
    plm__mock_directive_parse("error_code=insufficient_quota", 29, &d);
    assert_string_equal(d.error_code, "insufficient_quota");
}

/* fuzz_mock_request: a JSON description request whose first line is
 * longer than 160 bytes had its summary cut inside a UTF-8 sequence; the
 * body then failed to build and the mock answered 500 "out of memory"
 * (and an empty stream when streaming). */
static void test_fuzz__mock_summary_cut_in_utf8(void **state)
{
    (void)state;
    char text[256] = "summary references ";
    for (int i = 0; i < 100; i++)
        strcat(text, "\xc3\xa9");
    plm__mock_parsed p;
    memset(&p, 0, sizeof p);
    p.user_text = text;
    p.prompt_tokens = 1;
    p.max_tokens = -1;
    p.want_json = 2;

    char *body = plm__mock_reply_body(PLM__MOCK_EP_CHAT, &p, 1, 5, 0);
    assert_non_null(body);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    const char *content = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(j, "choices"), 0),
                        "message"),
        "content"));
    assert_non_null(content);
    json_t *inner = json_loads(content, 0, NULL);
    assert_non_null(inner);
    const char *summary = json_string_value(json_object_get(inner, "summary"));
    assert_non_null(summary);
    assert_true(strlen(summary) <= strlen("mock summary of: ") + 160);
    json_decref(inner);
    json_decref(j);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz__resume_reads_body_with_nul),
        cmocka_unit_test(test_fuzz__reset_seconds_overflow),
        cmocka_unit_test(test_fuzz__mock_error_code_not_utf8),
        cmocka_unit_test(test_fuzz__mock_summary_cut_in_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
