/*
 * Batch input of `parallm run` (cli/jsonl_input.c): the capped line reader
 * fed through a socket that returns the bytes in short, uneven reads (as a
 * pipe from a slow producer would), each line checked by run_input_parse
 * as the command does, duplicates found as --strict finds them, and the
 * quick line count compared with what the reader saw.
 *
 * Input: byte 0 picks the line cap (a small one exercises the "too long"
 * path), byte 1 seeds the read sizes (and bits 1-3 all set ask for the line
 * count), the rest is the file.
 */
#include <errno.h>
#include <sys/socket.h>

#include <jansson.h>

#include "fuzz_util.h"
#include "run.h"

/* Writes data as packets of uneven sizes: each read() of the other end
 * returns one packet. At most 64 packets (each costs socket buffer). */
static int feed(const uint8_t *data, size_t size, unsigned seed)
{
    int sv[2];
    uint32_t x = seed * 2654435761u + 1;
    int packets = 0;

    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    while (size > 0) {
        size_t n = size;
        if (packets++ < 63) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            n = 1 + x % (seed & 1 ? 7 : 300);
            if (n > size)
                n = size;
        }
        ssize_t w = write(sv[0], data, n);
        FUZZ_CHECK(w == (ssize_t)n);
        data += n;
        size -= n;
    }
    close(sv[0]);
    return sv[1];
}

static void check_item(const run_input_item *item, uint64_t line_no,
                       const char *line, size_t len)
{
    FUZZ_CHECK(item->line_no == line_no);
    FUZZ_CHECK(item->custom_id != NULL && item->custom_id[0] != '\0');
    if (item->error[0]) {
        /* The message is printed on a terminal once sanitized. */
        char msg[sizeof item->error];
        memcpy(msg, item->error, sizeof msg);
        run_input_sanitize(msg);
        for (const char *p = msg; *p; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
        return;
    }
    FUZZ_CHECK(strcmp(item->method, "POST") == 0);
    FUZZ_CHECK(item->url != NULL && item->body != NULL);
    FUZZ_CHECK(strlen(item->custom_id) <= RUN_MAX_CUSTOM_ID);
    /* The body text is what is sent: it must say what the line said. */
    if (line_no == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
        line += 3;
        len -= 3;
    }
    json_t *root = json_loadb(line, len, 0, NULL);
    json_t *sent = json_loads(item->body, 0, NULL);
    FUZZ_CHECK(json_is_object(sent));
    FUZZ_CHECK(json_equal(sent, json_object_get(root, "body")));
    json_decref(sent);
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned cap = fuzz_take(&data, &size);
    unsigned seed = fuzz_take(&data, &size);
    size_t max_line = cap < 64 ? (size_t)cap + 1 : RUN_MAX_LINE;
    int fd = feed(data, size, seed);
    run_line_reader *r = run_line_reader_new(fd, max_line);
    run_idset *seen = run_idset_new();
    uint64_t nonblank = 0;
    int any_too_long = 0;

    FUZZ_CHECK(r != NULL && seen != NULL);
    for (;;) {
        char *line;
        size_t len;
        int too_long, no_newline;
        int got = run_line_reader_next(r, &line, &len, &too_long, &no_newline);
        FUZZ_CHECK(got >= 0);
        if (got == 0)
            break;
        FUZZ_CHECK(line[len] == '\0');
        FUZZ_CHECK(len <= max_line);
        /* A line over the cap keeps only its start (for its custom_id). */
        FUZZ_CHECK(!too_long || len <= RUN_TOO_LONG_KEEP);
        FUZZ_CHECK(memchr(line, '\n', len) == NULL);
        any_too_long |= too_long;
        if (!too_long && run_input_blank(line, len))
            continue;
        nonblank++;
        uint64_t line_no = run_line_reader_line_no(r);
        run_input_item item;
        FUZZ_CHECK(run_input_parse(line, len, too_long, line_no, &item) == 0);
        check_item(&item, line_no, line, len);
        if (!item.error[0] && !item.synthetic_id) {
            unsigned char *f = run_idset_find(seen, item.custom_id,
                                              strlen(item.custom_id), 1);
            FUZZ_CHECK(f != NULL);
            if (*f)
                FUZZ_CHECK(run_idset_line(f) < line_no);
            else {
                *f = RUN_ID_SEEN;
                run_idset_set_line(f, line_no);
            }
        }
        run_input_item_clear(&item);
    }
    /* Every byte was consumed, and nothing more. */
    FUZZ_CHECK(run_line_reader_offset(r) == size);
    run_line_reader_free(r);
    run_idset_free(seen);
    close(fd);

    /* The progress total counts the lines the run will send or refuse.
     * Not on every input: its 1 MiB buffer costs more under ASan than
     * the rest of the run. */
    if (!any_too_long && (seed & 14) == 14) {
        int mfd = fuzz_memfd(data, size);
        FUZZ_CHECK(run_input_count_lines(mfd) == (int64_t)nonblank);
        close(mfd);
    }
    return 0;
}
