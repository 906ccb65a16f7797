#!/usr/bin/env bash
# Bad input never crashes and never sends garbage: each bad line becomes an
# "invalid_request" error line naming its line number and the rest runs;
# --strict refuses the whole file, listing every problem, sending nothing.
source "$(dirname "$0")/run_lib.sh"

python3 - <<'PY'
import json
good = lambda cid, text: json.dumps({"custom_id": cid, "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "m", "messages": [{"role": "user", "content": text}]}})
lines = [
    good("a", "first"),                                         # 1 ok
    "{not json",                                                # 2
    json.dumps({"method": "POST", "url": "/v1/chat/completions",
                "body": {}}),                                   # 3 no id
    good("a", "again"),                                         # 4 duplicate
    json.dumps({"custom_id": 7, "method": "POST",
                "url": "/v1/chat/completions", "body": {}}),    # 5 id not str
    json.dumps({"custom_id": "u", "method": "POST",
                "url": "/v1/unknown", "body": {}}),             # 6 url
    json.dumps({"custom_id": "g", "method": "GET",
                "url": "/v1/chat/completions", "body": {}}),    # 7 method
    json.dumps({"custom_id": "b", "method": "POST",
                "url": "/v1/chat/completions", "body": "x"}),   # 8 body
    '["an", "array"]',                                          # 9
    '{"custom_id": "k", "custom_id": "k2", "method": "POST"}',  # 10 dup key
    '{"custom_id": "long", "pad": "' + "x" * (16 * 1024 * 1024 + 10) + '"}',
                                                                # 11 too long
    "",                                                         # blank: skipped
    good("z", "last"),                                          # 13 ok
]
with open("bad.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
PY

set +e
"$PLM" run bad.jsonl -o out.jsonl --provider mock 2>err.txt
rc=$?
set -e
[ $rc = 1 ] || fail "exit $rc, want 1 (partial): $(cat err.txt)"
python3 - <<'PY' || fail "error lines wrong"
import json
recs = [json.loads(l) for l in open("out.jsonl")]
by_id = {}
for r in recs:
    assert r["custom_id"] not in by_id, "duplicate custom_id in output"
    by_id[r["custom_id"]] = r
expect_err = {
    "line-2": "line 2: invalid JSON",
    "line-3": "line 3: missing custom_id",
    "line-4": 'line 4: duplicate custom_id "a" (first on line 1)',
    "line-5": "line 5: custom_id is not a string",
    "u": "line 6: unsupported url",
    "g": 'line 7: method must be "POST"',
    "b": "line 8: body is not a JSON object",
    "line-9": "line 9: not a JSON object",
    "line-10": "line 10: invalid JSON",
    "long": "line 11: line longer than",
}
for cid, msg in expect_err.items():
    r = by_id.get(cid)
    assert r, f"no line for {cid}"
    assert r["response"] is None and r["error"]["code"] == "invalid_request", r
    assert r["error"]["message"].startswith(msg), (cid, r["error"]["message"])
for cid, text in (("a", "first"), ("z", "last")):
    r = by_id[cid]
    assert r["error"] is None and r["response"]["status_code"] == 200
    assert r["response"]["body"]["choices"][0]["message"]["content"] == \
        "mock reply: " + text, r
assert len(recs) == 12, len(recs)
PY
grep -q "failed 10 (invalid input 10)" err.txt || fail "summary: $(cat err.txt)"

# A re-run does not write the unchanged invalid lines again (their
# records stand), but the exit code and the summary still count them:
# the file holds 10 failures.
set +e
"$PLM" run bad.jsonl -o out.jsonl --provider mock -q --summary-json s.json
rc=$?
set -e
[ $rc = 1 ] || fail "resume exit $rc"
[ "$(line_count out.jsonl)" = 12 ] || fail "resume rewrote invalid lines"
python3 -c '
import json; s = json.load(open("s.json"))
assert (s["succeeded"], s["failed"], s["invalid"]) == (2, 10, 10), s
assert s["this_run"]["requests"] == 0, s' || fail "resume summary"
# --retry-failed (now the default, accepted as a no-op) changes nothing.
set +e
"$PLM" run bad.jsonl -o out.jsonl --provider mock -q --retry-failed
rc=$?
set -e
[ $rc = 1 ] || fail "retry-failed exit $rc"
[ "$(line_count out.jsonl)" = 12 ] || fail "retry-failed: $(line_count out.jsonl) lines"

# --strict: every problem listed, nothing sent, exit 2.
set +e
"$PLM" run bad.jsonl -o strict.jsonl --provider mock --strict 2>err.txt
rc=$?
set -e
[ $rc = 2 ] || fail "--strict exit $rc"
[ ! -s strict.jsonl ] || fail "--strict wrote output"
for n in 2 3 4 5 6 7 8 9 10 11; do
    grep -q "bad.jsonl: line $n: " err.txt || fail "--strict did not list line $n"
done
grep -q "10 invalid line(s); nothing was sent" err.txt || fail "strict summary"

# A file that is entirely valid passes --strict and runs.
gen_input good.jsonl 5
"$PLM" run good.jsonl -o good.out --provider mock --strict -q || fail "strict ok"
check_output good.out good.jsonl >/dev/null

# A last line without a newline is still a line.
printf '%s' "$(head -c -1 good.jsonl | tail -n 1)" > nonl.jsonl
"$PLM" run nonl.jsonl -o nonl.out --provider mock -q || fail "no newline"
[ "$(line_count nonl.out)" = 1 ] || fail "last line without newline lost"
# A line over 16 MiB whose start shows its custom_id keeps it in the
# error line; a repeated id cut in its message stays UTF-8.
python3 - <<'PY'
import json
dup = "a" + "\u00e9" * 150
with open("long.jsonl", "w") as f:
    f.write('{"custom_id": "big-1", "method": "POST", "url": '
            '"/v1/chat/completions", "body": {"x": "' + "y" * (17 << 20) +
            '"}}\n')
    for _ in range(2):
        f.write(json.dumps({"custom_id": dup, "method": "POST",
            "url": "/v1/chat/completions", "body": {"model": "m",
            "messages": [{"role": "user", "content": "hi"}]}}) + "\n")
PY
set +e
"$PLM" run long.jsonl -o long.out --provider mock -q
rc=$?
set -e
[ $rc = 1 ] || fail "long line exit $rc"
python3 - <<'PY' || fail "too long / duplicate lines"
import json
recs = {r["custom_id"]: r for r in map(json.loads, open("long.out"))}
big = recs["big-1"]
assert big["error"]["message"] == "line 1: line longer than 16777216 bytes", big
msg = recs["line-3"]["error"]["message"]
assert msg.startswith('line 3: duplicate custom_id "a\u00e9\u00e9'), msg
assert "\ufffd" not in msg and "not valid UTF-8" not in msg, msg
assert msg.endswith('" (first on line 2)'), msg
PY
echo ok
