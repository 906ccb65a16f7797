/*
 * The compact writer for request bodies (src/proto/json_write.c) against
 * json_dumps.
 *
 * Byte 0 even: the rest is a JSON text; when jansson reads it
 * (json_loadb, any value at the top, NUL allowed in strings), the writer's
 * output must be json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) byte for
 * byte, and its length strlen of that; for an object or an array also
 * json_dumps(v, JSON_COMPACT). Byte 0 odd: the rest, unchecked, as a
 * string value and as a member name (json_stringn_nocheck,
 * json_object_setn_nocheck), which is how a string that is not UTF-8 gets
 * into a tree: the writer must then do what json_dumps does, NULL or the
 * same bytes.
 */
#include <jansson.h>

#include "fuzz_util.h"
#include "json_write.h"

static void same_as_jansson(const json_t *v, size_t flags)
{
    size_t len = (size_t)-1;
    char *mine = plm__json_write_compact(v, &len);
    char *theirs = json_dumps(v, flags);

    FUZZ_CHECK((mine == NULL) == (theirs == NULL));
    if (mine) {
        FUZZ_CHECK(len == strlen(theirs));
        FUZZ_CHECK(memcmp(mine, theirs, len + 1) == 0);
    }
    free(mine);
    free(theirs);
}

static void parsed(const uint8_t *data, size_t size)
{
    json_t *v = json_loadb((const char *)data, size,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

    if (!v)
        return;
    same_as_jansson(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (json_is_object(v) || json_is_array(v))
        same_as_jansson(v, JSON_COMPACT);
    json_decref(v);
}

static void unchecked(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    json_t *str = json_stringn_nocheck(s, size);
    json_t *obj = json_object();
    json_t *arr = json_array();

    FUZZ_CHECK(str && obj && arr);
    same_as_jansson(str, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_CHECK(json_array_append(arr, str) == 0);
    FUZZ_CHECK(json_array_append_new(arr, json_integer((json_int_t)size)) ==
               0);
    same_as_jansson(arr, JSON_COMPACT);
    FUZZ_CHECK(json_object_set_new(obj, "a", json_true()) == 0);
    FUZZ_CHECK(json_object_setn_nocheck(obj, s, size, json_null()) == 0);
    FUZZ_CHECK(json_object_set(obj, "z", arr) == 0);
    same_as_jansson(obj, JSON_COMPACT);
    json_decref(str);
    json_decref(arr);
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        unchecked(data + 1, size - 1);
    else
        parsed(data + 1, size - 1);
    return 0;
}
