#!/usr/bin/env bash
# `parallm run` against curl --parallel over TLS and HTTP/2, through nginx
# (TLS, h2, http2_max_concurrent_streams 128) in front of `parallm mock`
# (50 ms latency), on the same requests, side by side in one run.
#
#   bash bench/h2.sh [BUILD_DIR] [RUNS] [N]
#
# Rows: C=100, C=300 and C=500 in flight, N requests (default 2,000),
# each client RUNS times (default 3), alternating. curl 7.88 caps
# --parallel-max at 300, so its C=500 row runs at 300. Per run: wall
# time, the ideal ceil(N/C) x 50 ms, their ratio, the client's CPU per
# request (user + system of the client process, /usr/bin/time) and the
# connections it opened (distinct $connection in nginx's access log).
# Then the medians and the ratio of parallm's CPU to curl's.
#
# Pinning (where taskset exists): nginx and the mock share core 1 and the
# client runs alone on core 0, then every row runs again with the cores
# swapped (each line says client_cpu=): bench/table.py takes the
# geometric mean of the two pinnings' medians, since one core can be
# slower than the other for minutes at a time. PLM_NGINX names an nginx
# binary that is not on the PATH or in /usr/sbin.
set -euo pipefail
BUILD=${1:-build}
RUNS=${2:-3}
N=${3:-2000}
LATENCY=50
PLM=$(cd "$(dirname "$BUILD/parallm")" && pwd)/parallm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tests/cli/nginx_lib.sh
source "$HERE/../tests/cli/nginx_lib.sh"
nginx_h2_find >/dev/null || { echo "bench/h2.sh: nginx not found" >&2; exit 1; }

TMP=$(mktemp -d /tmp/plm-h2bench-XXXXXX)
cleanup() {
    nginx_h2_stop
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# nginx_h2_start runs "$PLM" mock and $PLM_NGINX: wrappers pin them.
NGINX_REAL=$(nginx_h2_find)
CLIENT_CPU=""
LOG=""

# start_servers CORE: nginx and the mock, on CORE ("" for anywhere).
start_servers() {
    local pin=""
    [ -n "$1" ] && pin="taskset -c $1"
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$pin" "$PLM" \
        > "$TMP/mock-pinned"
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$pin" "$NGINX_REAL" \
        > "$TMP/nginx-pinned"
    chmod +x "$TMP/mock-pinned" "$TMP/nginx-pinned"
    rm -rf "$TMP/ngx"
    mkdir -p "$TMP/ngx"
    PLM="$TMP/mock-pinned" PLM_NGINX="$TMP/nginx-pinned" \
        nginx_h2_start "$TMP/ngx" --latency "$LATENCY"
    LOG="$TMP/ngx/access.log"
    awk -v n="$N" -v u="$NGINX_H2_URL/v1/chat/completions" 'BEGIN {
        for (i = 0; i < n; i++) printf "url = \"%s\"\n", u }' > "$TMP/curl.cfg"
}

BODY='{"model":"bench-model","messages":[{"role":"user","content":"request"}],"max_tokens":16}'
awk -v n="$N" -v b="$BODY" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"custom_id\":\"request-%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":%s}\n", i, b }' \
    > "$TMP/in.jsonl"
printf '%s' "$BODY" > "$TMP/body.json"

# report NAME C: one line from $TMP/time and the log lines past $FROM.
report() {
    local wall user sys rss req conns h2 ok
    read -r wall user sys rss < "$TMP/time"
    read -r req conns h2 ok < <(nginx_h2_log_summary "$LOG" "$FROM")
    awk -v name="$1" -v row="$ROW" -v n="$N" -v c="$2" -v l="$LATENCY" -v w="$wall" \
        -v u="$user" -v s="$sys" -v r="$rss" -v req="$req" -v k="$conns" \
        -v h2="$h2" -v ok="$ok" -v cpu="${CLIENT_CORE:-}" 'BEGIN {
        ideal = int((n + c - 1) / c) * l / 1000.0;
        if (cpu != "") printf "%-7s client_cpu=%s ", name, cpu
        else printf "%-7s ", name
        printf "row=%d n=%d c=%d wall_s=%.3f ideal_s=%.3f ratio=%.3f cpu_us_per_req=%.1f peak_rss_mib=%.1f connections=%d h2=%d/%d ok=%d\n",
            row, n, c, w, ideal, w / ideal, (u + s) * 1e6 / n, r / 1024.0,
            k, h2, req, ok }'
}

run_parallm() { # C
    FROM=$(($(wc -l < "$LOG") + 1))
    OPENAI_API_KEY=bench /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" \
        ${CLIENT_CPU} "$PLM" run "$TMP/in.jsonl" -o "$TMP/out.jsonl" \
        --overwrite -q --no-progress -c "$1" \
        --base-url "$NGINX_H2_URL" --ca-file "$NGINX_H2_CA"
    [ "$(wc -l < "$TMP/out.jsonl")" = "$N" ] || { echo "parallm: lines missing" >&2; exit 1; }
    report parallm "$1"
}

run_curl() { # C
    FROM=$(($(wc -l < "$LOG") + 1))
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" \
        ${CLIENT_CPU} curl -s --no-progress-meter --http2 --cacert "$NGINX_H2_CA" \
        --parallel --parallel-max "$1" -K "$TMP/curl.cfg" \
        -H "Content-Type: application/json" -H "Authorization: Bearer bench" \
        --data-binary @"$TMP/body.json" > /dev/null
    report curl "$1"
}

echo "# parallm run vs curl --parallel --http2, TLS + HTTP/2 through nginx (128 streams), mock ${LATENCY} ms, n=$N"
PINNINGS="-:-"
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    PINNINGS="1:0 0:1"
fi
echo "# each pinning: nginx + mock on one core, the client on the other (client_cpu=); load average $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$TMP/rows"
for pin in $PINNINGS; do
    server=${pin%:*}
    client=${pin#*:}
    CLIENT_CORE="" CLIENT_CPU=""
    if [ "$client" != "-" ]; then
        CLIENT_CORE=$client
        CLIENT_CPU="taskset -c $client"
    fi
    [ "$server" = "-" ] && server=""
    start_servers "$server"
    for row in "100 100" "300 300" "500 300"; do
        set -- $row
        ROW=$1
        for r in $(seq 1 "$RUNS"); do
            run_parallm "$1" | tee -a "$TMP/rows"
            run_curl "$2" | tee -a "$TMP/rows"
        done
    done
    nginx_h2_stop
done

echo "# medians of $RUNS; load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$TMP/rows" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    kv = dict(x.split("=", 1) for x in f[1:] if "=" in x)
    rows.setdefault((f[0], int(kv["row"])), []).append(kv)
def med(k, key):
    return statistics.median(float(r[key]) for r in rows[k])
for pc, cc in ((100, 100), (300, 300), (500, 300)):
    p, c = ("parallm", pc), ("curl", pc)
    print(f"C={pc:<4} parallm ratio {med(p, 'ratio'):.3f} cpu/req {med(p, 'cpu_us_per_req'):6.1f} us conns {med(p, 'connections'):.0f}"
          f" | curl(C={cc}) ratio {med(c, 'ratio'):.3f} cpu/req {med(c, 'cpu_us_per_req'):6.1f} us conns {med(c, 'connections'):.0f}"
          f" | parallm/curl cpu {med(p, 'cpu_us_per_req') / med(c, 'cpu_us_per_req'):.2f}")
PY
