/*
 * A request waiting out its backoff does not idle its concurrency slot:
 * with one slot, a fresh request goes out while the first waits for its
 * Retry-After, and the retry still goes before any request not yet sent.
 * Checked on the order in which the mock received the requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "limits_fixture.h"
#include "parallm.h"

#define MODEL "slot-model"

/* The index of the request whose user text starts with `tag`. */
static int which(const plm_mock_record *r)
{
    if (!r->user_text)
        return -1;
    return r->user_text[0] - '0';
}

static void test_backoff_slot__fresh_request_uses_the_slot(void **state)
{
    enum { N = 3 };
    plm_mock *m = plm_lf_mock(NULL);
    plm_client *c = plm_lf_client(m, NULL);
    plm_request *reqs[N];
    plm_result *res[N];
    plm_mock_record *recs;
    size_t n;
    (void)state;

    /* 0 is refused once with a Retry-After far longer than the others
     * take; 1 and 2 are answered at once. */
    reqs[0] = plm_lf_chat(MODEL, "0 [mock status=429 times=1 retry_after=0.4]",
                          16);
    reqs[1] = plm_lf_chat(MODEL, "1 fresh", 16);
    reqs[2] = plm_lf_chat(MODEL, "2 fresh", 16);
    assert_int_equal(plm_lf_run(c, reqs, N, res, 1, NULL, NULL), PLM_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(plm_result_code(res[i]), PLM_OK);
    assert_int_equal(plm_result_attempts(res[0]), 2);

    n = plm_lf_records(m, &recs);
    assert_int_equal(n, 4);
    /* Never more than one on the wire. */
    for (size_t i = 0; i < n; i++)
        assert_true(recs[i].in_flight_at_arrival <= 1);
    /* 0 first; then fresh work while 0 waits; 0's retry last, since both
     * fresh ones were done long before its Retry-After ended. */
    assert_int_equal(which(&recs[0]), 0);
    assert_int_equal(which(&recs[1]), 1);
    assert_int_equal(which(&recs[2]), 2);
    assert_int_equal(which(&recs[3]), 0);
    plm_mock_records_free(recs, n);
    plm_lf_free(reqs, res, N);
    plm_client_free(c);
    plm_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_slot__fresh_request_uses_the_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
