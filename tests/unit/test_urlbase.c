/*
 * Request URLs from a base URL, as the official SDKs read one: a bare
 * host gets /v1, any other base is taken as given, the path's /v1 is
 * replaced by the base; deployment paths (Azure) and a query for every
 * request; and the key in another header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "provider.h"
#include "scrub.h"

/* The URL of a POST to path on base, with query and deployment paths. */
static void check_url(const char *base, const char *query, int deployments,
                      const char *path, const char *model, const char *want)
{
    plm__urlbase ub;
    char *url;

    assert_int_equal(plm__urlbase_init(&ub, base, query, deployments), PLM_OK);
    url = plm__urlbase_url(&ub, PLM_PROVIDER_OPENAI, "POST", path, model);
    assert_non_null(url);
    assert_string_equal(url, want);
    free(url);
    plm__urlbase_clear(&ub);
}

static void chat(const char *base, const char *want)
{
    check_url(base, NULL, 0, "/v1/chat/completions", "m", want);
}

static void test_urlbase__bare_host_gets_v1(void **state)
{
    (void)state;
    chat("http://localhost:8000", "http://localhost:8000/v1/chat/completions");
    chat("http://localhost:8000/", "http://localhost:8000/v1/chat/completions");
    chat("  http://h:1//  ", "http://h:1/v1/chat/completions");
    chat("https://api.anthropic.com",
         "https://api.anthropic.com/v1/chat/completions");
    /* A host called v1 is a host, not a path. */
    chat("http://v1", "http://v1/v1/chat/completions");
}

static void test_urlbase__path_taken_as_given(void **state)
{
    (void)state;
    chat("https://api.openai.com/v1",
         "https://api.openai.com/v1/chat/completions");
    chat("https://api.openai.com/v1/",
         "https://api.openai.com/v1/chat/completions");
    chat("https://generativelanguage.googleapis.com/v1beta/openai",
         "https://generativelanguage.googleapis.com/v1beta/openai/chat/"
         "completions");
    chat("https://generativelanguage.googleapis.com/v1beta/openai/",
         "https://generativelanguage.googleapis.com/v1beta/openai/chat/"
         "completions");
    chat("https://openrouter.ai/api/v1",
         "https://openrouter.ai/api/v1/chat/completions");
    chat("https://api.groq.com/openai/v1",
         "https://api.groq.com/openai/v1/chat/completions");
    chat("https://x.openai.azure.com/openai/deployments/D",
         "https://x.openai.azure.com/openai/deployments/D/chat/completions");
    chat("http://h/v1/v1", "http://h/v1/v1/chat/completions");
}

static void test_urlbase__other_paths(void **state)
{
    (void)state;
    check_url("http://h:1/v1", NULL, 0, "/v1/messages", NULL,
              "http://h:1/v1/messages");
    check_url("https://api.anthropic.com", NULL, 0, "/v1/messages", NULL,
              "https://api.anthropic.com/v1/messages");
    /* Not under /v1: absolute on the server. */
    check_url("https://g.example/v1beta/openai", NULL, 0, "/health", NULL,
              "https://g.example/health");
    check_url("http://h:1", NULL, 0, "/v1beta/x", NULL, "http://h:1/v1beta/x");
    check_url("http://h:1/api/v1", NULL, 0, "/v1", NULL, "http://h:1/api/v1");
}

static void test_urlbase__query(void **state)
{
    (void)state;
    check_url("https://x/openai", "api-version=2024-10-21", 0, "/v1/responses",
              "m", "https://x/openai/responses?api-version=2024-10-21");
    /* A leading '?' in the option is dropped; the path's query first. */
    check_url("https://x/openai", "?api-version=1", 0,
              "/v1/chat/completions?a=b", "m",
              "https://x/openai/chat/completions?a=b&api-version=1");
    /* A query in the base URL is sent with every request. */
    check_url("https://x/openai/?api-version=2&k=v", NULL, 0, "/v1/embeddings",
              "m", "https://x/openai/embeddings?api-version=2&k=v");
    check_url("https://x/openai?b=1", "c=2", 0, "/v1/embeddings", "m",
              "https://x/openai/embeddings?b=1&c=2");
    check_url("http://h:1?b=1", NULL, 0, "/v1/embeddings", "m",
              "http://h:1/v1/embeddings?b=1");
    check_url("http://h:1/v1#frag", "", 0, "/v1/embeddings", "m",
              "http://h:1/v1/embeddings");
}

static void test_urlbase__deployments(void **state)
{
    (void)state;
    check_url("https://r.openai.azure.com/openai", "api-version=2024-10-21", 1,
              "/v1/chat/completions", "gpt-4o-mini",
              "https://r.openai.azure.com/openai/deployments/gpt-4o-mini/"
              "chat/completions?api-version=2024-10-21");
    check_url("https://r/openai", NULL, 1, "/v1/embeddings", "emb",
              "https://r/openai/deployments/emb/embeddings");
    check_url("https://r/openai", NULL, 1, "/v1/completions", "c",
              "https://r/openai/deployments/c/completions");
    /* Not a deployment endpoint in openai-node: to the base. */
    check_url("https://r/openai", NULL, 1, "/v1/responses", "m",
              "https://r/openai/responses");
    /* The model is one path segment, percent-encoded. */
    check_url("https://r/openai", NULL, 1, "/v1/chat/completions", "a/b c?d#%",
              "https://r/openai/deployments/a%2Fb%20c%3Fd%23%25/"
              "chat/completions");
    /* The base already names a deployment: not inserted again. */
    check_url("https://r/openai/deployments/D", NULL, 1, "/v1/chat/completions",
              "m", "https://r/openai/deployments/D/chat/completions");
    /* No model: nothing to insert. */
    check_url("https://r/openai", NULL, 1, "/v1/chat/completions", NULL,
              "https://r/openai/chat/completions");
    check_url("https://r/openai", NULL, 1, "/v1/chat/completions", "",
              "https://r/openai/chat/completions");
    /* Off: never. */
    check_url("https://r/openai", NULL, 0, "/v1/chat/completions", "m",
              "https://r/openai/chat/completions");
}

static void test_urlbase__only_post_and_openai(void **state)
{
    plm__urlbase ub;
    char *url;

    (void)state;
    assert_int_equal(plm__urlbase_init(&ub, "https://r/openai", NULL, 1),
                     PLM_OK);
    url = plm__urlbase_url(&ub, PLM_PROVIDER_OPENAI, "GET",
                           "/v1/chat/completions", "m");
    assert_string_equal(url, "https://r/openai/chat/completions");
    free(url);
    /* Anthropic has no deployment paths. */
    url = plm__urlbase_url(&ub, PLM_PROVIDER_ANTHROPIC, "POST",
                           "/v1/chat/completions", "m");
    assert_string_equal(url, "https://r/openai/chat/completions");
    free(url);
    assert_null(plm__urlbase_url(&ub, (plm_provider)-1, "POST", "/v1/x", "m"));
    assert_null(
        plm__urlbase_url(NULL, PLM_PROVIDER_OPENAI, "POST", "/v1/x", "m"));
    plm__urlbase_clear(&ub);
    plm__urlbase_clear(&ub); /* twice is harmless */
    plm__urlbase_clear(NULL);
}

static int has_line(const struct curl_slist *l, const char *want)
{
    for (; l; l = l->next)
        if (strcmp(l->data, want) == 0)
            return 1;
    return 0;
}

static int has_prefix(const struct curl_slist *l, const char *want)
{
    for (; l; l = l->next)
        if (strncasecmp(l->data, want, strlen(want)) == 0)
            return 1;
    return 0;
}

static void test_urlbase__key_header(void **state)
{
    struct curl_slist *l;

    (void)state;
    l = plm__provider_headers_keyed(PLM_PROVIDER_OPENAI, "0123abcd", "api-key",
                                    NULL);
    assert_non_null(l);
    assert_true(has_line(l, "api-key: 0123abcd"));
    assert_false(has_prefix(l, "Authorization:"));
    curl_slist_free_all(l);
    /* The default stays the bearer token. */
    l = plm__provider_headers_keyed(PLM_PROVIDER_OPENAI, "0123abcd", NULL,
                                    NULL);
    assert_true(has_line(l, "Authorization: Bearer 0123abcd"));
    assert_false(has_prefix(l, "api-key:"));
    curl_slist_free_all(l);
    /* A key that cannot be sent is not, in either header. */
    l = plm__provider_headers_keyed(PLM_PROVIDER_OPENAI, "k\r\nX: 1", "api-key",
                                    NULL);
    assert_false(has_prefix(l, "api-key:"));
    assert_false(has_prefix(l, "Authorization:"));
    curl_slist_free_all(l);
    /* Anthropic keeps its version header with another key header. */
    l = plm__provider_headers_keyed(PLM_PROVIDER_ANTHROPIC, "sk-ant-1",
                                    "api-key", NULL);
    assert_true(has_line(l, "api-key: sk-ant-1"));
    assert_true(has_prefix(l, "anthropic-version:"));
    assert_false(has_prefix(l, "x-api-key:"));
    curl_slist_free_all(l);
}

/* Azure keys are hex: no "sk-" marks them, the header name does. */
static void test_urlbase__key_header_values_scrubbed(void **state)
{
    static const char key[] = "0123456789abcdef0123456789abcdef";
    char msg[256], quote[PLM_EXCERPT_MAX + 4], body[400], *tail;

    (void)state;
    snprintf(msg, sizeof msg, "bad header api-key: %s, x-api-key=%s", key, key);
    plm__scrub_keys(msg);
    assert_null(strstr(msg, "0123456789"));
    assert_non_null(strstr(msg, "api-key: ****"));
    snprintf(msg, sizeof msg,
             "{\"API-KEY\": \"%s\"} Authorization: "
             "Bearer %s",
             key, key);
    plm__scrub_keys(msg);
    assert_null(strstr(msg, "0123456789"));
    /* Words after the names are not keys. */
    snprintf(msg, sizeof msg, "use Bearer auth: Bearer YOUR_KEY");
    plm__scrub_keys(msg);
    assert_string_equal(msg, "use Bearer auth: Bearer YOUR_KEY");
    /* A key cut by the excerpt's end is masked however little is left. */
    memset(body, 'x', sizeof body);
    memcpy(body + PLM_EXCERPT_MAX - 20, "api-key: ", 9);
    memcpy(body + PLM_EXCERPT_MAX - 11, key, 32);
    plm__excerpt(quote, sizeof quote, body, sizeof body);
    assert_null(strstr(quote, "0123456"));
    assert_non_null(strstr(quote, "api-key: ***"));
    /* A key header name and its separator at the very end, no value:
     * the scan stops at the end of the string (ASan checks). */
    tail = strdup("x Bearer \"");
    assert_non_null(tail);
    plm__scrub_keys(tail);
    assert_string_equal(tail, "x Bearer \"");
    free(tail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlbase__bare_host_gets_v1),
        cmocka_unit_test(test_urlbase__path_taken_as_given),
        cmocka_unit_test(test_urlbase__other_paths),
        cmocka_unit_test(test_urlbase__query),
        cmocka_unit_test(test_urlbase__deployments),
        cmocka_unit_test(test_urlbase__only_post_and_openai),
        cmocka_unit_test(test_urlbase__key_header),
        cmocka_unit_test(test_urlbase__key_header_values_scrubbed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
