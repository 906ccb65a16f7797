/*
 * The public header's promise: the comment of each batch call lists every
 * code the call returns. Reads include/parallm.h (found from this file's
 * path) and checks, for each call, that the comment block right above its
 * declaration names each code the implementation can return (the lists
 * below are read off src/api and src/engine; a new return path must add to
 * both).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

static char *header(void)
{
    char path[4096];
    const char *slash = strrchr(__FILE__, '/');
    assert_non_null(slash);
    snprintf(path, sizeof path, "%.*s/../../include/parallm.h",
             (int)(slash - __FILE__), __FILE__);
    char *text = plm_test_read_file(path, NULL);
    assert_non_null(text);
    return text;
}

/* The comment blocks right above the declaration of fn (one or more, with
 * only white space between them); the caller frees the text. */
static char *comment_of(const char *text, const char *fn)
{
    char decl[128];
    snprintf(decl, sizeof decl, "PLM_EXTERN int %s(", fn);
    const char *at = strstr(text, decl);
    assert_non_null(at);
    const char *start = at;
    for (;;) {
        const char *p = start;
        while (p > text && (p[-1] == ' ' || p[-1] == '\n'))
            p--;
        if (p - text < 2 || p[-2] != '*' || p[-1] != '/')
            break;
        /* The "/" "*" that opens this block: the last one before it. */
        const char *open = NULL;
        for (const char *q = text; (q = strstr(q, "/*")) && q < p - 2; q++)
            open = q;
        assert_non_null(open);
        start = open;
    }
    assert_true(start < at);
    size_t n = (size_t)(at - start);
    char *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, start, n);
    out[n] = '\0';
    return out;
}

static void expect_codes(const char *fn, const char *const *codes)
{
    char *text = header();
    char *c = comment_of(text, fn);
    for (size_t i = 0; codes[i]; i++)
        if (!strstr(c, codes[i]))
            fail_msg("the comment of %s does not list %s", fn, codes[i]);
    free(c);
    free(text);
}

static void test_header_codes__gather(void **state)
{
    static const char *const codes[] = {
        "PLM_OK",     "PLM_ETIMEOUT", "PLM_ECANCELLED", "PLM_EAUTH",
        "PLM_EQUOTA", "PLM_ENOMEM",   "PLM_EINTERNAL",  "PLM_EINVAL",
        "PLM_ESTATE", "PLM_EBUDGET",  "PLM_EBREAKER",   NULL
    };
    (void)state;
    expect_codes("plm_gather", codes);
}

static void test_header_codes__client_run(void **state)
{
    static const char *const codes[] = { "PLM_OK",
                                         "PLM_ETIMEOUT",
                                         "PLM_ECANCELLED",
                                         "PLM_EABORTED",
                                         "PLM_EAUTH",
                                         "PLM_EQUOTA",
                                         "PLM_ENOMEM",
                                         "PLM_EINTERNAL",
                                         "PLM_EINVAL",
                                         "PLM_ESTATE",
                                         "source's own negative code",
                                         NULL };
    (void)state;
    expect_codes("plm_client_run", codes);
}

static void test_header_codes__executor(void **state)
{
    static const char *const new_codes[] = { "PLM_OK", "PLM_EINVAL",
                                             "PLM_ENOMEM", NULL };
    static const char *const add_codes[] = { "PLM_OK", "PLM_EINVAL",
                                             "PLM_ESTATE", "PLM_ENOMEM", NULL };
    static const char *const run_codes[] = { "plm_gather", "PLM_EINVAL",
                                             "PLM_ESTATE", "PLM_ENOMEM", NULL };
    (void)state;
    expect_codes("plm_executor_new", new_codes);
    expect_codes("plm_executor_add", add_codes);
    expect_codes("plm_executor_run", run_codes);
}

static void test_header_codes__task_gather_and_client_new(void **state)
{
    static const char *const task_codes[] = { "PLM_OK",       "PLM_EABORTED",
                                              "PLM_ETIMEOUT", "PLM_EINVAL",
                                              "PLM_ENOMEM",   NULL };
    static const char *const client_codes[] = { "PLM_OK", "PLM_EINVAL",
                                                "PLM_ENOMEM", NULL };
    (void)state;
    expect_codes("plm_task_gather", task_codes);
    expect_codes("plm_client_new", client_codes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_codes__gather),
        cmocka_unit_test(test_header_codes__client_run),
        cmocka_unit_test(test_header_codes__executor),
        cmocka_unit_test(test_header_codes__task_gather_and_client_new),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
