#!/usr/bin/env bash
# A Redis that stops answering (SIGSTOP: its connections stay open, its
# kernel even accepts new ones) in the middle of a run of four processes
# sharing --rpm 1200: each notices within the command time limit, warns
# once, goes on at its local share, and rejoins after SIGCONT; every
# request succeeds exactly once and the pace stays within the limit.
REDIS_TESTS=$(cd "$(dirname "$0")" && pwd)
source "$REDIS_TESTS/../cli/run_lib.sh"
source "$REDIS_TESTS/redis_lib.sh"

start_redis
start_mock --rpm 1200 --ratelimit-headers
export OPENAI_API_KEY=sk-shared-stall-test
URL="redis://127.0.0.1:$REDIS_PORT?namespace=stall"
gen_input all.jsonl 240 "stall"
split_input all.jsonl 4
run_four "$URL" -v
wait_arrivals 40 || true
kill -STOP "$REDIS_PID"
stopped_at=$(line_count mock.log)
# Without answers from Redis the run goes on: 60 more requests (3 s).
wait_arrivals $((stopped_at + 60)) ||
    { kill -CONT "$REDIS_PID"; fail "the run stalled with Redis stopped"; }
kill -CONT "$REDIS_PID"
for i in 0 1 2 3; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    [ "$rc" -eq 0 ] || fail "process $i exit $rc: $(tail -3 err.$i)"
    read -r ok _ _ < <(check_output out.$i all.jsonl.$i)
    [ "$ok" -eq 60 ] || fail "process $i: $ok of 60 succeeded"
    [ "$(grep -c "warning: shared limits: Redis at .* failed" err.$i)" -eq 1 ] ||
        fail "process $i: no single warning: $(cat err.$i)"
    grep -q "time limit" err.$i || fail "process $i: $(cat err.$i)"
    grep -q "is back" err.$i || fail "process $i did not rejoin: $(cat err.$i)"
done
read -r _ n _ limited _ max1s _ rate < <(arrivals)
echo "arrivals: $n requests, $limited 429s, at most $max1s in 1 s, $rate/s"
[ "$n" -eq 240 ] || fail "the mock saw $n requests for 240"
[ "$limited" -eq 0 ] || fail "$limited answers were 429"
echo ok
