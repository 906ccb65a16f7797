/*
 * The JSON text shortcuts of `parallm run` (cli/json_text.c), checked
 * against jansson, which they promise to agree with:
 *  - cli_json_embeddable: text it accepts goes into an output line byte
 *    for byte, so jansson must read it, and read the line back to the
 *    same value;
 *  - cli_json_member_text: the member's text it returns is sent as a
 *    request body, so it must be the same value jansson finds there;
 *  - cli_json_put_string: a JSON string literal that reads back as the
 *    input, or NULL exactly when the input is not UTF-8;
 *  - cli_json_scan_object: a line it vouches for is one jansson reads
 *    under JSON_REJECT_DUPLICATES, and each member it finds is the text
 *    of the value jansson finds there.
 */
#include <jansson.h>

#include "fuzz_util.h"
#include "run.h"

static void check_embeddable(const char *text, size_t len)
{
    if (!cli_json_embeddable(text, len))
        return;
    json_t *v = json_loadb(text, len, 0, NULL);
    FUZZ_CHECK(v != NULL);
    FUZZ_CHECK(memchr(text, '\n', len) == NULL);
    /* The output line embeds the text as is. */
    size_t n = len + 16;
    char *line = malloc(n);
    FUZZ_CHECK(line != NULL);
    memcpy(line, "{\"body\":", 8);
    memcpy(line + 8, text, len);
    line[8 + len] = '}';
    json_t *rec = json_loadb(line, len + 9, 0, NULL);
    FUZZ_CHECK(rec != NULL);
    FUZZ_CHECK(json_equal(json_object_get(rec, "body"), v));
    json_decref(rec);
    json_decref(v);
    free(line);
}

static void check_member(const char *text, size_t len, const char *key)
{
    char *out = NULL;
    int rc = cli_json_member_text(text, len, key, &out);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == (out != NULL));
    /* The caller only asks about text jansson accepted (without
     * duplicate keys); for other text only memory safety counts. */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (rc == 0 && json_is_object(root)) {
        json_t *want = json_object_get(root, key);
        json_t *got = json_loads(out, JSON_DECODE_ANY, NULL);
        FUZZ_CHECK(want != NULL);
        FUZZ_CHECK(got != NULL);
        FUZZ_CHECK(json_equal(got, want));
        json_decref(got);
    }
    json_decref(root);
    free(out);
}

static void check_put_string(const char *s)
{
    size_t n = strlen(s);
    char *buf = malloc(6 * n + 3);
    FUZZ_CHECK(buf != NULL);
    char *end = cli_json_put_string(buf, s);
    json_t *want = json_string(s); /* NULL when s is not UTF-8 */
    FUZZ_CHECK((end == NULL) == (want == NULL));
    if (end) {
        FUZZ_CHECK(end <= buf + 6 * n + 2);
        FUZZ_CHECK(memchr(buf, '\n', (size_t)(end - buf)) == NULL);
        json_t *got = json_loadb(buf, (size_t)(end - buf), JSON_DECODE_ANY,
                                 NULL);
        FUZZ_CHECK(got != NULL);
        FUZZ_CHECK(json_equal(got, want));
        json_decref(got);
    }
    json_decref(want);
    free(buf);
}

static void check_scan(const char *text, size_t len)
{
    cli_json_member m[2] = { { "body", NULL, 0, 0 }, { "a", NULL, 0, 0 } };
    if (!cli_json_scan_object(text, len, m, 2))
        return;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(root));
    for (int i = 0; i < 2; i++) {
        json_t *want = json_object_get(root, m[i].key);
        FUZZ_CHECK((want != NULL) == (m[i].value != NULL));
        if (!want)
            continue;
        json_t *got = json_loadb(m[i].value, m[i].len, JSON_DECODE_ANY, NULL);
        FUZZ_CHECK(got != NULL);
        FUZZ_CHECK(json_equal(got, want));
        json_decref(got);
    }
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    check_embeddable(text, size);
    check_member(text, size, "body");
    check_member(text, size, "a");
    check_scan(text, size);
    char *s = fuzz_cstr(data, size);
    check_put_string(s);
    free(s);
    return 0;
}
