/*
 * The floor: the least a client can do to run bench_engine's scenarios
 * against the same mock on the same machine, so that a target the
 * engine misses can be told apart from one the machine and the mock
 * cannot meet for any client.
 *
 * No HTTP library and no JSON: N requests over C keep-alive loopback
 * connections, all opened at once, one epoll loop, the request's bytes
 * written once and reused, each answer read only as far as its status
 * line and Content-Length. It does what every HTTP/1.1 client must
 * (connect, write the request, read the whole answer, keep the
 * connection) and nothing else, so its wall time and CPU are what the
 * machine, the kernel's loopback and the mock allow. Written by hand
 * because it is the measure of the library, and the library's job is
 * to be compared with it, not to be it.
 *
 *   bench_floor [-n N] [-c C] [-l MS] [--mock-cpu CPU]
 *   bench_floor --machine
 *
 * Prints one line in bench_engine's format (name "floor"): wall against
 * the ideal ceil(N/C) x L, client and mock CPU per request, peak RSS,
 * the mock's peak in flight, answers ok and failed, minor page faults.
 * --machine prints what a page fault and a system call cost this
 * machine's processes (a virtual machine can make both 10-20 times
 * dearer than bare metal, and a client's first wave of connections pays
 * them per connection).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_child.h"

#define ANSWER_MAX 16384 /* the mock's chat answers are under 1 KiB */

struct conn {
    int fd;
    int connected;
    size_t sent;       /* bytes of the request written */
    size_t have;       /* bytes of the answer read */
    size_t need;       /* the whole answer's length, once the head is read */
    int status;        /* the answer's status code */
    uint32_t watching; /* the epoll events asked for */
    char buf[ANSWER_MAX];
};

struct floor_run {
    int ep;
    struct sockaddr_in addr;
    const char *req;
    size_t req_len;
    long n;
    long started;
    long ok;
    long failed;
};

static int watch(struct floor_run *f, struct conn *c, int op, uint32_t events)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = c;
    return epoll_ctl(f->ep, op, c->fd, &ev);
}

/* A new connection for c, its request not yet written. */
static int conn_open(struct floor_run *f, struct conn *c)
{
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    /* As libcurl does: the request goes out in one segment, now. */
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&f->addr, sizeof f->addr) != 0 &&
        errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->connected = 0;
    c->sent = c->have = c->need = 0;
    c->watching = EPOLLOUT;
    return watch(f, c, EPOLL_CTL_ADD, EPOLLOUT);
}

/* Writes what is left of the request; 1 when all of it is out. */
static int conn_send(struct floor_run *f, struct conn *c)
{
    while (c->sent < f->req_len) {
        /* MSG_NOSIGNAL: a mock that closes must not kill the benchmark. */
        ssize_t w = send(c->fd, f->req + c->sent, f->req_len - c->sent,
                         MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->sent += (size_t)w;
    }
    return 1;
}

/* The answer's whole length once its head is in, 0 while it is not, -1
 * for an answer this client cannot read (no Content-Length). */
static long answer_length(struct conn *c, int *status)
{
    const char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    const char *p;

    if (end == NULL)
        return c->have >= sizeof c->buf ? -1 : 0;
    if (c->have < 12 || memcmp(c->buf, "HTTP/1.1 ", 9) != 0)
        return -1;
    *status = atoi(c->buf + 9);
    for (p = c->buf; p < end; p++) {
        if (*p == '\n' && strncasecmp(p + 1, "content-length:", 15) == 0)
            break;
    }
    if (p >= end)
        return -1;
    return (long)(end + 4 - c->buf) + strtol(p + 16, NULL, 10);
}

/* Watches c for what it waits on: its connect, the rest of its request
 * (a write that would block) and its answer. */
static int conn_rearm(struct floor_run *f, struct conn *c)
{
    uint32_t want = EPOLLOUT;

    if (c->connected)
        want = c->sent < f->req_len ? EPOLLIN | EPOLLOUT : EPOLLIN;
    if (want == c->watching)
        return 0;
    c->watching = want;
    return watch(f, c, EPOLL_CTL_MOD, want);
}

/* Reads what has arrived; when a whole answer is in, counts it and
 * starts the next request on the same connection. 1: no request is left
 * for it; -1: the connection is lost and its request with it. */
static int conn_read(struct floor_run *f, struct conn *c)
{
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);

        if (r < 0)
            return errno == EAGAIN ? 0 : -1;
        if (r == 0)
            return -1;
        c->have += (size_t)r;
        if (c->need == 0) {
            long len = answer_length(c, &c->status);
            if (len < 0 || (size_t)len > sizeof c->buf)
                return -1;
            c->need = (size_t)len;
        }
        if (c->need == 0 || c->have < c->need)
            continue;
        if (c->have > c->need)
            return -1; /* the mock never answers before it is asked */
        if (c->status == 200)
            f->ok++;
        else
            f->failed++;
        c->have = c->need = c->sent = 0;
        if (f->started >= f->n)
            return 1;
        f->started++;
        return conn_send(f, c) < 0 ? -1 : 0;
    }
}

/* One event on c: 1 when c is done, -1 when its connection is lost. */
static int conn_event(struct floor_run *f, struct conn *c, uint32_t events)
{
    int rc = 0;

    if (!c->connected) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return 0;
        c->connected = 1;
    }
    if (c->sent < f->req_len && conn_send(f, c) < 0)
        return -1;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        rc = conn_read(f, c);
    if (rc == 0 && conn_rearm(f, c) != 0)
        rc = -1;
    return rc;
}

/* The event loop: until every request has an answer or a failure. A
 * lost connection fails its request and the next one opens another. */
static int floor_loop(struct floor_run *f)
{
    struct epoll_event evs[256];

    while (f->ok + f->failed < f->n) {
        int k = epoll_wait(f->ep, evs, 256, 30000);
        if (k <= 0)
            return -1; /* no event in 30 s: the mock is gone */
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            int rc = conn_event(f, c, evs[i].events);

            if (rc == 0)
                continue;
            if (rc < 0)
                f->failed++;
            close(c->fd);
            c->fd = -1;
            if (rc < 0 && f->started < f->n) {
                if (conn_open(f, c) != 0)
                    return -1;
                f->started++;
            }
        }
    }
    return 0;
}

/* The request bench_engine's source makes (bench_chat_request), as the
 * engine writes it for the OpenAI provider. */
static size_t make_request(char *out, size_t size, int port)
{
    const char *body = "{\"model\":\"bench-model\",\"messages\":[{\"role\":"
                       "\"user\",\"content\":\"request 1\"}],"
                       "\"max_tokens\":16}";
    int len = snprintf(out, size,
                       "POST /v1/chat/completions HTTP/1.1\r\n"
                       "Host: 127.0.0.1:%d\r\n"
                       "User-Agent: parallm-floor\r\n"
                       "Accept: */*\r\n"
                       "Content-Type: application/json\r\n"
                       "Authorization: Bearer bench-key\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       port, strlen(body), body);
    return len > 0 && (size_t)len < size ? (size_t)len : 0;
}

/* What a minor page fault and a cheap system call cost here. */
static int machine(void)
{
    const size_t pages = 20000, page = 4096;
    struct rusage a, b;
    char *p = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const int calls = 200000;
    double t0;

    if (p == MAP_FAILED) {
        perror("bench_floor: mmap");
        return 1;
    }
    getrusage(RUSAGE_SELF, &a);
    for (size_t i = 0; i < pages; i++)
        p[i * page] = 1;
    getrusage(RUSAGE_SELF, &b);
    munmap(p, pages * page);
    double fault_us = (bench_rusage_s(&b) - bench_rusage_s(&a)) * 1e6 /
                      (double)(b.ru_minflt - a.ru_minflt);
    t0 = bench_now_s();
    for (int i = 0; i < calls; i++)
        (void)getppid();
    double call_us = (bench_now_s() - t0) * 1e6 / calls;
    printf("machine page_fault_us=%.2f syscall_us=%.2f\n", fault_us, call_us);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "mock-cpu", required_argument, NULL, 'm' },
        { "machine", no_argument, NULL, 'M' },
        { NULL, 0, NULL, 0 },
    };
    long concurrency = 100, latency_ms = 0;
    int mock_cpu_index = -1, port = 0, opt;
    struct floor_run f;
    char req[1024];

    memset(&f, 0, sizeof f);
    f.n = 10000;
    while ((opt = getopt_long(argc, argv, "n:c:l:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': f.n = strtol(optarg, NULL, 10); break;
        case 'c': concurrency = strtol(optarg, NULL, 10); break;
        case 'l': latency_ms = strtol(optarg, NULL, 10); break;
        case 'm': mock_cpu_index = (int)strtol(optarg, NULL, 10); break;
        case 'M': return machine();
        default:
            fprintf(stderr,
                    "usage: %s [-n N] [-c C] [-l MS] [--mock-cpu CPU]\n"
                    "       %s --machine\n",
                    argv[0], argv[0]);
            return 2;
        }
    }
    if (f.n < 1 || concurrency < 1) {
        fprintf(stderr, "bench_floor: -n and -c must be at least 1\n");
        return 2;
    }

    char stats_file[32];
    pid_t mock = bench_mock_start_stats("bench_floor", latency_ms,
                                        mock_cpu_index, stats_file, &port);
    if (mock < 0)
        return 1;

    f.req = req;
    f.req_len = make_request(req, sizeof req, port);
    f.addr.sin_family = AF_INET;
    f.addr.sin_port = htons((uint16_t)port);
    f.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    long nconns = concurrency < f.n ? concurrency : f.n;
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    f.ep = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || f.ep < 0 || f.req_len == 0) {
        fprintf(stderr, "bench_floor: cannot set up: %s\n", strerror(errno));
        bench_mock_stop(mock);
        unlink(stats_file);
        return 1;
    }

    for (long i = 0; i < nconns; i++)
        conns[i].fd = -1; /* not open: nothing to close */

    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    double t0 = bench_now_s();
    const char *why = NULL;
    for (long i = 0; i < nconns && !why; i++, f.started++) {
        if (conn_open(&f, &conns[i]) != 0)
            why = "could not connect to the mock";
    }
    if (!why && floor_loop(&f) != 0)
        why = "the mock stopped answering";
    double wall = bench_now_s() - t0;
    getrusage(RUSAGE_SELF, &after);
    bench_mock_stop(mock);
    for (long i = 0; i < nconns; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    }
    free(conns);
    close(f.ep);

    struct rusage child;
    getrusage(RUSAGE_CHILDREN, &child);
    double cpu = bench_rusage_s(&after) - bench_rusage_s(&before);
    double mock_cpu = bench_rusage_s(&child);
    int peak = bench_peak_in_flight(stats_file);
    unlink(stats_file);
    double client_us = cpu * 1e6 / (double)f.n;
    double mock_us = mock_cpu * 1e6 / (double)f.n;
    double ideal = ceil((double)f.n / (double)concurrency) *
                   (double)latency_ms / 1000.0;
    printf("floor n=%ld c=%ld latency_ms=%ld wall_s=%.3f ideal_s=%.3f "
           "ratio=%.3f cpu_us_per_req=%.1f mock_us_per_req=%.1f "
           "client_to_mock=%.2f peak_rss_mib=%.1f mock_peak_in_flight=%d "
           "ok=%ld failed=%ld minor_faults=%ld\n",
           f.n, concurrency, latency_ms, wall, ideal,
           ideal > 0 ? wall / ideal : 0.0, client_us, mock_us,
           mock_us > 0 ? client_us / mock_us : 0.0,
           (double)after.ru_maxrss / 1024.0, peak, f.ok, f.failed,
           after.ru_minflt - before.ru_minflt);
    if (why || f.failed > 0) {
        fprintf(stderr, "bench_floor: %ld of %ld requests failed%s%s%s\n",
                f.n - f.ok, f.n, why ? " (" : "", why ? why : "",
                why ? ")" : "");
        return 1;
    }
    return 0;
}
