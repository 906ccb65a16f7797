#!/usr/bin/env bash
# `-o -` is standard output with nothing to resume from, and --help,
# docs/run.md and the man page all say so.
# Usage: test_run_stdout_docs.sh PATH_TO_PARALLM
. "$(dirname "$0")/run_lib.sh"
SRC=$(cd "$HERE/../.." && pwd)

gen_input in.jsonl 3
# Every run sends every request: the records go to standard output, and
# there is no file to read back.
for run in 1 2; do
    "$PLM" run in.jsonl -o - --provider mock >"out$run.jsonl" 2>"err$run.txt" ||
        fail "run $run: $(cat "err$run.txt")"
    [ "$(line_count "out$run.jsonl")" = 3 ] || fail "run $run: $(cat "out$run.jsonl")"
    grep -q "succeeded 3, failed 0 (invalid input 0), skipped 0" "err$run.txt" ||
        fail "run $run resumed: $(cat "err$run.txt")"
done

"$PLM" run --help >help.txt
tr -s ' \n' ' ' <help.txt | grep -q -- "- is standard output (no resume" ||
    fail "run --help does not say what -o - is"
grep -q -- "^| \`-o, --output FILE\` | .*\`-\` for standard output (no resume" \
    "$SRC/docs/run.md" || fail "run.md does not say what -o - is"
python3 - "$SRC/docs/parallm.1" <<'PY' || fail "parallm.1 does not say what -o - is"
import re, sys
man = open(sys.argv[1]).read()
m = re.search(r"\.BR \\-o \", \" \\-\\-output \" \\fIFILE\\fR\"\n(.*?)\n\.TP", man, re.S)
assert m, "no -o entry"
text = m.group(1)
assert ".B \\-\nis standard output" in text and "neither is\nresumed" in text, text
PY
echo ok
