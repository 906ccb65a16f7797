#!/usr/bin/env python3
"""Writes a synthetic trace of a run in the format `parallm run --trace`
writes (docs/report.md): a header line, then one JSON line per attempt.

    python3 bench/gen_trace.py -n REQUESTS [-c CONCURRENCY] [--seed S]
        [--fail-rate R] [--latency-ms MS] [--rpm N] [--tpm N] -o FILE

A small simulation: requests are queued as the reader reaches them,
admitted when one of C slots is free, answered after a log-normal latency;
a fraction R of attempts gets a 429 (then waits 1 s, retry_after), a 500
(backoff) or a timeout, and is retried up to 3 times. Deterministic for a
seed. `parallm report`'s benchmark (bench/report.sh) and the browser tests
(tests/browser) use it.
"""
import argparse
import heapq
import json
import random
import sys

FAILURES = [  # (weight, status, class, retry_reason, wait_ms)
    (6, 429, "rate_limited", "retry_after", 1000),
    (3, 500, "server", "backoff", 500),
    (1, 0, "timeout", "backoff", 800),
]


def attempt_line(index, attempt, queued, admitted, sent, done, status, cls,
                 wait, reason, tokens):
    return json.dumps({
        "custom_id": f"r{index}", "index": index, "attempt": attempt,
        "provider": "openai", "model": "mock-model",
        "queued_ms": queued, "admitted_ms": admitted, "sent_ms": sent,
        "first_byte_ms": None if status == 0 else min(done, sent + 5),
        "done_ms": done, "status": status, "class": cls,
        "retry_wait_ms": wait, "retry_reason": reason,
        "prompt_tokens": tokens[0] if tokens else None,
        "completion_tokens": tokens[1] if tokens else None,
    }, separators=(",", ":"))


def simulate(args, out):
    rnd = random.Random(args.seed)
    total_weight = sum(f[0] for f in FAILURES)
    slots = [0] * args.concurrency  # when each slot is next free
    # Ready items: (time it may be admitted, queued time, index, attempt).
    ready = []
    read_at = 0
    next_index = 0
    out.write(json.dumps({
        "trace": "parallm", "version": 1,
        "started_at": "2026-01-01T00:00:00Z",
        "max_concurrent": args.concurrency, "rpm": args.rpm,
        "tpm": args.tpm}) + "\n")
    while next_index < args.requests or ready:
        # The reader keeps a window of C requests queued ahead of the slots.
        while next_index < args.requests and len(ready) < args.concurrency:
            read_at = max(read_at, slots[0] - 50)
            heapq.heappush(ready, (read_at, read_at, next_index, 1))
            next_index += 1
        when, queued, index, attempt = heapq.heappop(ready)
        free = heapq.heappop(slots)
        admitted = max(when, free)
        sent = admitted + rnd.randint(0, 2)
        latency = int(rnd.lognormvariate(0, 0.5) * args.latency_ms)
        failed = rnd.random() < args.fail_rate and attempt <= 3
        if failed:
            pick = rnd.uniform(0, total_weight)
            for weight, status, cls, reason, wait in FAILURES:
                pick -= weight
                if pick <= 0:
                    break
            if cls == "timeout":
                latency = 4 * args.latency_ms
            done = sent + latency
            out.write(attempt_line(index, attempt, queued, admitted, sent,
                                   done, status, cls, wait, reason,
                                   None) + "\n")
            heapq.heappush(ready, (done + wait, done + wait, index,
                                   attempt + 1))
        else:
            done = sent + latency
            tokens = (rnd.randint(20, 200), rnd.randint(10, 300))
            out.write(attempt_line(index, attempt, queued, admitted, sent,
                                   done, 200, "none", None, None,
                                   tokens) + "\n")
        heapq.heappush(slots, done)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", "--requests", type=int, required=True)
    p.add_argument("-c", "--concurrency", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fail-rate", type=float, default=0.05)
    p.add_argument("--latency-ms", type=int, default=200)
    p.add_argument("--rpm", type=int, default=None)
    p.add_argument("--tpm", type=int, default=None)
    p.add_argument("-o", "--output", default="-")
    args = p.parse_args()
    if args.output == "-":
        simulate(args, sys.stdout)
    else:
        with open(args.output, "w") as f:
            simulate(args, f)


if __name__ == "__main__":
    main()
