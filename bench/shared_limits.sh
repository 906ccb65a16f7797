#!/usr/bin/env bash
# Shared limits: 4 `parallm run` processes x 2,500 requests against a mock
# that enforces 6,000 RPM (429 past it), run twice side by side:
#   redis  every process says --rpm 6000 and shares it through Redis;
#   split  no Redis, the limit split by hand (--rpm 1500 each).
# Prints per run: wall time, the aggregate rate (requests / wall, and
# from the first to the last arrival at the mock), 429s, the most
# arrivals in any 1 s window (1.5 x 98.4/s = 148 allowed), the client CPU
# per request (user + system of the 4 processes), and for the Redis run
# the Redis calls per request (INFO commandstats: the script calls, and
# every command including those the script runs) and Redis's own CPU.
#
#   bash bench/shared_limits.sh [BUILD_DIR] [REQUESTS_PER_PROCESS]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-2500}
PLM="$BUILD/parallm"
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/plm-bench-shared-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
cd "$TMP"
command -v redis-server >/dev/null ||
    { echo "redis-server missing (Debian package redis-server)" >&2; exit 1; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    >redis.log 2>&1 &
PIDS+=($!)
for i in $(seq 1 500); do
    redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.02
done

python3 - "$N" <<'PY'
import json, sys
n = int(sys.argv[1])
for p in range(4):
    with open(f"in.{p}", "w") as f:
        for i in range(n):
            f.write(json.dumps({"custom_id": f"p{p}-{i}", "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "bench", "max_tokens": 16, "messages": [
                    {"role": "user", "content": f"hello {p} {i}"}]}}) + "\n")
PY

# run NAME RPM [--shared-limits URL]
run() {
    local name=$1 rpm=$2
    shift 2
    rm -f port mock.log out.*
    "$PLM" mock --port 0 --port-file port --rpm 6000 --ratelimit-headers \
        --latency 20ms --log mock.log 2>mock.err &
    local mock=$!
    PIDS+=($mock)
    for i in $(seq 1 500); do [ -s port ] && break; sleep 0.02; done
    redis-cli -p "$RPORT" config resetstat >/dev/null
    redis-cli -p "$RPORT" flushall >/dev/null
    local t0 t1 pids=() i
    t0=$(date +%s.%N)
    for i in 0 1 2 3; do
        OPENAI_API_KEY=sk-bench /usr/bin/time -f "%U %S" -o "cpu.$i" \
            "$PLM" run "in.$i" -o "out.$i" \
            --base-url "http://127.0.0.1:$(cat port)" --rpm "$rpm" -c 50 \
            --no-progress -q "$@" 2>"err.$i" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    t1=$(date +%s.%N)
    kill "$mock" 2>/dev/null || true
    wait "$mock" 2>/dev/null || true
    python3 - "$name" "$t0" "$t1" "$((4 * N))" "$RPORT" <<'PY'
import json, subprocess, sys, datetime
name, t0, t1, total, rport = sys.argv[1], float(sys.argv[2]), \
    float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ok = 0
for p in range(4):
    for line in open(f"out.{p}"):
        r = json.loads(line)
        if r["error"] is None and r["response"]["status_code"] == 200:
            ok += 1
cpu = sum(sum(float(x) for x in open(f"cpu.{p}").read().split()[-2:])
          for p in range(4))
def when(t):
    return datetime.datetime.strptime(t.replace("Z", "+0000"),
        "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
times, limited = [], 0
for line in open("mock.log"):
    r = json.loads(line)
    times.append(when(r["time"]))
    limited += r["status"] == 429
times.sort()
best = j = 0
for i, t in enumerate(times):
    while times[j] <= t - 1.0:
        j += 1
    best = max(best, i - j + 1)
wall = t1 - t0
span = times[-1] - times[0]
line = (f"{name:6} ok {ok}/{total}  wall {wall:6.1f} s  "
        f"rate {ok / wall * 60:6.0f}/min (arrivals {(len(times) - 1) / span * 60:5.0f}/min)  "
        f"429s {limited}  max1s {best}  cpu/request {cpu / total * 1e6:5.0f} us")
if name == "redis":
    stats = subprocess.run(["redis-cli", "-p", rport, "info", "commandstats"],
                           capture_output=True, text=True).stdout
    calls, every = 0, 0
    for l in stats.splitlines():
        if l.startswith("cmdstat_"):
            c = int(l.split("calls=")[1].split(",")[0])
            every += c
            if l.split(":")[0] in ("cmdstat_evalsha", "cmdstat_eval"):
                calls += c
    info = subprocess.run(["redis-cli", "-p", rport, "info", "cpu"],
                          capture_output=True, text=True).stdout
    rcpu = sum(float(l.split(":")[1]) for l in info.splitlines()
               if l.startswith(("used_cpu_sys:", "used_cpu_user:")))
    line += (f"  redis calls/request {calls / total:.2f} "
             f"(commands {every / total:.2f})  redis cpu (server life) {rcpu:.2f} s")
print(line)
PY
}

echo "4 processes x $N requests, mock limit 6000 RPM, -c 50, latency 20 ms"
run redis 6000 --shared-limits "redis://127.0.0.1:$RPORT/0?namespace=bench"
run split 1500
