/*
 * The text side of `parallm describe`: the prompts it sends, the check of
 * the answers it gets back, and the UTF-8 repairs needed because file
 * contents and paths go into JSON strings, which must be valid UTF-8.
 * Kept apart from cmd_describe.c so the rules can be tested on their own.
 */
#ifndef CLI_DESCRIBE_TEXT_H
#define CLI_DESCRIBE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The system prompt (static). */
const char *describe_system_prompt(void);

/*
 * The user message asking for the description of the file at path whose
 * contents (possibly cut) are text[0..len). full_size >= 0 says the file
 * was cut and how large it really is; -1 that text is the whole file.
 * Invalid UTF-8 in path or text is replaced with U+FFFD. Returns a
 * malloc'd string or NULL (out of memory).
 */
char *describe_prompt(const char *path, const char *text, size_t len,
                      int64_t full_size);

/* The follow-up message when an answer did not parse. malloc'd or
 * NULL. */
char *describe_reask(const char *reason);

/*
 * Checks an answer: an optional surrounding ``` or ```json fence is
 * stripped, the rest must be a JSON object with "summary" (a string) and
 * "references" (an array of strings). Returns a new object holding just
 * those two fields, or NULL with the reason in err.
 */
json_t *describe_parse(const char *answer, char *err, size_t errlen);

/* A malloc'd, NUL-terminated copy of s[0..len) in which every invalid
 * UTF-8 sequence is replaced with U+FFFD. NULL when out of memory. */
char *describe_utf8_fix(const char *s, size_t len);

/* The largest n <= len such that s[0..n) does not end inside a multi-byte
 * sequence that continues after it (used when a file is cut). */
size_t describe_utf8_cut(const char *s, size_t len);

#endif
