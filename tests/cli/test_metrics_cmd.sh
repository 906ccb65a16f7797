#!/usr/bin/env bash
# parallm run's metrics and trace outputs on the embedded mock: --trace
# has one line per attempt with every field and monotone times, and the
# retry's wait and cause; --metrics-file holds the final counts and passes
# `promtool check metrics`; --metrics-listen serves /metrics and
# /api/state and, with --metrics-linger, stays up until a final scrape;
# a metrics file in a missing directory or a listener port in use is a
# usage error (exit 2) before anything is sent.
source "$(dirname "$0")/run_lib.sh"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# 20 requests, each refused once with a 429 and a Retry-After of 50 ms.
gen_input in.jsonl 20 "hi [mock status=429 times=1 retry_after=0.05]"
"$PLM" run in.jsonl -o out.jsonl --provider mock --mock-latency 5 -c 4 \
    --trace trace.jsonl --metrics-file m.prom --summary-json sum.json -q \
    2>err.txt || fail "run exit $?: $(cat err.txt)"
read -r ok bad lines < <(check_output out.jsonl in.jsonl)
[ "$ok" = 20 ] || fail "want 20 successes: $ok"

python3 - trace.jsonl sum.json <<'PY' || fail "trace: $(head -3 trace.jsonl)"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
summary = json.load(open(sys.argv[2]))
head = json.loads(lines[0])
assert head["trace"] == "parallm" and head["version"] == 1, head
assert head["started_at"].endswith("Z") and head["max_concurrent"] == 4, head
assert head["rpm"] is None and head["tpm"] is None, head
recs = [json.loads(l) for l in lines[1:]]
# One line per attempt: 20 requests, 20 retries.
assert len(recs) == 20 + summary["retries"] == 40, (len(recs), summary)
keys = ["custom_id", "index", "attempt", "provider", "model", "queued_ms",
        "admitted_ms", "sent_ms", "first_byte_ms", "done_ms", "status",
        "class", "retry_wait_ms", "retry_reason", "prompt_tokens",
        "completion_tokens"]
by_id = {}
for r in recs:
    assert list(r.keys()) == keys, r
    t = [r["queued_ms"], r["admitted_ms"], r["sent_ms"], r["first_byte_ms"],
         r["done_ms"]]
    assert t == sorted(t) and t[0] >= 0, r
    by_id.setdefault(r["custom_id"], []).append(r)
assert sorted(by_id) == sorted(f"r{i}" for i in range(20))
for cid, rs in by_id.items():
    rs.sort(key=lambda r: r["attempt"])
    first, second = rs
    assert first["attempt"] == 1 and second["attempt"] == 2, rs
    assert first["status"] == 429 and first["class"] == "rate_limited", first
    # The server's delay, unless another request's 429 paused the
    # endpoint past it (requests run 4 at a time).
    assert first["retry_reason"] in ("retry_after", "pause"), first
    assert first["retry_wait_ms"] >= 50, first
    # The wait is the time from the 429 to the retry on the wire.
    assert abs(first["done_ms"] + first["retry_wait_ms"] - second["sent_ms"]) < 0.01, rs
    assert second["queued_ms"] >= first["done_ms"], rs
    assert second["status"] == 200 and second["class"] == "none", second
    assert second["retry_reason"] is None and second["retry_wait_ms"] is None
    assert second["prompt_tokens"] > 0 and second["completion_tokens"] > 0
    assert first["index"] == second["index"] == int(cid[1:]), rs
PY

if command -v promtool >/dev/null; then
    promtool check metrics < m.prom || fail "promtool rejects m.prom"
fi
grep -q '^parallm_llm_requests_total{provider="openai",model="m",class="none"} 20$' m.prom \
    || fail "metrics file: requests_total: $(grep requests_total m.prom)"
python3 - m.prom <<'PY' || fail "metrics file: retries_total: $(grep retries_total m.prom)"
import re, sys
n = sum(int(v) for v in re.findall(
    r'^parallm_llm_retries_total\{provider="openai",model="m",'
    r'reason="(?:retry_after|pause)"\} (\d+)$', open(sys.argv[1]).read(), re.M))
assert n == 20, n
PY
grep -q '^parallm_llm_rate_limited_total{provider="openai",model="m"} 20$' m.prom \
    || fail "metrics file: rate_limited_total"
ls m.prom.tmp.* 2>/dev/null && fail "a temporary metrics file was left"

# The listener: /api/state and /metrics while the run lingers; the run
# ends once /metrics was served with the final numbers.
gen_input plain.jsonl 30
port=$(free_port)
"$PLM" run plain.jsonl -o served.jsonl --provider mock --mock-latency 5 \
    --metrics-listen "$port" --metrics-linger 60 -q 2>err2.txt &
pid=$!
BG_PIDS+=("$pid")
python3 - "$port" <<'PY' || fail "listener: $(cat err2.txt)"
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + 60
state = None
while time.monotonic() < deadline:
    try:
        state = json.load(urllib.request.urlopen(base + "/api/state", timeout=5))
        if state["done"] == 30:
            break
    except OSError:
        pass
    time.sleep(0.05)
assert state and state["done"] == 30, state
for k in ("elapsed_s", "total", "done", "succeeded", "failed", "in_flight",
          "waiting", "concurrency_limit", "requests_per_s", "latency_ms",
          "retries", "errors", "tokens_per_min", "tpm_limit", "eta_s"):
    assert k in state, k
assert state["succeeded"] == 30 and state["total"] == 30, state
assert state["latency_ms"]["p50"] > 0, state
assert set(state["retries"]) == {"retry_after", "backoff", "budget", "pause",
                                 "breaker"}, state
try:
    urllib.request.urlopen(base + "/nope", timeout=5)
    raise AssertionError("404 expected")
except urllib.error.HTTPError as e:
    assert e.code == 404
text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
assert 'parallm_llm_requests_total{provider="openai",model="m",class="none"} 30' in text, text
PY
wait "$pid" || fail "lingering run exit $?: $(cat err2.txt)"
read -r ok bad lines < <(check_output served.jsonl plain.jsonl)
[ "$ok" = 30 ] || fail "served: want 30 successes: $ok"

# Bad outputs: exit 2, and nothing sent (the output is never created).
set +e
"$PLM" run plain.jsonl -o none1.jsonl --provider mock \
    --metrics-file "$T/missing/m.prom" 2>err3.txt
rc=$?
set -e
[ "$rc" = 2 ] || fail "missing directory: exit $rc"
grep -q "cannot write --metrics-file" err3.txt || fail "missing dir: $(cat err3.txt)"
[ ! -e none1.jsonl ] || fail "missing directory: the run started"

# A process holding a port (killed on exit).
python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open("busy.port.tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename("busy.port.tmp", "busy.port")
time.sleep(300)' &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s busy.port ] && break; sleep 0.02; done
[ -s busy.port ] || fail "no busy port"
set +e
"$PLM" run plain.jsonl -o none2.jsonl --provider mock \
    --metrics-listen "127.0.0.1:$(cat busy.port)" 2>err4.txt
rc=$?
set -e
[ "$rc" = 2 ] || fail "port in use: exit $rc"
grep -q "cannot listen on" err4.txt || fail "port in use: $(cat err4.txt)"
[ ! -e none2.jsonl ] || fail "port in use: the run started"
echo "ok"
