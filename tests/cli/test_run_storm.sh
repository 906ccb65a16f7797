#!/usr/bin/env bash
# A fault storm with the command's default options: 600 requests at 60 in
# flight against `parallm mock` answering 20% 429 (with Retry-After), 5%
# 500, 5% connection resets, 2% 200 with the JSON cut off and 2% 529,
# seeded. Every request must end in one success line, exit 0, and the
# server must not have seen much more than the retries the faults force.
source "$(dirname "$0")/run_lib.sh"

gen_input storm.jsonl 600 "storm"
rm -f port
"$PLM" mock --port 0 --port-file port --latency 20ms --seed 7 \
    --mix-429 0.20 --mix-429-retry-after 0.2 --mix-500 0.05 \
    --mix-reset 0.05 --mix-cut 0.02 --mix-529 0.02 \
    --log mock.log 2>mock.err &
BG_PIDS+=($!)
for i in $(seq 1 1500); do [ -s port ] && break; sleep 0.02; done
[ -s port ] || fail "mock did not start: $(cat mock.err)"

export OPENAI_API_KEY=sk-storm-test-key
rc=0
"$PLM" run storm.jsonl -o storm.out --base-url "http://127.0.0.1:$(cat port)" \
    -c 60 --no-progress 2>err.txt || rc=$?
[ "$rc" -eq 0 ] || fail "storm run exit $rc: $(tail -5 err.txt)"
read -r ok failed lines < <(check_output storm.out storm.jsonl)
[ "$ok" -eq 600 ] || fail "succeeded $ok of 600"
# 34% of answers are faults: a client that gets everything through sends
# about N / 0.66 = 1.52 N on average; 1.7 N leaves room for the draws.
sent=$(line_count mock.log)
[ "$sent" -le 1020 ] || fail "the server saw $sent requests for 600"
# The mix's mistakes are not the user's: nothing about a breaker or a
# dead endpoint.
if grep -qi "dead\|unreachable" err.txt; then fail "$(cat err.txt)"; fi
echo "ok (server saw $sent requests)"
