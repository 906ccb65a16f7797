#!/usr/bin/env bash
# One process's circuit breaker holds the others: process A's four
# requests are each answered 500 once, so with --breaker-failures 2 its
# breaker opens and holds its requests for the 3 s cooldown, and it
# publishes that hold in Redis (the shared pause). Process B, started once
# the hold is in Redis, must send nothing before it ends (without sharing
# it would send at once), and both must then get every request through.
REDIS_TESTS=$(cd "$(dirname "$0")" && pwd)
source "$REDIS_TESTS/../cli/run_lib.sh"
source "$REDIS_TESTS/redis_lib.sh"

start_redis
start_mock
export OPENAI_API_KEY=sk-shared-breaker-test
URL="redis://127.0.0.1:$REDIS_PORT?namespace=breakertest"
python3 - <<'PY'
import json
with open("a.jsonl", "w") as f:
    for i in range(4):
        f.write(json.dumps({"custom_id": f"a{i}", "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user",
                "content": f"a{i} [mock status=500 times=1]"}]}})
            + "\n")
PY
gen_input b.jsonl 10 "b"
"$PLM" run a.jsonl -o a.out --base-url "$MOCK_URL" --rpm 600 -c 4 \
    --breaker-failures 2 --breaker-cooldown 3s --no-progress \
    --shared-limits "$URL" 2>err.a &
apid=$!
BG_PIDS+=("$apid")
key=""
for i in $(seq 1 500); do
    key=$(rcli --scan --pattern 'parallm:{breakertest}:ep:*:pause')
    [ -n "$key" ] && break
    sleep 0.02
done
[ -n "$key" ] || fail "the open breaker was not published"
ttl=$(rcli pttl "$key")
[ "$ttl" -gt 1000 ] || fail "hold ttl $ttl ms"
"$PLM" run b.jsonl -o b.out --base-url "$MOCK_URL" --rpm 600 -c 4 \
    --no-progress --shared-limits "$URL" 2>err.b || fail "B: $(tail -3 err.b)"
wait "$apid" || fail "A: $(tail -3 err.a)"
read -r ok _ _ < <(check_output a.out a.jsonl)
[ "$ok" -eq 4 ] || fail "A: $ok of 4"
read -r ok _ _ < <(check_output b.out b.jsonl)
[ "$ok" -eq 10 ] || fail "B: $ok of 10"
# The gap between A's breaker opening and B's first arrival, by the
# mock's clock.
python3 - <<'PY' || fail "B did not wait for A's breaker"
import datetime, json, sys
def when(t):
    return datetime.datetime.strptime(t.replace("Z", "+0000"),
        "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
recs = [json.loads(l) for l in open("mock.log")]
# The breaker opened on A's second 500 (A's other requests may be held by
# the shared pacing and meet their 500 only after the cooldown).
opened = sorted(when(r["time"]) for r in recs if r["status"] == 500)[1]
firstb = min(when(r["time"]) for r in recs if r["user_text"].startswith("b "))
print("B's first request %.2f s after A's breaker opened" % (firstb - opened))
sys.exit(0 if firstb - opened >= 2.5 else 1)
PY
echo ok
