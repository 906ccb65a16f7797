#!/bin/sh
# `make bench`: the engine against the mock, side by side with the curl
# command-line tool (`curl --parallel`, itself built on libcurl multi), in
# one run so the numbers compare on the same (shared, noisy) machine.
#
#   [BASE=OTHER_BUILD_DIR] [CURL=0] [FLOOR=0] sh bench/run.sh [BUILD_DIR] [RUNS]
#
# Each row runs RUNS times (default 3); compare medians, the machine is
# shared and noisy. The curl rows use `parallm mock`, or bench_mock when
# the command is not built.
#
# Scenarios (engine): 10,000 requests at zero latency with 100 in flight
# (client CPU per request against the mock's), 10,000 at 50 ms with 100,
# 10,000 at 200 ms with 1,000, 2,000 at 1 s with 1,000, and 10,000 at
# 50 ms with 1,000 (how many the mock saw at once, wall, peak RSS). curl
# (CURL=0 skips it) runs 50 ms at 100 and 300 (its cap) and 0 ms at 100.
# Each engine run is followed by bench_floor on the same scenario (FLOOR=0
# skips it): a client with no HTTP library and no JSON, whose figures are
# what this machine and the mock allow any client.
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
        taskset -c "$MOCK_CPU" "$BIN" mock --port 0 --port-file "$TMP/port" --latency "${1}ms" \
            2>/dev/null &
    else
        taskset -c "$MOCK_CPU" "$BUILD/bench_mock" --port-file "$TMP/port" --latency "$1" \
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
        taskset -c "$CLIENT_CPU" curl -s --no-progress-meter -Z --parallel-max "$2" -K "$TMP/curl.cfg" \
        -H "Content-Type: application/json" -H "Authorization: Bearer bench" \
        --data-binary @"$TMP/body.json" > /dev/null 2>&1
    stop_mock
    read -r wall user sys rss < "$TMP/time"
    awk -v n="$1" -v c="$2" -v l="$3" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        ideal = (c > 0 ? int((n + c - 1) / c) : 1) * l / 1000.0;
        printf "curl   n=%d c=%d latency_ms=%d wall_s=%.3f ideal_s=%.3f ratio=%.3f cpu_us_per_req=%.1f peak_rss_mib=%.1f\n",
            n, c, l, w, ideal, (ideal > 0 ? w / ideal : 0), (u + s) * 1e6 / n, r / 1024.0 }'
}

# The engine's rows. The mock (forked by bench_engine) runs on MOCK_CPU and
# the client on CLIENT_CPU, each alone on its core, as the figures in
# bench/README.md were measured. With BASE=DIR (a build of another commit)
# that build's bench_engine runs each row too, right before this one's, so
# the two compare in one run; a bench_engine without --mock-cpu gets its
# mock pinned once it has forked it (taskset -p).
engine_run() { # BENCH_BINARY N C LATENCY_MS
    if "$1" --help 2>&1 | grep -q -- --mock-cpu; then
        taskset -c "$CLIENT_CPU" "$1" -n "$2" -c "$3" -l "$4" \
            --mock-cpu "$MOCK_CPU"
        return
    fi
    taskset -c "$CLIENT_CPU" "$1" -n "$2" -c "$3" -l "$4" &
    pid=$!
    n=0
    child=""
    while [ -z "$child" ] && [ $n -lt 500 ]; do
        child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
        [ -z "$child" ] && sleep 0.002
        n=$((n + 1))
    done
    for c in $child; do taskset -p -c "$MOCK_CPU" "$c" > /dev/null; done
    wait "$pid" || true
}

engine_row() { # N C LATENCY_MS
    r=0
    while [ $r -lt "$RUNS" ]; do
        if [ -n "${BASE:-}" ]; then
            printf 'base   client_cpu=%s ' "$CLIENT_CPU"
            engine_run "$BASE/bench_engine" "$1" "$2" "$3"
        fi
        printf 'now    client_cpu=%s ' "$CLIENT_CPU"
        engine_run "$BENCH" "$1" "$2" "$3"
        if [ "${FLOOR:-1}" != 0 ] && [ -x "$BUILD/bench_floor" ]; then
            printf 'floor  client_cpu=%s ' "$CLIENT_CPU"
            taskset -c "$CLIENT_CPU" "$BUILD/bench_floor" -n "$1" -c "$2" \
                -l "$3" --mock-cpu "$MOCK_CPU" || true
        fi
        r=$((r + 1))
    done
}

# The same row with the two processes' cores swapped too. The two cores
# of a shared virtual machine can differ in speed by a third for minutes
# at a time, and which one is slower changes (whichever process has it
# looks dearer, and a CPU-bound row slower), so bench/table.py takes each
# figure as the geometric mean of the two pinnings' medians: for the
# client/mock ratio the cores' speeds cancel out, for the rest neither
# process is favoured.
engine_row_swapped() { # N C LATENCY_MS
    engine_row "$@"
    swap=$CLIENT_CPU
    CLIENT_CPU=$MOCK_CPU
    MOCK_CPU=$swap
    engine_row "$@"
    swap=$CLIENT_CPU
    CLIENT_CPU=$MOCK_CPU
    MOCK_CPU=$swap
}

curl_row() { # N C LATENCY_MS
    r=0
    while [ $r -lt "$RUNS" ]; do
        curl_run "$1" "$2" "$3"
        r=$((r + 1))
    done
}

CLIENT_CPU=${CLIENT_CPU:-1}
MOCK_CPU=${MOCK_CPU:-0}
echo "# parallm engine (client on CPU $CLIENT_CPU, mock on CPU $MOCK_CPU)"
echo "# every engine row runs in both pinnings (client_cpu= says which)"
echo "# 0 ms, C=100: client CPU per request against the mock's"
engine_row_swapped 10000 100 0
echo "# 50 ms, C=100"
engine_row_swapped 10000 100 50
echo "# 200 ms, C=1000"
engine_row_swapped 10000 1000 200
echo "# 1 s, C=1000"
engine_row_swapped 2000 1000 1000
echo "# 50 ms, C=1000: the mock's peak in flight, wall, peak RSS"
engine_row_swapped 10000 1000 50
if [ "${CURL:-1}" != 0 ]; then
    echo "# curl --parallel, same machine, same run (curl caps C at 300)"
    curl_row 10000 100 50
    curl_row 10000 300 50
    curl_row 10000 100 0
fi
