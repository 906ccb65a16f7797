/*
 * The resume scan of `parallm run` (cli/output.c, run_out_open): an
 * existing output file of any content is read for the custom_ids it
 * records, and a torn last line is cut off. The file is a memfd reached
 * through /proc/self/fd, so nothing touches the disk.
 *
 * Checked: the file keeps a prefix of what it held; only a torn tail is
 * cut; the counts agree with the id set; a second scan of the repaired
 * file finds the same records and nothing more to repair; a line
 * appended after the scan is found by the next one.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "run.h"

static off_t file_size(int fd)
{
    struct stat st;
    FUZZ_CHECK(fstat(fd, &st) == 0);
    return st.st_size;
}

/* 0 when the file was opened and scanned, -2 when it was refused as not
 * parallm's (then nothing of it may have changed). */
static int open_scan(const char *path, run_idset *ids, run_resume_info *info,
                     run_out **out)
{
    char err[256];
    int rc = run_out_open(out, path, 0, ids, info, err, sizeof err);
    if (rc == -1)
        fprintf(stderr, "run_out_open: %s\n", err);
    FUZZ_CHECK(rc == 0 || rc == -2);
    if (rc != 0)
        return rc;
    FUZZ_CHECK(info->ok + info->failed <= run_idset_count(ids));
    FUZZ_CHECK(info->ok + info->failed <= info->lines);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_memfd(data, size);
    char path[64];
    run_idset *ids = run_idset_new();
    run_resume_info info, again;
    run_out *o = NULL;

    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    FUZZ_CHECK(ids != NULL);
    if (open_scan(path, ids, &info, &o) != 0) {
        /* Refused: a line that is not a parallm record. Untouched. */
        char *same = malloc(size + 1);
        FUZZ_CHECK(same != NULL);
        FUZZ_CHECK(file_size(fd) == (off_t)size);
        FUZZ_CHECK(pread(fd, same, size + 1, 0) == (ssize_t)size);
        FUZZ_CHECK(size == 0 || memcmp(same, data, size) == 0);
        free(same);
        run_idset_free(ids);
        close(fd);
        return 0;
    }
    off_t kept = file_size(fd);
    FUZZ_CHECK((uint64_t)kept + info.repaired_bytes == size);
    FUZZ_CHECK(info.lines <= size);
    char *now = malloc(size + 1);
    FUZZ_CHECK(now != NULL);
    FUZZ_CHECK(pread(fd, now, size + 1, 0) == kept);
    FUZZ_CHECK(memcmp(now, data, (size_t)kept) == 0);
    free(now);
    /* What is kept ends with a whole line (or is empty). */
    if (info.repaired_bytes)
        FUZZ_CHECK(kept == 0 || data[kept - 1] == '\n');

    /* A run appends a record; the file is closed; a later run resumes. */
    const char *line = "{\"id\":\"batch_req_0000000000000001\","
                       "\"custom_id\":\"fuzz-new\","
                       "\"response\":{\"status_code\":200,\"request_id\":null,"
                       "\"body\":{}},\"error\":null}\n";
    FUZZ_CHECK(run_out_write(o, line, strlen(line)) == 0);
    FUZZ_CHECK(run_out_close(o) == 0);

    run_idset *ids2 = run_idset_new();
    FUZZ_CHECK(ids2 != NULL);
    FUZZ_CHECK(open_scan(path, ids2, &again, &o) == 0);
    FUZZ_CHECK(again.repaired_bytes == 0);
    FUZZ_CHECK(again.lines == info.lines + 1);
    unsigned char *f = run_idset_find(ids2, "fuzz-new", 8, 0);
    FUZZ_CHECK(f != NULL && (*f & RUN_ID_DONE_OK));
    FUZZ_CHECK(file_size(fd) == kept + (off_t)strlen(line));
    FUZZ_CHECK(run_out_close(o) == 0);

    run_idset_free(ids);
    run_idset_free(ids2);
    close(fd);
    return 0;
}
