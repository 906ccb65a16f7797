#!/bin/sh
# The performance table (docs/PERFORMANCE.md): runs bench/run.sh (the
# library; curl's rows too unless CURL=0), bench/cli.sh (the command
# against the library and the mock) and bench/h2.sh (TLS + HTTP/2
# through nginx, against curl --http2), keeps their output, and prints
# one parallm row per scenario against its target (bench/table.py), with
# the floor client's figure beside it and what a page fault and a system
# call cost on each core (bench_floor --machine).
#
#   sh bench/table.sh [BUILD_DIR] [RUNS] [OUT_DIR]
set -eu
BUILD=${1:-build}
RUNS=${2:-3}
OUT=${3:-$(mktemp -d /tmp/plm-table-XXXXXX)}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
echo "# outputs in $OUT; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for cpu in 0 1; do
    taskset -c $cpu "$BUILD/bench_floor" --machine || true
done > "$OUT/machine.txt"
sh "$HERE/run.sh" "$BUILD" "$RUNS" > "$OUT/run.txt"
sh "$HERE/cli.sh" "$BUILD" > "$OUT/cli.txt"
bash "$HERE/h2.sh" "$BUILD" "$RUNS" > "$OUT/h2.txt" ||
    echo "# bench/h2.sh failed (nginx missing?): its rows say n/a" >&2
echo "# done; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 "$HERE/table.py" "$OUT/run.txt" "$OUT/cli.txt" "$OUT/h2.txt" \
    "$OUT/machine.txt"
