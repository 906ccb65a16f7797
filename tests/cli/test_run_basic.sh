#!/usr/bin/env bash
# parallm run on the embedded mock: a clean run, stdin, resume skipping
# what is done, --overwrite, --summary-json, --quiet and --help.
source "$(dirname "$0")/run_lib.sh"

gen_input in.jsonl 40
"$PLM" run in.jsonl -o out.jsonl --provider mock --mock-latency 5 -c 8 \
    --summary-json sum.json 2>err.txt || fail "clean run exit $?"
read -r ok bad lines < <(check_output out.jsonl in.jsonl)
[ "$ok" = 40 ] && [ "$lines" = 40 ] || fail "want 40 successes: $ok/$lines"
n='[0-9]*\.[0-9][0-9]s'
grep -q "^Executed 40 LLM requests in parallel: $n (avg: $n per request)\$" \
    err.txt || fail "summary line missing: $(cat err.txt)"
python3 - <<'PY' || fail "simulated marker or summary json wrong"
import json
for l in open("out.jsonl"):
    r = json.loads(l)
    assert r["simulated"] is True
    assert r["response"]["status_code"] == 200
    assert r["response"]["body"]["simulated"] is True
    assert r["id"].startswith("batch_req_")
    assert r["response"]["body"]["choices"][0]["message"]["content"] \
        .startswith("mock reply: hello ")
s = json.load(open("sum.json"))
assert s["succeeded"] == 40 and s["failed"] == 0 and s["exit_code"] == 0, s
assert s["completion_tokens"] > 0
PY
ids=$(python3 -c 'import json
print(len({json.loads(l)["id"] for l in open("out.jsonl")}))')
[ "$ids" = 40 ] || fail "line ids are not unique"

# Resume: nothing left to do, nothing appended.
"$PLM" run in.jsonl -o out.jsonl --provider mock 2>err.txt || fail "resume exit $?"
[ "$(line_count out.jsonl)" = 40 ] || fail "resume appended lines"
grep -q "skipped 40" err.txt || fail "resume did not report skipped: $(cat err.txt)"

# Input grown by 10 lines: only those run.
gen_input in2.jsonl 50
"$PLM" run in2.jsonl -o out.jsonl --provider mock -q 2>err.txt || fail "grow exit $?"
[ ! -s err.txt ] || fail "--quiet printed: $(cat err.txt)"
read -r ok bad lines < <(check_output out.jsonl in2.jsonl)
[ "$ok" = 50 ] && [ "$lines" = 50 ] || fail "after growth: $ok/$lines"

# --overwrite starts over.
"$PLM" run in.jsonl -o out.jsonl --provider mock --overwrite -q \
    || fail "overwrite exit $?"
read -r ok bad lines < <(check_output out.jsonl in.jsonl)
[ "$lines" = 40 ] || fail "--overwrite left $lines lines"

# stdin, also with --strict (which buffers it) and forced progress.
"$PLM" run - -o stdin.jsonl --provider mock -q < in.jsonl || fail "stdin exit $?"
check_output stdin.jsonl in.jsonl >/dev/null
"$PLM" run - -o stdin2.jsonl --provider mock --strict --progress \
    < in.jsonl 2>err.txt || fail "stdin strict exit $?"
check_output stdin2.jsonl in.jsonl >/dev/null
grep -q "40/40" err.txt || fail "progress line missing: $(cat err.txt)"

# On a terminal: progress by default, colour unless NO_COLOR is set.
if command -v script >/dev/null; then
    env -u NO_COLOR script -q -e -c "'$PLM' run in.jsonl -o tty1.out \
        --provider mock" /dev/null </dev/null >tty1.log 2>&1 \
        || fail "tty run exit $?"
    grep -q $'\033\[1m40/40 (100%)' tty1.log || fail "no coloured progress"
    NO_COLOR=1 script -q -e -c "'$PLM' run in.jsonl -o tty2.out \
        --provider mock" /dev/null </dev/null >tty2.log 2>&1 \
        || fail "NO_COLOR run exit $?"
    grep -q "40/40 (100%)" tty2.log || fail "no progress with NO_COLOR"
    ! grep -q $'\033\[[0-9]*m' tty2.log || fail "colour despite NO_COLOR"
fi

# Anthropic endpoint and blank lines.
cat > anth.jsonl <<'J'
{"custom_id":"m1","method":"POST","url":"/v1/messages","body":{"model":"c","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}}

{"custom_id":"e1","method":"POST","url":"/v1/embeddings","body":{"model":"e","input":"x"}}
J
"$PLM" run anth.jsonl -o anth.out --provider mock -q || fail "anthropic exit $?"
python3 - <<'PY' || fail "anthropic output wrong"
import json
recs = {json.loads(l)["custom_id"]: json.loads(l) for l in open("anth.out")}
assert set(recs) == {"m1", "e1"}, recs.keys()
assert recs["m1"]["response"]["body"]["type"] == "message"
PY

# Usage errors.
set +e
expect_exit() { # CODE ARGS...: parallm exits with CODE
    local want=$1
    shift
    "$PLM" "$@" >/dev/null 2>&1
    local rc=$?
    [ $rc = "$want" ] || fail "parallm $* exited $rc, want $want"
}
expect_exit 0 run --help
expect_exit 2 run in.jsonl
expect_exit 2 run in.jsonl -o x --max-concurrent 0
expect_exit 2 run in.jsonl -o x --timeout abc
expect_exit 2 run in.jsonl -o x --provider nope
expect_exit 2 run in.jsonl -o x --base-url ftp://x
expect_exit 2 run in.jsonl extra.jsonl -o x --provider mock
expect_exit 2 run in.jsonl -o in.jsonl --provider mock
expect_exit 2 run in.jsonl -o x --provider mock --ca-file nope.pem
expect_exit 3 run nope.jsonl -o x --provider mock
expect_exit 3 run . -o x --provider mock
set -e
echo "ok"
