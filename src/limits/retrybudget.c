/*
 * Retry budget token bucket: deposits from first attempts and a time floor,
 * withdrawals by retries, capped savings.
 */
#include "retrybudget.h"

static void refill(plm__retrybudget *rb, int64_t now_ns)
{
    if (now_ns > rb->refilled_at) {
        rb->balance += (double)(now_ns - rb->refilled_at) / 1e9 *
                       rb->min_per_sec;
        rb->refilled_at = now_ns;
    }
    if (rb->balance > rb->cap)
        rb->balance = rb->cap;
}

void plm__retrybudget_init(plm__retrybudget *rb, double ratio, int64_t now_ns)
{
    rb->enabled = !(ratio < 0);
    rb->ratio = ratio > 0 ? ratio : PLM__RETRY_BUDGET_DEFAULT_RATIO;
    rb->min_per_sec = PLM__RETRY_BUDGET_DEFAULT_MIN_PER_SEC;
    rb->cap = PLM__RETRY_BUDGET_DEFAULT_CAP;
    rb->balance = rb->cap;
    rb->refilled_at = now_ns;
}

void plm__retrybudget_set_scale(plm__retrybudget *rb, int concurrency)
{
    rb->cap = concurrency > PLM__RETRY_BUDGET_DEFAULT_CAP
                  ? (double)concurrency
                  : PLM__RETRY_BUDGET_DEFAULT_CAP;
}

void plm__retrybudget_on_request(plm__retrybudget *rb, int64_t now_ns)
{
    refill(rb, now_ns);
    rb->balance += rb->ratio;
    if (rb->balance > rb->cap)
        rb->balance = rb->cap;
}

int plm__retrybudget_try_retry(plm__retrybudget *rb, int64_t now_ns)
{
    if (!rb->enabled)
        return 1;
    refill(rb, now_ns);
    if (rb->balance < 1.0)
        return 0;
    rb->balance -= 1.0;
    return 1;
}
