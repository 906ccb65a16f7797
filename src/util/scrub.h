/*
 * Keeping secrets out of what the library writes: masking anything that
 * looks like an API key in a message, and making a short printable excerpt
 * of untrusted bytes for an error message.
 */
#ifndef PLM_UTIL_SCRUB_H
#define PLM_UTIL_SCRUB_H

#include <stddef.h>

/* Cap on a body excerpt quoted in a message. */
#define PLM_EXCERPT_MAX 200

/* Masks, in place, what looks like an API key ("sk-..." as OpenAI and
 * Anthropic keys begin, and the value after a key header's name:
 * "Bearer KEY", "api-key: KEY" (Azure), "x-api-key: KEY"), so a provider
 * echoing a key cannot leak it. */
void plm__scrub_keys(char *s);

/* Writes into out (out_size >= 8) a printable, key-free excerpt of at
 * most PLM_EXCERPT_MAX bytes of body, "..." marking a cut. */
void plm__excerpt(char *out, size_t out_size, const char *body, size_t len);

#endif
