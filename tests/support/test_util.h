/*
 * Small helpers every test needs: a private temporary directory that is
 * removed with its contents afterwards, and a monotonic clock.
 */
#ifndef PLM_TEST_UTIL_H
#define PLM_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Creates a fresh directory under $TMPDIR (or /tmp) named after prefix
 * and writes its path to out. Returns 0 or -1. */
int plm_test_tmpdir(const char *prefix, char *out, size_t outlen);
/* Removes path and everything below it (no symlinks are followed).
 * Returns 0 or -1. */
int plm_test_rmtree(const char *path);
/* CLOCK_MONOTONIC in nanoseconds. */
int64_t plm_test_now_ns(void);
/* Reads a whole file into a NUL-terminated buffer the caller frees;
 * NULL on error. *len (optional) gets the size. */
char *plm_test_read_file(const char *path, size_t *len);

#endif
