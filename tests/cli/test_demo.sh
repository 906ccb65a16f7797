#!/usr/bin/env bash
# `parallm demo`: with a small latency it prints one INFO line per batch
# and a table whose numbers respect the floors (sequential >= N x L,
# parallel >= ceil(N/C) x L, parallel < sequential) and whose server-side
# peak equals the concurrency limit. Usage: test_demo.sh PATH_TO_PARALLM
set -euo pipefail

# Absolute, since the test changes directory.
PARALLM=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PARALLM" demo --help >"$tmp/help"
for opt in --latency --max-concurrent --sizes; do
    grep -q -- "$opt" "$tmp/help" || fail "--help does not mention $opt"
done
for bad in "--sizes 0" "--sizes 3,,x" "--max-concurrent 0" "--latency -1"; do
    status=0
    # shellcheck disable=SC2086
    "$PARALLM" demo $bad >/dev/null 2>&1 || status=$?
    [ "$status" -eq 2 ] || fail "demo $bad gave exit $status, want 2"
done

# 200 ms keeps the bounds meaningful on a loaded machine: the requests of
# a parallel batch have that long to all be in flight together.
timeout 120 "$PARALLM" demo --latency 200ms --max-concurrent 2 --sizes 2,5 \
    >"$tmp/out" 2>"$tmp/err" || fail "demo failed: $(cat "$tmp/err")"

python3 - "$tmp/out" <<'PY'
import math, re, sys
text = open(sys.argv[1]).read()
L, C, sizes = 0.2, 2, [2, 5]
info = re.findall(r"^INFO: Executed (\d+) LLM requests (sequentially|in parallel): "
                  r"([0-9.]+)s \(avg: ([0-9.]+)s per request\)$", text, re.M)
assert [(int(n), how) for n, how, _, _ in info] == [
    (2, "sequentially"), (2, "in parallel"),
    (5, "sequentially"), (5, "in parallel")], text
rows = re.findall(r"^\s*(\d+)\s+([0-9.]+)s\s+([0-9.]+)s\s+([0-9.]+)x\s+"
                  r"([0-9.]+)s\s+([0-9.]+)s\s+(\d+)\s*$", text, re.M)
assert len(rows) == 2, text
slack = 0.02  # the printed numbers are rounded to 0.01 s
for (n, seq, par, speedup, ideal_seq, ideal_par, peak), want in zip(rows, sizes):
    n, seq, par = int(n), float(seq), float(par)
    assert n == want, text
    assert abs(float(ideal_seq) - n * L) < 1e-6, text
    assert abs(float(ideal_par) - math.ceil(n / C) * L) < 1e-6, text
    assert seq >= n * L - slack, "sequential faster than N x L:\n" + text
    assert par >= math.ceil(n / C) * L - slack, "parallel beat the floor:\n" + text
    assert par < seq, "parallel not faster:\n" + text
    assert int(peak) == C, "peak in flight %s, want %d:\n%s" % (peak, C, text)
    assert abs(float(speedup) - seq / par) < 0.1, text
# The closing note says in plain words what the largest batch showed,
# with the table's own numbers; nothing about other benchmarks.
assert "seed" not in text, text
m = re.search(r"^In short: (\d+) requests that each take ([0-9.]+) s took "
              r"([0-9.]+) s one at a time\nand ([0-9.]+) s with up to (\d+) "
              r"in flight \(([0-9.]+)x faster\); nothing can do them in\n"
              r"less than ([0-9.]+) s with (\d+) in flight; the parallel "
              r"run's overhead was ([0-9.]+) s\.$", text, re.M)
assert m, text
n, l, seq, par, c = int(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5])
assert (n, l, c, int(m[8])) == (5, L, C, C), text
assert (seq, par) == (float(rows[-1][1]), float(rows[-1][2])), text
assert abs(float(m[7]) - math.ceil(n / C) * L) < 1e-6, text
assert abs(float(m[9]) - max(0.0, par - float(m[7]))) < 0.011, text
PY
echo "ok"
