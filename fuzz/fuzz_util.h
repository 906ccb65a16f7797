/*
 * Helpers shared by the libFuzzer targets in this folder: a NUL-terminated
 * copy of the input, a memfd holding bytes, a check that aborts (so the
 * fuzzer keeps the input) and a small reader of leading control bytes.
 */
#ifndef PLM_FUZZ_UTIL_H
#define PLM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the code promises, checked on every input. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The input as a malloc'd string (an embedded NUL ends it early). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A memfd holding the bytes, offset at 0. */
static inline int fuzz_memfd(const uint8_t *data, size_t size)
{
    int fd = memfd_create("plm-fuzz", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        FUZZ_CHECK(n > 0);
        off += (size_t)n;
    }
    FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

/* Takes the first byte as a control byte (0 when the input is empty). */
static inline unsigned fuzz_take(const uint8_t **data, size_t *size)
{
    if (*size == 0)
        return 0;
    unsigned c = **data;
    (*data)++;
    (*size)--;
    return c;
}

#endif
