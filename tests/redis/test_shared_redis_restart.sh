#!/usr/bin/env bash
# Redis SIGKILLed in the middle of a run of four processes sharing --rpm
# 1200, and started again (empty) 2 s later on the same port: the run
# goes on meanwhile on each process's local share, every request still
# succeeds exactly once (the mock sees each once), 429s stay under 2%,
# each process warns once that Redis failed and rejoins when it is back.
# The server wants a password: it never appears in what parallm prints.
REDIS_TESTS=$(cd "$(dirname "$0")" && pwd)
source "$REDIS_TESTS/../cli/run_lib.sh"
source "$REDIS_TESTS/redis_lib.sh"

REDIS_PASS="s3cret-pw"
start_redis --requirepass "$REDIS_PASS"
start_mock --rpm 1200 --ratelimit-headers
export OPENAI_API_KEY=sk-shared-restart-test
URL="redis://:$REDIS_PASS@127.0.0.1:$REDIS_PORT/2?namespace=restart"
gen_input all.jsonl 280 "restart"
split_input all.jsonl 4
run_four "$URL" -v
# Kill Redis once the run is well under way (2 s of requests).
wait_arrivals 40 || fail "the run did not start"
rcli -n 2 --scan --pattern 'parallm:{restart}:ep:*' | grep -q . ||
    fail "no endpoint key before the kill"
kill -9 "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
killed_at=$(line_count mock.log)
# Without Redis the run goes on: 40 more requests (2 s at 20/s).
wait_arrivals $((killed_at + 40)) ||
    fail "the run stalled without Redis"
start_redis --requirepass "$REDIS_PASS"
for i in 0 1 2 3; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    [ "$rc" -eq 0 ] || fail "process $i exit $rc: $(tail -3 err.$i)"
    read -r ok _ _ < <(check_output out.$i all.jsonl.$i)
    [ "$ok" -eq 70 ] || fail "process $i: $ok of 70 succeeded"
    [ "$(grep -c "shared limits: Redis at 127.0.0.1:$REDIS_PORT failed" err.$i)" -eq 1 ] ||
        fail "process $i: no single warning: $(cat err.$i)"
    grep -q "is back" err.$i || fail "process $i did not rejoin: $(cat err.$i)"
    if grep -q "$REDIS_PASS" err.$i out.$i; then
        fail "process $i printed the password"
    fi
done
read -r _ n _ limited _ max1s _ rate < <(arrivals)
echo "arrivals: $n requests, $limited 429s, at most $max1s in 1 s, $rate/s"
ok=$((n - limited))
[ "$ok" -eq 280 ] || fail "the mock answered $ok requests with success for 280"
[ $((limited * 50)) -lt "$n" ] || fail "$limited of $n answers were 429"
# Rejoined: the endpoint's state is back in the restarted Redis.
rcli -n 2 --scan --pattern 'parallm:{restart}:ep:*' | grep -q . ||
    fail "no endpoint key after the restart"
echo ok
