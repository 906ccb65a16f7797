/*
 * What the client puts on the wire before the body, read by a raw server
 * in the test: one User-Agent naming parallm and its version, the JSON
 * content type once, the provider's own auth and version headers, and no
 * "Expect:" line (the empty "Expect:" only tells libcurl not to wait for
 * 100-continue; it must not reach the server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "parallm.h"
#include "raw_server.h"

#define ANTHROPIC_ANSWER                                                       \
    "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","           \
    "\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"       \
    "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":1,"              \
    "\"output_tokens\":1}}"

#define OPENAI_ANSWER                                                          \
    "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,"              \
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"         \
    "\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"          \
    "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,"                  \
    "\"total_tokens\":2}}"

/* How many header lines of head start with name (a prefix such as
 * "user-agent:"), case-insensitively. */
static int count_lines(const char *head, const char *name)
{
    int n = 0;
    size_t len = strlen(name);

    for (const char *p = head; p && *p; p = strstr(p, "\r\n")) {
        if (p[0] == '\r')
            p += 2;
        if (strncasecmp(p, name, len) == 0)
            n++;
    }
    return n;
}

/* Sends one chat request of provider to a raw server and returns the
 * head it received (static storage). */
static const char *head_of_one_request(plm_provider provider)
{
    static char head[8192];
    plm_raw_server s;
    size_t len = 0;
    char *reply = plm_raw_http_answer("",
                                      provider == PLM_PROVIDER_OPENAI
                                          ? OPENAI_ANSWER
                                          : ANTHROPIC_ANSWER,
                                      &len);
    char url[64];
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_client *c = NULL;
    plm_request *req = NULL;
    plm_result *res = NULL;
    plm_gather_options go = PLM_GATHER_OPTIONS_INIT;

    assert_non_null(reply);
    assert_int_equal(plm_raw_server_start(&s, reply, len), 0);
    free(reply);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", s.port);
    co.openai_api_key = "sk-test";
    co.openai_base_url = url;
    co.anthropic_api_key = "sk-ant-test";
    co.anthropic_base_url = url;
    co.max_retries = 0;
    assert_int_equal(plm_client_new(&c, &co), PLM_OK);
    assert_int_equal(plm_request_new_chat(&req, provider, "m"), PLM_OK);
    assert_int_equal(plm_request_add_message(req, "user", "hello"), PLM_OK);
    assert_int_equal(plm_request_set_max_tokens(req, 8), PLM_OK);
    go.timeout_ms = 30000;
    assert_int_equal(plm_gather(c, &req, 1, &res, &go), PLM_OK);
    assert_int_equal(plm_result_code(res), PLM_OK);
    plm_results_free(&res, 1);
    plm_request_free(req);
    plm_client_free(c);
    plm_raw_server_stop(&s);
    assert_int_equal(s.served, 1);
    snprintf(head, sizeof head, "%s", s.head);
    return head;
}

static void check_common(const char *head)
{
    assert_int_equal(count_lines(head, "user-agent:"), 1);
    assert_non_null(
        strstr(head, "\r\nUser-Agent: parallm/" PLM_VERSION_STRING "\r\n"));
    assert_int_equal(count_lines(head, "content-type:"), 1);
    assert_non_null(strstr(head, "\r\nContent-Type: application/json\r\n"));
    assert_int_equal(count_lines(head, "content-length:"), 1);
    assert_int_equal(count_lines(head, "host:"), 1);
    assert_int_equal(count_lines(head, "expect:"), 0);
}

static void test_request_head__openai(void **state)
{
    const char *head = head_of_one_request(PLM_PROVIDER_OPENAI);
    (void)state;

    assert_true(strncmp(head, "POST /v1/chat/completions HTTP/1.1\r\n", 36) ==
                0);
    check_common(head);
    assert_int_equal(count_lines(head, "authorization:"), 1);
    assert_non_null(strstr(head, "\r\nAuthorization: Bearer sk-test\r\n"));
    assert_int_equal(count_lines(head, "x-api-key:"), 0);
}

static void test_request_head__anthropic(void **state)
{
    const char *head = head_of_one_request(PLM_PROVIDER_ANTHROPIC);
    (void)state;

    assert_true(strncmp(head, "POST /v1/messages HTTP/1.1\r\n", 28) == 0);
    check_common(head);
    assert_int_equal(count_lines(head, "x-api-key:"), 1);
    assert_non_null(strstr(head, "\r\nx-api-key: sk-ant-test\r\n"));
    assert_int_equal(count_lines(head, "anthropic-version:"), 1);
    assert_int_equal(count_lines(head, "authorization:"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_head__openai),
        cmocka_unit_test(test_request_head__anthropic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
