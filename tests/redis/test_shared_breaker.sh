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
fault_input a.jsonl "[mock status=500 times=1]"
gen_input b.jsonl 10 "b"
"$PLM" run a.jsonl -o a.out --base-url "$MOCK_URL" --rpm 600 -c 4 \
    --breaker-failures 2 --breaker-cooldown 3s --no-progress \
    --shared-limits "$URL" 2>err.a &
apid=$!
BG_PIDS+=("$apid")
wait_pause breakertest
"$PLM" run b.jsonl -o b.out --base-url "$MOCK_URL" --rpm 600 -c 4 \
    --no-progress --shared-limits "$URL" 2>err.b || fail "B: $(tail -3 err.b)"
wait "$apid" || fail "A: $(tail -3 err.a)"
read -r ok _ _ < <(check_output a.out a.jsonl)
[ "$ok" -eq 4 ] || fail "A: $ok of 4"
read -r ok _ _ < <(check_output b.out b.jsonl)
[ "$ok" -eq 10 ] || fail "B: $ok of 10"
# The breaker opened on A's second 500 (A's other requests may be held by
# the shared pacing and meet their 500 only after the cooldown).
held_gap 500 2 2.5 || fail "B did not wait for A's breaker"
echo ok
