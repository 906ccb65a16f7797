#!/usr/bin/env bash
# A re-run finishes the job: every input request without a success in the
# output is sent again (failures included; --skip-failed keeps them), a
# request whose input line changed is sent again, and the exit code and
# --summary-json describe the whole output against the whole input.
source "$(dirname "$0")/run_lib.sh"

# mk FILE ID:TEXT...: chat requests with the given ids and texts.
mk() {
    python3 - "$@" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for spec in sys.argv[2:]:
        cid, text = spec.split(":", 1)
        f.write(json.dumps({"custom_id": cid, "method": "POST",
            "url": "/v1/chat/completions", "body": {"model": "m",
            "messages": [{"role": "user", "content": text}]}}) + "\n")
PY
}
# summary FILE PYTHON_CONDITION: asserts on the summary JSON s.
summary() {
    python3 -c "
import json; s = json.load(open('$1'))
assert $2, s" || fail "summary $1: $2"
}
# run_rc WANT ARGS...: runs parallm run, checks its exit code.
run_rc() {
    local want=$1
    shift
    set +e
    "$PLM" run "$@" 2>err.txt
    local rc=$?
    set -e
    [ $rc = "$want" ] || fail "exit $rc (want $want) for $*: $(cat err.txt)"
}

# 1. A 400 and a 500 (no retries): exit 1 with counts by class; the
# re-run sends both again (the embedded mock restarts: they fail again,
# and the whole file still has 2 failures).
mk a.jsonl "a1:fine" "a2:bad [mock status=400]" "a3:down [mock status=500]"
run_rc 1 a.jsonl -o a.out --provider mock --retries 0 -q --summary-json s.json
summary s.json 's["succeeded"] == 1 and s["failed"] == 2 and s["exit_code"] == 1'
summary s.json 's["failed_by_class"]["client_error"] == 1 and s["failed_by_class"]["server_error"] == 1'
run_rc 1 a.jsonl -o a.out --provider mock --retries 0 -q --summary-json s.json
summary s.json 's["requests"] == 2 and s["skipped"] == 1'
summary s.json '(s["succeeded"], s["failed"], s["not_run"]) == (1, 2, 0)'
[ "$(line_count a.out)" = 5 ] || fail "re-run did not send the failures"
# --skip-failed: nothing sent, the file still describes 2 failures.
run_rc 1 a.jsonl -o a.out --provider mock -q --skip-failed --summary-json s.json
summary s.json 's["requests"] == 0 and s["skipped"] == 3 and s["failed"] == 2'
# The input fixed: the changed lines are sent and succeed; the job is
# done, exit 0, whatever the earlier lines said.
mk a.jsonl "a1:fine" "a2:better" "a3:up"
run_rc 0 a.jsonl -o a.out --provider mock -q --skip-failed --summary-json s.json
summary s.json 's["requests"] == 2 and (s["succeeded"], s["failed"]) == (3, 0)'
# A success whose input line changed since is sent again too.
mk a.jsonl "a1:changed" "a2:better" "a3:up"
run_rc 0 a.jsonl -o a.out --provider mock -q --summary-json s.json
summary s.json 's["requests"] == 1 and s["skipped"] == 2 and s["succeeded"] == 3'
python3 - <<'PY' || fail "input_hash field"
import json
recs = [json.loads(l) for l in open("a.out")]
assert all(len(r["input_hash"]) == 16 for r in recs), recs[0]
last = [r for r in recs if r["custom_id"] == "a1"][-1]
assert "changed" in last["response"]["body"]["choices"][0]["message"]["content"]
PY

# 2. A fixed invalid line: sent once it is valid; unchanged invalid lines
# are not written again but still count.
mk b.jsonl "b1:one" "b2:two"
printf '{"custom_id": "b3", "method": "POST", "url": "/v1/chat/completions", "body": []}\n' >> b.jsonl
run_rc 1 b.jsonl -o b.out --provider mock -q --summary-json s.json
summary s.json 's["invalid"] == 1 and s["failed"] == 1 and s["succeeded"] == 2'
run_rc 1 b.jsonl -o b.out --provider mock -q --summary-json s.json
summary s.json 's["requests"] == 0 and s["invalid"] == 1'
[ "$(line_count b.out)" = 3 ] || fail "unchanged invalid line written again"
mk b.jsonl "b1:one" "b2:two" "b3:three"
run_rc 0 b.jsonl -o b.out --provider mock -q --summary-json s.json
summary s.json 's["requests"] == 1 and (s["succeeded"], s["failed"], s["invalid"]) == (3, 0, 0)'

# 3. An authentication stop (exit 6): the re-run with the right key sends
# the request that got the 401 again, and the rest; exit 0.
SECRET=sk-test-rerun-4242
python3 "$HERE/fake_openai.py" port log.txt "$SECRET" &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s port ] && break; sleep 0.02; done
[ -s port ] || fail "fake server did not start"
gen_input c.jsonl 6
OPENAI_API_KEY=wrong-key-0000 run_rc 6 c.jsonl -o c.out -c 1 \
    --base-url "http://127.0.0.1:$(cat port)" -q --summary-json s.json
summary s.json 's["failed_by_class"]["auth"] == 1 and s["not_run"] == 5'
OPENAI_API_KEY=$SECRET run_rc 0 c.jsonl -o c.out -c 1 \
    --base-url "http://127.0.0.1:$(cat port)" -q --summary-json s.json
summary s.json 's["requests"] == 6 and s["succeeded"] == 6 and s["failed"] == 0'
read -r ok bad lines < <(check_output c.out c.jsonl)
[ "$ok" = 6 ] || fail "after the auth stop: ok=$ok"

# 4. Simulated answers never count on a real run: the requests answered
# by --provider mock are sent to the real server.
gen_input d.jsonl 4
"$PLM" run d.jsonl -o d.out --provider mock -q || fail "mock run $?"
grep -c '"simulated":true}$' d.out | grep -qx 4 || fail "mock lines not marked"
OPENAI_API_KEY=$SECRET run_rc 0 d.jsonl -o d.out \
    --base-url "http://127.0.0.1:$(cat port)" --summary-json s.json
grep -q "4 simulated answer(s) from --provider mock do not count" err.txt \
    || fail "no note on simulated answers: $(cat err.txt)"
summary s.json 's["requests"] == 4 and s["succeeded"] == 4 and s["skipped"] == 0'
# ...but a mock run takes them (and the real ones).
"$PLM" run d.jsonl -o d.out --provider mock -q --summary-json s.json \
    || fail "mock re-run $?"
summary s.json 's["requests"] == 0 and s["skipped"] == 4'
echo ok
