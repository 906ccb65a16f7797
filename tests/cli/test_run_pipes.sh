#!/usr/bin/env bash
# Output to a pipe or a FIFO: opened write-only, no resume (said on
# stderr), -o - is standard output; a reader that goes away (EPIPE) ends
# the run with exit 3; a FIFO that nobody opens or nobody reads does not
# hang the run: a signal (two for a blocked write) stops it. SIGHUP stops
# a run as SIGTERM does.
source "$(dirname "$0")/run_lib.sh"

# wait_wchan PID WORD: polls (bounded) until PID sleeps in a kernel
# function whose name holds WORD (fifo_open, pipe_write).
wait_wchan() {
    local i
    for i in $(seq 1 1500); do
        grep -q "$2" "/proc/$1/wchan" 2>/dev/null && return 0
        sleep 0.02
    done
    fail "process $1 never blocked in $2 ($(cat /proc/$1/wchan 2>/dev/null))"
}
# wait_text FILE TEXT: polls (bounded) until FILE holds TEXT.
wait_text() {
    local i
    for i in $(seq 1 1500); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    fail "no '$2' in $1: $(cat "$1")"
}

gen_input in.jsonl 20
# -o -: standard output, every line whole.
set +e
"$PLM" run in.jsonl -o - --provider mock --mock-latency 0 2>err.txt >stdout.jsonl
rc=$?
set -e
[ $rc = 0 ] || fail "-o - exit $rc: $(cat err.txt)"
grep -q "standard output is not a regular file: nothing to resume from" err.txt \
    || fail "no note: $(cat err.txt)"
read -r ok bad lines < <(check_output stdout.jsonl in.jsonl)
[ "$ok" = 20 ] && [ "$lines" = 20 ] || fail "-o -: ok=$ok lines=$lines"

# A reader that goes away: exit 3, "Broken pipe".
gen_input big.jsonl 1000
set +e
"$PLM" run big.jsonl -o /dev/stdout --provider mock --mock-latency 0 -c 50 \
    2>err.txt | head -c1 >/dev/null
rc=${PIPESTATUS[0]}
set -e
[ $rc = 3 ] || fail "EPIPE exit $rc: $(tail -3 err.txt)"
grep -q "cannot write /dev/stdout: Broken pipe; stopping" err.txt \
    || fail "EPIPE message: $(cat err.txt)"

# A FIFO nobody opens: the run waits for a reader; SIGINT ends it (4).
mkfifo nobody.fifo
"$PLM" run in.jsonl -o nobody.fifo --provider mock 2>err.txt &
pid=$!
BG_PIDS+=("$pid")
wait_wchan "$pid" "fifo_open\|wait_for_partner"
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ $rc = 4 ] || fail "FIFO without reader: exit $rc: $(cat err.txt)"

# A FIFO whose reader never reads: the writes block; the first SIGINT
# asks to finish, the second gives up the blocked write (exit 4), and
# what the FIFO holds is whole lines.
mkfifo stuck.fifo
exec 7<>stuck.fifo
"$PLM" run big.jsonl -o stuck.fifo --provider mock --mock-latency 0 -c 50 \
    2>err.txt &
pid=$!
BG_PIDS+=("$pid")
wait_wchan "$pid" pipe_write
kill -INT "$pid"
wait_text err.txt "letting requests in flight finish"
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ $rc = 4 ] || fail "stuck FIFO: exit $rc: $(cat err.txt)"
grep -q "stopped writing to stuck.fifo: interrupted" err.txt || fail "$(cat err.txt)"
python3 - <<'PY' || fail "partial line in the FIFO"
import json, os
fd = os.open("stuck.fifo", os.O_RDONLY | os.O_NONBLOCK)
data = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        break
    if not chunk:
        break
    data += chunk
assert data and data.endswith(b"\n"), data[-100:]
for line in data.splitlines():
    json.loads(line)
PY
exec 7<&-

# SIGHUP: like SIGTERM, requests in flight finish, the summary is
# printed, exit 4, whole lines.
gen_input hup.jsonl 60
"$PLM" run hup.jsonl -o hup.jsonl.out --provider mock --mock-latency 500 -c 5 \
    2>err.txt &
pid=$!
BG_PIDS+=("$pid")
wait_lines hup.jsonl.out 5
kill -HUP "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ $rc = 4 ] || fail "SIGHUP exit $rc: $(cat err.txt)"
grep -q "^Executed" err.txt || fail "no summary after SIGHUP: $(cat err.txt)"
python3 -c '
import json
for l in open("hup.jsonl.out"): json.loads(l)' || fail "SIGHUP left a partial line"
echo ok
