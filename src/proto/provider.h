/*
 * Provider protocols: which headers a request carries and how an answer is
 * read. One function per direction; the differences between OpenAI and
 * Anthropic stay inside provider_openai.c and provider_anthropic.c.
 */
#ifndef PLM_PROVIDER_H
#define PLM_PROVIDER_H

#include <curl/curl.h>

#include "parallm.h"
#include "headers.h"
#include "result.h"


/* Appends the provider's auth and protocol headers (Content-Type, auth,
 * anthropic-version) to list. The key goes only into this list, never into
 * a message. Returns the new list, or NULL on out of memory (list freed). */
struct curl_slist *plm__provider_headers(plm_provider provider,
                                         const char *api_key,
                                         struct curl_slist *list);

/*
 * Reads a completed HTTP answer into res: on 2xx the content, finish
 * reason, usage and request id (JSON or SSE body); otherwise the provider's
 * error message/type/code. Sets res->code/error_class for a 2xx body that
 * does not parse (PLM_EPARSE) and for an error event inside a 2xx stream
 * (PLM_EOVERLOADED / PLM_ERATELIMIT / PLM_ESERVER); for non-2xx it only
 * fills the error fields (the retry module decides the code). Does not
 * touch res->body. body is NUL-terminated.
 */
void plm__provider_parse(plm_provider provider, const char *path,
                         int http_status, const plm__headers *headers,
                         const char *body, size_t len, plm_result *res);

/* "https://host/v1/" -> "https://host": strips trailing slashes and one
 * trailing "/v1", so a base that users paste from OPENAI_BASE_URL and a
 * bare host both work. Returns a malloc'd string or NULL. */
char *plm__base_url_normalize(const char *url);

#endif
