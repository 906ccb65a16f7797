/*
 * The output file of `parallm run` (its lines are made in
 * output_format.c): appending whole lines with write() on an O_APPEND
 * descriptor (one line, or the lines one round of the run held, in one call; a
 * failed write is cut back to its last whole line so the file never holds
 * half a line), batched fsync, and, before a run appends, the resume scan:
 * which custom_ids the file already holds (succeeded or failed) and the
 * repair of a torn last line that a crash may have left.
 */
#include <errno.h>
#include <signal.h>
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
/* ... but not more often than this. At tens of thousands of answers a
 * second a sync every 100 lines was 300 syncs a second: 6.5% of the
 * command's CPU at 0 ms latency (perf stat, 10,000 requests), and as
 * many disk flushes. At up to 1,000 answers a second it changes nothing. */
#define SYNC_MIN_SECONDS 0.1
/* Output lines embed response bodies (capped by the library at 16 MiB
 * before escaping), so the scan accepts much longer lines than input. */
#define MAX_OUTPUT_LINE (128u * 1024u * 1024u)

struct run_out {
    int fd;
    int regular;      /* a regular file: can be cut back and fsynced */
    uint64_t size;    /* bytes of whole lines in the file */
    unsigned pending; /* lines written since the last fsync */
    double last_sync;
    unsigned long syncs; /* syncs asked for (run_out_syncs) */
    char *held;          /* whole lines run_out_hold kept for run_out_flush */
    size_t nheld, capheld;
    size_t held_lines;
    run_syncer *syncer; /* fdatasync off the loop; NULL: done inline */
};

static const char *const class_names[RUN_CLASS_COUNT] = {
    "succeeded",    "invalid_input", "auth",       "rate_limited",
    "client_error", "server_error",  "connection", "other"
};

const char *run_class_name(int cls)
{
    return cls >= 0 && cls < RUN_CLASS_COUNT ? class_names[cls] : "other";
}

int run_class_of(int status, const char *error_code)
{
    if (status > 0) {
        if (status >= 200 && status < 300)
            return error_code ? RUN_CLASS_OTHER : RUN_CLASS_OK;
        if (status == 401 || status == 403)
            return RUN_CLASS_AUTH;
        if (status == 429)
            return RUN_CLASS_RATE;
        return status >= 400 && status < 500 ? RUN_CLASS_CLIENT
                                             : RUN_CLASS_SERVER;
    }
    if (!error_code)
        return RUN_CLASS_OTHER;
    if (strcmp(error_code, "invalid_request") == 0)
        return RUN_CLASS_INVALID;
    if (strcmp(error_code, "connection_error") == 0 ||
        strcmp(error_code, "timeout") == 0)
        return RUN_CLASS_CONNECTION;
    if (strcmp(error_code, "authentication_error") == 0 ||
        strcmp(error_code, "insufficient_quota") == 0)
        return RUN_CLASS_AUTH;
    if (strcmp(error_code, "rate_limited") == 0)
        return RUN_CLASS_RATE;
    return RUN_CLASS_OTHER;
}

/* One existing output line, read back. */
typedef struct run_record {
    json_t *root;
    const char *id; /* borrowed from root */
    size_t idlen;
    int cls; /* RUN_CLASS_OK for a success */
    int simulated;
    int has_hash;
    uint64_t hash;
} run_record;

/* The members of the response and error objects hold what the server
 * and the library said; the record's own members are only these. */
static int known_key(const char *k)
{
    static const char *const keys[] = {
        "id", "custom_id", "response", "error", RUN_INPUT_HASH_KEY, "simulated"
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i]) == 0)
            return 1;
    return 0;
}

static int parse_hash(json_t *v, uint64_t *out)
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) != 16)
        return -1;
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0)
            return -1;
        h = h << 4 | (uint64_t)d;
    }
    *out = h;
    return 0;
}

/* Reads one existing output line into rec. -1 if it is not a record
 * parallm writes: an object with exactly its members, an "id" of the
 * form "batch_req_...", a custom_id the input could hold, "response" an
 * object with a status_code or null, "error" an object or null. */
static int parse_record(const char *line, size_t len, run_record *rec)
{
    memset(rec, 0, sizeof *rec);
    /* Bodies may hold NUL characters (\u0000): the writer writes them. */
    json_t *root = rec->root = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!root || !json_is_object(root))
        return -1;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (!known_key(k))
            return -1;
    }
    json_t *id = json_object_get(root, "id");
    json_t *cid = json_object_get(root, "custom_id");
    json_t *resp = json_object_get(root, "response");
    json_t *err = json_object_get(root, "error");
    json_t *hash = json_object_get(root, RUN_INPUT_HASH_KEY);
    json_t *sim = json_object_get(root, "simulated");
    if (!json_is_string(id) ||
        strncmp(json_string_value(id), "batch_req_", 10) != 0 ||
        !json_is_string(cid) || json_string_length(cid) == 0 ||
        json_string_length(cid) > RUN_MAX_CUSTOM_ID || !resp || !err ||
        !(json_is_null(resp) ||
          (json_is_object(resp) &&
           json_is_integer(json_object_get(resp, "status_code")))) ||
        !(json_is_null(err) || json_is_object(err)) ||
        (sim && !json_is_boolean(sim)))
        return -1;
    if (hash && parse_hash(hash, &rec->hash) != 0)
        return -1;
    rec->has_hash = hash != NULL;
    rec->simulated = json_is_true(sim);
    rec->id = json_string_value(cid);
    rec->idlen = json_string_length(cid);
    json_int_t status = json_is_object(resp)
                            ? json_integer_value(
                                  json_object_get(resp, "status_code"))
                            : 0;
    if (status < 0 || status > 999)
        return -1;
    const char *code = NULL;
    if (json_is_object(err)) {
        code = json_string_value(json_object_get(err, "code"));
        if (!code)
            code = "";
    }
    rec->cls = run_class_of((int)status, code);
    return 0;
}

/* Counts one output record for a custom_id with flags: an id counts as
 * succeeded once any of its lines succeeded, else as failed by its last
 * line. The tag of the input hash follows the deciding line: the last
 * success, else the last failure. */
static void count_record(run_resume_info *info, unsigned char *flags,
                         const run_record *rec)
{
    int ok = rec->cls == RUN_CLASS_OK;
    uint32_t tag = rec->has_hash ? run_input_tag(rec->hash) : 0;
    info->lines++;
    if (ok && !(*flags & RUN_ID_DONE_OK)) {
        if (*flags & RUN_ID_DONE_FAILED)
            info->failed--;
        info->ok++;
        *flags |= RUN_ID_DONE_OK;
    } else if (!ok && !(*flags & (RUN_ID_DONE_OK | RUN_ID_DONE_FAILED))) {
        info->failed++;
    }
    if (ok) {
        run_idset_set_tag(flags, tag);
    } else if (!(*flags & RUN_ID_DONE_OK)) {
        *flags = (unsigned char)((*flags & ~(7u << RUN_ID_CLASS_SHIFT)) |
                                 (unsigned)rec->cls << RUN_ID_CLASS_SHIFT);
        run_idset_set_tag(flags, tag);
    }
    if (!ok)
        *flags |= RUN_ID_DONE_FAILED;
}

/* 1 if s (n bytes, no newline) can be the start of a line parallm
 * writes: every record begins {"id":"batch_req_<16 hex>","custom_id":"
 * and holds no raw control character but tab and CR. */
static int record_prefix(const char *s, size_t n)
{
    static const char head[] = "{\"id\":\"batch_req_";
    static const char mid[] = "\",\"custom_id\":\"";
    const size_t h = sizeof head - 1, m = sizeof mid - 1;
    size_t i;
    if (memcmp(s, head, n < h ? n : h) != 0)
        return 0;
    for (i = h; i < n && i < h + 16; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    if (i < n && memcmp(s + i, mid, n - i < m ? n - i : m) != 0)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* Reads every line: -2 with a message at the first one that is not a
 * record; else *torn is set when the last line is an unfinished record
 * (it starts at *torn_at). */
static int scan_lines(run_line_reader *r, run_idset *ids, int flags,
                      run_resume_info *info, uint64_t *torn_at, int *torn,
                      char *err, size_t errlen)
{
    for (;;) {
        char *line;
        size_t len;
        int too_long, no_newline;
        uint64_t start = run_line_reader_offset(r);
        int got = run_line_reader_next(r, &line, &len, &too_long, &no_newline);
        if (got < 0) {
            snprintf(err, errlen, "cannot read: %s", strerror(errno));
            return -1;
        }
        if (got == 0)
            return 0;
        uint64_t no = run_line_reader_line_no(r);
        if (no_newline && !too_long && record_prefix(line, len)) {
            *torn = 1;
            *torn_at = start;
            return 0;
        }
        if (!too_long && !no_newline && run_input_blank(line, len))
            continue;
        run_record rec;
        memset(&rec, 0, sizeof rec);
        if (too_long || no_newline || parse_record(line, len, &rec) != 0) {
            json_decref(rec.root);
            snprintf(err, errlen,
                     "line %llu is not a parallm output record; parallm "
                     "appends only to files it wrote and changes nothing "
                     "else (give another -o, or --overwrite to start "
                     "over)",
                     (unsigned long long)no);
            return -2;
        }
        unsigned char *f = NULL;
        if (rec.simulated && (flags & RUN_OUT_IGNORE_SIMULATED))
            info->simulated++;
        else if (!(f = run_idset_find(ids, rec.id, rec.idlen, 1))) {
            json_decref(rec.root);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (f)
            count_record(info, f, &rec);
        json_decref(rec.root);
    }
}

static int scan(run_out *o, run_idset *ids, int flags, run_resume_info *info,
                char *err, size_t errlen)
{
    run_line_reader *r = run_line_reader_new(o->fd, MAX_OUTPUT_LINE);
    uint64_t torn_at = 0;
    int torn = 0;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = scan_lines(r, ids, flags, info, &torn_at, &torn, err, errlen);
    uint64_t end = run_line_reader_offset(r);
    run_line_reader_free(r);
    if (rc != 0)
        return rc;
    /* What a crash during a write leaves: the start of a record without
     * its newline. Cut it so the next line starts clean. */
    if (torn) {
        if (ftruncate(o->fd, (off_t)torn_at) != 0) {
            snprintf(err, errlen, "cannot repair the torn last line: %s",
                     strerror(errno));
            return -1;
        }
        info->repaired_bytes = end - torn_at;
        end = torn_at;
    }
    o->size = end;
    return 0;
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
 * Opens path for reading and appending, creating it if absent (readable
 * by its owner only: records may hold whatever a server answered); *created
 * says whether this call made it (its directory entry then needs a sync).
 * One open decides, instead of asking first whether the file exists and
 * racing whoever changes that in between. -1 with errno set.
 */
static int open_for_append(const char *path, int *created)
{
    const int flags = O_RDWR | O_APPEND | O_CLOEXEC;
    int fd = open(path, flags | O_CREAT | O_EXCL, 0600);

    *created = fd >= 0;
    if (fd >= 0 || errno != EEXIST)
        return fd;
    fd = open(path, flags);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    /* Removed meanwhile, or a dangling symbolic link: create it (through
     * the link), as a plain O_CREAT would. */
    *created = 1;
    return open(path, flags | O_CREAT, 0600);
}

/* Standard output ("-"), or an existing file that is not a regular one
 * (a pipe, a FIFO, a terminal, /dev/stdout): opened for writing only,
 * with no resume. 1 when path is such a stream (then *fd is set, or -1
 * with errno), 0 when it is a regular file or absent. */
static int open_stream(const char *path, int *fd)
{
    struct stat st;
    if (strcmp(path, "-") == 0) {
        *fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        return 1;
    }
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
        return 0;
    if (S_ISDIR(st.st_mode)) {
        *fd = -1;
        errno = EISDIR;
        return 1;
    }
    /* Read-write would open a FIFO with no reader at once and fill it
     * forever; write-only waits for a reader (a signal ends the wait). */
    *fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    return 1;
}

int run_out_open(run_out **out, const char *path, int flags, run_idset *ids,
                 run_resume_info *info, char *err, size_t errlen)
{
    struct stat st;
    run_out *o = calloc(1, sizeof *o);
    memset(info, 0, sizeof *info);
    *out = NULL;
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int created = 0, rc = -1;
    if (open_stream(path, &o->fd)) {
        if (o->fd < 0) {
            snprintf(err, errlen, "cannot open: %s", strerror(errno));
            goto fail;
        }
        o->last_sync = run_now();
        *out = o;
        return 0;
    }
    /* Read and write: resuming needs to read what earlier runs wrote. */
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
    if (o->regular && (flags & RUN_OUT_OVERWRITE) && ftruncate(o->fd, 0) != 0) {
        snprintf(err, errlen, "cannot truncate: %s", strerror(errno));
        goto fail;
    }
    if (o->regular && !(flags & RUN_OUT_OVERWRITE) && st.st_size > 0 &&
        (rc = scan(o, ids, flags, info, err, errlen)) != 0)
        goto fail;
    o->last_sync = run_now();
    if (o->regular) /* without the thread, the loop syncs itself */
        o->syncer = run_syncer_start(o->fd);
    *out = o;
    return 0;
fail:
    if (o->fd >= 0)
        close(o->fd);
    free(o);
    return rc == -2 ? -2 : -1;
}

int run_out_regular(const run_out *o)
{
    return o->regular;
}

volatile sig_atomic_t *run_out_stop;

/* Writes len bytes of whole lines; on failure cuts the file back to the
 * end of the last whole line written. Returns the bytes of whole lines now
 * in the file: len, or less with errno set. */
static size_t write_lines(run_out *o, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(o->fd, buf + off, len - off);
        /* A reader that stopped reading blocks the write; a second
         * SIGINT gives up on it. */
        if (n < 0 && errno == EINTR && !(run_out_stop && *run_out_stop >= 2))
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            size_t whole = off;
            while (whole > 0 && buf[whole - 1] != '\n')
                whole--;
            /* Cut back to the end of the last whole line: a resumed run
             * or a reader must never see half of one. */
            if (whole < off && o->regular &&
                ftruncate(o->fd, (off_t)(o->size + whole)) != 0)
                saved = errno;
            o->size += whole;
            errno = saved;
            return whole;
        }
        off += (size_t)n;
    }
    o->size += len;
    return len;
}

static size_t count_lines(const char *buf, size_t len)
{
    size_t n = 0;
    for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf)));
         p++)
        n++;
    return n;
}

int run_out_write(run_out *o, const char *buf, size_t len)
{
    size_t done = write_lines(o, buf, len);
    o->pending += (unsigned)count_lines(buf, done);
    return done == len ? 0 : -1;
}

int run_out_hold(run_out *o, const char *buf, size_t len)
{
    if (o->capheld - o->nheld < len) {
        size_t cap = o->capheld ? o->capheld : 64 * 1024;
        while (cap - o->nheld < len)
            cap *= 2;
        char *p = realloc(o->held, cap);
        if (!p)
            return -1;
        o->held = p;
        o->capheld = cap;
    }
    memcpy(o->held + o->nheld, buf, len);
    o->nheld += len;
    o->held_lines++;
    return 0;
}

size_t run_out_held(const run_out *o)
{
    return o->nheld;
}

/* A pipe cannot be cut back, and only a write of PIPE_BUF bytes or less
 * is whole for its reader: there, one write() per line, as before. */
static size_t write_each_line(run_out *o, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (buf + off)) + 1 : len - off;
        size_t done = write_lines(o, buf + off, n);
        off += done;
        if (done < n)
            break;
    }
    return off;
}

int run_out_flush(run_out *o, size_t *lines_written)
{
    size_t done = !o->nheld    ? 0
                  : o->regular ? write_lines(o, o->held, o->nheld)
                               : write_each_line(o, o->held, o->nheld);
    int rc = done == o->nheld ? 0 : -1;
    int saved = errno;
    size_t n = rc == 0 ? o->held_lines : count_lines(o->held, done);

    o->pending += (unsigned)n;
    *lines_written = n;
    o->nheld = 0;
    o->held_lines = 0;
    /* A round's worth stays allocated; a burst of huge answers does not. */
    if (o->capheld > 1024 * 1024) {
        free(o->held);
        o->held = NULL;
        o->capheld = 0;
    }
    errno = saved;
    return rc;
}

int run_out_sync_maybe(run_out *o)
{
    if (!o->regular || o->pending == 0)
        return 0;
    double since = run_now() - o->last_sync;
    if (since < SYNC_MIN_SECONDS ||
        (o->pending < SYNC_LINES && since < SYNC_SECONDS))
        return 0;
    o->pending = 0;
    o->last_sync += since;
    o->syncs++;
    return o->syncer ? run_syncer_request(o->syncer) : fdatasync(o->fd);
}

unsigned long run_out_syncs(const run_out *o)
{
    return o->syncs;
}

int run_out_close(run_out *o)
{
    int rc = 0;
    size_t ignored;
    if (!o)
        return 0;
    if (run_out_flush(o, &ignored) != 0) /* the caller flushed: none */
        rc = -1;
    int saved = errno;
    int last = rc == 0 && o->regular && o->pending;
    /* Waits for a sync under way; a failed one is this call's error. */
    if (o->syncer && run_syncer_stop(o->syncer, last) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    } else if (!o->syncer && last && fdatasync(o->fd) != 0) {
        rc = -1;
        saved = errno;
    }
    if (close(o->fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    free(o->held);
    free(o);
    errno = saved;
    return rc;
}
