/*
 * A compact JSON writer for jansson trees that spells its output exactly
 * as json_dumps(v, JSON_COMPACT) does, for request bodies (json_write.c
 * says why it exists).
 */
#ifndef PLM_JSON_WRITE_H
#define PLM_JSON_WRITE_H

#include <jansson.h>
#include <stddef.h>

/* v as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes it, byte for
 * byte: a malloc'd NUL-terminated string, the caller's to free, with its
 * length in *len_out when len_out is not NULL. NULL where json_dumps
 * returns NULL: out of memory, a string that is not UTF-8 (possible only
 * through jansson's _nocheck calls), a reference cycle. */
char *plm__json_write_compact(const json_t *v, size_t *len_out);

#endif
