#!/usr/bin/env bash
# SIGINT/SIGTERM: the first stops new requests and lets those in flight
# finish (all written), the second cancels those in flight (not written:
# they run on resume); the summary is printed and the exit code is 4.
source "$(dirname "$0")/run_lib.sh"

# Waves of 5 requests every 300 ms: the first signal arrives while the
# second wave is in flight, which must still be written.
gen_input in.jsonl 60
"$PLM" run in.jsonl -o out.jsonl --provider mock --mock-latency 500 -c 5 \
    2>err.txt &
pid=$!
BG_PIDS+=("$pid")
wait_lines out.jsonl 5
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ $rc = 4 ] || fail "SIGINT exit $rc, want 4: $(cat err.txt)"
n=$(line_count out.jsonl)
[ "$n" -ge 10 ] && [ "$n" -lt 60 ] || fail "$n lines after SIGINT"
grep -q "letting requests in flight finish" err.txt || fail "no notice"
grep -q "^Executed $n LLM requests in parallel" err.txt || fail "summary: $(cat err.txt)"
grep -q "interrupted" err.txt || fail "outcome not interrupted"
python3 - <<'PY' || fail "lines after SIGINT are not all successes"
import json
for l in open("out.jsonl"):
    r = json.loads(l)
    assert r["error"] is None and r["response"]["status_code"] == 200
PY

# Two signals: requests that never answer are cancelled and not written.
python3 - <<'PY'
import json
with open("hang.jsonl", "w") as f:
    for i in range(6):
        text = "fast" if i == 0 else f"slow {i} [mock fault=hang]"
        f.write(json.dumps({"custom_id": f"h{i}", "method": "POST",
            "url": "/v1/chat/completions", "body": {"model": "m",
            "messages": [{"role": "user", "content": text}]}}) + "\n")
PY
"$PLM" run hang.jsonl -o hang.out --provider mock --mock-latency 0 -c 10 \
    2>err2.txt &
pid=$!
BG_PIDS+=("$pid")
wait_lines hang.out 1
kill -TERM "$pid"
# Bounded wait for the notice of the first signal before the second.
for i in $(seq 1 500); do
    grep -q "letting requests" err2.txt && break
    sleep 0.02
done
kill -TERM "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ $rc = 4 ] || fail "second signal exit $rc: $(cat err2.txt)"
[ "$(line_count hang.out)" = 1 ] || fail "cancelled requests were written"
grep -q "not run 5 (will run on resume)" err2.txt || fail "$(cat err2.txt)"

# Resume completes the first run.
"$PLM" run in.jsonl -o out.jsonl --provider mock --mock-latency 1 -c 20 -q \
    || fail "resume exit $?"
read -r ok bad lines < <(check_output out.jsonl in.jsonl)
[ "$ok" = 60 ] && [ "$lines" = 60 ] || fail "resume: ok=$ok lines=$lines"
echo ok
