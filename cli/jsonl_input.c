/*
 * Reading the Batch input of `parallm run`: a line reader with a cap (a
 * file of any size is read in constant memory, and one absurd line cannot
 * exhaust it), the checks that turn a line into a request or into a
 * precise "line N: ..." error, the --strict pre-pass, and the quick line
 * count used as the progress total. Nothing here sends anything: a line
 * either passes every check or is refused whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "run.h"

#define READ_CHUNK (64u * 1024u)

struct run_line_reader {
    int fd;
    char *rbuf;
    size_t rlen, rpos;
    char *line;
    size_t llen, lcap;
    size_t max;
    uint64_t offset;
    uint64_t line_no;
    int eof;
};

run_line_reader *run_line_reader_new(int fd, size_t max_line)
{
    run_line_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = fd;
    r->max = max_line;
    r->rbuf = malloc(READ_CHUNK);
    r->lcap = 4096;
    r->line = malloc(r->lcap);
    if (!r->rbuf || !r->line) {
        run_line_reader_free(r);
        return NULL;
    }
    return r;
}

void run_line_reader_free(run_line_reader *r)
{
    if (!r)
        return;
    free(r->rbuf);
    free(r->line);
    free(r);
}

uint64_t run_line_reader_offset(const run_line_reader *r)
{
    return r->offset;
}

uint64_t run_line_reader_line_no(const run_line_reader *r)
{
    return r->line_no;
}

static int append(run_line_reader *r, const char *p, size_t n)
{
    if (r->llen + n + 1 > r->lcap) {
        size_t cap = r->lcap;
        while (cap < r->llen + n + 1)
            cap *= 2;
        char *line = realloc(r->line, cap);
        if (!line)
            return -1;
        r->line = line;
        r->lcap = cap;
    }
    memcpy(r->line + r->llen, p, n);
    r->llen += n;
    return 0;
}

int run_line_reader_next(run_line_reader *r, char **line, size_t *len,
                         int *too_long, int *no_newline)
{
    int over = 0;
    int any = 0; /* bytes of a line seen (even if dropped as too long) */
    r->llen = 0;
    *no_newline = 0;
    for (;;) {
        if (r->rpos == r->rlen) {
            if (r->eof) {
                if (!any)
                    return 0;
                *no_newline = 1;
                break;
            }
            ssize_t n = read(r->fd, r->rbuf, READ_CHUNK);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            if (n == 0)
                r->eof = 1;
            r->rlen = (size_t)n;
            r->rpos = 0;
            continue;
        }
        const char *start = r->rbuf + r->rpos;
        size_t avail = r->rlen - r->rpos;
        const char *nl = memchr(start, '\n', avail);
        size_t seg = nl ? (size_t)(nl - start) : avail;
        any = 1;
        if (!over && r->llen + seg > r->max) {
            /* Keep only the start (where a custom_id may be read) and
             * skip to the newline: the line is reported, never held. */
            over = 1;
            size_t keep = r->max < RUN_TOO_LONG_KEEP ? r->max
                                                     : RUN_TOO_LONG_KEEP;
            if (r->llen < keep) {
                size_t add = keep - r->llen < seg ? keep - r->llen : seg;
                if (append(r, start, add) != 0) {
                    errno = ENOMEM;
                    return -1;
                }
            }
            if (r->llen > keep)
                r->llen = keep;
        }
        if (!over && append(r, start, seg) != 0) {
            errno = ENOMEM;
            return -1;
        }
        r->rpos += seg + (nl ? 1 : 0);
        r->offset += seg + (nl ? 1 : 0);
        if (nl)
            break;
    }
    r->line_no++;
    r->line[r->llen] = '\0';
    *line = r->line;
    *len = r->llen;
    *too_long = over;
    return 1;
}

int run_input_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = line[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return 0;
    }
    return 1;
}

int64_t run_input_count_lines(int fd)
{
    char *buf = malloc(1u << 20);
    int64_t count = 0;
    int blank = 1; /* the current line has only whitespace so far */
    if (!buf)
        return -1;
    for (;;) {
        ssize_t n = read(fd, buf, 1u << 20);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            count = -1;
            goto out;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n') {
                count += !blank;
                blank = 1;
            } else if (blank && c != ' ' && c != '\t' && c != '\r') {
                blank = 0;
                /* The rest of the line cannot change the verdict. */
                const char *nl = memchr(buf + i, '\n', (size_t)(n - i));
                if (!nl) {
                    i = n;
                    break;
                }
                i = nl - buf - 1;
            }
        }
    }
    count += !blank;
out:
    free(buf);
    return count;
}

static const struct {
    const char *url;
    plm_provider provider;
} endpoints[] = {
    { "/v1/chat/completions", PLM_PROVIDER_OPENAI },
    { "/v1/completions", PLM_PROVIDER_OPENAI },
    { "/v1/embeddings", PLM_PROVIDER_OPENAI },
    { "/v1/responses", PLM_PROVIDER_OPENAI },
    { "/v1/moderations", PLM_PROVIDER_OPENAI },
    /* JSON bodies only: the Batch API's image edits name their images by
     * URL or file id ("images"); a multipart upload has no JSONL form. */
    { "/v1/images/generations", PLM_PROVIDER_OPENAI },
    { "/v1/images/edits", PLM_PROVIDER_OPENAI },
    { "/v1/messages", PLM_PROVIDER_ANTHROPIC },
};

void run_input_sanitize(char *s)
{
    /* Control bytes (escape sequences included) become '?'; UTF-8 text is
     * left alone. */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            *s = '?';
    }
}

void run_input_item_clear(run_input_item *item)
{
    free(item->custom_id);
    free(item->body);
    memset(item, 0, sizeof *item);
}

#define FAIL(...)                                                              \
    do {                                                                       \
        int n_ = snprintf(item->error, sizeof item->error,                     \
                          "line %llu: ", (unsigned long long)line_no);         \
        snprintf(item->error + n_, sizeof item->error - (size_t)n_,            \
                 __VA_ARGS__);                                                 \
        goto out;                                                              \
    } while (0)

static int set_synthetic_id(run_input_item *item, uint64_t line_no)
{
    char buf[32];
    snprintf(buf, sizeof buf, "line-%llu", (unsigned long long)line_no);
    free(item->custom_id);
    item->custom_id = strdup(buf);
    item->synthetic_id = 1;
    return item->custom_id ? 0 : -1;
}

/* The custom_id of a line known only by its start (too long to hold):
 * the string value of a "custom_id" member of the top-level object,
 * when the start shows all of it. malloc'd, or NULL. */
static char *custom_id_from_start(const char *s, size_t len)
{
    size_t i = 0, key_at = 0;
    int depth = 0, want_value = 0, key = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < len && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            if (j >= len)
                return NULL;
            if (depth == 1 && want_value) {
                /* jansson decodes the literal: escapes, UTF-8, no NUL. */
                json_t *v = json_loadb(s + i, j + 1 - i, JSON_DECODE_ANY, NULL);
                char *id = NULL;
                if (json_is_string(v) && json_string_length(v) > 0 &&
                    json_string_length(v) <= RUN_MAX_CUSTOM_ID)
                    id = strdup(json_string_value(v));
                json_decref(v);
                return id;
            }
            key = depth == 1 && j - i - 1 == 9 &&
                  memcmp(s + i + 1, "custom_id", 9) == 0;
            key_at = j + 1;
            i = j + 1;
            continue;
        }
        if (c == ':' && key && i >= key_at)
            want_value = 1;
        else if (c != ' ' && c != '\t' && c != '\r')
            want_value = key = 0;
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        i++;
    }
    return NULL;
}

/* The endpoint a url names (len bytes, as written), or -1. */
static int endpoint_of(const char *url, size_t len)
{
    for (size_t k = 0; k < sizeof endpoints / sizeof endpoints[0]; k++) {
        if (strlen(endpoints[k].url) == len &&
            memcmp(endpoints[k].url, url, len) == 0)
            return (int)k;
    }
    return -1;
}

/*
 * The common case without jansson's tree of the whole line: one strict
 * scan (cli_json_scan_object) finds the members, and a line it vouches
 * for, whose members are all as they must be, becomes the item here.
 * The body is not parsed: the library reads what it needs of it from
 * its text (the scan has checked it is a JSON object). 1 when
 * done, 0 when the line takes the full path (anything unusual, and
 * every error, whose wording is jansson's and the full path's), -1 on
 * out of memory.
 */
static int parse_fast(const char *line, size_t len, run_input_item *item)
{
    cli_json_member m[4] = {
        { "custom_id", NULL, 0, 0 },
        { "method", NULL, 0, 0 },
        { "url", NULL, 0, 0 },
        { "body", NULL, 0, 0 },
    };
    if (!cli_json_scan_object(line, len, m, 4))
        return 0;
    /* Strings spelled with escapes are decoded by the full path. */
    for (int i = 0; i < 3; i++) {
        if (!m[i].value || m[i].value[0] != '"' || m[i].escaped)
            return 0;
    }
    size_t idlen = m[0].len - 2;
    if (idlen == 0 || idlen > RUN_MAX_CUSTOM_ID || m[1].len != 6 ||
        memcmp(m[1].value, "\"POST\"", 6) != 0 || !m[3].value ||
        m[3].value[0] != '{')
        return 0;
    int k = endpoint_of(m[2].value + 1, m[2].len - 2);
    if (k < 0)
        return 0;
    item->custom_id = strndup(m[0].value + 1, idlen);
    item->provider = endpoints[k].provider;
    item->method = "POST";
    item->url = endpoints[k].url;
    item->body = strndup(m[3].value, m[3].len);
    if (!item->custom_id || !item->body) {
        /* Out of memory, most likely; the full path tells. */
        uint64_t line_no = item->line_no;
        run_input_item_clear(item);
        item->line_no = line_no;
        return 0;
    }
    return 1;
}

int run_input_parse(const char *line, size_t len, int too_long,
                    uint64_t line_no, run_input_item *item)
{
    json_t *root = NULL;
    json_error_t jerr;
    int rc = 0;

    memset(item, 0, sizeof *item);
    item->line_no = line_no;
    if (too_long) {
        item->custom_id = custom_id_from_start(line, len);
        FAIL("line longer than %u bytes", RUN_MAX_LINE);
    }
    /* Editors on some systems start a UTF-8 file with a byte order mark;
     * it is not part of the first request. */
    if (line_no == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
        line += 3;
        len -= 3;
    }
    if (parse_fast(line, len, item) == 1)
        return 0;
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        FAIL("invalid JSON: %s (column %d)", jerr.text, jerr.column);
    if (!json_is_object(root))
        FAIL("not a JSON object");

    json_t *id = json_object_get(root, "custom_id");
    if (!id)
        FAIL("missing custom_id");
    if (!json_is_string(id))
        FAIL("custom_id is not a string");
    size_t idlen = json_string_length(id);
    if (idlen == 0)
        FAIL("custom_id is empty");
    if (idlen > RUN_MAX_CUSTOM_ID)
        FAIL("custom_id longer than %d bytes", RUN_MAX_CUSTOM_ID);
    item->custom_id = strndup(json_string_value(id), idlen);
    if (!item->custom_id) {
        rc = -1;
        goto out;
    }

    json_t *method = json_object_get(root, "method");
    if (!json_is_string(method))
        FAIL("missing method (\"POST\")");
    if (strcmp(json_string_value(method), "POST") != 0)
        FAIL("method must be \"POST\"");
    json_t *url = json_object_get(root, "url");
    if (!json_is_string(url))
        FAIL("missing url");
    int k = endpoint_of(json_string_value(url), strlen(json_string_value(url)));
    if (k < 0)
        FAIL("unsupported url (expected /v1/chat/completions, "
             "/v1/completions, /v1/embeddings, /v1/responses, "
             "/v1/moderations, /v1/images/generations, /v1/images/edits "
             "or /v1/messages)");
    item->provider = endpoints[k].provider;
    json_t *body = json_object_get(root, "body");
    if (!body)
        FAIL("missing body");
    if (!json_is_object(body))
        FAIL("body is not a JSON object");
    item->method = "POST";
    item->url = endpoints[k].url;
    /* The body's own text, as the line spells it, saves dumping the
     * tree; jansson's dump is the fallback for what the scan refuses. */
    int got = cli_json_member_text(line, len, "body", &item->body);
    if (got == -1)
        item->body = json_dumps(body, JSON_COMPACT);
    if (!item->body)
        rc = -1;
out:
    json_decref(root);
    if (rc == 0 && !item->custom_id && set_synthetic_id(item, line_no) != 0)
        rc = -1;
    return rc;
}

/* Copies stdin into an unlinked temporary file so --strict can read the
 * input twice and progress knows the total. */
int run_input_spool_stdin(void)
{
    char path[] = "/tmp/parallm-stdin-XXXXXX";
    int fd = mkstemp(path);
    char buf[65536];
    if (fd < 0)
        return -1;
    unlink(path);
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                goto fail;
            off += w;
        }
    }
    if (lseek(fd, 0, SEEK_SET) == 0)
        return fd;
fail:
    close(fd);
    return -1;
}

/* --strict: every line checked before anything is sent. Returns the
 * number of problems (each printed), or -1 on a read error. */
int64_t run_input_strict_check(int fd, const char *name)
{
    run_line_reader *r = run_line_reader_new(fd, RUN_MAX_LINE);
    run_idset *seen = run_idset_new();
    run_input_item item;
    int64_t problems = -1;
    if (!r || !seen)
        goto out;
    problems = 0;
    for (;;) {
        char *line;
        size_t len;
        int too_long, no_newline;
        int got = run_line_reader_next(r, &line, &len, &too_long, &no_newline);
        if (got < 0) {
            fprintf(stderr, "parallm run: cannot read %s: %s\n", name,
                    strerror(errno));
            problems = -1;
            goto out;
        }
        if (got == 0)
            break;
        if (!too_long && run_input_blank(line, len))
            continue;
        uint64_t line_no = run_line_reader_line_no(r);
        if (run_input_parse(line, len, too_long, line_no, &item) != 0) {
            run_input_item_clear(&item);
            problems = -1;
            goto out;
        }
        if (!item.error[0] && !item.synthetic_id) {
            unsigned char *f = run_idset_find(seen, item.custom_id,
                                              strlen(item.custom_id), 1);
            if (f && *f) {
                snprintf(item.error, sizeof item.error,
                         "line %llu: duplicate custom_id \"%.200s\" (first "
                         "on line %llu)",
                         (unsigned long long)line_no, item.custom_id,
                         (unsigned long long)run_idset_line(f));
            } else if (f) {
                *f = RUN_ID_SEEN;
                run_idset_set_line(f, line_no);
            }
        }
        if (item.error[0]) {
            run_input_sanitize(item.error);
            fprintf(stderr, "parallm run: %s: %s\n", name, item.error);
            problems++;
        }
        run_input_item_clear(&item);
    }
out:
    run_idset_free(seen);
    run_line_reader_free(r);
    return problems;
}

uint64_t run_input_hash(const char *line, size_t len)
{
    /* Fixed, not secret: the value must be the same in every run. */
    static const uint64_t key[2] = { 0x7061726c6c6d2d69ull,
                                     0x6e7075742d6c696eull };
    uint64_t h[2];
    run_idset_siphash128(key, line, len, h);
    return h[0];
}

uint32_t run_input_tag(uint64_t hash)
{
    uint32_t t = (uint32_t)hash;
    return t ? t : 1;
}
