/*
 * Names for result codes and error classes, and the library version.
 */
#include "parallm.h"

const char *plm_version(void)
{
    return PLM_VERSION_STRING;
}

const char *plm_strerror(int code)
{
    switch ((plm_code)code) {
    case PLM_OK: return "success";
    case PLM_EINVAL: return "invalid argument";
    case PLM_ENOMEM: return "out of memory";
    case PLM_ESTATE: return "not allowed in the current state";
    case PLM_ETIMEOUT: return "timed out";
    case PLM_ECANCELLED: return "cancelled";
    case PLM_ENETWORK: return "network error";
    case PLM_EHTTP: return "HTTP error";
    case PLM_ERATELIMIT: return "rate limited";
    case PLM_EQUOTA: return "quota exhausted";
    case PLM_EOVERLOADED: return "provider overloaded";
    case PLM_EAUTH: return "authentication failed";
    case PLM_EBADREQUEST: return "bad request";
    case PLM_ESERVER: return "server error";
    case PLM_EPARSE: return "unparseable response";
    case PLM_ETOOBIG: return "response too large";
    case PLM_EABORTED: return "aborted by callback";
    case PLM_EIO: return "I/O error";
    case PLM_EBUDGET: return "request can never fit the rate budget";
    case PLM_EBREAKER: return "circuit breaker open";
    case PLM_ECONTEXT: return "prompt too long for the context window";
    case PLM_ENOTSTARTED: return "never started";
    case PLM_EINTERNAL: return "internal error";
    }
    return "unknown error";
}

const char *plm_error_class_name(plm_error_class cls)
{
    switch (cls) {
    case PLM_CLASS_NONE: return "none";
    case PLM_CLASS_NETWORK: return "network";
    case PLM_CLASS_TIMEOUT: return "timeout";
    case PLM_CLASS_RATE_LIMITED: return "rate_limited";
    case PLM_CLASS_QUOTA: return "quota";
    case PLM_CLASS_OVERLOADED: return "overloaded";
    case PLM_CLASS_SERVER: return "server_error";
    case PLM_CLASS_BAD_REQUEST: return "bad_request";
    case PLM_CLASS_AUTH: return "auth";
    case PLM_CLASS_PARSE: return "parse";
    case PLM_CLASS_CANCELLED: return "cancelled";
    case PLM_CLASS_LOCAL: return "local";
    }
    return "unknown";
}
