/*
 * check_dependencies: checks in parallel that what a program needs is
 * present on this system, with plm_task_gather(). Each argument names one
 * dependency:
 *
 *   cmd:NAME   an executable NAME on $PATH (reports its path)
 *   lib:NAME   a shared library the dynamic linker can load, e.g.
 *              lib:libcurl.so.4 (reports the file it resolved to)
 *   pkg:NAME   a pkg-config module (reports its version)
 *
 * Without arguments it checks what building parallm needs. Every check
 * runs as one task, up to --max-concurrent (default 10) at once; results
 * print in argument order. Exit status: 0 all present, 1 something missing,
 * 2 usage error, 3 the checks timed out or could not run.
 *
 *   check_dependencies [--max-concurrent N] [--timeout-ms MS] [--fail-fast]
 *                      [DEPENDENCY...]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dlinfo() and RTLD_DI_LINKMAP */
#endif

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parallm.h"

static const char *const default_deps[] = {
    "cmd:cc",           "cmd:cmake",           "cmd:make",    "cmd:pkg-config",
    "lib:libcurl.so.4", "lib:libjansson.so.4", "pkg:libcurl", "pkg:jansson",
    "pkg:libevent",     "pkg:cmocka",
};

static char *dup_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);

    if (copy)
        memcpy(copy, s, len);
    return copy;
}

static void *check_command(const char *name, plm_task_ctx *ctx)
{
    char path[PATH_MAX];
    const char *dirs = getenv("PATH");
    struct stat st;

    if (strchr(name, '/')) {
        plm_task_fail(ctx, "a command name must not contain '/'");
        return NULL;
    }
    if (!dirs || !*dirs)
        dirs = "/usr/local/bin:/usr/bin:/bin";
    while (*dirs && !plm_task_cancelled(ctx)) {
        size_t len = strcspn(dirs, ":");
        int n;

        /* An empty entry means the current directory. */
        n = snprintf(path, sizeof path, "%.*s/%s", len ? (int)len : 1,
                     len ? dirs : ".", name);
        if (n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode) && access(path, X_OK) == 0)
            return dup_string(path);
        dirs += len;
        if (*dirs == ':')
            dirs++;
    }
    plm_task_fail(ctx, "not found on $PATH");
    return NULL;
}

/* Loading runs the library's constructors in this process: acceptable for
 * a checker, and the only way to ask the dynamic linker itself. */
static void *check_library(const char *name, plm_task_ctx *ctx)
{
    struct link_map *map = NULL;
    char *found = NULL;
    void *handle;

    handle = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
    if (!handle) {
        const char *err = dlerror();

        plm_task_fail(ctx, err ? err : "cannot be loaded");
        return NULL;
    }
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name &&
        *map->l_name)
        found = dup_string(map->l_name);
    else
        found = dup_string(name);
    dlclose(handle);
    if (!found)
        plm_task_fail(ctx, "out of memory");
    return found;
}

/* Module names go into a shell command line: allow only what pkg-config
 * module names use, so nothing can be injected. */
static int valid_module(const char *name)
{
    if (!*name || *name == '-')
        return 0;
    for (const char *p = name; *p; p++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
                    *p))
            return 0;
    }
    return 1;
}

static void *check_pkg_config(const char *name, plm_task_ctx *ctx)
{
    char cmd[512];
    char version[128] = "";
    FILE *p;
    int status;

    if (!valid_module(name) || strlen(name) > 200) {
        plm_task_fail(ctx, "not a pkg-config module name");
        return NULL;
    }
    snprintf(cmd, sizeof cmd, "pkg-config --modversion %s 2>/dev/null", name);
    p = popen(cmd, "r");
    if (!p) {
        plm_task_fail(ctx, "cannot run pkg-config");
        return NULL;
    }
    if (!fgets(version, sizeof version, p))
        version[0] = '\0';
    status = pclose(p);
    version[strcspn(version, "\r\n")] = '\0';
    if (status != 0 || !version[0]) {
        plm_task_fail(ctx, "pkg-config does not know this module");
        return NULL;
    }
    return dup_string(version);
}

/* The task: arg is the dependency's "kind:name" string. Returns what was
 * found (a malloc'd string) or NULL after plm_task_fail(). */
static void *check_one(void *arg, plm_task_ctx *ctx)
{
    const char *dep = arg;
    void *found = NULL;

    if (plm_task_cancelled(ctx))
        return NULL;
    if (strncmp(dep, "cmd:", 4) == 0)
        found = check_command(dep + 4, ctx);
    else if (strncmp(dep, "lib:", 4) == 0)
        found = check_library(dep + 4, ctx);
    else if (strncmp(dep, "pkg:", 4) == 0)
        found = check_pkg_config(dep + 4, ctx);
    else
        plm_task_fail(ctx, "unknown kind (use cmd:, lib: or pkg:)");
    return found;
}

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (!s || !*s)
        return -1;
    v = strtol(s, &end, 10);
    if (*end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static void usage(FILE *to)
{
    fputs("usage: check_dependencies [--max-concurrent N] [--timeout-ms MS]"
          " [--fail-fast]\n"
          "                          [cmd:NAME | lib:NAME | pkg:NAME]...\n",
          to);
}

int main(int argc, char **argv)
{
    plm_gather_options opts = PLM_GATHER_OPTIONS_INIT;
    plm_task *tasks = NULL;
    plm_task_result *results = NULL;
    const char *const *deps;
    size_t n, missing = 0;
    long value;
    int i, rc, status = 0;

    opts.max_concurrent = 10;
    opts.return_errors = 1;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--max-concurrent") == 0 &&
            parse_int(argv[i + 1], 0, 256, &value) == 0) {
            opts.max_concurrent = (int)value;
            i++;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 &&
                   parse_int(argv[i + 1], 0, 86400000, &value) == 0) {
            opts.timeout_ms = value;
            i++;
        } else if (strcmp(argv[i], "--fail-fast") == 0) {
            opts.return_errors = 0;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i < argc) {
        deps = (const char *const *)argv + i;
        n = (size_t)(argc - i);
    } else {
        deps = default_deps;
        n = sizeof default_deps / sizeof default_deps[0];
    }

    tasks = calloc(n, sizeof *tasks);
    results = calloc(n, sizeof *results);
    if (!tasks || !results) {
        fputs("check_dependencies: out of memory\n", stderr);
        status = 3;
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        tasks[k].fn = check_one;
        tasks[k].arg = (void *)(uintptr_t)deps[k];
        tasks[k].free_value = free;
    }

    rc = plm_task_gather(tasks, n, results, &opts);
    if (rc == PLM_EINVAL || rc == PLM_ENOMEM) {
        fprintf(stderr, "check_dependencies: %s\n", plm_strerror(rc));
        status = 3;
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        const plm_task_result *r = &results[k];

        if (r->code == PLM_OK) {
            printf("ok       %-24s %s (%.3fs)\n", deps[k],
                   (const char *)r->value, r->seconds);
        } else if (r->code == PLM_EABORTED) {
            printf("MISSING  %-24s %s\n", deps[k],
                   r->error ? r->error : plm_strerror(r->code));
            missing++;
        } else {
            /* Cancelled by --fail-fast, or cut off by --timeout-ms. */
            printf("unknown  %-24s not checked: %s\n", deps[k],
                   plm_strerror(r->code));
            missing++;
        }
        free(r->value);
    }
    plm_task_results_clear(results, n);
    if (rc == PLM_ETIMEOUT)
        status = 3;
    else if (missing > 0)
        status = 1;
    fprintf(stderr, "%zu of %zu dependencies found\n", n - missing, n);

out:
    free(tasks);
    free(results);
    return status;
}
