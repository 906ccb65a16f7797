#!/usr/bin/env bash
# parallm run's limit options on the embedded mock: a tier and an explicit
# --rpm run to success (the --rpm run paced, not sent at once), every
# limit option is accepted, bad values and unknown tiers are usage errors.
source "$(dirname "$0")/run_lib.sh"

gen_input in.jsonl 30

# A tier: its limits are far above 30 requests, all succeed.
"$PLM" run in.jsonl -o tier.jsonl --provider mock --mock-latency 5 \
    --tier openai-1 -q 2>err.txt || fail "--tier run exit $?: $(cat err.txt)"
read -r ok bad lines < <(check_output tier.jsonl in.jsonl)
[ "$ok" = 30 ] && [ "$lines" = 30 ] || fail "tier: want 30 successes: $ok/$lines"

# 600 RPM overrides the tier's 500: a burst of about 10, then one every
# 0.1 s, so 30 requests take well over a second (they would take a few
# milliseconds unpaced).
start=$(date +%s%N)
"$PLM" run in.jsonl -o rpm.jsonl --provider mock --mock-latency 0 \
    --tier anthropic-1 --rpm 600 -c 8 --summary-json sum.json -q \
    2>err.txt || fail "--rpm run exit $?: $(cat err.txt)"
end=$(date +%s%N)
read -r ok bad lines < <(check_output rpm.jsonl in.jsonl)
[ "$ok" = 30 ] || fail "rpm: want 30 successes: $ok"
[ $(( (end - start) / 1000000 )) -ge 1500 ] || fail "rpm: not paced"
python3 - <<'PY' || fail "rpm: summary shows 429s"
import json
s = json.load(open("sum.json"))
assert s["succeeded"] == 30 and s["rate_limited"] == 0, s
PY

# Every option at once.
"$PLM" run in.jsonl -o all.jsonl --provider mock --mock-latency 0 \
    --tier local --tpm 1000000 --adaptive --breaker-failures 3 \
    --breaker-cooldown 0.5 --retry-budget 0.5 -q 2>err.txt \
    || fail "all options exit $?: $(cat err.txt)"
read -r ok bad lines < <(check_output all.jsonl in.jsonl)
[ "$ok" = 30 ] || fail "all options: want 30 successes: $ok"
"$PLM" run in.jsonl -o off.jsonl --provider mock --mock-latency 0 \
    --breaker-failures 0 --retry-budget off -q 2>err.txt \
    || fail "off values exit $?: $(cat err.txt)"

# A request that can never fit --tpm fails alone, unsent.
python3 - <<'PY'
import json
with open("big.jsonl", "w") as f:
    for i, mt in enumerate([16, 50000, 16]):
        f.write(json.dumps({"custom_id": f"b{i}", "method": "POST",
            "url": "/v1/chat/completions", "body": {"model": "m",
            "max_tokens": mt, "messages": [{"role": "user",
            "content": f"big {i}"}]}}) + "\n")
PY
set +e
"$PLM" run big.jsonl -o big.out --provider mock --tpm 10000 -q 2>err.txt
rc=$?
set -e
[ "$rc" = 1 ] || fail "never-fitting request: exit $rc, want 1"
python3 - <<'PY' || fail "never-fitting request not reported as such"
import json
rows = {json.loads(l)["custom_id"]: json.loads(l) for l in open("big.out")}
assert rows["b0"]["response"]["status_code"] == 200
assert rows["b2"]["response"]["status_code"] == 200
assert rows["b1"]["response"] is None
assert rows["b1"]["error"]["code"] == "rate_budget_exceeded", rows["b1"]
PY

# Usage errors: exit 2, nothing written.
for args in "--tier nope" "--rpm -5" "--rpm abc" "--tpm 1e400" \
            "--breaker-failures -1" "--breaker-cooldown 0" \
            "--retry-budget 0" "--retry-budget x"; do
    set +e
    # shellcheck disable=SC2086
    "$PLM" run in.jsonl -o bad.jsonl --provider mock $args 2>err.txt
    rc=$?
    set -e
    [ "$rc" = 2 ] || fail "'$args': exit $rc, want 2"
    [ ! -s bad.jsonl ] || fail "'$args' wrote output"
done
"$PLM" run in.jsonl -o x.jsonl --provider mock --tier nope 2>err.txt && true
grep -q "openai-1" err.txt || fail "unknown tier does not list the tiers"
"$PLM" run --help | grep -q -- "--breaker-cooldown" || fail "--help lacks limits"
echo ok
