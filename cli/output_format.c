/*
 * The lines of `parallm run`'s output file: one Batch output record per
 * result or refused input line, with the user's keys masked wherever the
 * answer echoes them. cli/output.c writes them.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "run.h"

/* Shorter keys are not masked: masking every copy of two or three
 * characters would wreck the text around them. */
#define MIN_SECRET_LEN 6
/* The record and its "response" add two levels to the body's: jansson
 * reads at most 2048, so a deeper body is kept as a string. */
#define MAX_BODY_DEPTH 2046

void run_mask_secrets(char *s, size_t len, const char *const *secrets)
{
    for (; secrets && *secrets; secrets++) {
        size_t n = strlen(*secrets);
        if (n < MIN_SECRET_LEN)
            continue;
        char *p = s, *end = s + len;
        while ((p = memmem(p, (size_t)(end - p), *secrets, n)) != NULL) {
            memset(p, '*', n);
            p += n;
        }
    }
}

static int holds_secret(const char *s, size_t len, const char *const *secrets)
{
    for (; s && secrets && *secrets; secrets++) {
        size_t n = strlen(*secrets);
        if (n >= MIN_SECRET_LEN && memmem(s, len, *secrets, n))
            return 1;
    }
    return 0;
}

/* A malloc'd copy of s (len bytes) with the secrets masked, or NULL. */
static char *masked_copy(const char *s, size_t len, const char *const *secrets)
{
    char *c = malloc(len + 1);
    if (!c)
        return NULL;
    memcpy(c, s, len);
    c[len] = '\0';
    run_mask_secrets(c, len, secrets);
    return c;
}

/* A JSON string of len bytes of s: invalid UTF-8 becomes U+FFFD, NULs
 * stay (the scan reads them back). */
static json_t *jstrn(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    if (v)
        return v;
    size_t n = 0;
    char *fixed = cli_utf8_repair(s, len, &n);
    v = fixed ? json_stringn(fixed, n) : NULL;
    free(fixed);
    return v;
}

static json_t *jstr(const char *s)
{
    return jstrn(s ? s : "", s ? strlen(s) : 0);
}

static const char *code_name(int code)
{
    switch (code) {
    case PLM_ETIMEOUT: return "timeout";
    case PLM_ENETWORK: return "connection_error";
    case PLM_EPARSE: return "invalid_response";
    case PLM_ETOOBIG: return "response_too_large";
    case PLM_ECANCELLED: return "cancelled";
    case PLM_ERATELIMIT: return "rate_limited";
    case PLM_EQUOTA: return "insufficient_quota";
    case PLM_EOVERLOADED: return "overloaded";
    case PLM_EAUTH: return "authentication_error";
    case PLM_EBADREQUEST: return "invalid_request";
    case PLM_ESERVER: return "server_error";
    case PLM_EBUDGET: return "rate_budget_exceeded";
    case PLM_EBREAKER: return "circuit_open";
    case PLM_ECONTEXT: return "context_length_exceeded";
    case PLM_ENOMEM: return "out_of_memory";
    case PLM_EIO: return "io_error";
    default: return "request_failed";
    }
}

/* Copies the string literal s to p; evaluates to the end. */
#define PUT_LITERAL(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

/* v as 16 lowercase hex digits at p (what "%016llx" writes, without the
 * cost of printf on every line); returns the end. */
static char *put_hex16(char *p, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        p[i] = hex[v & 15];
        v >>= 4;
    }
    return p + 16;
}

/* v in decimal at p (what "%d" writes); returns the end. */
static char *put_int(char *p, int v)
{
    char digits[12];
    int n = 0;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    if (v < 0)
        *p++ = '-';
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        *p++ = digits[--n];
    return p;
}

/* Writes the members after "error" (input_hash, simulated) at p, which
 * has room for 64 bytes; returns the end. */
static char *put_tail(char *p, const run_record_meta *meta)
{
    if (meta->has_input_hash) {
        p = PUT_LITERAL(p, ",\"" RUN_INPUT_HASH_KEY "\":\"");
        p = put_hex16(p, meta->input_hash);
        *p++ = '"';
    }
    if (meta->simulated)
        p = PUT_LITERAL(p, ",\"simulated\":true");
    return p;
}

static char *finish(json_t *obj, const run_record_meta *meta, size_t *len)
{
    char idbuf[48];
    char *s = NULL;
    /* The id mimics the Batch API's "batch_req_..." form; it only has to
     * be unique within the file. */
    snprintf(idbuf, sizeof idbuf, "batch_req_%016llx",
             (unsigned long long)meta->serial);
    if (json_object_set_new(obj, "id", json_string(idbuf)) != 0)
        goto out;
    s = json_dumps(obj, JSON_COMPACT);
    if (!s)
        goto out;
    size_t n = strlen(s);
    char *t = realloc(s, n + 66);
    if (!t) {
        free(s);
        s = NULL;
        goto out;
    }
    s = t;
    /* The record's closing brace gives way to the tail members. */
    char *p = put_tail(s + n - 1, meta);
    memcpy(p, "}\n", 3);
    *len = (size_t)(p - s) + 2;
out:
    json_decref(obj);
    return s;
}

/* Builds {"id": ..., "custom_id": ...} with id first, as the Batch API
 * writes it (readers do not care, people do). */
static json_t *record_new(const char *custom_id)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    if (json_object_set_new(obj, "id", json_null()) != 0 ||
        json_object_set_new(obj, "custom_id", jstr(custom_id)) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/*
 * The common case, an answer whose body is JSON that can be embedded as
 * it came, written straight into one buffer: the same line the jansson
 * path below makes (keys in the same order), without parsing the body
 * into a tree and dumping it again. NULL when the fast path does not
 * apply (or memory ran out); the caller then takes the jansson path.
 */
static char *format_answer_fast(const char *custom_id, const char *body,
                                size_t blen, const char *rid, int status,
                                const run_record_meta *meta, size_t *len)
{
    if (!body || !custom_id || !cli_json_embeddable(body, blen))
        return NULL;
    size_t cap = 256 + 6 * strlen(custom_id) + (rid ? 6 * strlen(rid) : 0) +
                 blen;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    char *p = buf;
    p = PUT_LITERAL(p, "{\"id\":\"batch_req_");
    p = put_hex16(p, meta->serial);
    p = PUT_LITERAL(p, "\",\"custom_id\":");
    p = cli_json_put_string(p, custom_id);
    if (!p)
        goto fail;
    p = PUT_LITERAL(p, ",\"response\":{\"status_code\":");
    p = put_int(p, status);
    p = PUT_LITERAL(p, ",\"request_id\":");
    if (rid) {
        p = cli_json_put_string(p, rid);
        if (!p)
            goto fail;
    } else {
        memcpy(p, "null", 4);
        p += 4;
    }
    memcpy(p, ",\"body\":", 8);
    p += 8;
    memcpy(p, body, blen);
    p += blen;
    static const char tail[] = "},\"error\":null";
    memcpy(p, tail, sizeof tail - 1);
    p += sizeof tail - 1;
    p = put_tail(p, meta);
    memcpy(p, "}\n", 3); /* the NUL too */
    *len = (size_t)(p - buf) + 2;
    return buf;
fail:
    free(buf);
    return NULL;
}

/* The body as a JSON value for the jansson path: parsed when it is JSON
 * the scan can read back within its depth, else a string. */
static json_t *body_value(const char *body, size_t blen)
{
    json_t *jb = NULL;
    if (!body)
        return json_null();
    if (!cli_json_depth_over(body, blen, MAX_BODY_DEPTH))
        jb = json_loadb(body, blen, 0, NULL);
    return jb ? jb : jstrn(body, blen);
}

static char *format_answer(const char *custom_id, const char *body, size_t blen,
                           const char *rid, int status,
                           const run_record_meta *meta, size_t *len)
{
    char *line = format_answer_fast(custom_id, body, blen, rid, status, meta,
                                    len);
    if (line)
        return line;
    json_t *obj = record_new(custom_id);
    json_t *jb = body_value(body, blen);
    json_t *resp = jb ? json_pack("{s:i, s:o, s:o}", "status_code", status,
                                  "request_id", rid ? jstr(rid) : json_null(),
                                  "body", jb)
                      : NULL;
    if (!obj || !resp || json_object_set_new(obj, "response", resp) != 0 ||
        json_object_set_new(obj, "error", json_null()) != 0) {
        json_decref(obj);
        return NULL;
    }
    return finish(obj, meta, len);
}

char *run_out_format_result(const char *custom_id, const plm_result *res,
                            const run_record_meta *meta, int *cls, size_t *len)
{
    int code = plm_result_code(res);
    int status = plm_result_http_status(res);
    /* An HTTP answer is reported as the provider gave it (status and
     * error body, "error": null), as the Batch API does; a failure with
     * no usable answer (network, timeout, unreadable body) goes to
     * "error". */
    int answered = status > 0 && code != PLM_EPARSE && code != PLM_ETOOBIG &&
                   !(status >= 200 && status < 300 && code != PLM_OK);
    if (!answered) {
        *cls = run_class_of(0, code_name(code));
        return run_out_format_error(custom_id, code_name(code),
                                    plm_result_error_message(res), meta, len);
    }
    *cls = run_class_of(status, NULL);
    size_t blen = 0;
    /* A streamed answer is recorded as the object the endpoint returns
     * without streaming, as the Batch API would, not as its events. */
    const char *body = plm_result_assembled_body(res, &blen);
    if (!body)
        body = plm_result_body(res, &blen);
    const char *rid = plm_result_request_id(res);
    char *mbody = NULL, *mrid = NULL;
    /* A server that echoes the key sent must not put it in the file. */
    if (holds_secret(body, blen, meta->secrets))
        body = mbody = masked_copy(body, blen, meta->secrets);
    if (rid && holds_secret(rid, strlen(rid), meta->secrets))
        rid = mrid = masked_copy(rid, strlen(rid), meta->secrets);
    char *line = NULL;
    if ((body || !plm_result_body(res, NULL)) && (rid || !mrid))
        line = format_answer(custom_id, body, blen, rid, status, meta, len);
    free(mbody);
    free(mrid);
    return line;
}

char *run_out_format_error(const char *custom_id, const char *code,
                           const char *message, const run_record_meta *meta,
                           size_t *len)
{
    json_t *obj = record_new(custom_id);
    char *m = NULL;
    if (!obj)
        return NULL;
    if (message && holds_secret(message, strlen(message), meta->secrets))
        message = m = masked_copy(message, strlen(message), meta->secrets);
    json_t *e = json_pack("{s:s, s:o}", "code", code, "message", jstr(message));
    free(m);
    if (!e || json_object_set_new(obj, "response", json_null()) != 0 ||
        json_object_set_new(obj, "error", e) != 0) {
        json_decref(obj);
        return NULL;
    }
    return finish(obj, meta, len);
}
