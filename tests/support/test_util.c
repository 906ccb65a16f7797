/*
 * Generic test helpers: temporary directories, recursive removal, the
 * monotonic clock and whole-file reads, so tests do not each reinvent them.
 */
#include "test_util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

int plm_test_tmpdir(const char *prefix, char *out, size_t outlen)
{
    const char *base = getenv("TMPDIR");
    int n;

    if (base == NULL || *base == '\0')
        base = "/tmp";
    n = snprintf(out, outlen, "%s/%s.XXXXXX", base,
                 prefix ? prefix : "plm-test");
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int plm_test_rmtree(const char *path)
{
    /* Depth first, and FTW_PHYS so a symlink is removed, not followed. */
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int64_t plm_test_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *plm_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        size_t got;

        if (cap - n < 4096) {
            char *p = realloc(buf, cap ? cap * 2 : 8192);

            if (p == NULL) {
                free(buf);
                buf = NULL;
                goto out;
            }
            buf = p;
            cap = cap ? cap * 2 : 8192;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
out:
    fclose(f);
    return buf;
}
