/*
 * The command's tool-only entry points (src/tool/parallm_tool.h): thin
 * exported wrappers over internal calls.
 */
#include "parallm_tool.h"
#include "request.h"

int plm_tool_request_new_raw_text(plm_request **out, plm_provider provider,
                                  const char *method, const char *path,
                                  char *body_text, size_t len)
{
    return plm__request_new_raw_text(out, provider, method, path, body_text,
                                     len);
}

int plm_tool_request_ask_stream_usage(plm_request *req)
{
    return plm__request_ask_stream_usage(req);
}
