/*
 * The building blocks of `parallm run` on their own: the custom_id set,
 * the capped line reader, the input checks, the output line format and the
 * writer's resume scan and torn-line repair. The command's sources are
 * compiled in directly (they are not part of the library).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
#include "provider_parse.h"
#include "result.h"
#include "test_util.h"

/* cli_util.c brings the terminal helpers too; the writer only
 * needs the clock. */
double run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static run_record_meta meta_of(int simulated, uint64_t serial)
{
    run_record_meta m;
    memset(&m, 0, sizeof m);
    m.simulated = simulated;
    m.serial = serial;
    return m;
}

static void test_run__idset_many_ids(void **state)
{
    (void)state;
    run_idset *set = run_idset_new();
    char id[32];
    assert_non_null(set);
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(id, sizeof id, "id-%d", i);
        unsigned char *f = run_idset_find(set, id, (size_t)n, 1);
        assert_non_null(f);
        assert_int_equal(*f, 0);
        *f = (unsigned char)(1 + i % 3);
        run_idset_set_line(f, (uint64_t)i * 1000);
    }
    assert_int_equal(run_idset_count(set), 200000);
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(id, sizeof id, "id-%d", i);
        unsigned char *f = run_idset_find(set, id, (size_t)n, 0);
        assert_non_null(f);
        assert_int_equal(*f, 1 + i % 3);
        assert_int_equal(run_idset_line(f), (uint64_t)i * 1000 > UINT32_MAX
                                                ? UINT32_MAX
                                                : (uint64_t)i * 1000);
    }
    /* Prefixes and extensions of stored ids are different ids. */
    assert_null(run_idset_find(set, "id-1", 3, 0));
    assert_null(run_idset_find(set, "id-1999999", 10, 0));
    assert_null(run_idset_find(set, "", 0, 0));
    /* Inserting again returns the same entry. */
    assert_int_equal(run_idset_count(set), 200000);
    assert_non_null(run_idset_find(set, "id-7", 4, 1));
    assert_int_equal(run_idset_count(set), 200000);
    /* Ids too long for the record are refused, never truncated. */
    char *big = malloc(70000);
    assert_non_null(big);
    memset(big, 'x', 70000);
    assert_null(run_idset_find(set, big, 70000, 1));
    free(big);
    run_idset_free(set);
}

/* Every id lands on the same home slot (the first half is constant), so
 * every lookup walks one long probe chain; the second half still tells
 * the ids apart. */
static void same_home_hash(const uint64_t key[2], const char *s, size_t len,
                           uint64_t out[2])
{
    uint64_t full[2];
    run_idset_siphash128(key, s, len, full);
    out[0] = 42;
    out[1] = full[1];
}

/* Both halves equal: the set cannot tell the ids apart, which is the
 * documented price of keeping hashes only. */
static void one_hash(const uint64_t key[2], const char *s, size_t len,
                     uint64_t out[2])
{
    (void)key;
    (void)s;
    (void)len;
    out[0] = 7;
    out[1] = 9;
}

static void test_run__idset_forced_collisions(void **state)
{
    (void)state;
    run_idset *set = run_idset_new_with_hash(same_home_hash);
    char id[32];
    assert_non_null(set);
    /* Enough to grow the index twice with every record on one chain. */
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(id, sizeof id, "c-%d", i);
        unsigned char *f = run_idset_find(set, id, (size_t)n, 1);
        assert_non_null(f);
        assert_int_equal(*f, 0);
        *f = RUN_ID_SEEN;
        run_idset_set_line(f, (uint64_t)i + 1);
    }
    assert_int_equal(run_idset_count(set), 3000);
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(id, sizeof id, "c-%d", i);
        unsigned char *f = run_idset_find(set, id, (size_t)n, 0);
        assert_non_null(f);
        assert_int_equal(run_idset_line(f), (uint64_t)i + 1);
    }
    assert_null(run_idset_find(set, "c-3000", 6, 0));
    run_idset_free(set);

    set = run_idset_new_with_hash(one_hash);
    assert_non_null(set);
    unsigned char *a = run_idset_find(set, "a", 1, 1);
    assert_non_null(a);
    assert_ptr_equal(run_idset_find(set, "b", 1, 1), a);
    assert_int_equal(run_idset_count(set), 1);
    run_idset_free(set);
}

static void test_run__idset_siphash(void **state)
{
    (void)state;
    /* The reference vector of SipHash-2-4-128 for key 00..0f and the
     * empty message, and the key's and each byte's influence. */
    const uint64_t key[2] = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };
    uint64_t h[2], g[2];
    run_idset_siphash128(key, "", 0, h);
    assert_true(h[0] == 0xe6a825ba047f81a3ull);
    assert_true(h[1] == 0x930255c71472f66dull);
    run_idset_siphash128(key, "request-1", 9, h);
    run_idset_siphash128(key, "request-2", 9, g);
    assert_true(h[0] != g[0] && h[1] != g[1]);
    const uint64_t key2[2] = { 1, 2 };
    run_idset_siphash128(key2, "request-1", 9, g);
    assert_true(h[0] != g[0] && h[1] != g[1]);
}

static int temp_file(const char *content, size_t len)
{
    char path[] = "/tmp/plm-run-unit-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static void test_run__line_reader_cap_and_tail(void **state)
{
    (void)state;
    /* A line of 300 KiB (over a 100 KiB cap) spans many reads. */
    size_t biglen = 300 * 1024;
    size_t total = 2 + 1 + biglen + 1 + 3;
    char *data = malloc(total);
    assert_non_null(data);
    memcpy(data, "a\n\n", 3);
    memset(data + 3, 'x', biglen);
    memcpy(data + 3 + biglen, "\nccc", 4);
    int fd = temp_file(data, total);
    run_line_reader *r = run_line_reader_new(fd, 100 * 1024);
    char *line;
    size_t len;
    int too_long, no_nl;
    assert_int_equal(run_line_reader_next(r, &line, &len, &too_long, &no_nl),
                     1);
    assert_string_equal(line, "a");
    assert_int_equal(run_line_reader_offset(r), 2);
    assert_int_equal(run_line_reader_next(r, &line, &len, &too_long, &no_nl),
                     1);
    assert_int_equal(len, 0);
    assert_int_equal(run_line_reader_next(r, &line, &len, &too_long, &no_nl),
                     1);
    assert_int_equal(too_long, 1);
    assert_int_equal(run_line_reader_line_no(r), 3);
    assert_int_equal(run_line_reader_next(r, &line, &len, &too_long, &no_nl),
                     1);
    assert_string_equal(line, "ccc");
    assert_int_equal(too_long, 0);
    assert_int_equal(no_nl, 1);
    assert_int_equal(run_line_reader_offset(r), total);
    assert_int_equal(run_line_reader_next(r, &line, &len, &too_long, &no_nl),
                     0);
    run_line_reader_free(r);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    /* Blank lines are not counted. */
    assert_int_equal(run_input_count_lines(fd), 3);
    close(fd);
    free(data);
}

static void test_run__input_checks(void **state)
{
    (void)state;
    run_input_item it;
    const char *ok = "{\"custom_id\":\"q\",\"method\":\"POST\",\"url\":"
                     "\"/v1/messages\",\"body\":{\"b\":[1, 2]}}";
    assert_int_equal(run_input_parse(ok, strlen(ok), 0, 3, &it), 0);
    assert_string_equal(it.error, "");
    assert_string_equal(it.custom_id, "q");
    assert_int_equal(it.provider, PLM_PROVIDER_ANTHROPIC);
    /* The body goes out as the line spells it, whitespace included. */
    assert_string_equal(it.body, "{\"b\":[1, 2]}");
    run_input_item_clear(&it);

    /* A byte order mark before the first line, CRLF line ends. */
    char bom[256];
    snprintf(bom, sizeof bom, "\xef\xbb\xbf%s\r", ok);
    assert_int_equal(run_input_parse(bom, strlen(bom), 0, 1, &it), 0);
    assert_string_equal(it.error, "");
    run_input_item_clear(&it);
    assert_int_equal(run_input_parse(bom, strlen(bom), 0, 2, &it), 0);
    assert_true(strncmp(it.error, "line 2: invalid JSON", 20) == 0);
    run_input_item_clear(&it);

    static const struct {
        const char *line;
        const char *id;
        const char *error;
    } bad[] = {
        { "{", "line-9", "line 9: invalid JSON" },
        { "{\"custom_id\":\"\",\"method\":\"POST\"}", "line-9",
          "line 9: custom_id is empty" },
        { "{\"custom_id\":null}", "line-9", "line 9: custom_id is not" },
        { "{\"custom_id\":\"q\",\"url\":\"/v1/chat/completions\","
          "\"body\":{}}",
          "q", "line 9: missing method" },
        { "{\"custom_id\":\"q\",\"method\":\"POST\",\"body\":{}}", "q",
          "line 9: missing url" },
        { "{\"custom_id\":\"q\",\"method\":\"POST\","
          "\"url\":\"/v1/embeddings\"}",
          "q", "line 9: missing body" },
        { "{\"custom_id\":\"q\"} trailing", "line-9", "line 9: invalid JSON" },
        { "{\"custom_id\":\"q\\u0000\"}", "line-9", "line 9: invalid JSON" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(run_input_parse(bad[i].line, strlen(bad[i].line), 0, 9,
                                         &it),
                         0);
        assert_string_equal(it.custom_id, bad[i].id);
        assert_true(strncmp(it.error, bad[i].error, strlen(bad[i].error)) == 0);
        run_input_item_clear(&it);
    }
    assert_int_equal(run_input_parse("", 0, 1, 4, &it), 0);
    assert_string_equal(it.error, "line 4: line longer than 16777216 bytes");
    run_input_item_clear(&it);
}

static void test_run__format_http_and_local_failures(void **state)
{
    (void)state;
    plm_result *res = plm__result_new(NULL);
    int cls = RUN_CLASS_OK;
    run_record_meta mt;
    size_t len = 0;
    assert_non_null(res);
    plm__result_set_error(res, PLM_ERATELIMIT, PLM_CLASS_RATE_LIMITED,
                          "rate limited");
    res->http_status = 429;
    res->body = strdup("{\"error\":\n{\"message\":\"slow down\"}}");
    res->body_len = strlen(res->body);
    mt = meta_of(1, 42);
    char *line = run_out_format_result("c\"1", res, &mt, &cls, &len);
    assert_non_null(line);
    assert_int_not_equal(cls, RUN_CLASS_OK);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "custom_id")),
                        "c\"1");
    assert_string_equal(json_string_value(json_object_get(j, "id")),
                        "batch_req_000000000000002a");
    json_t *resp = json_object_get(j, "response");
    assert_int_equal(json_integer_value(json_object_get(resp, "status_code")),
                     429);
    assert_true(json_is_null(json_object_get(resp, "request_id")));
    assert_true(json_is_object(json_object_get(resp, "body")));
    assert_true(json_is_null(json_object_get(j, "error")));
    assert_true(json_is_true(json_object_get(j, "simulated")));
    json_decref(j);
    free(line);

    /* A 200 that did not parse is a local failure, not an answer. */
    plm__result_set_error(res, PLM_EPARSE, PLM_CLASS_PARSE, "not JSON");
    res->http_status = 200;
    mt = meta_of(0, 1);
    line = run_out_format_result("c", res, &mt, &cls, &len);
    j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "response")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "error"), "code")),
        "invalid_response");
    assert_null(json_object_get(j, "simulated"));
    json_decref(j);
    free(line);
    plm_result_free(res);
}

static void test_run__json_embeddable(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "{}",
        "[]",
        " {\"a\" : [1, -0, 0.5, 1e-5, -2.5E+3, true, false, "
        "null, \"\"]}\t",
        "{\"s\":\"\\\" \\\\ \\/ \\b\\f\\n\\r\\t "
        "\\u00e9 \\ud83d\\ude00\"}",
        "{\"utf8\":\"\xc3\xa9\xe2\x82\xac"
        "\xf0\x9f\x98\x80\"}",
        "[123456789012345678]",
        "[{\"a\":{\"b\":[[]]}}]",
        "{\"a\":1,\"a\":2}",
    };
    static const char *const no[] = {
        "",
        " ",
        "1",
        "\"s\"",
        "null",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "{a:1}",
        "[01]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[-]",
        "[+1]",
        "[1] x",
        "[1][2]",
        "{\"a\":\n1}",
        "{\"a\":1}\r",
        "[\"\\u0000\"]",
        "[\"\\ud83d\"]",
        "[\"\\ude00\"]",
        "[\"\\x\"]",
        "[\"\\u12g4\"]",
        "[\"a\tb\"]",
        "[\"\xc3\"]",
        "[\"\xc0\x80\"]",
        "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xff\"]",
        "[1234567890123456789]",
        "[1e400]",
        "[tru]",
        "[nul]",
        "[\"open]",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_int_equal(cli_json_embeddable(yes[i], strlen(yes[i])), 1);
        /* What the check accepts, jansson reads. */
        json_t *j = json_loads(yes[i], 0, NULL);
        assert_non_null(j);
        json_decref(j);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_int_equal(cli_json_embeddable(no[i], strlen(no[i])), 0);
    /* A NUL byte inside the text. */
    assert_int_equal(cli_json_embeddable("[\"a\0\"]", 6), 0);
    assert_int_equal(cli_json_embeddable("[1]\0", 4), 0);
    /* Depth: fine at 500, handed to jansson past 512. */
    char deep[2048];
    memset(deep, '[', 500);
    memset(deep + 500, ']', 500);
    assert_int_equal(cli_json_embeddable(deep, 1000), 1);
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    assert_int_equal(cli_json_embeddable(deep, 2000), 0);

    char out[64];
    char *end = cli_json_put_string(out, "a\"\\\n\t\x01\xc3\xa9");
    assert_non_null(end);
    *end = '\0';
    assert_string_equal(out, "\"a\\\"\\\\\\n\\t\\u0001\xc3\xa9\"");
    assert_null(cli_json_put_string(out, "bad\xc3"));
}

static void test_run__json_member_text(void **state)
{
    (void)state;
    char *t = NULL;
    const char *line = "{\"custom_id\": \"a b\", \"n\": [1, {\"x\": null}], "
                       "\"body\" : { \"s\": \"two  spaces \\\" \\\\\", "
                       "\"v\": [ 1.5e3 , true ] } , \"z\": 1}";
    assert_int_equal(cli_json_member_text(line, strlen(line), "body", &t), 0);
    assert_string_equal(
        t, "{ \"s\": \"two  spaces \\\" \\\\\", \"v\": [ 1.5e3 , true ] }");
    json_t *a = json_loads(t, 0, NULL), *b = json_loads(line, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, json_object_get(b, "body")));
    json_decref(a);
    json_decref(b);
    free(t);
    t = NULL;
    /* Absent, spelled with an escape, or behind a value the scan hands
     * to jansson: the caller falls back. */
    static const char *const fallback[] = {
        "{\"custom_id\":\"q\"}",
        "{\"bo\\u0064y\":{}}",
        "{\"n\":123456789012345678901,\"body\":{}}",
        "[{\"body\":{}}]",
    };
    for (size_t i = 0; i < sizeof fallback / sizeof fallback[0]; i++) {
        assert_int_equal(cli_json_member_text(fallback[i], strlen(fallback[i]),
                                              "body", &t),
                         -1);
        assert_null(t);
    }
}

/* The fast path writes the line jansson would: same keys, same values. */
static void test_run__format_answer_embeds_body(void **state)
{
    (void)state;
    plm_result *res = plm__result_new(NULL);
    int cls = RUN_CLASS_OTHER;
    run_record_meta mt;
    size_t len = 0;
    assert_non_null(res);
    res->code = PLM_OK;
    res->http_status = 200;
    res->request_id = strdup("req-\"1");
    res->body = strdup("{\"b\": [1, 2.5e-3, \"\\u00e9\"], \"n\": null}");
    res->body_len = strlen(res->body);
    mt = meta_of(1, 42);
    char *line = run_out_format_result("c\\1", res, &mt, &cls, &len);
    assert_non_null(line);
    assert_int_equal(cls, RUN_CLASS_OK);
    assert_int_equal(strlen(line), len);
    assert_int_equal(line[len - 1], '\n');
    /* The body is embedded byte for byte. */
    assert_non_null(strstr(line, "\"body\":{\"b\": [1, 2.5e-3, "));
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    json_t *want = json_pack(
        "{s:s, s:s, s:{s:i, s:s, s:{s:[i, f, s], s:n}}, s:n, s:b}", "id",
        "batch_req_000000000000002a", "custom_id", "c\\1", "response",
        "status_code", 200, "request_id", "req-\"1", "body", "b", 1, 2.5e-3,
        "\xc3\xa9", "n", "error", "simulated", 1);
    assert_non_null(want);
    assert_true(json_equal(j, want));
    /* Keys in the order the jansson path writes them. */
    const char *order[] = { "id", "custom_id", "response", "error",
                            "simulated" };
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        assert_true(k < 5);
        assert_string_equal(key, order[k++]);
    }
    json_decref(want);
    json_decref(j);
    free(line);

    /* The numbers written by hand, digit for digit as printf would. */
    mt = meta_of(0, 0xfedcba9876543210ull);
    mt.has_input_hash = 1;
    mt.input_hash = 0x0123456789abcdefull;
    res->http_status = 201;
    free(res->body);
    res->body = strdup("{}");
    res->body_len = 2;
    line = run_out_format_result("c", res, &mt, &cls, &len);
    assert_non_null(line);
    assert_string_equal(
        line, "{\"id\":\"batch_req_fedcba9876543210\",\"custom_id\":"
              "\"c\",\"response\":{\"status_code\":201,\"request_id\":"
              "\"req-\\\"1\",\"body\":{}},\"error\":null,"
              "\"input_hash\":\"0123456789abcdef\"}\n");
    assert_int_equal(strlen(line), len);
    free(line);

    /* A body that is not JSON is kept as a string, as before. */
    free(res->body);
    res->body = strdup("oops {");
    res->body_len = strlen(res->body);
    res->http_status = 500;
    mt = meta_of(0, 1);
    line = run_out_format_result("c", res, &mt, &cls, &len);
    assert_non_null(line);
    assert_int_not_equal(cls, RUN_CLASS_OK);
    j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(
                            json_object_get(json_object_get(j, "response"),
                                            "body")),
                        "oops {");
    json_decref(j);
    free(line);
    plm_result_free(res);
}

static void write_all(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_run__resume_scan_and_repair(void **state)
{
    (void)state;
    char dir[256], path[300];
    assert_int_equal(plm_test_tmpdir("plm-run-unit", dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/out.jsonl", dir);
#define REC(id, cid) "{\"id\":\"batch_req_" id "\",\"custom_id\":\"" cid "\","
    const char *good = REC(
        "0000000000000001",
        "a") "\"response\":{\"status_code\":200},"
             "\"error\":null}\n" REC(
                 "0000000000000002",
                 "b") "\"response\":{\"status_code\":500},"
                      "\"error\":null,\"input_hash\":\"00000000000000aa\"}\n"
                      "\n" REC(
                          "0000000000000003",
                          "c") "\"response\":null,"
                               "\"error\":{\"code\":\"x\"}}\n" REC(
                                   "0000000000000004",
                                   "b") "\"response\":{\"status_code\":201},"
                                        "\"error\":null,\"input_hash\":"
                                        "\"00000000000000bb\"}\n" REC(
                                            "0000000000000005",
                                            "s") "\"response\":{\"status_"
                                                 "code\":200},"
                                                 "\"error\":null,\"simulated\":"
                                                 "true}\n";
    const char *torn = REC("00000000000000ff", "d") "\"resp";
    char *content = malloc(strlen(good) + strlen(torn) + 256);
    assert_non_null(content);
    sprintf(content, "%s%s", good, torn);
    write_all(path, content);

    run_idset *ids = run_idset_new();
    run_resume_info info;
    run_out *o = NULL;
    char err[256];
    assert_int_equal(run_out_open(&o, path, RUN_OUT_IGNORE_SIMULATED, ids,
                                  &info, err, sizeof err),
                     0);
    assert_int_equal(info.ok, 2);        /* a, b (its later success wins) */
    assert_int_equal(info.failed, 1);    /* c */
    assert_int_equal(info.simulated, 1); /* s: not taken on a real run */
    assert_int_equal(info.repaired_bytes, strlen(torn));
    assert_int_equal(*run_idset_find(ids, "a", 1, 0), RUN_ID_DONE_OK);
    assert_int_equal(*run_idset_find(ids, "b", 1, 0) & 3,
                     RUN_ID_DONE_OK | RUN_ID_DONE_FAILED);
    /* The deciding record's input hash: b's success. */
    assert_int_equal(run_idset_tag(run_idset_find(ids, "b", 1, 0)), 0xbb);
    assert_int_equal(*run_idset_find(ids, "c", 1, 0),
                     RUN_ID_DONE_FAILED | RUN_CLASS_OTHER
                                              << RUN_ID_CLASS_SHIFT);
    assert_null(run_idset_find(ids, "d", 1, 0));
    assert_null(run_idset_find(ids, "s", 1, 0));
    assert_int_equal(run_out_write(o, "{\"custom_id\":\"d\"}\n", 18), 0);
    assert_int_equal(run_out_close(o), 0);
    size_t len = 0;
    char *after = plm_test_read_file(path, &len);
    assert_non_null(after);
    assert_int_equal(len, strlen(good) + 18);
    assert_memory_equal(after, good, strlen(good));
    free(after);
    struct stat st;

    /* A line parallm did not write anywhere: refused, nothing changed
     * (not even a torn-looking tail). */
    const char *foreign[] = { "a\nb", "{\"note\": \"kept by a user\"}\n",
                              "# comment\n", "[1]\n",
                              "{\"custom_id\":\"q\",\"method\":\"POST\"}\n" };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        sprintf(content, "%s%s%s", good, foreign[i], torn);
        write_all(path, content);
        run_idset *idsx = run_idset_new();
        assert_int_equal(run_out_open(&o, path, 0, idsx, &info, err,
                                      sizeof err),
                         -2);
        assert_non_null(strstr(err, "is not a parallm output record"));
        after = plm_test_read_file(path, &len);
        assert_int_equal(len, strlen(content));
        assert_memory_equal(after, content, len);
        free(after);
        run_idset_free(idsx);
    }
    /* A last line without newline that is not the start of a record. */
    sprintf(content, "%sabc", good);
    write_all(path, content);
    run_idset *ids3 = run_idset_new();
    assert_int_equal(run_out_open(&o, path, 0, ids3, &info, err, sizeof err),
                     -2);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, strlen(content));
    run_idset_free(ids3);

    /* --overwrite: nothing read, file emptied. */
    run_idset *ids2 = run_idset_new();
    assert_int_equal(run_out_open(&o, path, RUN_OUT_OVERWRITE, ids2, &info, err,
                                  sizeof err),
                     0);
    assert_int_equal(run_idset_count(ids2), 0);
    assert_int_equal(run_out_close(o), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);

    /* Every write to /dev/full fails; the error is reported. */
    assert_int_equal(run_out_open(&o, "/dev/full", 0, ids2, &info, err,
                                  sizeof err),
                     0);
    errno = 0;
    assert_int_equal(run_out_write(o, "x\n", 2), -1);
    assert_int_equal(errno, ENOSPC);
    run_out_close(o);

    run_idset_free(ids);
    run_idset_free(ids2);
    free(content);
    plm_test_rmtree(dir);
#undef REC
}

/* xorshift64*: a fixed seed, so every run checks the same cases. */
static uint64_t prng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* Random bytes shaped to hit the writer's paths: raw bytes, JSON-ish
 * text with escapes, NULs and bad UTF-8, deep nesting. */
static size_t random_body(uint64_t *s, char *buf, size_t cap)
{
    static const char *const bits[] = {
        "{",      "}",       "[",        "]",        "\"",
        "\\",     "\\u0000", "\\ud800",  ":",        ",",
        "1e999",  "null",    "\xff\xfe", "\xc3\xa9", " ",
        "\n",     "\t",      "\0",       "data: ",   ": keepalive \xff\xfe\n",
        "[DONE]", "{\"a\":", "\xe2\x82"
    };
    size_t n = 0, want = (size_t)(prng(s) % 200);
    int mode = (int)(prng(s) % 4);
    if (mode == 0) { /* raw bytes */
        for (; n < want && n < cap; n++)
            buf[n] = (char)prng(s);
        return n;
    }
    if (mode == 1) { /* a deep array, around the scan's depth limit */
        size_t depth = 2040 + (size_t)(prng(s) % 12);
        if (2 * depth + 1 > cap)
            depth = (cap - 1) / 2;
        for (size_t i = 0; i < depth; i++)
            buf[n++] = '[';
        for (size_t i = 0; i < depth; i++)
            buf[n++] = ']';
        return n;
    }
    while (n < want) {
        const char *b = bits[prng(s) % (sizeof bits / sizeof bits[0])];
        size_t len = b[0] ? strlen(b) : 1;
        if (n + len > cap)
            break;
        memcpy(buf + n, b, len);
        n += len;
    }
    return n;
}

static void test_run__format_scan_roundtrip(void **state)
{
    (void)state;
    static const int statuses[] = { 200, 201, 400, 401, 429, 500, 503, 0 };
    static const int codes[] = { PLM_OK,     PLM_ENETWORK, PLM_ETIMEOUT,
                                 PLM_EPARSE, PLM_ETOOBIG,  PLM_ESERVER };
    static const char *const secrets[] = { "local-SECRETVALUE123", NULL };
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char *body = malloc(8192);
    assert_non_null(body);
    for (int i = 0; i < 5000; i++) {
        plm_result *res = plm__result_new(NULL);
        assert_non_null(res);
        int status = statuses[prng(&seed) % 8];
        int code = status >= 200 && status < 300 ? codes[prng(&seed) % 6]
                   : status                      ? PLM_ESERVER
                                                 : codes[1 + prng(&seed) % 5];
        if (code != PLM_OK)
            plm__result_set_error(res, code, PLM_CLASS_SERVER,
                                  i % 7 ? "boom \xff" : "local-SECRETVALUE123");
        res->code = code;
        res->http_status = status;
        size_t blen = random_body(&seed, body, 8191);
        if (i % 5 == 0 && blen >= 23)
            memcpy(body + 3, "local-SECRETVALUE123", 20);
        res->body = malloc(blen + 1);
        memcpy(res->body, body, blen);
        res->body[blen] = '\0';
        res->body_len = blen;
        if (i % 3 == 0) {
            res->request_id = malloc(17);
            for (int k = 0; k < 16; k++)
                res->request_id[k] = (char)(1 + prng(&seed) % 255);
            res->request_id[16] = '\0';
        }
        char cid[32];
        snprintf(cid, sizeof cid, "id-%d-\xc3\xa9\"\\", i);
        run_record_meta m = meta_of(i % 2, (uint64_t)i);
        m.has_input_hash = 1;
        m.input_hash = prng(&seed);
        m.secrets = secrets;
        int cls = -1;
        size_t len = 0;
        char *line = run_out_format_result(cid, res, &m, &cls, &len);
        assert_non_null(line);
        assert_int_equal(line[len - 1], '\n');
        /* One line, and the scan reads it back to the same id, outcome
         * and input hash; no copy of the key survives. */
        assert_null(memchr(line, '\n', len - 1));
        if (strstr(line, "SECRETVALUE"))
            fail_msg("case %d: key in %s", i, line);
        run_record rec;
        if (parse_record(line, len - 1, &rec) != 0)
            fail_msg("case %d: the scan refuses: %s", i, line);
        assert_string_equal(rec.id, cid);
        assert_int_equal(rec.cls, cls);
        assert_int_equal(rec.simulated, i % 2);
        assert_true(rec.has_hash && rec.hash == m.input_hash);
        /* A success always keeps its body. */
        if (cls == RUN_CLASS_OK && blen > 0)
            assert_false(json_is_null(
                json_object_get(json_object_get(rec.root, "response"),
                                "body")));
        assert_true(record_prefix(line, len - 1));
        json_decref(rec.root);
        free(line);
        plm_result_free(res);
    }
    free(body);
}

static void test_run__deep_and_nul_bodies(void **state)
{
    (void)state;
    plm_result *res = plm__result_new(NULL);
    run_record_meta m = meta_of(0, 7);
    int cls = -1;
    size_t len = 0;
    assert_non_null(res);
    res->code = PLM_OK;
    res->http_status = 200;
    /* Bodies nested 2,046 to 2,048 deep: the parser takes them all. */
    for (int depth = 2046; depth <= 2048; depth++) {
        free(res->body);
        res->body = malloc((size_t)depth * 2 + 1);
        memset(res->body, '[', (size_t)depth);
        memset(res->body + depth, ']', (size_t)depth);
        res->body[2 * depth] = '\0';
        res->body_len = (size_t)depth * 2;
        char *line = run_out_format_result("deep", res, &m, &cls, &len);
        run_record rec;
        assert_int_equal(parse_record(line, len - 1, &rec), 0);
        assert_int_equal(rec.cls, RUN_CLASS_OK);
        json_decref(rec.root);
        free(line);
    }
    /* NULs in a non-JSON body and invalid UTF-8 in an SSE stream. */
    static const char sse[] = ": keepalive \xff\xfe\ndata: {\"a\":1}\n\n"
                              "data: [DONE]\n\n: bye \0 after";
    free(res->body);
    res->body = malloc(sizeof sse);
    memcpy(res->body, sse, sizeof sse);
    res->body_len = sizeof sse - 1;
    char *line = run_out_format_result("sse", res, &m, &cls, &len);
    run_record rec;
    assert_int_equal(parse_record(line, len - 1, &rec), 0);
    json_t *b = json_object_get(json_object_get(rec.root, "response"), "body");
    assert_true(json_is_string(b));
    assert_int_equal(json_string_length(b), sizeof sse - 1 + 2 * 2);
    assert_memory_equal(json_string_value(b), ": keepalive \xef\xbf\xbd", 15);
    json_decref(rec.root);
    free(line);
    plm_result_free(res);
}

/* Collects the events of an SSE body as "event|data;" */
static int sse_collect_fn(const char *event, const char *data, size_t len,
                          void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s|%.*s;", event, (int)len, data);
    return 0;
}

static void test_run__sse_empty_data_is_not_an_event(void **state)
{
    (void)state;
    char got[512] = "";
    static const char body[] = "data:\n\ndata: \n\n: ping\n\n"
                               "event: e\ndata: {\"a\":1}\n\n"
                               "data:\ndata: x\n\ndata: [DONE]\n\n";
    assert_int_equal(plm__sse_each(body, sizeof body - 1, sse_collect_fn, got),
                     0);
    assert_string_equal(got, "e|{\"a\":1};|\nx;|[DONE];");
}

/* A line over the cap whose start shows its custom_id keeps it in the
 * error line; one whose start does not gets "line-N". */
static void test_run__too_long_line_keeps_its_id(void **state)
{
    (void)state;
    run_input_item item;
    static const char start[] = "{\"custom_id\": \"big-1\", \"method\": "
                                "\"POST\", \"body\": {\"x\": \"aaaa";
    assert_int_equal(run_input_parse(start, sizeof start - 1, 1, 9, &item), 0);
    assert_string_equal(item.custom_id, "big-1");
    assert_false(item.synthetic_id);
    assert_non_null(strstr(item.error, "line 9"));
    run_input_item_clear(&item);
    static const char late[] = "{\"body\": {\"x\": \"aaaa";
    assert_int_equal(run_input_parse(late, sizeof late - 1, 1, 9, &item), 0);
    assert_string_equal(item.custom_id, "line-9");
    run_input_item_clear(&item);
    static const char odd[] = "{\"custom_id\": \"a\\u0000b\", \"x";
    assert_int_equal(run_input_parse(odd, sizeof odd - 1, 1, 3, &item), 0);
    assert_string_equal(item.custom_id, "line-3");
    run_input_item_clear(&item);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run__idset_many_ids),
        cmocka_unit_test(test_run__idset_forced_collisions),
        cmocka_unit_test(test_run__idset_siphash),
        cmocka_unit_test(test_run__line_reader_cap_and_tail),
        cmocka_unit_test(test_run__input_checks),
        cmocka_unit_test(test_run__format_http_and_local_failures),
        cmocka_unit_test(test_run__json_embeddable),
        cmocka_unit_test(test_run__json_member_text),
        cmocka_unit_test(test_run__format_answer_embeds_body),
        cmocka_unit_test(test_run__resume_scan_and_repair),
        cmocka_unit_test(test_run__format_scan_roundtrip),
        cmocka_unit_test(test_run__deep_and_nul_bodies),
        cmocka_unit_test(test_run__sse_empty_data_is_not_an_event),
        cmocka_unit_test(test_run__too_long_line_keeps_its_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
