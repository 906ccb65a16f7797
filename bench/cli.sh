#!/bin/sh
# Benchmarks of the `parallm run` command, side by side with the library
# alone (bench_engine) in the same run:
# - 10,000 requests at 50 ms latency, 100 in flight: wall time against the
#   ideal ceil(N/C) x L, and the command's CPU per request against the
#   library's (the mock runs in its own process for both);
# - peak memory at zero latency for 10,000 and 1,000,000 input lines
#   (embedded mock; set LINES_BIG to change the large size).
#
#   sh bench/cli.sh [BUILD_DIR]
set -eu
BUILD=${1:-build}
BIN="$BUILD/parallm"
BENCH="$BUILD/bench_engine"
LINES_BIG=${LINES_BIG:-1000000}
TMP=$(mktemp -d /tmp/plm-clibench-XXXXXX)
MOCK_PID=""
cleanup() {
    [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

gen() { # N FILE
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
        printf "{\"custom_id\":\"request-%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"bench-model\",\"messages\":[{\"role\":\"user\",\"content\":\"request %d\"}],\"max_tokens\":16}}\n", i, i }' > "$2"
}

gen 10000 "$TMP/10k.jsonl"

# The command against an external mock, so its CPU is the client's alone.
"$BIN" mock --port 0 --port-file "$TMP/port" --latency 50 2>/dev/null &
MOCK_PID=$!
n=0
while [ ! -s "$TMP/port" ]; do
    n=$((n + 1)); [ $n -gt 500 ] && { echo "mock did not start" >&2; exit 1; }
    sleep 0.01
done
PORT=$(cat "$TMP/port")

echo "# parallm run vs the library alone, same machine, same run"
"$BENCH" -n 10000 -c 100 -l 50
OPENAI_API_KEY=bench /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" \
    "$BIN" run "$TMP/10k.jsonl" -o "$TMP/out.jsonl" --overwrite -q \
    --no-progress -c 100 --base-url "http://127.0.0.1:$PORT"
read -r wall user sys rss < "$TMP/time"
awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "command n=10000 c=100 latency_ms=50 wall_s=%.3f ideal_s=5.000 ratio=%.3f cpu_us_per_req=%.1f peak_rss_mib=%.1f\n",
        w, w / 5.0, (u + s) * 1e6 / 10000, r / 1024.0 }'
kill "$MOCK_PID"; wait "$MOCK_PID" 2>/dev/null || true; MOCK_PID=""

echo "# peak memory of the command against input size (zero latency)"
gen "$LINES_BIG" "$TMP/big.jsonl"
for f in 10k big; do
    /usr/bin/time -f "%e %M" -o "$TMP/time" \
        "$BIN" run "$TMP/$f.jsonl" -o "$TMP/out-$f.jsonl" --overwrite -q \
        --no-progress -c 100 --provider mock --mock-latency 0
    read -r wall rss < "$TMP/time"
    lines=$(wc -l < "$TMP/$f.jsonl")
    echo "command lines=$lines wall_s=$wall peak_rss_mib=$(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024.0 }')"
done
