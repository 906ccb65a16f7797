/*
 * A raw request body's summary, read from its text with json_scan.c.
 *
 * Why not jansson: `parallm run` hands every input line's body over as
 * text, and a tree of it cost the command about 22,000 instructions a
 * request (parse and free, callgrind, docs/PERFORMANCE.md) to read a
 * handful of fields. The scanner decides only where it reads the text
 * exactly as jansson does; so does this file: a key it needs that the
 * body repeats (jansson keeps the last one) is left to jansson too.
 * Every field is what request.c would read from jansson's tree of the
 * same text; fuzz/fuzz_body_summary.c checks that on any input.
 */
#include "body_summary.h"

#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

/* The members read, in this order. */
enum {
    K_MODEL,
    K_STREAM,
    K_STREAM_OPTIONS,
    K_MESSAGES,
    K_SYSTEM,
    K_INPUT,
    K_PROMPT,
    K_INSTRUCTIONS,
    K_N,
    K_MAX_TOKENS,
    K_MAX_COMPLETION_TOKENS,
    K_MAX_OUTPUT_TOKENS,
    K_COUNT
};

static const char *const keys[K_COUNT] = {
    "model",
    "stream",
    "stream_options",
    "messages",
    "system",
    "input",
    "prompt",
    "instructions",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10; /* scanned: a hex digit */
}

/* The decoded length of a scanned string (as json_string_length): a \u
 * escape is neither U+0000 nor a surrogate there, so it is one code
 * point of one to three bytes; any other escape is one byte. */
static uint64_t string_bytes(plm__jspan v)
{
    const char *p = v.p + 1, *end = v.p + v.n - 1;
    uint64_t n = 0;

    while (p < end) {
        const char *b = memchr(p, '\\', (size_t)(end - p));
        long u = 0;

        if (!b)
            return n + (uint64_t)(end - p);
        n += (uint64_t)(b - p);
        if (b[1] != 'u') {
            n++;
            p = b + 2;
            continue;
        }
        for (int i = 2; i < 6; i++)
            u = u * 16 + hex_digit(b[i]);
        n += u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
        p = b + 6;
    }
    return n;
}

/* Bytes of prompt text in a value, as request.c's text_bytes counts them
 * on a tree: a string, or an array of strings or of objects whose "text"
 * and "content" count the same way. 0, or -1 when an object repeats one
 * of those keys. */
static int text_bytes(plm__jspan v, uint64_t *total)
{
    static const char *const part_keys[] = { "text", "content" };
    plm__jspan it = { NULL, 0, NULL }, m[2];

    if (plm__jscan_kind(v) == '"') {
        *total += string_bytes(v);
        return 0;
    }
    while (plm__jscan_next(v, &it)) { /* nothing unless v is an array */
        int kind = plm__jscan_kind(it);

        if (kind == '"') {
            *total += string_bytes(it);
        } else if (kind == '{') {
            if (plm__jscan_members(it, part_keys, 2, m) < 0 ||
                text_bytes(m[0], total) < 0 || text_bytes(m[1], total) < 0)
                return -1;
        }
    }
    return 0;
}

/* Every message's "content" (messages that are not objects count 0). */
static int messages_bytes(plm__jspan messages, uint64_t *total)
{
    plm__jspan it = { NULL, 0, NULL }, content;

    while (plm__jscan_next(messages, &it)) {
        if (plm__jscan_kind(it) != '{')
            continue;
        int got = plm__jscan_member(it, "content", &content);

        if (got < 0)
            return -1;
        if (got == 1 && text_bytes(content, total) < 0)
            return -1;
    }
    return 0;
}

void plm__body_summary_clear(plm__body_summary *s)
{
    free(s->model);
    memset(s, 0, sizeof *s);
}

int plm__body_summarize(const char *text, size_t len, plm__body_summary *out)
{
    plm__jscan_doc doc; /* the scan's record of the values, read below */
    plm__jspan root, m[K_COUNT];
    uint64_t bytes = 0;
    int64_t v;
    int oom = 0;

    memset(out, 0, sizeof *out);
    if (!plm__jscan_object(text, len, &doc, &root) ||
        plm__jscan_members(root, keys, K_COUNT, m) < 0 ||
        messages_bytes(m[K_MESSAGES], &bytes) < 0)
        return 0;
    for (int k = K_SYSTEM; k <= K_INSTRUCTIONS; k++)
        if (text_bytes(m[k], &bytes) < 0)
            return 0;
    out->max_output = -1;
    for (int k = K_MAX_TOKENS; k <= K_MAX_OUTPUT_TOKENS; k++) {
        if (plm__jscan_integer(m[k], &v) && v >= 0) {
            out->max_output = v;
            break;
        }
    }
    out->n = plm__jscan_integer(m[K_N], &v) ? v : 1;
    out->stream = plm__jscan_kind(m[K_STREAM]) == 't';
    out->has_stream_options = m[K_STREAM_OPTIONS].p != NULL;
    out->prompt_bytes = bytes;
    if (plm__jscan_kind(m[K_MODEL]) == '"') {
        out->model = plm__jscan_string(m[K_MODEL], NULL, &oom);
        if (!out->model)
            return -1;
    }
    return 1;
}
