/*
 * Shared helpers for tests that talk to the mock LLM server: starting it,
 * building provider request bodies, sending them with the test HTTP client
 * and reading answers by dotted JSON path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_client.h"

plm_mock *plm_test_mock_start(const plm_mock_options *o)
{
    plm_mock *m = NULL;
    char err[256] = "";
    plm_mock_options def;

    if (o == NULL) {
        memset(&def, 0, sizeof def);
        o = &def;
    }
    if (plm_mock_start(&m, o, err, sizeof err) != 0)
        fail_msg("plm_mock_start: %s", err);
    assert_true(plm_mock_port(m) > 0);
    return m;
}

static char *merge_dump(json_t *o, const char *extra_json)
{
    char *s;

    assert_non_null(o);
    if (extra_json != NULL) {
        json_t *e = json_loads(extra_json, 0, NULL);

        assert_non_null(e);
        json_object_update(o, e);
        json_decref(e);
    }
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(s);
    return s;
}

char *plm_test_chat_body(const char *user, const char *extra_json)
{
    return merge_dump(json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "model",
                                "gpt-test", "messages", "role", "system",
                                "content", "be brief", "role", "user",
                                "content", user),
                      extra_json);
}

char *plm_test_messages_body(const char *user, const char *extra_json)
{
    return merge_dump(json_pack("{s:s, s:i, s:s, s:[{s:s, s:s}]}", "model",
                                "claude-test", "max_tokens", 64, "system",
                                "be brief", "messages", "role", "user",
                                "content", user),
                      extra_json);
}

void plm_test_mock_xfer(plm_test_xfer *x, plm_mock *m, const char *path,
                        const char *body, ...)
{
    const char *hdrs[16];
    size_t n = 0;
    char url[256];
    va_list ap;
    const char *h;

    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", plm_mock_port(m), path);
    va_start(ap, body);
    while ((h = va_arg(ap, const char *)) != NULL && n < 15)
        hdrs[n++] = h;
    va_end(ap);
    hdrs[n] = NULL;
    assert_int_equal(plm_test_xfer_init(x, url, body, hdrs), 0);
}

void plm_test_chat(plm_test_xfer *x, plm_mock *m, const char *user,
                   const char *header)
{
    char *b = plm_test_chat_body(user, NULL);

    plm_test_mock_xfer(x, m, "/v1/chat/completions", b,
                       "Authorization: Bearer sk-t", header,
                       (const char *)NULL);
    free(b);
    plm_test_xfer_run(x);
}

void plm_test_anthropic(plm_test_xfer *x, plm_mock *m, const char *user,
                        const char *extra_json)
{
    char *b = plm_test_messages_body(user, extra_json);

    plm_test_mock_xfer(x, m, "/v1/messages", b, "x-api-key: sk-ant-t",
                       "anthropic-version: 2023-06-01", (const char *)NULL);
    free(b);
    plm_test_xfer_run(x);
}

json_t *plm_test_json(const char *text)
{
    json_t *j = json_loads(text ? text : "", 0, NULL);

    assert_non_null(j);
    return j;
}

static json_t *walk(json_t *j, const char *path)
{
    char tmp[256], *save = NULL, *tok;
    json_t *cur = j;

    snprintf(tmp, sizeof tmp, "%s", path);
    for (tok = strtok_r(tmp, ".", &save); tok != NULL && cur != NULL;
         tok = strtok_r(NULL, ".", &save)) {
        if (json_is_array(cur))
            cur = json_array_get(cur, (size_t)strtoul(tok, NULL, 10));
        else
            cur = json_object_get(cur, tok);
    }
    return cur;
}

const char *plm_test_jstr(json_t *j, const char *path)
{
    return json_string_value(walk(j, path));
}

json_int_t plm_test_jint(json_t *j, const char *path)
{
    json_t *v = walk(j, path);

    if (!json_is_integer(v))
        fail_msg("no integer at %s", path);
    return json_integer_value(v);
}
