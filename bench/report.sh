#!/bin/sh
# `parallm report` on a synthetic trace of about ATTEMPTS attempts
# (default 1,000,000): wall time, peak memory and the page's size, which
# must stay under 10 MiB whatever the run's size.
#
#   sh bench/report.sh [BUILD_DIR] [ATTEMPTS]
#
# The trace comes from bench/gen_trace.py (5% of attempts fail and are
# retried, so N requests make about 1.05 N attempts) and is kept in
# BUILD_DIR/bench-trace-ATTEMPTS.jsonl for the next run.
set -eu
BUILD=${1:-build}
ATTEMPTS=${2:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
TRACE="$BUILD/bench-trace-$ATTEMPTS.jsonl"
OUT="$BUILD/bench-report-$ATTEMPTS.html"
if [ ! -s "$TRACE" ]; then
    requests=$((ATTEMPTS * 100 / 105))
    echo "generating $TRACE ($requests requests)..." >&2
    python3 "$HERE/gen_trace.py" -n "$requests" -c 200 --fail-rate 0.05 \
        --latency-ms 800 --rpm 30000 --tpm 4000000 -o "$TRACE.tmp"
    mv "$TRACE.tmp" "$TRACE"
fi
lines=$(wc -l <"$TRACE")
bytes=$(wc -c <"$TRACE")
echo "trace: $((lines - 1)) attempts, $bytes bytes"
/usr/bin/time -f "report: %e s wall, %U s user, %M KiB peak RSS" \
    "$BUILD/parallm" report "$TRACE" -o "$OUT"
size=$(wc -c <"$OUT")
echo "page: $size bytes ($(awk "BEGIN { printf \"%.2f\", $size / 1048576 }") MiB)"
[ "$size" -lt $((10 * 1024 * 1024)) ] || { echo "page over 10 MiB" >&2; exit 1; }
