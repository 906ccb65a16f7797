#!/usr/bin/env bash
# One duration syntax for every duration option of every subcommand: a
# number with an optional unit (ms, s, m, h), a bare number keeping the
# unit the option always had; and `--help`, docs/run.md and the man page
# naming them all DUR. Usage: test_durations.sh PATH_TO_PARALLM
. "$(dirname "$0")/run_lib.sh"
SRC=$(cd "$HERE/../.." && pwd)

# expect_exit CODE CMD...: runs CMD, which must exit with CODE.
expect_exit() {
    local want=$1 rc=0
    shift
    "$@" >out.txt 2>err.txt || rc=$?
    [ "$rc" = "$want" ] || fail "$* gave exit $rc, want $want: $(cat err.txt)"
}

gen_input in.jsonl 2

# --mock-latency: a bare number is ms (as it always was); units work too.
for v in 0 20 20ms 0.02s 1.5ms; do
    rm -f out.jsonl
    expect_exit 0 "$PLM" run in.jsonl -o out.jsonl --provider mock -q \
        --mock-latency "$v"
    [ "$(line_count out.jsonl)" = 2 ] || fail "--mock-latency $v: no output"
done
# The unit is honoured: a second of latency cannot answer sooner.
expect_exit 0 "$PLM" run in.jsonl -o slow.jsonl --provider mock -q \
    --mock-latency 1s --summary-json s.json
python3 - <<'PY' || fail "--mock-latency 1s answered too soon"
import json
s = json.load(open("s.json"))
assert s["elapsed_seconds"] >= 0.99, s
PY

# The seconds options of run take units and bare seconds.
for opt in --timeout --request-timeout --breaker-cooldown; do
    for v in 30 30s 500ms 1.5m 1h; do
        rm -f out.jsonl
        expect_exit 0 "$PLM" run in.jsonl -o out.jsonl --provider mock -q \
            --mock-latency 0 "$opt" "$v"
    done
done

# Refused values say what the syntax is, and send nothing.
for args in "--mock-latency 5x" "--mock-latency -1" "--mock-latency 2h" \
            "--mock-latency 1e3" "--timeout 0" "--timeout abc" \
            "--request-timeout 5 s" "--breaker-cooldown 1d"; do
    rm -f out.jsonl
    # shellcheck disable=SC2086
    expect_exit 2 "$PLM" run in.jsonl -o out.jsonl --provider mock $args
    grep -q "500ms\|50ms" err.txt || fail "$args: $(cat err.txt)"
    [ ! -s out.jsonl ] || fail "$args: something was sent"
done

# The other subcommands' duration options go through the same parser.
expect_exit 2 "$PLM" mock --latency 5x
expect_exit 2 "$PLM" mock --jitter 1d
expect_exit 2 "$PLM" mock --fault-retry-after 1.5x
expect_exit 2 "$PLM" mock --mix-429-retry-after -2
expect_exit 2 "$PLM" demo --latency 3q
expect_exit 2 "$PLM" describe --provider mock --timeout 5x in.jsonl
expect_exit 0 "$PLM" describe --provider mock --timeout 1m in.jsonl
expect_exit 0 "$PLM" describe --provider mock --timeout 60 in.jsonl
expect_exit 0 "$PLM" demo --latency 0.001s --sizes 1

# A mock's Retry-After: a bare number is in seconds, as in the header.
"$PLM" mock -p 0 --port-file port.txt --fault-rate 1 \
    --fault-retry-after 2 2>mock.err &
BG_PIDS+=($!)
for _ in $(seq 100); do [ -s port.txt ] && break; sleep 0.1; done
port=$(cat port.txt)
python3 - "$port" <<'PY' || fail "mock Retry-After"
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("POST", "/v1/chat/completions", json.dumps(
    {"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    {"Content-Type": "application/json"})
r = c.getresponse()
assert r.status == 429 and r.getheader("retry-after") == "2", \
    (r.status, r.getheaders())
PY

# --help, docs/run.md and the man page agree: every duration is DUR.
"$PLM" run --help >run.help
"$PLM" mock --help >mock.help
"$PLM" describe --help >describe.help
"$PLM" demo --help >demo.help
for opt in timeout request-timeout mock-latency breaker-cooldown; do
    grep -q -- "--$opt DUR" run.help || fail "run --help: --$opt"
    grep -q -- "\`--$opt DUR\`" "$SRC/docs/run.md" || fail "run.md: --$opt"
    grep -q -- "^\.BI \\\\-\\\\-${opt//-/\\\\-} \" DUR\"" "$SRC/docs/parallm.1" ||
        fail "parallm.1: --$opt"
done
for opt in latency jitter fault-retry-after mix-429-retry-after; do
    grep -q -- "--$opt DUR" mock.help || fail "mock --help: --$opt"
done
grep -q -- "--timeout DUR" describe.help || fail "describe --help"
grep -q -- "--latency DUR" demo.help || fail "demo --help"
if grep -n "SECONDS\| MS \| MS$\|\(cooldown\|after\) S " \
    run.help mock.help "$SRC/docs/run.md"; then
    fail "a duration option still named in seconds or ms only"
fi
# Each help says what a bare number means.
grep -q "bare number is in seconds" run.help || fail "run --help: bare"
grep -q "bare number is in ms" run.help || fail "run --help: bare ms"
grep -q "bare number is" mock.help || fail "mock --help: bare"
grep -q "bare number is in seconds" describe.help || fail "describe: bare"
echo ok
