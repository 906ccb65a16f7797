#!/usr/bin/env bash
# `parallm report`: the aggregated numbers (--json) against the same
# numbers computed here from the trace, the page's self-containment, bad
# lines named and skipped, and the errors: no, missing, empty or
# all-garbage trace (exit 2), an output that cannot be written (exit 3).
# The page itself is tested in a browser by tests/browser.
source "$(dirname "$0")/run_lib.sh"
GEN="$HERE/../../bench/gen_trace.py"

python3 "$GEN" -n 600 -c 24 --fail-rate 0.15 --latency-ms 60 --tpm 500000 \
    -o trace.jsonl
"$PLM" report --json trace.jsonl >data.json 2>err.txt ||
    fail "report --json: $(cat err.txt)"
[ ! -s err.txt ] || fail "stderr on a clean trace: $(cat err.txt)"
python3 - <<'PY' || fail "aggregated numbers differ from the trace's"
import json, math
lines = [json.loads(l) for l in open("trace.jsonl")]
head, att = lines[0], lines[1:]
d = json.load(open("data.json"))
def rank(v, p):
    v = sorted(v)
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]
lat = [a["done_ms"] - a["sent_ms"] for a in att]
last = {}
for a in att:
    if a["attempt"] >= last.get(a["index"], {"attempt": 0})["attempt"]:
        last[a["index"]] = a
want = {
    "requests": len(last), "attempts": len(att),
    "succeeded": sum(a["class"] == "none" for a in last.values()),
    "retried_requests": sum(1 for i in last if last[i]["attempt"] > 1),
    "max_concurrent": head["max_concurrent"], "tpm": head["tpm"],
    "rpm": None,
    "tokens": sum((a["prompt_tokens"] or 0) + (a["completion_tokens"] or 0)
                  for a in att),
    "span_ms": max(a["done_ms"] + (a["retry_wait_ms"] or 0) for a in att),
}
for k, v in want.items():
    assert d[k] == v, (k, d[k], v)
assert d["failed"] == d["requests"] - d["succeeded"]
L = d["latency_ms"]
for p in (50, 95, 99):
    assert L[f"p{p}"] == rank(lat, p), (p, L[f"p{p}"], rank(lat, p))
assert L["max"] == max(lat) and sum(L["counts"]) == len(att)
errors, retries = {}, {}
for a in att:
    if a["class"] != "none":
        errors[a["class"]] = errors.get(a["class"], 0) + 1
    if a["retry_reason"]:
        retries[a["retry_reason"]] = retries.get(a["retry_reason"], 0) + 1
assert d["errors"] == errors and d["retries"] == retries, (d["errors"], errors)
# In flight (admitted to done): the exact peak, by a sweep of our own.
ev = sorted([(a["admitted_ms"], 1) for a in att] +
            [(a["done_ms"], -1) for a in att])
level = peak = 0
for _, step in ev:
    level += step
    peak = max(peak, level)
assert d["in_flight"]["peak"] == peak, (d["in_flight"]["peak"], peak)
assert max(d["in_flight"]["max"]) == peak
assert peak <= head["max_concurrent"]
# Completions per bucket add up to the attempts.
assert sum(d["done"]["ok"]) + sum(d["done"]["failed"]) == len(att)
assert d["bad_lines"] == {"count": 0, "lines": []}
# The timeline shows every request of a small run, each attempt once.
assert d["timeline"]["stride"] == 1 and len(d["timeline"]["rows"]) == 600
assert len(d["timeline"]["attempts"]) == len(att)
PY

# A bounded timeline samples requests evenly.
"$PLM" report --json --timeline 100 trace.jsonl >small.json
python3 -c '
import json; t = json.load(open("small.json"))["timeline"]
assert t["stride"] == 6 and len(t["rows"]) == 100, t["stride"]
assert t["rows"][:3] == [0, 6, 12], t["rows"][:3]' || fail "timeline sampling"

# The page: the template around the data, nothing fetched from anywhere.
"$PLM" report trace.jsonl -o report.html || fail "report -o"
grep -q '<script id="report-data" type="application/json">{"format":1' \
    report.html || fail "the data is not in the page"
! grep -q '@@REPORT_DATA@@' report.html || fail "the marker is left in"
! grep -Eq 'src="http|href="http|https?://' report.html ||
    fail "the page refers to the network"
"$PLM" report trace.jsonl >stdout.html || fail "report to stdout"
cmp -s report.html stdout.html || fail "stdout and -o pages differ"

# A class name cannot end the data block early.
python3 - <<'PY'
import json
lines = open("trace.jsonl").read().splitlines()
a = json.loads(lines[1]); a["class"] = "</script><b>x"
lines[1] = json.dumps(a)
open("evil.jsonl", "w").write("\n".join(lines) + "\n")
PY
"$PLM" report evil.jsonl -o evil.html || fail "report evil"
[ "$(grep -c '</script>' evil.html)" = "$(grep -c '</script>' report.html)" ] ||
    fail "a class name closed a script block"

# Bad lines: named on stderr, counted in the data, the rest still counts.
python3 - <<'PY'
lines = open("trace.jsonl").read().splitlines()
lines.insert(2, "garbage")                                   # line 3
lines.insert(5, '{"index": 1}')                              # line 6
lines.insert(7, '{"index":0,"attempt":1,"queued_ms":5,"admitted_ms":1,'
                '"sent_ms":6,"done_ms":9,"status":200,"class":"none"}')
open("bad.jsonl", "w").write("\n".join(lines) + "\n" + lines[-1][:40])
PY
n=$(wc -l <bad.jsonl)
n=$((n + 1))
"$PLM" report --json bad.jsonl >bad.json 2>err.txt || fail "bad lines: exit $?"
grep -q "bad.jsonl:3: invalid JSON" err.txt || fail "line 3: $(cat err.txt)"
grep -q "bad.jsonl:6: missing or bad attempt" err.txt || fail "line 6"
grep -q "bad.jsonl:8: times out of order" err.txt || fail "line 8"
grep -q "bad.jsonl:$n: invalid JSON" err.txt || fail "cut-off line $n"
grep -q "4 bad lines skipped" err.txt || fail "summary: $(cat err.txt)"
python3 -c "
import json; d = json.load(open('bad.json'))
assert d['bad_lines'] == {'count': 4, 'lines': [3, 6, 8, $n]}, d['bad_lines']
assert d['attempts'] == json.load(open('data.json'))['attempts']
" || fail "bad lines in the data"

# Without its header a trace still reports, its limits unknown.
tail -n +2 trace.jsonl >headless.jsonl
"$PLM" report --json headless.jsonl >headless.json 2>err.txt ||
    fail "headless trace: exit $?"
grep -q "no valid trace header" err.txt || fail "headless: $(cat err.txt)"
python3 -c "
import json; d = json.load(open('headless.json'))
assert d['header'] is False and d['max_concurrent'] is None
assert d['attempts'] == json.load(open('data.json'))['attempts']
assert d['bad_lines']['count'] == 0
" || fail "headless trace data"

# A run that traced its header and no attempt reports zeros.
head -n 1 trace.jsonl >header-only.jsonl
"$PLM" report --json header-only.jsonl >header-only.json 2>err.txt ||
    fail "header-only trace: exit $?: $(cat err.txt)"
python3 -c "
import json; d = json.load(open('header-only.json'))
assert d['requests'] == 0 and d['attempts'] == 0 and d['span_ms'] == 0
assert d['latency_ms']['p50'] == -1 and d['max_concurrent'] == 24
" || fail "header-only trace data"

# Errors: exit 2 with a clear message.
expect_exit() { # CODE MESSAGE ARGS...
    local code=$1 msg=$2 rc=0
    shift 2
    "$PLM" report "$@" >/dev/null 2>err.txt || rc=$?
    [ "$rc" = "$code" ] || fail "report $*: exit $rc, want $code"
    grep -q "$msg" err.txt || fail "report $*: $(cat err.txt)"
}
expect_exit 2 "no trace file given"
expect_exit 2 "cannot open missing.jsonl" missing.jsonl
: >empty.jsonl
expect_exit 2 "empty.jsonl is empty" empty.jsonl
printf 'garbage\nmore garbage\n' >junk.jsonl
expect_exit 2 "junk.jsonl has no valid trace line" junk.jsonl
grep -q "junk.jsonl:2: invalid JSON" err.txt || fail "junk lines not named"
expect_exit 2 "unexpected argument" trace.jsonl other.jsonl
expect_exit 3 "cannot write" trace.jsonl -o no/such/dir/report.html
echo "ok"
