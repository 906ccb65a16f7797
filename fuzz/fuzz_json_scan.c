/*
 * The tree-less JSON scanner (src/proto/json_scan.c) against jansson.
 *
 * Input: a JSON text. When plm__jscan_object accepts it, jansson must
 * accept it too (json_loadb, flags 0, an object), and every value the
 * scanner reads must equal jansson's: member by member (a key the text
 * repeats excepted, which the scanner reports and its callers leave to
 * jansson), element by element, strings byte for byte, integers and the
 * kind of every other value. Then both providers' answer parsers read it
 * on their fast path and, with a member added that makes the scanner
 * step aside ("\u0061", a key with an escape), on jansson's path: the
 * results must be the same.
 */
#include <jansson.h>

#include "fuzz_util.h"
#include "headers.h"
#include "json_scan.h"
#include "provider.h"
#include "result.h"

static void same_value(plm__jspan v, const json_t *j, int depth);

static void same_object(plm__jspan v, const json_t *j, int depth)
{
    const char *key;
    const json_t *member;

    FUZZ_CHECK(plm__jscan_kind(v) == '{');
    json_object_foreach((json_t *)j, key, member)
    {
        plm__jspan m;
        int found = plm__jscan_member(v, key, &m);

        FUZZ_CHECK(found != 0);
        if (found == 1)
            same_value(m, member, depth + 1);
    }
}

static void same_array(plm__jspan v, const json_t *j, int depth)
{
    plm__jspan it = { NULL, 0, NULL };
    size_t i = 0;

    FUZZ_CHECK(plm__jscan_kind(v) == '[');
    while (plm__jscan_next(v, &it)) {
        FUZZ_CHECK(i < json_array_size(j));
        same_value(it, json_array_get(j, i), depth + 1);
        i++;
    }
    FUZZ_CHECK(i == json_array_size(j));
}

static void same_value(plm__jspan v, const json_t *j, int depth)
{
    int64_t n;
    size_t len = 0;
    int oom;
    char *s;

    FUZZ_CHECK(depth < 100);
    switch (json_typeof(j)) {
    case JSON_OBJECT: same_object(v, j, depth); break;
    case JSON_ARRAY: same_array(v, j, depth); break;
    case JSON_STRING:
        s = plm__jscan_string(v, &len, &oom);
        FUZZ_CHECK(s != NULL);
        FUZZ_CHECK(len == json_string_length(j));
        FUZZ_CHECK(memcmp(s, json_string_value(j), len) == 0);
        free(s);
        break;
    case JSON_INTEGER:
        FUZZ_CHECK(plm__jscan_integer(v, &n));
        FUZZ_CHECK(n == (int64_t)json_integer_value(j));
        break;
    case JSON_REAL:
        FUZZ_CHECK(plm__jscan_kind(v) == '0');
        FUZZ_CHECK(!plm__jscan_integer(v, &n));
        break;
    case JSON_TRUE: FUZZ_CHECK(plm__jscan_kind(v) == 't'); break;
    case JSON_FALSE: FUZZ_CHECK(plm__jscan_kind(v) == 'f'); break;
    case JSON_NULL: FUZZ_CHECK(plm__jscan_kind(v) == 'n'); break;
    }
}

static int same_string(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static plm_result *parse(plm_provider provider, const char *path,
                         const char *body, size_t len)
{
    plm__headers h;
    plm_result *res = plm__result_new(NULL);

    FUZZ_CHECK(res != NULL);
    memset(&h, 0, sizeof h);
    plm__provider_parse(provider, path, 200, &h, body, len, res);
    return res;
}

/* The fast path's result for body against jansson's for the same body
 * with a member the scanner leaves to jansson. */
static void same_answer(plm_provider provider, const char *path,
                        const char *body, size_t len, plm__jspan root)
{
    static const char extra[] = "{\"\\u0061\":0,";
    size_t at = (size_t)(root.p - body) + 1, n = len + sizeof extra;
    char *other = malloc(n);
    plm__jscan_doc probe_doc;
    plm__jspan probe;
    plm_result *fast, *slow;

    FUZZ_CHECK(other != NULL);
    memcpy(other, body, at - 1);
    memcpy(other + at - 1, extra, sizeof extra - 1);
    memcpy(other + at - 1 + sizeof extra - 1, body + at, len - at);
    n = len - 1 + sizeof extra - 1;
    other[n] = '\0';
    FUZZ_CHECK(!plm__jscan_object(other, n, &probe_doc, &probe));
    fast = parse(provider, path, body, len);
    slow = parse(provider, path, other, n);
    FUZZ_CHECK(plm_result_code(fast) == plm_result_code(slow));
    FUZZ_CHECK(same_string(plm_result_content(fast), plm_result_content(slow)));
    FUZZ_CHECK(same_string(plm_result_finish_reason(fast),
                           plm_result_finish_reason(slow)));
    FUZZ_CHECK(plm_result_prompt_tokens(fast) ==
               plm_result_prompt_tokens(slow));
    FUZZ_CHECK(plm_result_completion_tokens(fast) ==
               plm_result_completion_tokens(slow));
    plm_result_free(fast);
    plm_result_free(slow);
    free(other);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    plm__jscan_doc doc;
    plm__jspan root;
    json_t *j;

    if (!plm__jscan_object(body, size, &doc, &root))
        return 0;
    j = json_loadb(body, size, 0, NULL);
    FUZZ_CHECK(json_is_object(j));
    same_value(root, j, 0);
    json_decref(j);
    /* An empty object has no member to put the probe before. */
    if (root.n > 2 && memchr(root.p + 1, '"', root.n - 2)) {
        same_answer(PLM_PROVIDER_OPENAI, "/v1/chat/completions", body, size,
                    root);
        same_answer(PLM_PROVIDER_ANTHROPIC, "/v1/messages", body, size, root);
    }
    return 0;
}
