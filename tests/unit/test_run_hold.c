/*
 * The output file's held lines (cli/output.c): what one round of a run
 * produces is kept and written with one write(); a write that fails part
 * way leaves the file ending at its last whole line and says how many of
 * the held lines are in it. And its sync thread (cli/output_sync.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../cli/idset.c"
#include "../../cli/json_text.c"
#include "../../cli/jsonl_input.c"
#include "../../cli/output.c"
#include "../../cli/output_sync.c"

#include "test_util.h"

/* The writer needs only the clock of cli_util.c. */
double run_now(void)
{
    return (double)plm_test_now_ns() / 1e9;
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* A fresh directory for a test, in dir, and path = dir/name. */
static void tmp_path(const char *name, char dir[256], char path[300])
{
    assert_int_equal(plm_test_tmpdir("plm-run-hold", dir, 256), 0);
    snprintf(path, 300, "%s/%s", dir, name);
}

static run_out *open_new(const char *path)
{
    run_out *o = NULL;
    run_resume_info info;
    char err[256];
    run_idset *ids = run_idset_new();
    assert_int_equal(run_out_open(&o, path, RUN_OUT_OVERWRITE, ids, &info, err,
                                  sizeof err),
                     0);
    run_idset_free(ids); /* the scan is done with it */
    return o;
}

/* Lines written as fast as they come get a sync every 100 lines, but
 * never two within 0.1 s: 2,000 lines written in a loop (far less than a
 * second here) ask for at most one sync per 0.1 s the loop took. */
static void test_syncs_at_most_ten_a_second(void **state)
{
    (void)state;
    char dir[256], path[300];
    struct timespec t0, t1;
    tmp_path("out.jsonl", dir, path);
    run_out *o = open_new(path);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(run_out_write(o, "{\"a\":1}\n", 8), 0);
        assert_int_equal(run_out_sync_maybe(o), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* One more for a loop that began just before a tenth elapsed. */
    assert_true(run_out_syncs(o) <= (unsigned long)(took / 0.1) + 1);
    assert_int_equal(run_out_close(o), 0);
    assert_int_equal(file_size(path), 2000 * 8);
    plm_test_rmtree(dir);
}

static void test_held_lines_go_out_in_one_flush(void **state)
{
    (void)state;
    char dir[256], path[300];
    tmp_path("out.jsonl", dir, path);
    run_out *o = open_new(path);
    size_t n = 99;

    assert_int_equal(run_out_hold(o, "{\"a\":1}\n", 8), 0);
    assert_int_equal(run_out_hold(o, "{\"b\":2}\n", 8), 0);
    assert_int_equal(run_out_held(o), 16);
    assert_int_equal(file_size(path), 0); /* held, not written */
    assert_int_equal(run_out_flush(o, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(run_out_held(o), 0);
    assert_int_equal(file_size(path), 16);
    /* Nothing held: a flush writes nothing and succeeds. */
    assert_int_equal(run_out_flush(o, &n), 0);
    assert_int_equal(n, 0);
    /* What close finds held is written, not dropped. */
    assert_int_equal(run_out_hold(o, "{\"c\":3}\n", 8), 0);
    assert_int_equal(run_out_close(o), 0);
    size_t len = 0;
    char *text = plm_test_read_file(path, &len);
    assert_non_null(text);
    assert_int_equal(len, 24);
    assert_memory_equal(text, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", 24);
    free(text);
    plm_test_rmtree(dir);
}

/* A full disk part way through the held lines (a file-size limit, as a
 * quota would): the file keeps the whole lines, cut back from the half
 * one, and the count says which held lines made it. */
static void test_partial_flush_keeps_whole_lines(void **state)
{
    (void)state;
    char dir[256], path[300];
    tmp_path("out.jsonl", dir, path);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);

    for (int cut = 10; cut <= 12; cut += 2) {
        run_out *o = open_new(path);
        size_t n = 99;
        lim = old;
        lim.rlim_cur = (rlim_t)cut; /* inside the third line either way */
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        assert_int_equal(run_out_hold(o, "aaaa\n", 5), 0);
        assert_int_equal(run_out_hold(o, "bbbb\n", 5), 0);
        assert_int_equal(run_out_hold(o, "cccc\n", 5), 0);
        errno = 0;
        assert_int_equal(run_out_flush(o, &n), -1);
        assert_int_equal(errno, EFBIG);
        assert_int_equal(n, 2);
        assert_int_equal(run_out_held(o), 0); /* nothing stays held */
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        assert_int_equal(file_size(path), 10);
        run_out_close(o);
    }
    signal(SIGXFSZ, SIG_DFL);
    plm_test_rmtree(dir);
}

static void test_flush_to_a_full_device_fails(void **state)
{
    (void)state;
    run_out *o = NULL;
    run_resume_info info;
    char err[256];
    size_t n = 99;
    run_idset *ids = run_idset_new();
    assert_int_equal(run_out_open(&o, "/dev/full", 0, ids, &info, err,
                                  sizeof err),
                     0);
    assert_int_equal(run_out_hold(o, "x\n", 2), 0);
    errno = 0;
    assert_int_equal(run_out_flush(o, &n), -1);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(n, 0);
    run_out_close(o);
    run_idset_free(ids);
}

/* The sync thread reports what fdatasync said: a pipe refuses it. */
static void test_syncer_reports_a_failed_sync(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    run_syncer *s = run_syncer_start(p[1]);
    assert_non_null(s);
    assert_int_equal(run_syncer_request(s), 0); /* asked, not waited for */
    errno = 0;
    assert_int_equal(run_syncer_stop(s, 1), -1); /* waits for it */
    assert_int_equal(errno, EINVAL);
    close(p[0]);
    close(p[1]);

    /* A file syncs, a request returns at once, stop waits. */
    char dir[256], path[300];
    tmp_path("f", dir, path);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    s = run_syncer_start(fd);
    assert_non_null(s);
    for (int i = 0; i < 3; i++)
        assert_int_equal(run_syncer_request(s), 0);
    assert_int_equal(run_syncer_stop(s, 1), 0);
    assert_int_equal(run_syncer_stop(NULL, 1), 0);
    close(fd);
    plm_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_lines_go_out_in_one_flush),
        cmocka_unit_test(test_syncs_at_most_ten_a_second),
        cmocka_unit_test(test_partial_flush_keeps_whole_lines),
        cmocka_unit_test(test_flush_to_a_full_device_fails),
        cmocka_unit_test(test_syncer_reports_a_failed_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
