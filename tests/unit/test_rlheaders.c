/* Rate-limit header values: Go durations, RFC 3339 times, garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rlheaders.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)

static int64_t dur(const char *s)
{
    int64_t v = -12345;
    assert_int_equal(plm__duration_parse(s, &v), 1);
    return v;
}

static void bad_dur(const char *s)
{
    int64_t v = -12345;
    assert_int_equal(plm__duration_parse(s, &v), 0);
    assert_int_equal(v, -12345); /* untouched on failure */
}

static void test_rlheaders__durations(void **state)
{
    (void)state;
    assert_int_equal(dur("1s"), SEC);
    assert_int_equal(dur("6m0s"), 360 * SEC);
    assert_int_equal(dur("12ms"), 12 * MS);
    assert_int_equal(dur("1h2m3.5s"), 3723 * SEC + 500 * MS);
    assert_int_equal(dur("0s"), 0);
    assert_int_equal(dur("0"), 0);
    assert_int_equal(dur("+5s"), 5 * SEC);
    assert_int_equal(dur("500us"), 500000);
    assert_int_equal(dur("500\xc2\xb5s"), 500000);
    assert_int_equal(dur("500\xce\xbcs"), 500000);
    assert_int_equal(dur("7ns"), 7);
    assert_int_equal(dur("1.5h"), 5400 * SEC);
    assert_int_equal(dur(".5s"), 500 * MS);
    assert_int_equal(dur("1.s"), SEC);
    assert_int_equal(dur("0.001s"), MS);
    assert_int_equal(dur("1.000000001s"), SEC + 1);
    assert_int_equal(dur("2.25m"), 135 * SEC);
    assert_int_equal(dur("1m1m"), 120 * SEC); /* Go accepts repeats */
    assert_int_equal(dur("1.0000000000000000000009s"), SEC);
    assert_true(dur("2562047h") == INT64_C(2562047) * 3600 * SEC);
}

static void test_rlheaders__duration_garbage(void **state)
{
    (void)state;
    bad_dur(NULL);
    bad_dur("");
    bad_dur("-1s");
    bad_dur("-0");
    bad_dur("1"); /* a unit is required except for "0" */
    bad_dur("s");
    bad_dur(".s");
    bad_dur("1x");
    bad_dur("1 s");
    bad_dur(" 1s");
    bad_dur("1s ");
    bad_dur("1sfoo");
    bad_dur("1.2.3s");
    bad_dur("abc");
    bad_dur("+");
    bad_dur("2562048h"); /* beyond INT64_MAX ns */
    bad_dur("9223372036854775808ns");
    bad_dur("99999999999999999999999999s");
    bad_dur("9223372036s9223372036s"); /* the sum overflows */
    int64_t v;
    assert_int_equal(plm__duration_parse("9223372036854775807ns", &v), 1);
    assert_true(v == INT64_MAX);
}

static int64_t ts(const char *s)
{
    int64_t v = -12345;
    assert_int_equal(plm__rfc3339_parse(s, &v), 1);
    return v;
}

static void bad_ts(const char *s)
{
    int64_t v = -12345;
    assert_int_equal(plm__rfc3339_parse(s, &v), 0);
    assert_int_equal(v, -12345);
}

static void test_rlheaders__days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(plm__days_from_civil(1970, 1, 1), 0);
    assert_int_equal(plm__days_from_civil(1970, 1, 2), 1);
    assert_int_equal(plm__days_from_civil(1969, 12, 31), -1);
    assert_int_equal(plm__days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(plm__days_from_civil(2000, 2, 29), 11016);
    assert_int_equal(plm__days_from_civil(2024, 1, 1), 19723);
    assert_int_equal(plm__days_from_civil(1600, 1, 1), -135140);
}

static void test_rlheaders__rfc3339(void **state)
{
    (void)state;
    assert_int_equal(ts("1970-01-01T00:00:00Z"), 0);
    /* 2024-01-01T00:00:00Z is 1704067200 */
    assert_int_equal(ts("2024-01-01T00:00:00Z"), 1704067200 * SEC);
    assert_int_equal(ts("2024-01-01t00:00:00z"), 1704067200 * SEC);
    assert_int_equal(ts("2024-01-01 00:00:00Z"), 1704067200 * SEC);
    assert_int_equal(ts("2024-01-01T00:00:01.5Z"), 1704067201 * SEC + 500 * MS);
    assert_int_equal(ts("2024-01-01T00:00:00.123456789Z"),
                     1704067200 * SEC + 123456789);
    assert_int_equal(ts("2024-01-01T00:00:00.1234567891234Z"),
                     1704067200 * SEC + 123456789);
    assert_int_equal(ts("2024-01-01T02:00:00+02:00"), 1704067200 * SEC);
    assert_int_equal(ts("2023-12-31T19:30:00-04:30"), 1704067200 * SEC);
    assert_int_equal(ts("2024-02-29T12:00:00Z"),
                     (INT64_C(1704067200) + 59 * 86400 + 43200) * SEC);
    assert_int_equal(ts("1969-12-31T23:59:59Z"), -SEC);
    assert_int_equal(ts("2016-12-31T23:59:60Z"), 1483228800 * SEC);
}

static void test_rlheaders__rfc3339_garbage(void **state)
{
    (void)state;
    bad_ts(NULL);
    bad_ts("");
    bad_ts("2024-01-01");
    bad_ts("2024-01-01T00:00:00"); /* no offset */
    bad_ts("2024-13-01T00:00:00Z");
    bad_ts("2024-00-01T00:00:00Z");
    bad_ts("2023-02-29T00:00:00Z"); /* not a leap year */
    bad_ts("2024-04-31T00:00:00Z");
    bad_ts("2024-01-01T24:00:00Z");
    bad_ts("2024-01-01T00:60:00Z");
    bad_ts("2024-01-01T00:00:61Z");
    bad_ts("2024-01-01T00:00:00.Z");
    bad_ts("2024-01-01T00:00:00+0200");
    bad_ts("2024-01-01T00:00:00+24:00");
    bad_ts("2024-01-01T00:00:00Zjunk");
    bad_ts("24-01-01T00:00:00Z");
    bad_ts("2024-1-01T00:00:00Z");
    bad_ts("2024-01-01X00:00:00Z");
    bad_ts("abcd-01-01T00:00:00Z");
}

static void test_rlheaders__reset_forms(void **state)
{
    (void)state;
    int64_t now = 1704067200 * SEC, v = -1;
    assert_int_equal(plm__rl_reset_parse("6m0s", now, &v), 1);
    assert_int_equal(v, 360 * SEC);
    assert_int_equal(plm__rl_reset_parse("20", now, &v), 1);
    assert_int_equal(v, 20 * SEC);
    assert_int_equal(plm__rl_reset_parse("0.25", now, &v), 1);
    assert_int_equal(v, 250 * MS);
    assert_int_equal(plm__rl_reset_parse("2024-01-01T00:00:30Z", now, &v), 1);
    assert_int_equal(v, 30 * SEC);
    /* A reset in the past means "now". */
    assert_int_equal(plm__rl_reset_parse("2023-01-01T00:00:00Z", now, &v), 1);
    assert_int_equal(v, 0);
    v = -7;
    assert_int_equal(plm__rl_reset_parse("-3", now, &v), 0);
    assert_int_equal(plm__rl_reset_parse("soon", now, &v), 0);
    assert_int_equal(plm__rl_reset_parse("", now, &v), 0);
    assert_int_equal(plm__rl_reset_parse(".", now, &v), 0);
    assert_int_equal(plm__rl_reset_parse(NULL, now, &v), 0);
    assert_int_equal(v, -7);
}

static void test_rlheaders__state_openai(void **state)
{
    (void)state;
    plm__headers h;
    memset(&h, 0, sizeof h);
    h.rl_limit_requests = "500";
    h.rl_remaining_requests = "499";
    h.rl_reset_requests = "120ms";
    h.rl_limit_tokens = "30000";
    h.rl_remaining_tokens = "29000";
    h.rl_reset_tokens = "2s";
    plm__rl_state st;
    plm__rl_state_from_headers(&h, 0, &st);
    const plm__rl_meter_state *r = &st.meter[PLM__RL_REQUESTS];
    assert_true(r->has_limit && r->has_remaining && r->has_reset);
    assert_int_equal(r->limit, 500);
    assert_int_equal(r->remaining, 499);
    assert_int_equal(r->reset_after_ns, 120 * MS);
    const plm__rl_meter_state *t = &st.meter[PLM__RL_TOKENS];
    assert_int_equal(t->limit, 30000);
    assert_int_equal(t->remaining, 29000);
    assert_int_equal(t->reset_after_ns, 2 * SEC);
    assert_false(st.meter[PLM__RL_INPUT_TOKENS].has_limit);
    assert_false(st.meter[PLM__RL_OUTPUT_TOKENS].has_remaining);
}

static void test_rlheaders__state_anthropic_and_garbage(void **state)
{
    (void)state;
    plm__headers h;
    memset(&h, 0, sizeof h);
    int64_t now = 1704067200 * SEC;
    h.rl_limit_requests = "50";
    h.rl_remaining_requests = "-4"; /* garbage: ignored */
    h.rl_reset_requests = "2024-01-01T00:00:01Z";
    h.rl_limit_input_tokens = "40000";
    h.rl_remaining_input_tokens = "39000";
    h.rl_reset_input_tokens = "2024-01-01T00:00:00.5Z";
    h.rl_limit_output_tokens = "99999999999999999999"; /* overflow */
    h.rl_remaining_output_tokens = "12 ";              /* trailing space */
    h.rl_reset_output_tokens = "tomorrow";
    h.rl_limit_tokens = "";
    plm__rl_state st;
    plm__rl_state_from_headers(&h, now, &st);
    const plm__rl_meter_state *r = &st.meter[PLM__RL_REQUESTS];
    assert_true(r->has_limit);
    assert_int_equal(r->limit, 50);
    assert_false(r->has_remaining);
    assert_true(r->has_reset);
    assert_int_equal(r->reset_after_ns, SEC);
    const plm__rl_meter_state *in = &st.meter[PLM__RL_INPUT_TOKENS];
    assert_int_equal(in->limit, 40000);
    assert_int_equal(in->remaining, 39000);
    assert_int_equal(in->reset_after_ns, 500 * MS);
    const plm__rl_meter_state *o = &st.meter[PLM__RL_OUTPUT_TOKENS];
    assert_false(o->has_limit || o->has_remaining || o->has_reset);
    assert_false(st.meter[PLM__RL_TOKENS].has_limit);
    /* NULL headers give an empty state. */
    plm__rl_state_from_headers(NULL, now, &st);
    assert_false(st.meter[PLM__RL_REQUESTS].has_limit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rlheaders__durations),
        cmocka_unit_test(test_rlheaders__duration_garbage),
        cmocka_unit_test(test_rlheaders__days_from_civil),
        cmocka_unit_test(test_rlheaders__rfc3339),
        cmocka_unit_test(test_rlheaders__rfc3339_garbage),
        cmocka_unit_test(test_rlheaders__reset_forms),
        cmocka_unit_test(test_rlheaders__state_openai),
        cmocka_unit_test(test_rlheaders__state_anthropic_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
