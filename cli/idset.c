/*
 * The set of custom_ids that `parallm run` keeps for resume and for
 * duplicate detection. It must stay small for inputs of millions of lines,
 * so an id is not stored at all: only a 128-bit keyed hash of it (SipHash-
 * 2-4 with 128-bit output, under a key drawn at random when the set is
 * made), one byte of flags and the 4-byte input line it was first met on.
 * These 21-byte records sit back to back in fixed chunks that never move,
 * and an open-addressing index of 4-byte record numbers finds them; the
 * index alone is rebuilt when it fills, so growing never copies the
 * records and the peak stays close to the size. About 26-29 bytes per id
 * whatever its length, and no allocation per id.
 *
 * Two different ids are taken for one only if both 64-bit halves of their
 * hashes agree: for N ids the chance that any pair does is about
 * N^2 / 2^129 (about 2e-27 for a million ids), far below the odds of a disk or
 * memory error, and the random key keeps anyone from choosing ids that
 * collide on purpose. Nothing needs the ids back: the output file and the
 * input hold them, and a resumed run hashes them again under its own key.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define REC_SIZE 21 /* 1 flags, 4 line, 8 + 8 hash */
/* Records per chunk. The fuzz targets build with a small value: a chunk
 * per set is most of their time under ASan, and small chunks put the
 * chunk boundaries within reach. */
#ifndef RUN_IDSET_CHUNK_RECS
#define RUN_IDSET_CHUNK_RECS ((size_t)1 << 16)
#endif
#define CHUNK_RECS ((size_t)(RUN_IDSET_CHUNK_RECS))
#define MAX_ID_LEN 0xffff          /* longer ids are refused, as documented */
#define MAX_RECS (UINT32_MAX - 1u) /* record numbers are stored plus 1 */
#define FIRST_CAP 1024

struct run_idset {
    uint32_t *index; /* record number + 1; 0 = empty */
    size_t cap;      /* index slots */
    size_t count;
    unsigned char **chunks;
    size_t nchunks, capchunks;
    uint64_t key[2];
    run_idset_hash_fn hash;
};

/* ------------------------------------------------------------------ */
/* SipHash-2-4, 128-bit output, written from the published description
 * (Aumasson and Bernstein, "SipHash: a fast short-input PRF"). */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

/* The four lines follow the reference implementation's layout. */
/* clang-format off */
#define SIPROUND                                                         \
    do {                                                                 \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);        \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                           \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                           \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);        \
    } while (0)
/* clang-format on */

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void run_idset_siphash128(const uint64_t key[2], const char *s, size_t len,
                          uint64_t out[2])
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;
    uint64_t v1 = key[1] ^ 0x646f72616e646f6dull ^ 0xee;
    uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
    uint64_t v3 = key[1] ^ 0x7465646279746573ull;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xee;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    out[0] = v0 ^ v1 ^ v2 ^ v3;
    v1 ^= 0xdd;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}

/* ------------------------------------------------------------------ */

run_idset *run_idset_new_with_hash(run_idset_hash_fn hash)
{
    run_idset *set = calloc(1, sizeof *set);
    if (!set)
        return NULL;
    set->hash = hash ? hash : run_idset_siphash128;
    set->cap = FIRST_CAP;
    set->index = calloc(set->cap, sizeof *set->index);
    if (!set->index) {
        free(set);
        return NULL;
    }
    /* A fresh key per set: hashes are never stored across runs. Without
     * the kernel's randomness, ids chosen to collide become conceivable,
     * never accidental ones. */
    if (getrandom(set->key, sizeof set->key, GRND_NONBLOCK) !=
        (ssize_t)sizeof set->key) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        set->key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
                      (uint64_t)(uintptr_t)set;
        set->key[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ull ^
                      (uint64_t)getpid();
    }
    return set;
}

run_idset *run_idset_new(void)
{
    return run_idset_new_with_hash(NULL);
}

void run_idset_free(run_idset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nchunks; i++)
        free(set->chunks[i]);
    free(set->chunks);
    free(set->index);
    free(set);
}

size_t run_idset_count(const run_idset *set)
{
    return set->count;
}

size_t run_idset_bytes(const run_idset *set)
{
    return set->cap * sizeof *set->index +
           set->nchunks * CHUNK_RECS * REC_SIZE +
           set->capchunks * sizeof *set->chunks;
}

static unsigned char *rec_at(const run_idset *set, size_t n)
{
    return set->chunks[n / CHUNK_RECS] + (n % CHUNK_RECS) * REC_SIZE;
}

static uint64_t rec_h0(const unsigned char *rec)
{
    uint64_t h;
    memcpy(&h, rec + 5, sizeof h);
    return h;
}

static int rec_matches(const unsigned char *rec, const uint64_t h[2])
{
    uint64_t b;
    memcpy(&b, rec + 13, sizeof b);
    return rec_h0(rec) == h[0] && b == h[1];
}

/* The first 64 bits pick the home slot; any capacity works, so the index
 * grows by half rather than doubling. */
static size_t home(const run_idset *set, uint64_t h0)
{
    return (size_t)(h0 % set->cap);
}

static int grow_index(run_idset *set)
{
    size_t cap = set->cap + set->cap / 2;
    uint32_t *index = calloc(cap, sizeof *index);
    if (!index)
        return -1;
    uint32_t *old = set->index;
    size_t oldcap = set->cap;
    set->index = index;
    set->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i])
            continue;
        size_t j = home(set, rec_h0(rec_at(set, old[i] - 1u)));
        while (index[j])
            j = j + 1 == cap ? 0 : j + 1;
        index[j] = old[i];
    }
    free(old);
    return 0;
}

/* Room for one more record; 0 or -1 when out of memory. */
static int reserve_record(run_idset *set)
{
    if (set->count < set->nchunks * CHUNK_RECS)
        return 0;
    if (set->count >= MAX_RECS)
        return -1;
    if (set->nchunks == set->capchunks) {
        size_t cap = set->capchunks ? set->capchunks * 2 : 16;
        unsigned char **c = realloc(set->chunks, cap * sizeof *c);
        if (!c)
            return -1;
        set->chunks = c;
        set->capchunks = cap;
    }
    unsigned char *chunk = malloc(CHUNK_RECS * REC_SIZE);
    if (!chunk)
        return -1;
    set->chunks[set->nchunks++] = chunk;
    return 0;
}

unsigned char *run_idset_find(run_idset *set, const char *id, size_t len,
                              int create)
{
    uint64_t h[2];
    /* Lengths are capped by the input validator; the cap here keeps the
     * set's contract independent of it. */
    if (len > MAX_ID_LEN)
        return NULL;
    set->hash(set->key, id, len, h);
    size_t i = home(set, h[0]);
    while (set->index[i]) {
        unsigned char *rec = rec_at(set, set->index[i] - 1u);
        if (rec_matches(rec, h))
            return rec;
        i = i + 1 == set->cap ? 0 : i + 1;
    }
    if (!create)
        return NULL;
    /* Linear probing stays short under a load of 3/4. */
    if ((set->count + 1) * 4 > set->cap * 3) {
        if (grow_index(set) != 0)
            return NULL;
        i = home(set, h[0]);
        while (set->index[i])
            i = i + 1 == set->cap ? 0 : i + 1;
    }
    if (reserve_record(set) != 0)
        return NULL;
    unsigned char *rec = rec_at(set, set->count);
    memset(rec, 0, 5);
    memcpy(rec + 5, &h[0], sizeof h[0]);
    memcpy(rec + 13, &h[1], sizeof(h[1]));
    set->count++;
    set->index[i] = (uint32_t)set->count;
    return rec;
}

/* The line number lives right after the flags byte, unaligned. */
void run_idset_set_line(unsigned char *flags, uint64_t line_no)
{
    uint32_t v = line_no > UINT32_MAX ? UINT32_MAX : (uint32_t)line_no;
    memcpy(flags + 1, &v, sizeof v);
}

uint64_t run_idset_line(const unsigned char *flags)
{
    uint32_t v;
    memcpy(&v, flags + 1, sizeof v);
    return v;
}

void run_idset_set_tag(unsigned char *flags, uint32_t tag)
{
    memcpy(flags + 1, &tag, sizeof tag);
}

uint32_t run_idset_tag(const unsigned char *flags)
{
    uint32_t v;
    memcpy(&v, flags + 1, sizeof v);
    return v;
}
