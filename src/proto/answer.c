/*
 * Helpers both providers' answer parsers share: taking JSON values into a
 * result, and filling a result's error from a provider's error object or
 * from bytes that did not parse. Messages are capped and key-scrubbed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_parse.h"
#include "scrub.h"

void plm__json_take_string(char **dst, const json_t *v)
{
    if (json_is_string(v))
        (void)plm__strdup_into(dst, json_string_value(v));
}

void plm__json_take_tokens(int64_t *dst, const json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *dst = (int64_t)json_integer_value(v);
}

void plm__parse_fail(plm_result *res, const char *what, const char *reason,
                     const char *body, size_t len)
{
    char quote[PLM_EXCERPT_MAX + 4];

    plm__excerpt(quote, sizeof quote, body ? body : "", body ? len : 0);
    plm__result_set_error(res, PLM_EPARSE, PLM_CLASS_PARSE,
                          "unparseable %s response (%s): %s", what, reason,
                          len ? quote : "(empty body)");
}

/* Copies at most PLM_ERROR_MESSAGE_MAX bytes, not cutting a UTF-8
 * sequence, and scrubs keys. Scrubbing comes first: a key cut short by
 * the limit would be too short to be recognised as one. */
void plm__take_message(plm_result *res, const char *msg)
{
    size_t n;
    char *copy = strdup(msg);

    if (!copy)
        return;
    plm__scrub_keys(copy);
    n = strlen(copy);
    if (n > PLM_ERROR_MESSAGE_MAX) {
        n = PLM_ERROR_MESSAGE_MAX;
        while (n && ((unsigned char)copy[n] & 0xC0) == 0x80)
            n--;
        copy[n] = '\0';
        /* Results may be kept by the thousand: hold only what is kept. */
        char *shrunk = realloc(copy, n + 1);
        if (shrunk)
            copy = shrunk;
    }
    free(res->error_message);
    res->error_message = copy;
}

void plm__error_fields(plm_result *res, const json_t *error)
{
    const json_t *code;
    char num[32];

    if (json_is_string(error)) {
        plm__take_message(res, json_string_value(error));
        return;
    }
    if (!json_is_object(error))
        return;
    if (json_is_string(json_object_get(error, "message")))
        plm__take_message(res,
                          json_string_value(json_object_get(error, "message")));
    plm__json_take_string(&res->error_type, json_object_get(error, "type"));
    code = json_object_get(error, "code");
    if (json_is_string(code)) {
        plm__json_take_string(&res->error_code, code);
    } else if (json_is_integer(code)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(code));
        (void)plm__strdup_into(&res->error_code, num);
    }
}

void plm__stream_error(plm_result *res, const json_t *error)
{
    const char *type;
    int code = PLM_ESERVER;
    plm_error_class cls = PLM_CLASS_SERVER;

    plm__error_fields(res, error);
    type = res->error_type ? res->error_type : "";
    if (strstr(type, "overloaded")) {
        code = PLM_EOVERLOADED;
        cls = PLM_CLASS_OVERLOADED;
    } else if (strstr(type, "rate_limit")) {
        code = PLM_ERATELIMIT;
        cls = PLM_CLASS_RATE_LIMITED;
    }
    res->code = code;
    res->error_class = cls;
    if (!res->error_message)
        plm__result_set_error(res, code, cls, "error event in the stream");
}

int plm__path_is(const char *path, const char *want)
{
    size_t n = strlen(want);

    return path && strncmp(path, want, n) == 0 &&
           (path[n] == '\0' || path[n] == '?');
}
