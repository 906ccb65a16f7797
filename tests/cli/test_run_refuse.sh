#!/usr/bin/env bash
# Files parallm did not write are never touched: a --summary-json that
# names the input or the output, and (below) an output file holding lines
# that are not parallm records, are refused with exit 2 before anything
# is sent, and the files stay byte for byte as they were.
source "$(dirname "$0")/run_lib.sh"

gen_input in.jsonl 3
cp in.jsonl in.orig

# expect_refused CODE ARGS...: the run exits CODE and sends nothing.
expect_refused() {
    local want=$1
    shift
    set +e
    "$PLM" run "$@" --provider mock -q 2>err.txt
    local rc=$?
    set -e
    [ $rc = "$want" ] || fail "exit $rc (want $want) for $*: $(cat err.txt)"
}

# --summary-json on the input, the output (existing or not, under another
# spelling of its path).
expect_refused 2 in.jsonl -o out.jsonl --summary-json in.jsonl
grep -q "summary-json in.jsonl is the input file" err.txt || fail "$(cat err.txt)"
cmp in.jsonl in.orig || fail "input changed"
[ ! -e out.jsonl ] || fail "output created before the refusal"
mkdir sub
expect_refused 2 in.jsonl -o out.jsonl --summary-json sub/../out.jsonl
grep -q "is the output file" err.txt || fail "$(cat err.txt)"
[ ! -e out.jsonl ] || fail "output created"
"$PLM" run in.jsonl -o out.jsonl --provider mock -q || fail "first run $?"
cp out.jsonl out.orig
expect_refused 2 in.jsonl -o out.jsonl --summary-json "$PWD/out.jsonl"
cmp out.jsonl out.orig || fail "output changed"
ln -s out.jsonl link.json
expect_refused 2 in.jsonl -o out.jsonl --summary-json link.json
cmp out.jsonl out.orig || fail "output changed through a link"
echo ok
