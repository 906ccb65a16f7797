#!/usr/bin/env python3
"""Summarises bench/run.sh, bench/cli.sh and bench/h2.sh output into the
performance table of docs/PERFORMANCE.md: one parallm row per scenario,
medians of the runs, against its target, and beside it the floor
(bench_floor, a client with no HTTP library, on the same scenario in the
same run) where run.sh measured one: a target the floor misses too is
one this machine and the mock do not allow any client.

    python3 bench/table.py RUN_OUT CLI_OUT H2_OUT [MACHINE_OUT]
"""
import re
import statistics
import sys


def rows(path):
    """(name, {key: value}) for every line with key=value fields."""
    out = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        return out
    for line in lines:
        if line.startswith("#"):
            continue
        fields = dict(re.findall(r"([\w/]+)=([-\d.]+)", line))
        if fields:
            out.append((line.split()[0], {k: float(v) for k, v in fields.items()}))
    return out


def med(values):
    return statistics.median(values) if values else None


def pick(rs, name, key, **match):
    return med([f[key] for n, f in rs
                if n == name and key in f
                and all(f.get(k) == v for k, v in match.items())])


def pinned(rs, name, key, **match):
    """The median over runs; when the runs were made in two pinnings
    (client_cpu), the geometric mean of each pinning's median, which
    cancels a difference in speed between the two cores."""
    cpus = sorted({f["client_cpu"] for n, f in rs
                   if n == name and "client_cpu" in f
                   and all(f.get(k) == v for k, v in match.items())})
    if len(cpus) != 2:
        return pick(rs, name, key, **match)
    a, b = (pick(rs, name, key, client_cpu=c, **match) for c in cpus)
    return None if a is None or b is None else (a * b) ** 0.5


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def main():
    run, cli, h2 = (rows(p) for p in sys.argv[1:4])
    eng = lambda key, **m: pinned(run, "now", key, **m)
    flo = lambda key, **m: pinned(run, "floor", key, **m)
    table = []

    def add(scenario, value, target, ok, floor="-"):
        mark = "n/a" if ok is None else ("yes" if ok else "no")
        table.append((scenario, value, floor, target, mark))

    r = eng("client_to_mock", n=10000, c=100, latency_ms=0)
    cpu = eng("cpu_us_per_req", n=10000, c=100, latency_ms=0)
    fr = flo("client_to_mock", n=10000, c=100, latency_ms=0)
    fc = flo("cpu_us_per_req", n=10000, c=100, latency_ms=0)
    add("10,000 req, 0 ms, C=100: plm_gather CPU / mock CPU per request",
        f"{fmt(r, '.2f')} ({fmt(cpu, '.1f')} us)", "<= 1.00",
        None if r is None else r <= 1.0,
        f"{fmt(fr, '.2f')} ({fmt(fc, '.1f')} us)")
    r = pinned(cli, "command", "client/server", c=100, latency_ms=0)
    add("same: parallm run CPU / mock CPU per request",
        fmt(r, ".2f"), "<= 1.00", None if r is None else r <= 1.0)
    r = eng("ratio", n=10000, c=100, latency_ms=50)
    add("10,000 req, 50 ms, C=100: wall / ideal", fmt(r, ".3f"), "<= 1.03",
        None if r is None else r <= 1.03,
        fmt(flo("ratio", n=10000, c=100, latency_ms=50), ".3f"))
    r = eng("cpu_us_per_req", n=10000, c=100, latency_ms=50)
    add("same: client CPU per request", f"{fmt(r, '.1f')} us", "-", None,
        f"{fmt(flo('cpu_us_per_req', n=10000, c=100, latency_ms=50), '.1f')} us")
    r = eng("ratio", n=10000, c=1000, latency_ms=200)
    add("10,000 req, 200 ms, C=1000: wall / ideal", fmt(r, ".3f"),
        "<= 1.05", None if r is None else r <= 1.05,
        fmt(flo("ratio", n=10000, c=1000, latency_ms=200), ".3f"))
    r = eng("ratio", n=2000, c=1000, latency_ms=1000)
    add("2,000 req, 1 s, C=1000: wall / ideal", fmt(r, ".3f"), "<= 1.05",
        None if r is None else r <= 1.05,
        fmt(flo("ratio", n=2000, c=1000, latency_ms=1000), ".3f"))
    r = eng("ratio", n=10000, c=1000, latency_ms=50)
    p = eng("mock_peak_in_flight", n=10000, c=1000, latency_ms=50)
    add("10,000 req, 50 ms, C=1000: wall / ideal (server saw at most)",
        f"{fmt(r, '.2f')} ({fmt(p, '.0f')} in flight)",
        "<= 1.4 (1000)",
        None if r is None or p is None else r <= 1.4 and p >= 1000,
        f"{fmt(flo('ratio', n=10000, c=1000, latency_ms=50), '.2f')} "
        f"({fmt(flo('mock_peak_in_flight', n=10000, c=1000, latency_ms=50), '.0f')})")
    r = eng("peak_rss_mib", n=10000, c=1000, latency_ms=50)
    add("peak RSS at C=1000", f"{fmt(r, '.1f')} MiB", "<= 32 MiB",
        None if r is None else r <= 32,
        f"{fmt(flo('peak_rss_mib', n=10000, c=1000, latency_ms=50), '.1f')} MiB")
    mem = {(n, f["lines"]): f["peak_rss_mib"] for n, f in cli
           if "lines" in f and "peak_rss_mib" in f}
    big = max([k[1] for k in mem] or [0])
    e0, e1 = mem.get(("engine", 10000)), mem.get(("engine", big))
    c0, c1 = mem.get(("command", 10000)), mem.get(("command", big))
    ok = None
    if None not in (e0, e1, c0, c1) and big > 10000:
        # The command keeps a finished-id set (about 27 bytes a line, 32
        # allowed); nothing else may grow.
        ids = (big - 10000) * 32 / 2**20
        ok = e1 - e0 <= 1.0 and c1 - c0 <= ids + 1.0
    add(f"peak RSS, 10,000 -> {big:,.0f} requests: the library; parallm run",
        f"{fmt(e0, '.1f')} -> {fmt(e1, '.1f')} MiB; "
        f"{fmt(c0, '.1f')} -> {fmt(c1, '.1f')} MiB",
        "flat, apart from the command's finished-id set", ok)
    r = pinned(cli, "command", "x_engine", c=100, latency_ms=0)
    add("parallm run CPU / plm_gather CPU, 0 ms, C=100 (whole processes)",
        fmt(r, ".2f"),
        "<= 1.10", None if r is None else r <= 1.1)
    for c in (100, 500):
        p = pinned(h2, "parallm", "cpu_us_per_req", row=c)
        q = pinned(h2, "curl", "cpu_us_per_req", row=c)
        k = pick(h2, "parallm", "connections", row=c)
        r = p / q if p and q else None
        add(f"TLS + HTTP/2 via nginx, C={c}: CPU / curl --http2's",
            f"{fmt(r, '.2f')} ({fmt(p, '.0f')} vs {fmt(q, '.0f')} us, "
            f"{fmt(k, '.0f')} conns)", "<= 0.50",
            None if r is None else r <= 0.5)

    print("| scenario | parallm | floor client | target | met |")
    print("|---|---|---|---|---|")
    for s, v, f, t, m in table:
        print(f"| {s} | {v} | {f} | {t} | {m} |")
    machine = rows(sys.argv[4]) if len(sys.argv) > 4 else []
    if machine:
        print()
        print("This machine, per core (bench_floor --machine): "
              + "; ".join(f"a page fault {f['page_fault_us']:.1f} us, "
                          f"a system call {f['syscall_us']:.2f} us"
                          for n, f in machine if n == "machine"))


if __name__ == "__main__":
    main()
