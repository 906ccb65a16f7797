/*
 * Option checks with error detail (see check.h).
 */
#include "check.h"
#include "errdetail.h"

int plm__check_duration_ms(const char *field, int64_t ms)
{
    if (ms >= 0 && ms <= PLM__MAX_DURATION_MS)
        return PLM_OK;
    return plm__error_set(PLM_EINVAL, field,
                          "must be between 0 and %lld ms (7 days), got %lld",
                          (long long)PLM__MAX_DURATION_MS, (long long)ms);
}

int plm__check_range(const char *field, int64_t v, int64_t lo, int64_t hi)
{
    if (v >= lo && v <= hi)
        return PLM_OK;
    return plm__error_set(PLM_EINVAL, field,
                          "must be between %lld and %lld, got %lld",
                          (long long)lo, (long long)hi, (long long)v);
}

int plm__check_version(const char *what, int version, int expected)
{
    if (version == expected)
        return PLM_OK;
    return plm__error_set(PLM_EINVAL, what,
                          "version %d, this library expects %d (use the "
                          "_INIT macro of the header it was built with)",
                          version, expected);
}

int plm__check_not_null(const char *what, const void *p)
{
    if (p)
        return PLM_OK;
    return plm__error_set(PLM_EINVAL, what, "must not be NULL");
}
