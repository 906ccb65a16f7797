/*
 * Prompts and answer checking for `parallm describe` (see
 * describe_text.h). The answer check is strict on the shape and lenient
 * on the wrapping: models often wrap JSON in a Markdown code fence even
 * when told not to, and that costs nothing to undo, whereas a missing
 * field is sent back to the model with the reason.
 */
#include "describe_text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char system_prompt[] =
    "You describe the files of a software project for a code index. You "
    "answer with one JSON object and nothing else.";

const char *describe_system_prompt(void)
{
    return system_prompt;
}

/* Length of the valid UTF-8 sequence at s (at most avail bytes), or 0 if
 * the bytes there are not one (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < need)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return need;
}

char *describe_utf8_fix(const char *s, size_t len)
{
    const unsigned char *in = (const unsigned char *)s;
    /* Each bad byte becomes 3 bytes at most. */
    char *out = len <= (SIZE_MAX - 1) / 3 ? malloc(len * 3 + 1) : NULL;
    size_t o = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(in + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, in + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

size_t describe_utf8_cut(const char *s, size_t len)
{
    const unsigned char *in = (const unsigned char *)s;

    /* Look back over continuation bytes (at most 3) for the lead byte of
     * the last sequence; cut before it if it needs more bytes than are
     * there. */
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        unsigned char c = in[len - back];
        if (c < 0x80)
            return len;
        if (c >= 0xC0) {
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            return need > back ? len - back : len;
        }
    }
    return len;
}

/* snprintf into a new buffer of the right size. */
static char *format_new(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *format_new(const char *fmt, ...)
{
    va_list ap;
    char *out;

    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    out = malloc((size_t)n + 1);
    if (out == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

char *describe_prompt(const char *path, const char *text, size_t len,
                      int64_t full_size)
{
    char *safe_path = describe_utf8_fix(path, strlen(path));
    char *safe_text = describe_utf8_fix(text, len);
    char note[160] = "";
    char *out = NULL;

    if (safe_path == NULL || safe_text == NULL)
        goto out;
    if (full_size >= 0)
        snprintf(note, sizeof note,
                 "The file is %" PRId64 " bytes long; only its first %zu "
                 "bytes are shown.\n\n",
                 full_size, len);
    out = format_new(
        "Describe the file \"%s\".\n"
        "\n"
        "Reply with only a JSON object of this shape:\n"
        "{\"summary\": \"<what the file is for and what it contains, in one "
        "to three sentences>\", \"references\": [\"<path of another file "
        "of the project that this file depends on>\"]}\n"
        "\"references\" lists the files this file imports, includes or "
        "otherwise uses, as paths; use [] when there are none.\n"
        "\n"
        "%s"
        "Contents of %s:\n"
        "```\n"
        "%s\n"
        "```\n",
        safe_path, note, safe_path, safe_text);
out:
    free(safe_path);
    free(safe_text);
    return out;
}

char *describe_reask(const char *reason)
{
    return format_new("Your answer was not valid: %s. Reply with only the "
                      "JSON object, {\"summary\": \"...\", \"references\": "
                      "[...]}.",
                      reason);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

json_t *describe_parse(const char *answer, char *err, size_t errlen)
{
    const char *start = answer;
    const char *end = answer + strlen(answer);
    json_error_t jerr;
    json_t *doc = NULL;
    json_t *out = NULL;

    while (start < end && is_space(*start))
        start++;
    while (end > start && is_space(end[-1]))
        end--;
    if (end - start >= 3 && memcmp(start, "```", 3) == 0) {
        /* The fence line may name a language ("```json"): skip it. */
        const char *nl = memchr(start, '\n', (size_t)(end - start));
        if (nl == NULL) {
            snprintf(err, errlen, "the answer is an empty code block");
            return NULL;
        }
        start = nl + 1;
        if (end - start >= 3 && memcmp(end - 3, "```", 3) == 0)
            end -= 3;
    }
    if (start == end) {
        snprintf(err, errlen, "the answer is empty");
        return NULL;
    }
    doc = json_loadb(start, (size_t)(end - start), 0, &jerr);
    if (doc == NULL) {
        snprintf(err, errlen, "it is not JSON (%s at line %d, column %d)",
                 jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "it is not a JSON object");
        goto out;
    }
    json_t *summary = json_object_get(doc, "summary");
    json_t *refs = json_object_get(doc, "references");
    if (!json_is_string(summary)) {
        snprintf(err, errlen, "\"summary\" is %s",
                 summary == NULL ? "missing" : "not a string");
        goto out;
    }
    if (!json_is_array(refs)) {
        snprintf(err, errlen, "\"references\" is %s",
                 refs == NULL ? "missing" : "not an array of strings");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(refs); i++) {
        if (!json_is_string(json_array_get(refs, i))) {
            snprintf(err, errlen, "\"references\"[%zu] is not a string", i);
            goto out;
        }
    }
    out = json_pack("{s:O,s:O}", "summary", summary, "references", refs);
    if (out == NULL)
        snprintf(err, errlen, "out of memory");
out:
    json_decref(doc);
    return out;
}
