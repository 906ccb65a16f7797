/*
 * The shared limits' redis:// URL (src/limits/shared_conn.c): defaults,
 * password (and ACL user) with %-escapes, database and namespace, and the
 * refusals: rediss:// (no TLS in hiredis 0.14), other schemes, bad ports,
 * databases and namespaces. No message quotes the password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "errdetail.h"
#include "parallm.h"
#include "shared_conn.h"

static void test_defaults(void **state)
{
    plm__redis_url u;
    (void)state;
    assert_int_equal(plm__redis_url_parse("redis://10.0.0.5", &u), PLM_OK);
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_null(u.password);
    assert_null(u.user);
    assert_string_equal(u.ns, "default");
    plm__redis_url_clear(&u);
}

static void test_everything(void **state)
{
    plm__redis_url u;
    (void)state;
    assert_int_equal(plm__redis_url_parse("redis://:p%40ss@localhost:7000/3"
                                          "?namespace=team-a.1",
                                          &u),
                     PLM_OK);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 3);
    assert_string_equal(u.password, "p@ss");
    assert_null(u.user);
    assert_string_equal(u.ns, "team-a.1");
    plm__redis_url_clear(&u);
    assert_int_equal(plm__redis_url_parse("redis://bob:pw@h/0", &u), PLM_OK);
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "pw");
    plm__redis_url_clear(&u);
}

static void refused(const char *url, const char *why)
{
    plm__redis_url u;
    const char *msg;
    assert_int_equal(plm__redis_url_parse(url, &u), PLM_EINVAL);
    msg = plm_last_error();
    assert_non_null(msg);
    assert_non_null(strstr(msg, why));
    assert_null(strstr(msg, "hunter2"));
    assert_null(u.password);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("rediss://:hunter2@h:6380", "TLS");
    refused("http://h:6379", "redis://");
    refused("redis://:hunter2@h:port", "port");
    refused("redis://:hunter2@h:70000", "port");
    refused("redis://:hunter2@h:0", "port");
    refused("redis://:hunter2@:6379", "host");
    refused("redis://:hunter2@h/x", "database");
    refused("redis://:hunter2@h/0?namespace=a:b", "namespace");
    refused("redis://:hunter2@h/0?namespace=", "namespace");
    refused("redis://:hunter2@h/0?db=1", "namespace");
    refused("redis://hunter2@h/0", "password");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_everything),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
