/* Provider protocols: response headers, request headers, base URLs, and
 * reading both providers' answers (JSON, SSE, errors, garbage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "provider.h"
#include "provider_parse.h"
#include "scrub.h"
#include "result.h"

#define TAKE(h, s) plm__headers_take((h), (s), strlen(s))

static plm_result *parse(plm_provider p, const char *path, int status,
                         const char *content_type, const char *body)
{
    plm__headers h = { 0 };
    plm_result *res = plm__result_new(NULL);

    assert_non_null(res);
    if (content_type)
        h.content_type = strdup(content_type);
    plm__provider_parse(p, path, status, &h, body, strlen(body), res);
    plm__headers_clear(&h);
    return res;
}

static void test_provider__headers_taken_case_insensitive(void **state)
{
    plm__headers h = { 0 };

    (void)state;
    TAKE(&h, "Content-Type: application/json\r\n");
    TAKE(&h, "X-Request-ID:   req_123  \r\n");
    TAKE(&h, "retry-after:\t7\r\n");
    TAKE(&h, "Retry-After-Ms: 1500\r\n");
    TAKE(&h, "x-should-retry: false\r\n");
    TAKE(&h, "X-RateLimit-Limit-Requests: 500\r\n");
    TAKE(&h, "x-ratelimit-remaining-requests: 499\r\n");
    TAKE(&h, "x-ratelimit-reset-requests: 120ms\r\n");
    TAKE(&h, "x-ratelimit-limit-tokens: 30000\r\n");
    TAKE(&h, "x-ratelimit-remaining-tokens: 29000\r\n");
    TAKE(&h, "x-ratelimit-reset-tokens: 6m0s\r\n");
    TAKE(&h, "X-Unrelated: whatever\r\n");
    TAKE(&h, "\r\n");
    assert_string_equal(h.content_type, "application/json");
    assert_string_equal(h.request_id, "req_123");
    assert_string_equal(h.retry_after, "7");
    assert_string_equal(h.retry_after_ms, "1500");
    assert_string_equal(h.should_retry, "false");
    assert_string_equal(h.rl_limit_requests, "500");
    assert_string_equal(h.rl_remaining_requests, "499");
    assert_string_equal(h.rl_reset_requests, "120ms");
    assert_string_equal(h.rl_limit_tokens, "30000");
    assert_string_equal(h.rl_remaining_tokens, "29000");
    assert_string_equal(h.rl_reset_tokens, "6m0s");
    /* A later value replaces an earlier one. */
    TAKE(&h, "retry-after: 9\r\n");
    assert_string_equal(h.retry_after, "9");
    /* A new status line starts over. */
    TAKE(&h, "HTTP/2 200\r\n");
    assert_null(h.retry_after);
    assert_null(h.rl_limit_tokens);
    TAKE(&h, "retry-after: 1\r\n");
    assert_string_equal(h.retry_after, "1");
    plm__headers_clear(&h);
    assert_null(h.retry_after);
    assert_null(h.request_id);
    plm__headers_clear(&h); /* twice is fine */
}

static void test_provider__headers_anthropic(void **state)
{
    static const char *const kinds[] = { "requests", "tokens", "input-tokens",
                                         "output-tokens" };
    plm__headers h = { 0 };
    char line[128];

    (void)state;
    for (size_t k = 0; k < 4; k++) {
        snprintf(line, sizeof line, "Anthropic-RateLimit-%s-Limit: %zu\r\n",
                 kinds[k], k + 10);
        TAKE(&h, line);
        snprintf(line, sizeof line, "anthropic-ratelimit-%s-remaining: %zu\r\n",
                 kinds[k], k + 20);
        TAKE(&h, line);
        snprintf(line, sizeof line,
                 "anthropic-ratelimit-%s-reset: 2026-01-01T00:00:0%zuZ\r\n",
                 kinds[k], k);
        TAKE(&h, line);
    }
    TAKE(&h, "request-id: req_ant\r\n");
    assert_string_equal(h.rl_limit_requests, "10");
    assert_string_equal(h.rl_remaining_requests, "20");
    assert_string_equal(h.rl_reset_requests, "2026-01-01T00:00:00Z");
    assert_string_equal(h.rl_limit_tokens, "11");
    assert_string_equal(h.rl_remaining_tokens, "21");
    assert_string_equal(h.rl_limit_input_tokens, "12");
    assert_string_equal(h.rl_remaining_input_tokens, "22");
    assert_string_equal(h.rl_reset_input_tokens, "2026-01-01T00:00:02Z");
    assert_string_equal(h.rl_limit_output_tokens, "13");
    assert_string_equal(h.rl_remaining_output_tokens, "23");
    assert_string_equal(h.rl_reset_output_tokens, "2026-01-01T00:00:03Z");
    assert_string_equal(h.request_id, "req_ant");
    plm__headers_clear(&h);
}

static void test_provider__headers_odd_input(void **state)
{
    plm__headers h = { 0 };
    char *big = malloc(5000);

    (void)state;
    assert_non_null(big);
    memcpy(big, "retry-after: ", 13);
    memset(big + 13, '9', 5000 - 13);
    plm__headers_take(&h, big, 5000);
    assert_non_null(h.retry_after);
    assert_int_equal(strlen(h.retry_after), 1024);
    free(big);
    TAKE(&h, "x-request-id:\r\n");
    assert_string_equal(h.request_id, "");
    TAKE(&h, "x-request-id : spaced\n");
    assert_string_equal(h.request_id, "spaced");
    TAKE(&h, "x-request-idx: no\r\n");
    TAKE(&h, "request: no\r\n");
    TAKE(&h, ": no name\r\n");
    assert_string_equal(h.request_id, "spaced");
    plm__headers_take(&h, "content-type: a\0b", 17);
    assert_string_equal(h.content_type, "a");
    plm__headers_take(&h, "", 0);
    plm__headers_take(NULL, "x", 1);
    plm__headers_clear(&h);
}

static int slist_has(const struct curl_slist *l, const char *s)
{
    for (; l; l = l->next) {
        if (strcmp(l->data, s) == 0)
            return 1;
    }
    return 0;
}

static int slist_len(const struct curl_slist *l)
{
    int n = 0;

    for (; l; l = l->next)
        n++;
    return n;
}

static void test_provider__request_headers(void **state)
{
    struct curl_slist *l;

    (void)state;
    l = plm__provider_headers(PLM_PROVIDER_OPENAI, "sk-test", NULL);
    assert_true(slist_has(l, "Content-Type: application/json"));
    assert_true(slist_has(l, "Authorization: Bearer sk-test"));
    assert_true(slist_has(l, "Expect:"));
    assert_int_equal(slist_len(l), 3);
    curl_slist_free_all(l);

    l = plm__provider_headers(PLM_PROVIDER_OPENAI, NULL, NULL);
    assert_int_equal(slist_len(l), 2); /* no key: no Authorization */
    curl_slist_free_all(l);
    l = plm__provider_headers(PLM_PROVIDER_OPENAI, "", NULL);
    assert_int_equal(slist_len(l), 2);
    curl_slist_free_all(l);
    /* A key with a line break would inject a header: not sent. */
    l = plm__provider_headers(PLM_PROVIDER_OPENAI, "k\r\nX-Evil: 1", NULL);
    assert_int_equal(slist_len(l), 2);
    curl_slist_free_all(l);

    l = curl_slist_append(NULL, "X-Existing: 1");
    l = plm__provider_headers(PLM_PROVIDER_ANTHROPIC, "sk-ant-xyz", l);
    assert_true(slist_has(l, "X-Existing: 1"));
    assert_true(slist_has(l, "x-api-key: sk-ant-xyz"));
    assert_true(slist_has(l, "anthropic-version: 2023-06-01"));
    assert_true(slist_has(l, "Content-Type: application/json"));
    assert_false(slist_has(l, "Authorization: Bearer sk-ant-xyz"));
    assert_int_equal(slist_len(l), 5);
    curl_slist_free_all(l);
}

/* The table: every provider's slot holds its own ops with the required
 * fields; values outside the enum name none. */
static void test_provider__table(void **state)
{
    plm_result *res;

    (void)state;
    for (int i = 0; i < PLM__PROVIDER_COUNT; i++) {
        const plm__provider_ops *ops = plm__provider_get((plm_provider)i);

        assert_non_null(ops);
        assert_int_equal(ops->id, i);
        assert_non_null(ops->name);
        assert_non_null(ops->display_name);
        assert_non_null(ops->default_base_url);
        assert_non_null(ops->env_api_key);
        assert_non_null(ops->env_base_url);
        assert_true(ops->chat_path && ops->chat_path[0] == '/');
        assert_non_null(ops->request_headers);
        assert_non_null(ops->set_system);
        assert_non_null(ops->parse_json);
        assert_non_null(ops->sse_event);
    }
    assert_null(plm__provider_get((plm_provider)PLM__PROVIDER_COUNT));
    assert_null(plm__provider_get((plm_provider)-1));
    assert_null(plm__provider_headers((plm_provider)-1, "k", NULL));
    res = parse((plm_provider)PLM__PROVIDER_COUNT, "/v1/x", 200, NULL, "{}");
    assert_int_equal(res->code, PLM_EINVAL);
    plm_result_free(res);
}

static void check_base(const char *in, const char *want)
{
    char *out = plm__base_url_normalize(in);

    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
}

static void test_provider__base_url_normalize(void **state)
{
    (void)state;
    check_base("https://api.openai.com/v1/", "https://api.openai.com");
    check_base("https://api.openai.com/v1", "https://api.openai.com");
    check_base("https://api.openai.com", "https://api.openai.com");
    check_base("https://api.anthropic.com/", "https://api.anthropic.com");
    check_base("http://h:8000", "http://h:8000");
    check_base("http://h:8000/v1", "http://h:8000");
    check_base("  http://h:8000/v1//  ", "http://h:8000");
    check_base("http://h/v1/v1", "http://h/v1"); /* one /v1 only */
    check_base("http://h/openai/v1", "http://h/openai");
    check_base("http://h/v1beta", "http://h/v1beta");
    check_base("http://v1", "http://v1"); /* a host, not a path */
    check_base("", "");
    assert_null(plm__base_url_normalize(NULL));
}

static void test_provider__openai_chat_json(void **state)
{
    plm_result *res;

    (void)state;
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200,
                "application/json",
                "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion\","
                "\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{"
                "\"index\":0,\"message\":{\"role\":\"assistant\","
                "\"content\":\"Hello \\u00e9!\",\"refusal\":null},"
                "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{"
                "\"prompt_tokens\":9,\"completion_tokens\":12,"
                "\"total_tokens\":21}}");
    assert_int_equal(res->code, PLM_OK);
    assert_int_equal(res->http_status, 200);
    assert_string_equal(plm_result_content(res), "Hello \xc3\xa9!");
    assert_string_equal(plm_result_finish_reason(res), "stop");
    assert_int_equal(plm_result_prompt_tokens(res), 9);
    assert_int_equal(plm_result_completion_tokens(res), 12);
    /* No request-id header: the body's "id" names the completion, not
     * the request, and is not taken for it. */
    assert_null(plm_result_request_id(res));
    plm_result_free(res);

    /* A tool call: content null, still a success. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200, NULL,
                "{\"choices\":[{\"message\":{\"role\":\"assistant\","
                "\"content\":null,\"tool_calls\":[]},"
                "\"finish_reason\":\"tool_calls\"}]}");
    assert_int_equal(res->code, PLM_OK);
    assert_null(plm_result_content(res));
    assert_string_equal(plm_result_finish_reason(res), "tool_calls");
    assert_int_equal(plm_result_prompt_tokens(res), -1);
    plm_result_free(res);
}

static void test_provider__header_request_id_wins(void **state)
{
    plm__headers h = { 0 };
    plm_result *res = plm__result_new(NULL);
    const char *body = "{\"id\":\"chatcmpl-x\",\"choices\":[]}";

    (void)state;
    TAKE(&h, "x-request-id: req_hdr\r\n");
    plm__provider_parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200, &h,
                        body, strlen(body), res);
    assert_int_equal(res->code, PLM_OK);
    assert_string_equal(res->request_id, "req_hdr");
    plm__headers_clear(&h);
    plm_result_free(res);
}

static void test_provider__openai_other_endpoints(void **state)
{
    plm_result *res;

    (void)state;
    res = parse(PLM_PROVIDER_OPENAI, "/v1/completions", 200, NULL,
                "{\"id\":\"cmpl-1\",\"choices\":[{\"text\":\"four\","
                "\"index\":0,\"finish_reason\":\"length\"}],"
                "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}");
    assert_int_equal(res->code, PLM_OK);
    assert_string_equal(res->content, "four");
    assert_string_equal(res->finish_reason, "length");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/embeddings", 200, NULL,
                "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
                "\"index\":0,\"embedding\":[0.1,-0.2]}],\"model\":\"m\","
                "\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}");
    assert_int_equal(res->code, PLM_OK);
    assert_null(res->content);
    assert_int_equal(res->prompt_tokens, 5);
    assert_int_equal(res->completion_tokens, 0);
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/responses", 200, NULL,
                "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":"
                "\"completed\",\"output\":[{\"type\":\"reasoning\","
                "\"summary\":[]},{\"type\":\"message\",\"role\":"
                "\"assistant\",\"content\":[{\"type\":\"output_text\","
                "\"text\":\"Hi\",\"annotations\":[]},{\"type\":\"refusal\","
                "\"refusal\":\"no\"},{\"type\":\"output_text\",\"text\":"
                "\" there\"}]}],\"usage\":{\"input_tokens\":4,"
                "\"output_tokens\":2,\"total_tokens\":6}}");
    assert_int_equal(res->code, PLM_OK);
    assert_string_equal(res->content, "Hi there");
    assert_string_equal(res->finish_reason, "completed");
    assert_int_equal(res->prompt_tokens, 4);
    assert_int_equal(res->completion_tokens, 2);
    assert_null(res->request_id); /* the body's id is not one */
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/responses", 200, NULL,
                "{\"status\":\"incomplete\",\"incomplete_details\":{"
                "\"reason\":\"max_output_tokens\"},\"output\":[]}");
    assert_int_equal(res->code, PLM_OK);
    assert_null(res->content);
    assert_string_equal(res->finish_reason, "max_output_tokens");
    plm_result_free(res);

    /* An endpoint we do not know: any JSON object is fine. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/moderations", 200, NULL,
                "{\"id\":\"modr-1\",\"results\":[]}");
    assert_int_equal(res->code, PLM_OK);
    plm_result_free(res);
}

static void test_provider__anthropic_json(void **state)
{
    plm_result *res;

    (void)state;
    res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages", 200, "application/json",
                "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":"
                "\"assistant\",\"model\":\"claude\",\"content\":[{\"type\":"
                "\"thinking\",\"thinking\":\"hmm\"},{\"type\":\"text\","
                "\"text\":\"Hello\"},{\"type\":\"tool_use\",\"id\":\"t\","
                "\"name\":\"f\",\"input\":{}},{\"type\":\"text\",\"text\":"
                "\", world\"}],\"stop_reason\":\"end_turn\","
                "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
                "\"output_tokens\":25}}");
    assert_int_equal(res->code, PLM_OK);
    assert_string_equal(res->content, "Hello, world");
    assert_string_equal(res->finish_reason, "end_turn");
    assert_int_equal(res->prompt_tokens, 10);
    assert_int_equal(res->completion_tokens, 25);
    assert_null(res->request_id); /* the body's id is not one */
    plm_result_free(res);
}

static void test_provider__openai_sse(void **state)
{
    plm_result *res;

    (void)state;
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200,
                "text/event-stream; charset=utf-8",
                ": keep-alive\n\n"
                "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{"
                "\"role\":\"assistant\",\"content\":\"\"},"
                "\"finish_reason\":null}],\"usage\":null}\n\n"
                "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{"
                "\"content\":\"Hel\"},\"finish_reason\":null}]}\r\n\r\n"
                "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{"
                "\"content\":\"lo\"},\"finish_reason\":null}]}\n\n"
                "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},"
                "\"finish_reason\":\"stop\"}]}\n\n"
                "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{"
                "\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n"
                "data: [DONE]\n\n");
    assert_int_equal(res->code, PLM_OK);
    assert_string_equal(res->content, "Hello");
    assert_string_equal(res->finish_reason, "stop");
    assert_int_equal(res->prompt_tokens, 7);
    assert_int_equal(res->completion_tokens, 2);
    assert_null(res->request_id); /* the body's id is not one */
    plm_result_free(res);

    /* No content type, detected from the body; cut short: parse error. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200, NULL,
                "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n");
    assert_int_equal(res->code, PLM_EPARSE);
    assert_int_equal(res->error_class, PLM_CLASS_PARSE);
    assert_non_null(strstr(res->error_message, "ended early"));
    plm_result_free(res);

    /* An error inside the stream. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200,
                "text/event-stream",
                "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
                "data: {\"error\":{\"message\":\"The server had an error\","
                "\"type\":\"server_error\",\"code\":null}}\n\n");
    assert_int_equal(res->code, PLM_ESERVER);
    assert_int_equal(res->error_class, PLM_CLASS_SERVER);
    assert_string_equal(res->error_message, "The server had an error");
    plm_result_free(res);

    /* n = 2: only choice 0 is assembled. */
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200,
                "text/event-stream",
                "data: {\"choices\":[{\"index\":1,\"delta\":{"
                "\"content\":\"B\"}}]}\n\n"
                "data: {\"choices\":[{\"index\":0,\"delta\":{"
                "\"content\":\"A\"}}]}\n\n"
                "data: {\"choices\":[{\"index\":1,\"delta\":{},"
                "\"finish_reason\":\"length\"}]}\n\n"
                "data: {\"choices\":[{\"index\":0,\"delta\":{},"
                "\"finish_reason\":\"stop\"}]}\n\n"
                "data: [DONE]\n\n");
    assert_int_equal(res->code, PLM_OK);
    assert_string_equal(res->content, "A");
    assert_string_equal(res->finish_reason, "stop");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200,
                "text/event-stream", "data: {not json\n\n");
    assert_int_equal(res->code, PLM_EPARSE);
    plm_result_free(res);
}

static void test_provider__openai_responses_sse(void **state)
{
    plm_result *res;

    (void)state;
    res = parse(PLM_PROVIDER_OPENAI, "/v1/responses", 200, "text/event-stream",
                "event: response.created\n"
                "data: {\"type\":\"response.created\",\"response\":{"
                "\"id\":\"resp_9\",\"status\":\"in_progress\"}}\n\n"
                "event: response.output_text.delta\n"
                "data: {\"type\":\"response.output_text.delta\","
                "\"delta\":\"Hi\"}\n\n"
                "event: response.output_text.delta\n"
                "data: {\"type\":\"response.output_text.delta\","
                "\"delta\":\" you\"}\n\n"
                "event: response.completed\n"
                "data: {\"type\":\"response.completed\",\"response\":{"
                "\"id\":\"resp_9\",\"status\":\"completed\",\"usage\":{"
                "\"input_tokens\":3,\"output_tokens\":2}}}\n\n");
    assert_int_equal(res->code, PLM_OK);
    assert_string_equal(res->content, "Hi you");
    assert_string_equal(res->finish_reason, "completed");
    assert_int_equal(res->prompt_tokens, 3);
    assert_int_equal(res->completion_tokens, 2);
    assert_null(res->request_id); /* the body's id is not one */
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/responses", 200, "text/event-stream",
                "data: {\"type\":\"response.failed\",\"response\":{"
                "\"error\":{\"code\":\"server_error\",\"message\":"
                "\"boom\"}}}\n\n");
    assert_int_equal(res->code, PLM_ESERVER);
    assert_string_equal(res->error_message, "boom");
    plm_result_free(res);
}

static const char anthropic_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\","
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
    "\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
    "\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
    "\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
    "\"type\":\"text_delta\",\"text\":\"!\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"max_tokens\",\"stop_sequence\":null},\"usage\":{"
    "\"output_tokens\":15}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

static void test_provider__anthropic_sse(void **state)
{
    plm_result *res;

    (void)state;
    res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages", 200,
                "text/event-stream", anthropic_stream);
    assert_int_equal(res->code, PLM_OK);
    assert_string_equal(res->content, "Hello!");
    assert_string_equal(res->finish_reason, "max_tokens");
    assert_int_equal(res->prompt_tokens, 25);
    assert_int_equal(res->completion_tokens, 15);
    assert_null(res->request_id); /* the body's id is not one */
    plm_result_free(res);

    res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages", 200,
                "text/event-stream",
                "event: message_start\ndata: {\"type\":\"message_start\","
                "\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n"
                "event: error\ndata: {\"type\":\"error\",\"error\":{"
                "\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"
                "\n\n");
    assert_int_equal(res->code, PLM_EOVERLOADED);
    assert_int_equal(res->error_class, PLM_CLASS_OVERLOADED);
    assert_string_equal(res->error_message, "Overloaded");
    assert_string_equal(res->error_type, "overloaded_error");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages", 200, NULL,
                "event: message_start\ndata: {\"type\":\"message_start\","
                "\"message\":{}}\n\n");
    assert_int_equal(res->code, PLM_EPARSE);
    plm_result_free(res);
}

static void test_provider__error_bodies(void **state)
{
    plm_result *res;
    char *body;

    (void)state;
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 429, NULL,
                "{\"error\":{\"message\":\"You exceeded your current quota\","
                "\"type\":\"insufficient_quota\",\"param\":null,"
                "\"code\":\"insufficient_quota\"}}");
    assert_int_equal(res->http_status, 429);
    assert_string_equal(res->error_message, "You exceeded your current quota");
    assert_string_equal(res->error_type, "insufficient_quota");
    assert_string_equal(res->error_code, "insufficient_quota");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 401, NULL,
                "{\"error\":{\"message\":\"Incorrect API key provided: "
                "sk-proj-abcdefghijklmnop. You can find...\",\"type\":"
                "\"invalid_request_error\",\"code\":null}}");
    assert_null(res->error_code);
    assert_null(strstr(res->error_message, "abcdefghijklmnop"));
    assert_non_null(strstr(res->error_message, "Incorrect API key"));
    plm_result_free(res);

    res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages", 529, NULL,
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"overloaded_error\",\"message\":\"Overloaded\"}}");
    assert_string_equal(res->error_message, "Overloaded");
    assert_string_equal(res->error_type, "overloaded_error");
    assert_string_equal(res->error_code, "overloaded_error");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 502, "text/html",
                "<html>\r\n<h1>502 Bad Gateway</h1></html>");
    assert_string_equal(res->error_message,
                        "HTTP 502: <html>  <h1>502 Bad Gateway</h1></html>");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 503, NULL, "");
    assert_string_equal(res->error_message, "HTTP 503: (empty body)");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 400, NULL,
                "{\"detail\":\"model not found\"}");
    assert_string_equal(res->error_message, "model not found");
    plm_result_free(res);

    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 500, NULL,
                "{\"error\":{\"message\":\"x\",\"code\":500}}");
    assert_string_equal(res->error_code, "500");
    plm_result_free(res);

    /* Overlong message: capped at 1 KiB, not cut inside UTF-8. */
    body = malloc(10000);
    assert_non_null(body);
    strcpy(body, "{\"error\":{\"message\":\"a");
    for (int i = 0; i < 2000; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\"}}");
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 400, NULL, body);
    assert_true(strlen(res->error_message) <= 1024);
    assert_true(strlen(res->error_message) >= 1020);
    assert_int_equal(strlen(res->error_message) % 2, 1); /* "a" + pairs */
    plm_result_free(res);

    /* A huge non-JSON body: the excerpt is short. */
    memset(body, 'x', 9999);
    body[9999] = '\0';
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 500, NULL, body);
    assert_true(strlen(res->error_message) < 240);
    plm_result_free(res);
    free(body);
}

/* A provider echoing a key where the message is cut to its maximum: the
 * few key characters left before the cut are masked as well. */
static void test_provider__key_at_message_cut_masked(void **state)
{
    enum { FILL = PLM_ERROR_MESSAGE_MAX - 10 };
    static const char key[] = "sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char *body = malloc(FILL + sizeof key + 64);
    plm_result *res;
    (void)state;

    assert_non_null(body);
    strcpy(body, "{\"error\":{\"message\":\"");
    memset(body + strlen(body), 'x', FILL);
    body[21 + FILL] = '\0';
    strcat(body, key);
    strcat(body, "\"}}");
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 401, NULL, body);
    assert_non_null(res->error_message);
    assert_int_equal(strlen(res->error_message), PLM_ERROR_MESSAGE_MAX);
    /* The cut leaves "sk-" and 7 key characters. */
    assert_null(strstr(res->error_message, "ABCDEFG"));
    plm_result_free(res);
    free(body);
}

static void test_provider__unparseable_2xx(void **state)
{
    static const char *const bad[] = {
        "not json",      "[1,2]", "\"str\"",
        "{\"choices\":", "{}",    "{\"object\":\"chat.completion\"}",
        "\x01\x02\x03",
    };
    plm_result *res;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200,
                    "application/json", bad[i]);
        assert_int_equal(res->code, PLM_EPARSE);
        assert_int_equal(res->error_class, PLM_CLASS_PARSE);
        assert_non_null(strstr(res->error_message, "unparseable"));
        assert_null(strchr(res->error_message, '\x01'));
        plm_result_free(res);
        res = parse(PLM_PROVIDER_ANTHROPIC, "/v1/messages", 200,
                    "application/json", bad[i]);
        assert_int_equal(res->code, PLM_EPARSE);
        plm_result_free(res);
    }
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200, NULL, "");
    assert_int_equal(res->code, PLM_EPARSE);
    assert_non_null(strstr(res->error_message, "empty"));
    plm_result_free(res);
}

/* An unparseable body whose echoed key straddles the excerpt's end: the
 * part of the key inside the excerpt is masked however short it is. */
static void test_provider__key_at_excerpt_cut_masked(void **state)
{
    enum { FILL = PLM_EXCERPT_MAX - 7 };
    static const char key[] = "sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char body[PLM_EXCERPT_MAX + sizeof key];
    plm_result *res;
    (void)state;

    memset(body, 'x', FILL);
    body[FILL - 1] = ' ';
    memcpy(body + FILL, key, sizeof key);
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200,
                "application/json", body);
    assert_int_equal(res->code, PLM_EPARSE);
    /* The cut leaves "sk-" and 4 key characters. */
    assert_non_null(strstr(res->error_message, "sk-****..."));
    assert_null(strstr(res->error_message, "ABCD"));
    plm_result_free(res);
}

static void test_provider__parse_error_excerpt_short_and_clean(void **state)
{
    static const char head[] = "<html>\xff\x1b[31m sk-abcdefghijklmnopqrstuv ";
    char body[4096];
    plm_result *res;
    const char *quote;

    (void)state;
    memset(body, 'q', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    memcpy(body, head, sizeof head - 1);
    res = parse(PLM_PROVIDER_OPENAI, "/v1/chat/completions", 200, "text/html",
                body);
    assert_int_equal(res->code, PLM_EPARSE);
    quote = strstr(res->error_message, "<html>");
    assert_non_null(quote);
    assert_true(strlen(quote) <= 200 + 3); /* excerpt and "..." */
    assert_null(strstr(res->error_message, "abcdefghijklmnop"));
    for (const char *p = res->error_message; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    plm_result_free(res);
}

/* Deterministic PRNG for the fuzz loop (xorshift64). */
static uint64_t fuzz_rng = 0x1234567887654321ULL;

static uint64_t fuzz_next(void)
{
    fuzz_rng ^= fuzz_rng << 13;
    fuzz_rng ^= fuzz_rng >> 7;
    fuzz_rng ^= fuzz_rng << 17;
    return fuzz_rng;
}

static const char *const seeds[] = {
    "{\"id\":\"c\",\"choices\":[{\"message\":{\"content\":\"hi\"},"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,"
    "\"completion_tokens\":2}}",
    "{\"content\":[{\"type\":\"text\",\"text\":\"a\"}],\"stop_reason\":"
    "\"end_turn\",\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}",
    "{\"output\":[{\"content\":[{\"type\":\"output_text\",\"text\":\"x\"}]}]}",
    "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n",
    anthropic_stream,
    "{\"error\":{\"message\":\"m\",\"type\":\"t\",\"code\":\"c\"}}",
    "event: error\ndata: {\"type\":\"error\",\"error\":{}}\n\n",
    "data: {\"type\":\"response.output_text.delta\",\"delta\":\"a\"}\n\n"
    "data: {\"type\":\"response.completed\",\"response\":{}}\n\n",
};

static void test_provider__fuzz_never_crashes(void **state)
{
    static const char tokens[] = "{}[]\":,\\\n\r data:event:[DONE]0-1e9";
    static const int statuses[] = { 200, 201, 400, 429, 500, 529, 0, 99 };
    char buf[2048];

    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        const char *seed =
            seeds[fuzz_next() % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(seed), mutations;
        plm__headers h = { 0 };
        plm_result *res;

        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, seed, len);
        mutations = 1 + fuzz_next() % 8;
        for (size_t m = 0; m < mutations && len; m++) {
            size_t at = fuzz_next() % len;

            switch (fuzz_next() % 4) {
            case 0: /* random byte, NUL included */
                buf[at] = (char)(fuzz_next() & 0xff);
                break;
            case 1: /* truncate */ len = at; break;
            case 2: /* structural character */
                buf[at] = tokens[fuzz_next() % (sizeof tokens - 1)];
                break;
            default: /* duplicate a slice */
                if (len + 64 < sizeof buf) {
                    memmove(buf + at + 32, buf + at, len - at);
                    len += 32;
                }
                break;
            }
        }
        buf[len] = '\0';
        if (fuzz_next() & 1)
            h.content_type = strdup("text/event-stream");
        res = plm__result_new(NULL);
        assert_non_null(res);
        plm__provider_parse((plm_provider)(fuzz_next() & 1),
                            (fuzz_next() & 1) ? "/v1/chat/completions"
                                              : "/v1/messages",
                            statuses[fuzz_next() % 8], &h, buf, len, res);
        /* Every outcome is coherent: a 2xx failure says why. */
        if (res->code != PLM_OK)
            assert_true(strlen(plm_result_error_message(res)) > 0);
        plm_result_free(res);
        plm__headers_clear(&h);
        plm__headers_take(&h, buf, len);
        plm__headers_clear(&h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider__headers_taken_case_insensitive),
        cmocka_unit_test(test_provider__headers_anthropic),
        cmocka_unit_test(test_provider__headers_odd_input),
        cmocka_unit_test(test_provider__request_headers),
        cmocka_unit_test(test_provider__table),
        cmocka_unit_test(test_provider__base_url_normalize),
        cmocka_unit_test(test_provider__openai_chat_json),
        cmocka_unit_test(test_provider__header_request_id_wins),
        cmocka_unit_test(test_provider__openai_other_endpoints),
        cmocka_unit_test(test_provider__anthropic_json),
        cmocka_unit_test(test_provider__openai_sse),
        cmocka_unit_test(test_provider__openai_responses_sse),
        cmocka_unit_test(test_provider__anthropic_sse),
        cmocka_unit_test(test_provider__error_bodies),
        cmocka_unit_test(test_provider__key_at_message_cut_masked),
        cmocka_unit_test(test_provider__key_at_excerpt_cut_masked),
        cmocka_unit_test(test_provider__unparseable_2xx),
        cmocka_unit_test(test_provider__parse_error_excerpt_short_and_clean),
        cmocka_unit_test(test_provider__fuzz_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
