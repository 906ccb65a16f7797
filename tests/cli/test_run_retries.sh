#!/usr/bin/env bash
# Retries and time limits through the command: a 429 storm ends with every
# request succeeded; --request-timeout turns a slow answer into a "timeout"
# error line; --timeout stops the whole run (exit 5) without recording the
# requests it cut short; auth and quota errors stop the run at once (exit 6).
source "$(dirname "$0")/run_lib.sh"

gen_input storm.jsonl 30 "hi [mock status=429 times=2 retry_after=0.02]"
"$PLM" run storm.jsonl -o storm.out --provider mock --mock-latency 1 -c 10 \
    --summary-json s.json 2>err.txt || fail "429 storm exit $?: $(cat err.txt)"
read -r ok bad lines < <(check_output storm.out storm.jsonl)
[ "$ok" = 30 ] && [ "$lines" = 30 ] || fail "storm: $ok/$lines"
python3 -c '
import json; s = json.load(open("s.json"))
assert s["retries"] == 60 and s["rate_limited"] == 60 and s["failed"] == 0, s' \
    || fail "storm summary: $(cat s.json)"

# Retries exhausted: the 429 answer is recorded with its status and body.
gen_input exhaust.jsonl 3 "hi [mock status=429 retry_after=0.01]"
set +e
"$PLM" run exhaust.jsonl -o exhaust.out --provider mock --retries 1 -q
rc=$?
set -e
[ $rc = 1 ] || fail "exhausted exit $rc"
python3 - <<'PY' || fail "exhausted retries line"
import json
for l in open("exhaust.out"):
    r = json.loads(l)
    assert r["error"] is None and r["response"]["status_code"] == 429, r
PY

# Per-attempt timeout.
gen_input slow.jsonl 2 "slow [mock latency=5000]"
set +e
"$PLM" run slow.jsonl -o slow.out --provider mock --request-timeout 0.2 \
    --retries 0 -q
rc=$?
set -e
[ $rc = 1 ] || fail "request-timeout exit $rc"
python3 - <<'PY' || fail "timeout error line"
import json
recs = [json.loads(l) for l in open("slow.out")]
assert len(recs) == 2
for r in recs:
    assert r["response"] is None and r["error"]["code"] == "timeout", r
PY

# Whole-run deadline: hung requests are cut and not recorded.
python3 - <<'PY'
import json
with open("dl.jsonl", "w") as f:
    for i in range(8):
        text = f"q {i}" + (" [mock fault=hang]" if i >= 3 else "")
        f.write(json.dumps({"custom_id": f"d{i}", "method": "POST",
            "url": "/v1/chat/completions", "body": {"model": "m",
            "messages": [{"role": "user", "content": text}]}}) + "\n")
PY
set +e
timeout 60 "$PLM" run dl.jsonl -o dl.out --provider mock --mock-latency 0 \
    -c 8 --timeout 0.5 2>err.txt
rc=$?
set -e
[ $rc = 5 ] || fail "--timeout exit $rc: $(cat err.txt)"
[ "$(line_count dl.out)" = 3 ] || fail "--timeout recorded cut requests"
grep -q "not run 5" err.txt || fail "not-run count: $(cat err.txt)"

# Authentication failure: one message, the run stops early.
gen_input auth.jsonl 40 "x [mock status=401]"
set +e
"$PLM" run auth.jsonl -o auth.out --provider mock -c 2 2>err.txt
rc=$?
set -e
[ $rc = 6 ] || fail "401 exit $rc"
[ "$(grep -c "authentication failed" err.txt)" = 1 ] || fail "$(cat err.txt)"
[ "$(line_count auth.out)" -le 2 ] || fail "401 did not stop the run"

gen_input quota.jsonl 40 "x [mock status=429 error_code=insufficient_quota]"
set +e
"$PLM" run quota.jsonl -o quota.out --provider mock -c 1 2>err.txt
rc=$?
set -e
[ $rc = 6 ] || fail "quota exit $rc: $(cat err.txt)"
grep -q "quota exhausted" err.txt || fail "$(cat err.txt)"
[ "$(line_count quota.out)" = 1 ] || fail "quota did not stop the run"
echo ok
