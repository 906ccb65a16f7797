#!/bin/sh
# Benchmarks of the `parallm run` command, side by side with the library
# alone (bench_engine) in the same run:
# - 10,000 requests, 100 in flight, at 0 ms and at 50 ms of mock latency:
#   wall time, the client's CPU per request and the mock server's own CPU
#   per request (the command runs against `parallm mock` in its own
#   process, whose CPU is read from /proc/<pid>/stat before and after;
#   bench_engine forks its mock and reports its share of a core). Each
#   row is the median of RUNS runs (default 3), the runs interleaved;
#   client/server says how the client's CPU compares with the server's,
#   x_engine how the command's compares with the library's (both the
#   whole process's CPU, start-up included: a program calling plm_gather
#   pays its start-up too);
#   command-nofile is the same command writing to a discarded stdout,
#   which tells what the output file's write() and fdatasync cost;
#   Client and mock are pinned to a core each (CLIENT_CPU, default 1, and
#   MOCK_CPU, default 0), and every row runs again with the two swapped
#   (client_cpu= says which): the two cores of a shared virtual machine
#   can differ in speed for minutes at a time, so bench/table.py takes
#   the geometric mean of the two pinnings' medians, as for run.sh;
# - peak memory at zero latency for 10,000 and LINES_BIG input lines
#   (embedded mock, not pinned; LINES_BIG defaults to 1,000,000), and
#   bench_engine's on as many requests.
# With a second build directory, its `parallm` runs beside the first one
# in every row (labelled "before"), so two versions compare in one run.
#
#   sh bench/cli.sh [BUILD_DIR [BEFORE_BUILD_DIR]]
set -eu
BUILD=${1:-build}
BEFORE=${2:-}
BIN="$BUILD/parallm"
BENCH="$BUILD/bench_engine"
N=${N:-10000}
C=${C:-100}
RUNS=${RUNS:-3}
LINES_BIG=${LINES_BIG:-1000000}
CPU_A=${CLIENT_CPU:-1}
CPU_B=${MOCK_CPU:-0}
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

# CPU seconds (user + system, all threads) of a running process.
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.6f\n", ($14 + $15) / hz }' \
        "/proc/$1/stat"
}

median() { # values on stdin, one a line
    sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

start_mock() { # LATENCY_MS
    rm -f "$TMP/port"
    taskset -c "$MOCK_CPU" "$BIN" mock --port 0 --port-file "$TMP/port" \
        --latency "$1" 2>/dev/null &
    MOCK_PID=$!
    n=0
    while [ ! -s "$TMP/port" ]; do
        n=$((n + 1)); [ $n -gt 500 ] && { echo "mock did not start" >&2; exit 1; }
        sleep 0.01
    done
    PORT=$(cat "$TMP/port")
}

stop_mock() {
    kill "$MOCK_PID"; wait "$MOCK_PID" 2>/dev/null || true; MOCK_PID=""
}

# One run of a command binary against the mock: appends
# "wall client_us server_us rss_kib" to FILE. With a third argument, the
# output goes to stdout, discarded: no output file, so no write() to a
# file system and no fdatasync (the row says what the file costs).
run_command() { # BIN FILE [nofile]
    s0=$(proc_cpu "$MOCK_PID")
    out="-o $TMP/out.jsonl --overwrite"
    [ $# -gt 2 ] && out="-o -"
    # shellcheck disable=SC2086
    OPENAI_API_KEY=bench /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" \
        taskset -c "$CLIENT_CPU" "$1" run "$TMP/in.jsonl" $out -q \
        --no-progress -c "$C" --base-url "http://127.0.0.1:$PORT" > /dev/null
    s1=$(proc_cpu "$MOCK_PID")
    read -r wall user sys rss < "$TMP/time"
    awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v a="$s0" \
        -v b="$s1" -v n="$N" 'BEGIN {
        printf "%s %.1f %.1f %d\n", w, (u + s) * 1e6 / n, (b - a) * 1e6 / n, r }' \
        >> "$2"
}

# One run of bench_engine (its own mock, forked): the same four fields.
# Its CPU is the whole process's, start-up included, as the command's is.
run_engine() { # LATENCY FILE
    taskset -c "$CLIENT_CPU" "$BENCH" -n "$N" -c "$C" -l "$1" \
        --mock-cpu "$MOCK_CPU" > "$TMP/engine.txt"
    awk -v n="$N" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        printf "%s %s %.1f %d\n", f["wall_s"], f["process_cpu_us_per_req"],
            f["mock_cpu_pct"] / 100 * f["wall_s"] * 1e6 / n,
            f["peak_rss_mib"] * 1024 }' "$TMP/engine.txt" >> "$2"
}

row() { # NAME LATENCY FILE ENGINE_CLIENT_US
    wall=$(cut -d' ' -f1 "$3" | median)
    cl=$(cut -d' ' -f2 "$3" | median)
    sv=$(cut -d' ' -f3 "$3" | median)
    rss=$(cut -d' ' -f4 "$3" | median)
    awk -v name="$1" -v l="$2" -v w="$wall" -v c="$cl" -v s="$sv" \
        -v r="$rss" -v e="$4" -v n="$N" -v cc="$C" -v k="$RUNS" \
        -v cpu="$CLIENT_CPU" 'BEGIN {
        ideal = (n + cc - 1) / cc; ideal = int(ideal) * l / 1000.0
        printf "%-14s client_cpu=%d n=%d c=%d latency_ms=%d runs=%d wall_s=%.3f ideal_s=%.3f client_us_per_req=%.1f server_us_per_req=%.1f client/server=%.2f x_engine=%.2f peak_rss_mib=%.1f\n",
            name, cpu, n, cc, l, k, w, ideal, c, s, (s > 0 ? c / s : 0),
            (e > 0 ? c / e : 0), r / 1024.0 }'
}

gen "$N" "$TMP/in.jsonl"

echo "# parallm run vs the library alone: client CPU / server CPU per request,"
echo "# medians of $RUNS interleaved runs, same machine, same run"
for lat in 0 50; do
    for pin in "$CPU_A $CPU_B" "$CPU_B $CPU_A"; do
        CLIENT_CPU=${pin% *}
        MOCK_CPU=${pin#* }
        start_mock "$lat"
        : > "$TMP/e.$lat"; : > "$TMP/a.$lat"; : > "$TMP/b.$lat"; : > "$TMP/s.$lat"
        i=0
        while [ $i -lt "$RUNS" ]; do
            run_engine "$lat" "$TMP/e.$lat"
            if [ -n "$BEFORE" ]; then run_command "$BEFORE/parallm" "$TMP/b.$lat"; fi
            run_command "$BIN" "$TMP/a.$lat"
            run_command "$BIN" "$TMP/s.$lat" nofile
            i=$((i + 1))
        done
        stop_mock
        ecl=$(cut -d' ' -f2 "$TMP/e.$lat" | median)
        row engine "$lat" "$TMP/e.$lat" "$ecl"
        if [ -n "$BEFORE" ]; then row command-before "$lat" "$TMP/b.$lat" "$ecl"; fi
        row command "$lat" "$TMP/a.$lat" "$ecl"
        row command-nofile "$lat" "$TMP/s.$lat" "$ecl"
    done
done

echo "# peak memory of the command and the library against input size (zero latency)"
gen "$LINES_BIG" "$TMP/big.jsonl"
for f in in big; do
    lines=$(wc -l < "$TMP/$f.jsonl")
    for b in ${BEFORE:+"$BEFORE/parallm"} "$BIN"; do
        name=command
        [ -n "$BEFORE" ] && [ "$b" = "$BEFORE/parallm" ] && name=command-before
        /usr/bin/time -f "%e %M" -o "$TMP/time" \
            "$b" run "$TMP/$f.jsonl" -o "$TMP/out-$f.jsonl" --overwrite -q \
            --no-progress -c "$C" --provider mock --mock-latency 0
        read -r wall rss < "$TMP/time"
        echo "$name lines=$lines wall_s=$wall peak_rss_mib=$(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024.0 }')"
    done
    # The library on as many requests (a source callback, as the command
    # uses): its memory must not grow with the count at all.
    "$BENCH" -n "$lines" -c "$C" -l 0 | awk -v n="$lines" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        printf "engine lines=%d wall_s=%s peak_rss_mib=%s\n", n, f["wall_s"],
            f["peak_rss_mib"] }'
done
