#!/usr/bin/env bash
# The shared-client examples against the mock: examples/pipeline.c (steps
# that depend on earlier answers, submitted from completion callbacks)
# and examples/libevent_loop.c (the caller-driven mode inside libevent).
# Usage: test_examples_async.sh PATH_TO_PARALLM
. "$(dirname "$0")/run_lib.sh"
BIN=$(dirname "$PLM")

"$PLM" mock --port 0 --port-file port --latency 20ms --log mock.jsonl \
    2>mock.err &
BG_PIDS+=($!)
for _ in $(seq 500); do [ -s port ] && break; sleep 0.01; done
[ -s port ] || fail "the mock did not start: $(cat mock.err)"
export OPENAI_BASE_URL="http://127.0.0.1:$(cat port)" OPENAI_API_KEY=sk-test

# Pipeline: each entry is built from its own file's description, and the
# summary from every entry.
printf 'alpha file' > a.txt
printf 'beta file' > b.txt
printf 'gamma file' > c.txt
rc=0
"$BIN/example_pipeline" a.txt b.txt c.txt > out.txt 2>err.txt || rc=$?
[ "$rc" = 0 ] || fail "pipeline exit $rc: $(cat err.txt)"
python3 - <<'PY' || fail "pipeline output: $(cat out.txt)"
import json
out = open("out.txt").read().splitlines()
files = [l for l in out if l.endswith(".txt")]
assert files == ["a.txt", "b.txt", "c.txt"], out
for name, word in (("a", "alpha"), ("b", "beta"), ("c", "gamma")):
    i = out.index(name + ".txt")
    desc, entry = out[i + 1], out[i + 2]
    assert desc.startswith("  description: mock reply: ") and word in desc, desc
    # The mock echoes the prompt: step 2 saw step 1's answer.
    assert entry.startswith("  entry: mock reply: mock reply: ") and word in entry, entry
s = [i for i, l in enumerate(out) if l.startswith("summary: ")]
assert len(s) == 1, out
summary = "\n".join(out[s[0]:])
assert summary.startswith("summary: mock reply: ") and all(
    w in summary for w in ("alpha", "beta", "gamma")), summary
# Seven requests: three descriptions, three entries, one summary; each
# entry went out after its own description was answered, and the summary
# last.
log = [json.loads(l) for l in open("mock.jsonl")]
assert len(log) == 7, len(log)
PY

# libevent: three prompts answered inside the program's own loop.
rc=0
"$BIN/example_libevent_loop" one two three > ev.txt 2>ev.err || rc=$?
[ "$rc" = 0 ] || fail "libevent_loop exit $rc: $(cat ev.err)"
[ "$(grep -c '^answer: mock reply: ' ev.txt)" = 3 ] || fail "$(cat ev.txt)"
for w in one two three; do
    grep -qx "answer: mock reply: $w" ev.txt || fail "no answer for $w"
done
grep -q "3 answers" ev.err || fail "$(cat ev.err)"
echo ok
