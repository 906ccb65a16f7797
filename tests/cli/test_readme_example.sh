#!/usr/bin/env bash
# The README's first command runs as written on the example file it names:
# `parallm run examples/requests.jsonl -o out.jsonl --provider mock`, from
# the top of the tree, answers every line (chat, embeddings, responses,
# Anthropic messages) with exit 0.
# Usage: test_readme_example.sh PATH_TO_PARALLM
. "$(dirname "$0")/run_lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
cmd='parallm run examples/requests.jsonl -o out.jsonl --provider mock'

grep -qxF "    $cmd" "$SRC/README.md" || fail "README no longer shows: $cmd"
# The tree as a user has it, without writing into the source directory.
mkdir tree
ln -s "$SRC/examples" tree/examples
cd tree
rc=0
# shellcheck disable=SC2086
"$PLM" ${cmd#parallm } 2>err.txt || rc=$?
[ "$rc" = 0 ] || fail "exit $rc: $(cat err.txt)"
python3 - "$SRC/examples/requests.jsonl" <<'PY' || fail "the example's output"
import json, sys
inp = [json.loads(l) for l in open(sys.argv[1])]
out = {r["custom_id"]: r for r in map(json.loads, open("out.jsonl"))}
assert 10 <= len(inp) <= 14, len(inp)
assert set(out) == {r["custom_id"] for r in inp}, sorted(out)
urls = [r["url"] for r in inp]
for u in ("/v1/chat/completions", "/v1/embeddings", "/v1/responses",
          "/v1/messages"):
    assert u in urls, u
assert any(m["role"] == "system" for r in inp if "messages" in r["body"]
           for m in r["body"]["messages"])
for r in out.values():
    assert r["error"] is None and r["response"]["status_code"] == 200, r
    assert r["simulated"] is True, r
PY
grep -q "12 request(s), succeeded 12, failed 0" err.txt ||
    fail "summary: $(cat err.txt)"
echo ok
