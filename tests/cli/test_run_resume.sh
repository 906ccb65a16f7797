#!/usr/bin/env bash
# Crash safety: killed with SIGKILL while requests are in flight and run
# again (several times), the output ends with exactly one success line per
# custom_id, nothing lost; a torn last line left by a crash is cut off and
# reported; a re-run sends failures again and the success line wins.
source "$(dirname "$0")/run_lib.sh"

gen_input in.jsonl 300
for round in 1 2 3; do
    before=$(line_count out.jsonl)
    "$PLM" run in.jsonl -o out.jsonl --provider mock --mock-latency 100 \
        -c 16 -q &
    pid=$!
    BG_PIDS+=("$pid")
    wait_lines out.jsonl $((before + 30))
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    n=$(line_count out.jsonl)
    [ "$n" -lt 300 ] || fail "round $round finished before the kill"
done

# A torn write: half a line without its newline at the end.
printf '{"id":"batch_req_0123456789abcdef","custom_id":"r1","respo' >> out.jsonl
"$PLM" run in.jsonl -o out.jsonl --provider mock --mock-latency 1 -c 16 \
    2>err.txt || fail "resume exit $?: $(cat err.txt)"
grep -q "removed a torn last line (58 bytes)" err.txt \
    || fail "torn line not reported: $(cat err.txt)"
grep -q "resuming: out.jsonl already holds" err.txt || fail "no resume note"
read -r ok bad lines < <(check_output out.jsonl in.jsonl)
[ "$ok" = 300 ] && [ "$lines" = 300 ] || fail "after resume: ok=$ok lines=$lines"

# A whole last line that is not a record was not written by parallm (its
# writes end in a newline only when whole): refused, exit 2, nothing
# changed.
head -c 100 out.jsonl > torn.jsonl; echo >> torn.jsonl
cp out.jsonl out2.jsonl; cat torn.jsonl >> out2.jsonl
cp out2.jsonl out2.orig
set +e
"$PLM" run in.jsonl -o out2.jsonl --provider mock 2>err.txt
rc=$?
set -e
[ $rc = 2 ] || fail "resume 2 exit $rc"
grep -q "line 301 is not a parallm output record" err.txt || fail "$(cat err.txt)"
cmp out2.jsonl out2.orig || fail "a refused file was changed"

# Re-runs send failures again by default: a 500 fails with no retries;
# the re-run (the embedded mock restarts, so its first answer is a 500
# again) retries it once. --skip-failed keeps the old behaviour of
# skipping recorded failures; --retry-failed is accepted and changes
# nothing.
python3 - <<'PY'
import json
with open("mixed.jsonl", "w") as f:
    for i in range(10):
        text = f"m {i}" + (" [mock status=500 times=1]" if i % 3 == 0 else "")
        f.write(json.dumps({"custom_id": f"x{i}", "method": "POST",
            "url": "/v1/chat/completions", "body": {"model": "m",
            "messages": [{"role": "user", "content": text}]}}) + "\n")
PY
set +e
"$PLM" run mixed.jsonl -o mixed.out --provider mock --retries 0 -q \
    --summary-json s1.json
rc=$?
set -e
[ $rc = 1 ] || fail "partial run exit $rc"
python3 -c '
import json; s = json.load(open("s1.json"))
assert (s["succeeded"], s["failed"]) == (6, 4), s' || fail "summary 1"
python3 - <<'PY' || fail "HTTP failure line shape"
import json
r = [json.loads(l) for l in open("mixed.out") if '"x0"' in l][0]
assert r["error"] is None and r["response"]["status_code"] == 500, r
assert "error" in r["response"]["body"], r
PY
# With --skip-failed, recorded failures are kept and skipped; the exit
# code and the summary still describe the whole file: 4 failed.
set +e
"$PLM" run mixed.jsonl -o mixed.out --provider mock -q --skip-failed \
    --summary-json s2.json
rc=$?
set -e
[ $rc = 1 ] || fail "skip run exit $rc"
python3 -c '
import json; s = json.load(open("s2.json"))
assert (s["skipped"], s["requests"]) == (10, 0), s
assert (s["succeeded"], s["failed"]) == (6, 4), s
assert s["failed_by_class"]["server_error"] == 4, s' || fail "summary 2"
"$PLM" run mixed.jsonl -o mixed.out --provider mock -q --retry-failed \
    --retries 1 --summary-json s3.json || fail "re-run exit $?"
python3 -c '
import json; s = json.load(open("s3.json"))
assert (s["succeeded"], s["skipped"], s["failed"]) == (10, 6, 0), s
assert s["this_run"]["succeeded"] == 4, s' \
    || fail "summary 3"
read -r ok bad lines < <(check_output mixed.out mixed.jsonl)
[ "$ok" = 10 ] && [ "$lines" = 14 ] || fail "re-run: ok=$ok lines=$lines"
echo ok
