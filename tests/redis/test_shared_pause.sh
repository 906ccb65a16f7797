#!/usr/bin/env bash
# One process's 429s pause the others: process A's four requests are each
# answered 429 with Retry-After: 3 (429s from many requests: its budget is
# spent), so A pauses the endpoint for 3 s and publishes the pause in
# Redis. Process B, started once the pause is in Redis, must send nothing
# before the pause ends (without the shared pause it would send at once),
# and both must then get every request through.
REDIS_TESTS=$(cd "$(dirname "$0")" && pwd)
source "$REDIS_TESTS/../cli/run_lib.sh"
source "$REDIS_TESTS/redis_lib.sh"

start_redis
start_mock
export OPENAI_API_KEY=sk-shared-pause-test
URL="redis://127.0.0.1:$REDIS_PORT?namespace=pausetest"
fault_input a.jsonl "[mock status=429 times=1 retry_after=3]"
gen_input b.jsonl 10 "b"
"$PLM" run a.jsonl -o a.out --base-url "$MOCK_URL" --rpm 600 -c 4 \
    --no-progress --shared-limits "$URL" 2>err.a &
apid=$!
BG_PIDS+=("$apid")
wait_pause pausetest
"$PLM" run b.jsonl -o b.out --base-url "$MOCK_URL" --rpm 600 -c 4 \
    --no-progress --shared-limits "$URL" 2>err.b || fail "B: $(tail -3 err.b)"
wait "$apid" || fail "A: $(tail -3 err.a)"
read -r ok _ _ < <(check_output a.out a.jsonl)
[ "$ok" -eq 4 ] || fail "A: $ok of 4"
read -r ok _ _ < <(check_output b.out b.jsonl)
[ "$ok" -eq 10 ] || fail "B: $ok of 10"
# The gap between A's last 429 and B's first arrival, by the mock's clock.
held_gap 429 4 2.5 || fail "B did not wait for the pause"
echo ok
