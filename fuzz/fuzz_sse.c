/*
 * The server-sent event splitter (src/proto/sse.c, plm__sse_each) on any
 * bytes: every event it hands over has a NUL-terminated name shorter than
 * its buffer and data that is NUL-terminated at data_len; a non-zero
 * return of the callback stops the walk and is returned. The same bytes
 * fed to the incremental reader (plm__sse_reader) in pieces of 1 to 7
 * bytes give the same events and the same return.
 *
 * Input: byte 0 says after how many events the callback stops (0: never);
 * the rest is the body.
 */
#include "fuzz_util.h"
#include "provider_parse.h"

typedef struct walk {
    unsigned events;
    unsigned stop_after;
    size_t body_len;
    uint64_t hash; /* FNV-1a over every event's name and data */
} walk;

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211u;
    return h;
}

static int on_event(const char *event, const char *data, size_t data_len,
                    void *ctx)
{
    walk *w = ctx;
    FUZZ_CHECK(event != NULL && data != NULL);
    FUZZ_CHECK(strlen(event) < 64);
    FUZZ_CHECK(data[data_len] == '\0');
    FUZZ_CHECK(data_len <= w->body_len);
    w->events++;
    w->hash = fnv(fnv(w->hash, event, strlen(event) + 1), data, data_len);
    if (w->stop_after && w->events == w->stop_after)
        return 42;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk w = { 0 };
    w.stop_after = fuzz_take(&data, &size) % 8;
    w.body_len = size;
    /* The body is not NUL-terminated here: the splitter must stay in
     * its length. */
    char *body = malloc(size ? size : 1);
    FUZZ_CHECK(body != NULL);
    memcpy(body, data, size);
    int rc = plm__sse_each(body, size, on_event, &w);
    if (w.stop_after && w.events == w.stop_after)
        FUZZ_CHECK(rc == 42);
    else
        FUZZ_CHECK(rc == 0);

    walk p = { 0 };
    plm__sse_reader r;
    size_t at = 0, piece = 1;
    int prc = 0;
    p.stop_after = w.stop_after;
    p.body_len = size;
    plm__sse_reader_init(&r, on_event, &p);
    while (at < size && !prc) {
        size_t n = size - at < piece ? size - at : piece;
        prc = plm__sse_reader_feed(&r, body + at, n);
        at += n;
        piece = piece % 7 + 1;
    }
    if (!prc)
        prc = plm__sse_reader_finish(&r);
    plm__sse_reader_free(&r);
    FUZZ_CHECK(prc == rc && p.events == w.events && p.hash == w.hash);
    free(body);
    return 0;
}
