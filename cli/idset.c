/*
 * The set of custom_ids that `parallm run` keeps for resume and for
 * duplicate detection. It must stay small for inputs of millions of lines,
 * so ids live back to back in 1 MiB arena chunks (2 bytes of length, 1
 * byte of flags, 4 bytes of input line number, the bytes) and the table
 * is open addressing on 8-byte slots: 32 bits of the hash as a tag plus a
 * 32-bit reference into the arena. Full strings are compared on a tag match, so hash collisions cost
 * time, never correctness. One million ids of 10 bytes take about 35 MB.
 */
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define CHUNK_BITS 20
#define CHUNK_SIZE ((size_t)1 << CHUNK_BITS)
#define MAX_CHUNKS 4096 /* 4 GiB of ids: far beyond any sane input */
#define REC_HEADER 7    /* 2 bytes of length, 1 of flags, 4 of line */

typedef struct slot {
    uint32_t tag; /* 0 = empty */
    uint32_t ref; /* chunk << CHUNK_BITS | offset */
} slot;

struct plm__idset {
    slot *slots;
    size_t mask;     /* capacity - 1 (capacity a power of two) */
    size_t count;
    unsigned char **chunks;
    size_t nchunks;
    size_t used;     /* bytes used in the last chunk */
};

static uint64_t hash_bytes(const char *s, size_t len)
{
    /* FNV-1a, then a splitmix64 finaliser so that the low bits (the
     * index) and the high bits (the tag) are both well mixed. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static uint32_t tag_of(uint64_t h)
{
    uint32_t t = (uint32_t)(h >> 32);
    return t ? t : 1;
}

static unsigned char *rec_at(const plm__idset *set, uint32_t ref)
{
    return set->chunks[ref >> CHUNK_BITS] + (ref & (CHUNK_SIZE - 1));
}

static size_t rec_len(const unsigned char *rec)
{
    return (size_t)rec[0] | ((size_t)rec[1] << 8);
}

plm__idset *plm__idset_new(void)
{
    plm__idset *set = calloc(1, sizeof(*set));
    if (!set)
        return NULL;
    set->slots = calloc(1024, sizeof(slot));
    set->chunks = calloc(MAX_CHUNKS, sizeof(*set->chunks));
    if (!set->slots || !set->chunks) {
        plm__idset_free(set);
        return NULL;
    }
    set->mask = 1023;
    set->used = CHUNK_SIZE; /* forces a chunk on the first insert */
    return set;
}

void plm__idset_free(plm__idset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nchunks; i++)
        free(set->chunks[i]);
    free(set->chunks);
    free(set->slots);
    free(set);
}

size_t plm__idset_count(const plm__idset *set)
{
    return set->count;
}

size_t plm__idset_bytes(const plm__idset *set)
{
    return (set->mask + 1) * sizeof(slot) + set->nchunks * CHUNK_SIZE;
}

static int grow(plm__idset *set)
{
    size_t cap = (set->mask + 1) * 2;
    slot *slots = calloc(cap, sizeof(slot));
    if (!slots)
        return -1;
    for (size_t i = 0; i <= set->mask; i++) {
        if (!set->slots[i].tag)
            continue;
        const unsigned char *rec = rec_at(set, set->slots[i].ref);
        uint64_t h = hash_bytes((const char *)rec + REC_HEADER, rec_len(rec));
        size_t j = (size_t)h & (cap - 1);
        while (slots[j].tag)
            j = (j + 1) & (cap - 1);
        slots[j] = set->slots[i];
    }
    free(set->slots);
    set->slots = slots;
    set->mask = cap - 1;
    return 0;
}

/* Stores a record; returns its reference or UINT32_MAX when out of
 * memory. */
static uint32_t store(plm__idset *set, const char *id, size_t len)
{
    size_t need = REC_HEADER + len;
    if (set->used + need > CHUNK_SIZE) {
        if (set->nchunks == MAX_CHUNKS)
            return UINT32_MAX;
        unsigned char *chunk = malloc(CHUNK_SIZE);
        if (!chunk)
            return UINT32_MAX;
        set->chunks[set->nchunks++] = chunk;
        set->used = 0;
    }
    unsigned char *rec = set->chunks[set->nchunks - 1] + set->used;
    rec[0] = (unsigned char)(len & 0xff);
    rec[1] = (unsigned char)(len >> 8);
    memset(rec + 2, 0, 5);
    memcpy(rec + REC_HEADER, id, len);
    uint32_t ref = (uint32_t)(((set->nchunks - 1) << CHUNK_BITS) | set->used);
    set->used += need;
    return ref;
}

unsigned char *plm__idset_find(plm__idset *set, const char *id, size_t len,
                               int create)
{
    /* Lengths are capped by the input validator; refuse anything that
     * would not fit the 2-byte length rather than truncate it. */
    if (len > 0xffff)
        return NULL;
    uint64_t h = hash_bytes(id, len);
    uint32_t tag = tag_of(h);
    size_t i = (size_t)h & set->mask;
    while (set->slots[i].tag) {
        if (set->slots[i].tag == tag) {
            unsigned char *rec = rec_at(set, set->slots[i].ref);
            if (rec_len(rec) == len && memcmp(rec + REC_HEADER, id, len) == 0)
                return rec + 2;
        }
        i = (i + 1) & set->mask;
    }
    if (!create)
        return NULL;
    /* Keep the load under 3/4 so probes stay short. */
    if ((set->count + 1) * 4 > (set->mask + 1) * 3) {
        if (grow(set) != 0)
            return NULL;
        i = (size_t)h & set->mask;
        while (set->slots[i].tag)
            i = (i + 1) & set->mask;
    }
    uint32_t ref = store(set, id, len);
    if (ref == UINT32_MAX)
        return NULL;
    set->slots[i].tag = tag;
    set->slots[i].ref = ref;
    set->count++;
    return rec_at(set, ref) + 2;
}

/* The line number lives right after the flags byte, unaligned. */
void plm__idset_set_line(unsigned char *flags, uint64_t line_no)
{
    uint32_t v = line_no > UINT32_MAX ? UINT32_MAX : (uint32_t)line_no;
    memcpy(flags + 1, &v, sizeof(v));
}

uint64_t plm__idset_line(const unsigned char *flags)
{
    uint32_t v;
    memcpy(&v, flags + 1, sizeof(v));
    return v;
}
