/*
 * The output file of `parallm run`: formatting one Batch output line per
 * result, appending it with a single write() on an O_APPEND descriptor (a
 * failed write is cut back so the file never holds half a line), batched
 * fsync, and, before a run appends, the resume scan: which custom_ids the
 * file already holds (succeeded or failed) and the repair of a torn last
 * line that a crash may have left.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "run.h"

#define SYNC_LINES 100
#define SYNC_SECONDS 1.0
/* Output lines embed response bodies (capped by the library at 16 MiB
 * before escaping), so the scan accepts much longer lines than input. */
#define MAX_OUTPUT_LINE (128u * 1024u * 1024u)

struct run_out {
    int fd;
    int regular;      /* a regular file: can be cut back and fsynced */
    uint64_t size;    /* bytes of whole lines in the file */
    unsigned pending; /* lines written since the last fsync */
    double last_sync;
};

/* Reads one existing output line: its custom_id (borrowed from root) and
 * whether it records a success. -1 if it is not an output record. */
static int parse_record(const char *line, size_t len, json_t **root,
                        const char **id, size_t *idlen, int *ok)
{
    /* The writer puts a body that is not JSON in as a string, and a NUL
     * in it as "\u0000": read back what was written. */
    *root = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!*root || !json_is_object(*root))
        return -1;
    json_t *cid = json_object_get(*root, "custom_id");
    /* Ids longer than the input allows cannot be ours. */
    if (!json_is_string(cid) || json_string_length(cid) == 0 ||
        json_string_length(cid) > RUN_MAX_CUSTOM_ID)
        return -1;
    *id = json_string_value(cid);
    *idlen = json_string_length(cid);
    json_t *resp = json_object_get(*root, "response");
    json_t *err = json_object_get(*root, "error");
    json_int_t status = 0;
    if (json_is_object(resp))
        status = json_integer_value(json_object_get(resp, "status_code"));
    *ok = status >= 200 && status < 300 && (!err || json_is_null(err));
    return 0;
}

/* Counts one output record for a custom_id with flags: an id counts as
 * succeeded once any of its lines succeeded, else as failed. */
static void count_record(run_resume_info *info, unsigned char *flags, int ok)
{
    info->lines++;
    if (ok && !(*flags & RUN_ID_DONE_OK)) {
        if (*flags & RUN_ID_DONE_FAILED)
            info->failed--;
        info->ok++;
        *flags |= RUN_ID_DONE_OK;
    } else if (!ok && !(*flags & (RUN_ID_DONE_OK | RUN_ID_DONE_FAILED))) {
        info->failed++;
    }
    if (!ok)
        *flags |= RUN_ID_DONE_FAILED;
}

static int scan(run_out *o, run_idset *ids, run_resume_info *info,
                char *err, size_t errlen)
{
    run_line_reader *r = run_line_reader_new(o->fd, MAX_OUTPUT_LINE);
    uint64_t good_end = 0; /* offset just past the last good line */
    int last_bad = 0;
    int rc = -1;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        char *line;
        size_t len;
        int too_long, no_newline;
        int got = run_line_reader_next(r, &line, &len, &too_long,
                                       &no_newline);
        if (got < 0) {
            snprintf(err, errlen, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        if (run_input_blank(line, len) && !no_newline) {
            if (!last_bad)
                good_end = run_line_reader_offset(r);
            continue;
        }
        json_t *root = NULL;
        const char *id;
        size_t idlen;
        int ok;
        if (too_long || no_newline ||
            parse_record(line, len, &root, &id, &idlen, &ok) != 0) {
            json_decref(root);
            if (last_bad)
                info->bad_lines++;
            last_bad = 1;
            continue;
        }
        if (last_bad)
            info->bad_lines++;
        last_bad = 0;
        unsigned char *flags = run_idset_find(ids, id, idlen, 1);
        json_decref(root);
        if (!flags) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        count_record(info, flags, ok);
        good_end = run_line_reader_offset(r);
    }
    /* A bad line in the middle is someone else's text: left alone. A bad
     * last line is what a crash during a write leaves: cut it off so the
     * next line starts clean. */
    uint64_t end = run_line_reader_offset(r);
    if (last_bad && end > good_end) {
        if (ftruncate(o->fd, (off_t)good_end) != 0) {
            snprintf(err, errlen, "cannot repair the torn last line: %s",
                     strerror(errno));
            goto out;
        }
        info->repaired_bytes = end - good_end;
        end = good_end;
    }
    o->size = end;
    rc = 0;
out:
    run_line_reader_free(r);
    return rc;
}

/* A new file's directory entry must reach the disk too, or a power cut
 * could lose the whole file along with the lines fsync had saved. Best
 * effort: some file systems refuse fsync on directories. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/*
 * Opens path for reading and appending, creating it if absent; *created
 * says whether this call made it (its directory entry then needs a sync).
 * One open decides, instead of asking first whether the file exists and
 * racing whoever changes that in between. -1 with errno set.
 */
static int open_for_append(const char *path, int *created)
{
    const int flags = O_RDWR | O_APPEND | O_CLOEXEC;
    int fd = open(path, flags | O_CREAT | O_EXCL, 0644);

    *created = fd >= 0;
    if (fd >= 0 || errno != EEXIST)
        return fd;
    fd = open(path, flags);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    /* Removed meanwhile, or a dangling symbolic link: create it (through
     * the link), as a plain O_CREAT would. */
    *created = 1;
    return open(path, flags | O_CREAT, 0644);
}

int run_out_open(run_out **out, const char *path, int overwrite,
                 run_idset *ids, run_resume_info *info, char *err,
                 size_t errlen)
{
    struct stat st;
    run_out *o = calloc(1, sizeof(*o));
    memset(info, 0, sizeof(*info));
    *out = NULL;
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Read and write: resuming needs to read what earlier runs wrote. */
    int created = 0;
    o->fd = open_for_append(path, &created);
    if (o->fd < 0) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        goto fail;
    }
    /* Two runs appending to one file would both send what neither has
     * written yet. The lock goes with the descriptor, so a killed run
     * never leaves it behind. File systems without flock are let be. */
    if (flock(o->fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        snprintf(err, errlen, "in use by another parallm run");
        goto fail;
    }
    if (fstat(o->fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat: %s", strerror(errno));
        goto fail;
    }
    o->regular = S_ISREG(st.st_mode);
    if (o->regular && created)
        sync_parent_dir(path);
    if (o->regular && overwrite && ftruncate(o->fd, 0) != 0) {
        snprintf(err, errlen, "cannot truncate: %s", strerror(errno));
        goto fail;
    }
    if (o->regular && !overwrite && st.st_size > 0 &&
        scan(o, ids, info, err, errlen) != 0)
        goto fail;
    o->last_sync = run_now();
    *out = o;
    return 0;
fail:
    if (o->fd >= 0)
        close(o->fd);
    free(o);
    return -1;
}

int run_out_write(run_out *o, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(o->fd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            /* Cut back to the end of the last whole line: a resumed run
             * or a reader must never see half of this one. */
            if (off > 0 && o->regular && ftruncate(o->fd, (off_t)o->size) != 0)
                saved = errno;
            errno = saved;
            return -1;
        }
        off += (size_t)n;
    }
    o->size += len;
    o->pending++;
    return 0;
}

int run_out_sync_maybe(run_out *o)
{
    if (!o->regular || o->pending == 0)
        return 0;
    double now = run_now();
    if (o->pending < SYNC_LINES && now - o->last_sync < SYNC_SECONDS)
        return 0;
    o->pending = 0;
    o->last_sync = now;
    return fdatasync(o->fd);
}

int run_out_close(run_out *o)
{
    int rc = 0;
    if (!o)
        return 0;
    if (o->regular && o->pending && fdatasync(o->fd) != 0)
        rc = -1;
    int saved = errno;
    if (close(o->fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    free(o);
    errno = saved;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Formatting */

static json_t *jstr(const char *s)
{
    json_t *v = json_string(s ? s : "");
    /* Text that is not UTF-8 cannot go into JSON as is. */
    return v ? v : json_string("(message not valid UTF-8)");
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

static char *finish(json_t *obj, int simulated, uint64_t serial,
                    size_t *len)
{
    char idbuf[48];
    char *s = NULL;
    /* The id mimics the Batch API's "batch_req_..." form; it only has to
     * be unique within the file. */
    snprintf(idbuf, sizeof(idbuf), "batch_req_%016llx",
             (unsigned long long)serial);
    if (json_object_set_new(obj, "id", json_string(idbuf)) != 0)
        goto out;
    if (simulated && json_object_set_new(obj, "simulated", json_true()) != 0)
        goto out;
    s = json_dumps(obj, JSON_COMPACT);
    if (!s)
        goto out;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        s = NULL;
        goto out;
    }
    s = t;
    s[n] = '\n';
    s[n + 1] = '\0';
    *len = n + 1;
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
static char *format_answer_fast(const char *custom_id, const plm_result *res,
                                int status, int simulated, uint64_t serial,
                                size_t *len)
{
    size_t blen = 0;
    const char *body = plm_result_body(res, &blen);
    const char *rid = plm_result_request_id(res);
    if (!body || !custom_id || !cli_json_embeddable(body, blen))
        return NULL;
    size_t cap = 192 + 6 * strlen(custom_id) + (rid ? 6 * strlen(rid) : 0) +
                 blen;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    char *p = buf;
    p += snprintf(p, 64, "{\"id\":\"batch_req_%016llx\",\"custom_id\":",
                  (unsigned long long)serial);
    p = cli_json_put_string(p, custom_id);
    if (!p)
        goto fail;
    p += snprintf(p, 64, ",\"response\":{\"status_code\":%d,"
                         "\"request_id\":", status);
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
    static const char sim[] = ",\"simulated\":true";
    memcpy(p, tail, sizeof(tail) - 1);
    p += sizeof(tail) - 1;
    if (simulated) {
        memcpy(p, sim, sizeof(sim) - 1);
        p += sizeof(sim) - 1;
    }
    memcpy(p, "}\n", 3); /* the NUL too */
    *len = (size_t)(p - buf) + 2;
    return buf;
fail:
    free(buf);
    return NULL;
}

char *run_out_format_result(const char *custom_id, const plm_result *res,
                            int simulated, uint64_t serial, int *ok,
                            size_t *len)
{
    int code = plm_result_code(res);
    int status = plm_result_http_status(res);
    *ok = 0;
    /* An HTTP answer is reported as the provider gave it (status and
     * error body, "error": null), as the Batch API does; a failure with
     * no usable answer (network, timeout, unreadable body) goes to
     * "error". */
    int answered = status > 0 && code != PLM_EPARSE && code != PLM_ETOOBIG &&
                   !(status >= 200 && status < 300 && code != PLM_OK);
    if (answered) {
        char *line = format_answer_fast(custom_id, res, status, simulated,
                                        serial, len);
        if (line) {
            *ok = status >= 200 && status < 300;
            return line;
        }
    }
    json_t *obj = record_new(custom_id);
    if (!obj)
        return NULL;
    if (answered) {
        size_t blen = 0;
        const char *body = plm_result_body(res, &blen);
        json_t *jb = NULL;
        if (body) {
            jb = json_loadb(body, blen, 0, NULL);
            if (!jb)
                jb = json_stringn(body, blen);
        }
        const char *rid = plm_result_request_id(res);
        json_t *resp = json_pack("{s:i, s:o, s:o}", "status_code", status,
                                 "request_id", rid ? jstr(rid) : json_null(),
                                 "body", jb ? jb : json_null());
        if (!resp || json_object_set_new(obj, "response", resp) != 0 ||
            json_object_set_new(obj, "error", json_null()) != 0)
            goto fail;
        *ok = status >= 200 && status < 300;
    } else {
        json_t *e = json_pack("{s:s, s:o}", "code", code_name(code),
                              "message",
                              jstr(plm_result_error_message(res)));
        if (!e || json_object_set_new(obj, "response", json_null()) != 0 ||
            json_object_set_new(obj, "error", e) != 0)
            goto fail;
    }
    return finish(obj, simulated, serial, len);
fail:
    json_decref(obj);
    return NULL;
}

char *run_out_format_error(const char *custom_id, const char *code,
                           const char *message, int simulated,
                           uint64_t serial, size_t *len)
{
    json_t *obj = record_new(custom_id);
    if (!obj)
        return NULL;
    json_t *e = json_pack("{s:s, s:o}", "code", code, "message",
                          jstr(message));
    if (!e || json_object_set_new(obj, "response", json_null()) != 0 ||
        json_object_set_new(obj, "error", e) != 0) {
        json_decref(obj);
        return NULL;
    }
    return finish(obj, simulated, serial, len);
}
