#!/bin/sh
# `make bench`: the engine against the mock, side by side with the curl
# command-line tool (`curl --parallel`, itself built on libcurl multi), in
# one run so the numbers compare on the same (shared, noisy) machine.
#
#   sh bench/run.sh [BUILD_DIR] [RUNS]
#
# Each row runs RUNS times (default 3); compare medians, the machine is
# shared and noisy. The curl rows use `parallm mock`, or bench_mock when
# the command is not built.
#
# Scenarios: 10,000 requests at 50 ms latency with 100, 300 and 1,000 in
# flight, and 10,000 at zero latency (client CPU per request). curl caps
# --parallel-max at 300, so the 1,000 row runs curl at 300, and a 300 row
# compares the two at the same concurrency.
set -eu
BUILD=${1:-build}
RUNS=${2:-3}
BIN="$BUILD/parallm"
BENCH="$BUILD/bench_engine"
TMP=$(mktemp -d /tmp/plm-bench-XXXXXX)
MOCK_PID=""
cleanup() {
    [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# A mock for curl; the engine benchmark forks its own.
start_mock() {
    rm -f "$TMP/port"
    if [ -x "$BIN" ]; then
        "$BIN" mock --port 0 --port-file "$TMP/port" --latency "${1}ms" \
            2>/dev/null &
    else
        "$BUILD/bench_mock" --port-file "$TMP/port" --latency "$1" \
            2>/dev/null &
    fi
    MOCK_PID=$!
    n=0
    while [ ! -s "$TMP/port" ]; do
        n=$((n + 1))
        [ $n -gt 500 ] && { echo "mock did not start" >&2; exit 1; }
        sleep 0.01
    done
    PORT=$(cat "$TMP/port")
}
stop_mock() { kill "$MOCK_PID"; wait "$MOCK_PID" 2>/dev/null || true; MOCK_PID=""; }

curl_run() { # N C LATENCY_MS
    start_mock "$3"
    printf '{"model":"bench-model","messages":[{"role":"user","content":"request"}],"max_tokens":16}' > "$TMP/body.json"
    : > "$TMP/curl.cfg"
    i=0
    while [ $i -lt "$1" ]; do
        printf 'url = "http://127.0.0.1:%s/v1/chat/completions"\n' "$PORT" >> "$TMP/curl.cfg"
        i=$((i + 1))
    done
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" \
        curl -s --no-progress-meter -Z --parallel-max "$2" -K "$TMP/curl.cfg" \
        -H "Content-Type: application/json" -H "Authorization: Bearer bench" \
        --data-binary @"$TMP/body.json" > /dev/null 2>&1
    stop_mock
    read -r wall user sys rss < "$TMP/time"
    awk -v n="$1" -v c="$2" -v l="$3" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        ideal = (c > 0 ? int((n + c - 1) / c) : 1) * l / 1000.0;
        printf "curl   n=%d c=%d latency_ms=%d wall_s=%.3f ideal_s=%.3f ratio=%.3f cpu_us_per_req=%.1f peak_rss_mib=%.1f\n",
            n, c, l, w, ideal, (ideal > 0 ? w / ideal : 0), (u + s) * 1e6 / n, r / 1024.0 }'
}

row() { # C_ENGINE C_CURL LATENCY_MS
    r=0
    while [ $r -lt "$RUNS" ]; do
        "$BENCH" -n 10000 -c "$1" -l "$3"
        curl_run 10000 "$2" "$3"
        r=$((r + 1))
    done
}

echo "# parallm engine vs curl --parallel, same machine, same run"
row 100 100 50
row 300 300 50
row 1000 300 50
row 100 100 0
