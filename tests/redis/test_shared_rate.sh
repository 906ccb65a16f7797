#!/usr/bin/env bash
# Four `parallm run` processes on one input split four ways, each told
# --rpm 1200 and sharing it through Redis: together no 429, at least 95%
# of the rate, and no 1-second window over 1.5x the per-second rate (20/s:
# 30), read from the arrival times the mock logged. Without sharing, each
# would send 1200 RPM and the first second alone would hold about 4 x 10.
# Also: a rediss:// URL and a bad URL are usage errors, the limit learned
# from the mock's headers is published, and nothing is written outside the
# namespace.
REDIS_TESTS=$(cd "$(dirname "$0")" && pwd)
source "$REDIS_TESTS/../cli/run_lib.sh"
source "$REDIS_TESTS/redis_lib.sh"

export OPENAI_API_KEY=sk-shared-rate-test
gen_input x.jsonl 1
rc=0
"$PLM" run x.jsonl -o x.out --base-url http://127.0.0.1:1 --shared-limits rediss://127.0.0.1:1/0 \
    2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "rediss:// exit $rc"
grep -q "TLS" err.txt || fail "rediss:// message: $(cat err.txt)"
rc=0
PARALLM_SHARED_LIMITS="redis://:pw@host:notaport" "$PLM" run x.jsonl \
    -o x.out --base-url http://127.0.0.1:1 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "bad URL exit $rc"
grep -q "port" err.txt || fail "bad URL message: $(cat err.txt)"
if grep -q "pw@" err.txt; then fail "the password was shown: $(cat err.txt)"; fi

start_redis
rcli set outside:key keep >/dev/null
start_mock --rpm 1200 --ratelimit-headers
gen_input all.jsonl 240 "rate"
split_input all.jsonl 4
URL="redis://127.0.0.1:$REDIS_PORT/0?namespace=ratetest"
run_four "$URL"
for i in 0 1 2 3; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    [ "$rc" -eq 0 ] || fail "process $i exit $rc: $(tail -3 err.$i)"
    read -r ok failed lines < <(check_output out.$i all.jsonl.$i)
    [ "$ok" -eq 60 ] || fail "process $i: $ok of 60 succeeded"
done
read -r _ n _ limited _ max1s _ rate < <(arrivals)
echo "arrivals: $n requests, $limited 429s, at most $max1s in 1 s, $rate/s"
[ "$n" -eq 240 ] || fail "the mock saw $n requests for 240"
[ "$limited" -eq 0 ] || fail "$limited answers were 429"
[ "$max1s" -le 30 ] || fail "$max1s requests in one second (limit 30)"
python3 -c "import sys; sys.exit(0 if $rate >= 19.0 else 1)" ||
    fail "rate $rate/s is under 95% of 20/s"
# Only the namespace's keys, and the key outside it untouched.
rcli --scan | while read -r k; do
    case "$k" in
    "parallm:{ratetest}:"* | outside:key) ;;
    *) fail "unexpected key $k" ;;
    esac
done
[ "$(rcli get outside:key)" = keep ] || fail "outside:key changed"
[ -n "$(rcli --scan --pattern 'parallm:{ratetest}:ep:*')" ] ||
    fail "no endpoint key in Redis"
# Each process left the live set when its run ended.
[ "$(rcli zcard 'parallm:{ratetest}:procs')" -eq 0 ] ||
    fail "processes still counted as live: $(rcli zrange 'parallm:{ratetest}:procs' 0 -1)"
# The limit the mock's headers report was published for every process.
learned=$(rcli --scan --pattern 'parallm:{ratetest}:ep:*:learned')
[ "$(rcli hget "$learned" 1)" = 1200 ] || fail "learned RPM not published"
echo ok
