/*
 * The descriptor room: see fd_room.h.
 */
#include "fd_room.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Descriptors open now: /proc/self/fd, else a probe of the first ones. */
static int64_t fds_in_use(int64_t soft)
{
    int64_t n = 0;
    DIR *d = opendir("/proc/self/fd");

    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
    }
    if (soft < 0 || soft > 65536)
        soft = 65536;
    for (int fd = 0; fd < soft; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static int64_t fd_reserve(int64_t soft)
{
    return PLM__FD_RESERVE_MIN + soft / 16;
}

int plm__fd_room_get(int64_t wanted, plm__fd_room *r)
{
    struct rlimit rl;

    memset(r, 0, sizeof *r);
    r->room = -1;
    if (wanted < 0 || wanted > INT32_MAX)
        wanted = INT32_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    r->soft = (int64_t)rl.rlim_cur;
    r->hard = rl.rlim_max == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_max;
    r->in_use = fds_in_use(r->soft);
    if (r->in_use + fd_reserve(r->soft) + wanted > r->soft &&
        rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max;
        /* Linux refuses an infinite soft limit on open files. */
        if (setrlimit(RLIMIT_NOFILE, &up) != 0 &&
            rl.rlim_max == RLIM_INFINITY && rl.rlim_cur < 65536) {
            up.rlim_cur = 65536;
            if (setrlimit(RLIMIT_NOFILE, &up) != 0)
                up.rlim_cur = rl.rlim_cur;
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
            (int64_t)rl.rlim_cur > r->soft) {
            r->raised = 1;
            r->soft = rl.rlim_cur == RLIM_INFINITY ? INT64_MAX / 2
                                                   : (int64_t)rl.rlim_cur;
        }
    }
    r->reserve = fd_reserve(r->soft);
    r->room = r->soft - r->in_use - r->reserve;
    if (r->room < 1)
        r->room = 1;
    return 1;
}
