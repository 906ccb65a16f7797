# Helpers of the shared-limits tests (sourced after tests/cli/run_lib.sh,
# with REDIS_TESTS set to this folder):
# a private redis-server on a free loopback port without persistence, the
# mock, and an input split between processes. Everything started here is
# killed on exit by run_lib.sh's cleanup.

# free_port: a loopback port the kernel just handed out.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_redis [ARGS...]: starts redis-server (extra ARGS appended) on
# REDIS_PORT (chosen when unset) and waits, bounded, until it answers.
# Sets REDIS_PID. Fails, naming the package, when redis-server is missing.
start_redis() {
    command -v redis-server >/dev/null 2>&1 ||
        fail "redis-server not found: install the Debian package redis-server (scripts/install-deps.sh)"
    command -v redis-cli >/dev/null 2>&1 ||
        fail "redis-cli not found: install the Debian package redis-tools"
    REDIS_PORT=${REDIS_PORT:-$(free_port)}
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no "$@" >>redis.log 2>&1 &
    REDIS_PID=$!
    BG_PIDS+=("$REDIS_PID")
    local i
    for i in $(seq 1 500); do
        if redis-cli -p "$REDIS_PORT" ${REDIS_PASS:+-a "$REDIS_PASS"} \
            --no-auth-warning ping 2>/dev/null | grep -q PONG; then
            return 0
        fi
        kill -0 "$REDIS_PID" 2>/dev/null || fail "redis-server exited: $(tail -3 redis.log)"
        sleep 0.02
    done
    fail "redis-server did not answer"
}

# rcli ARGS...: redis-cli against the test's server.
rcli() {
    redis-cli -p "$REDIS_PORT" ${REDIS_PASS:+-a "$REDIS_PASS"} --no-auth-warning "$@"
}

# start_mock ARGS...: `parallm mock` on a free port with ARGS, logging
# every request to mock.log; sets MOCK_URL.
start_mock() {
    rm -f port
    "$PLM" mock --port 0 --port-file port --log mock.log "$@" 2>mock.err &
    BG_PIDS+=($!)
    local i
    for i in $(seq 1 1500); do [ -s port ] && break; sleep 0.02; done
    [ -s port ] || fail "mock did not start: $(cat mock.err)"
    MOCK_URL="http://127.0.0.1:$(cat port)"
}

# split_input FILE PARTS: FILE.0 .. FILE.(PARTS-1), round robin.
split_input() {
    python3 - "$1" "$2" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
outs = [open(f"{path}.{i}", "w") for i in range(n)]
for i, line in enumerate(open(path)):
    outs[i % n].write(line)
PY
}

# arrivals: "requests N limited N max1s N rate R" from mock.log.
arrivals() { python3 "$REDIS_TESTS/arrivals.py" mock.log; }

# fault_input FILE DIRECTIVE: four chat lines "a0 DIRECTIVE" .. "a3 ...",
# custom_ids a0..a3 (the process whose faults the others must feel).
fault_input() {
    python3 - "$1" "$2" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(4):
        f.write(json.dumps({"custom_id": f"a{i}", "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user",
                "content": f"a{i} {sys.argv[2]}"}]}}) + "\n")
PY
}

# wait_pause NS: waits (bounded) until an endpoint of namespace NS has a
# shared pause in Redis; fails unless its TTL is over a second.
wait_pause() {
    local key="" i ttl
    for i in $(seq 1 500); do
        key=$(rcli --scan --pattern "parallm:{$1}:ep:*:pause")
        [ -n "$key" ] && break
        sleep 0.02
    done
    [ -n "$key" ] || fail "no pause was published"
    ttl=$(rcli pttl "$key")
    [ "$ttl" -gt 1000 ] || fail "pause ttl $ttl ms"
}

# held_gap STATUS NTH MIN: the first arrival of a line "b ..." came at
# least MIN seconds after the NTH (1-based) answer with STATUS, by the
# mock's clock (mock.log).
held_gap() {
    python3 - "$@" <<'PY'
import datetime, json, sys
status, nth, least = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def when(t):
    return datetime.datetime.strptime(t.replace("Z", "+0000"),
        "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
recs = [json.loads(l) for l in open("mock.log")]
ref = sorted(when(r["time"]) for r in recs if r["status"] == status)[nth - 1]
firstb = min(when(r["time"]) for r in recs if r["user_text"].startswith("b "))
print("B's first request %.2f s after answer %d with status %d"
      % (firstb - ref, nth, status))
sys.exit(0 if firstb - ref >= least else 1)
PY
}

# run_four URL ARGS...: four `parallm run` processes on all.jsonl.0..3
# (split_input), sharing the limits through URL at --rpm 1200 -c 20, each
# with ARGS appended; their pids in pids[], their stderr in err.0..3.
run_four() {
    local url=$1 i
    shift
    pids=()
    for i in 0 1 2 3; do
        "$PLM" run all.jsonl.$i -o out.$i --base-url "$MOCK_URL" --rpm 1200 \
            -c 20 --no-progress "$@" --shared-limits "$url" 2>err.$i &
        pids+=($!)
    done
}

# wait_arrivals N: waits (bounded, 30 s) until the mock has logged N
# requests; false if it has not.
wait_arrivals() {
    local i
    for i in $(seq 1 1500); do
        [ "$(line_count mock.log)" -ge "$1" ] && return 0
        sleep 0.02
    done
    [ "$(line_count mock.log)" -ge "$1" ]
}
