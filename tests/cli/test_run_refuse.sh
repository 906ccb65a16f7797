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

# -o on files parallm did not write: a text file, random bytes, a Batch
# input file. Exit 2, byte for byte the same.
printf 'a\nb' > text.txt
head -c 5000 /dev/urandom > random.bin
cp in.jsonl batch_input.jsonl
for f in text.txt random.bin batch_input.jsonl; do
    cp "$f" "$f.orig"
    expect_refused 2 in.jsonl -o "$f"
    grep -q "is not a parallm output record" err.txt || fail "$f: $(cat err.txt)"
    cmp "$f" "$f.orig" || fail "$f was changed"
done

# Lines a user appended to a real output: refused, not deleted.
for extra in '{"note": "kept by a user"}' '# comment'; do
    cp out.orig mine.jsonl
    printf '%s\n' "$extra" >> mine.jsonl
    cp mine.jsonl mine.orig
    expect_refused 2 in.jsonl -o mine.jsonl
    cmp mine.jsonl mine.orig || fail "user line removed: $extra"
    # Even without its newline, a line that is not the start of a record
    # is not taken for a torn write.
    cp out.orig mine.jsonl
    printf '%s' "$extra" >> mine.jsonl
    cp mine.jsonl mine.orig
    expect_refused 2 in.jsonl -o mine.jsonl
    cmp mine.jsonl mine.orig || fail "user tail removed: $extra"
done
# --overwrite still starts over.
"$PLM" run in.jsonl -o mine.jsonl --provider mock -q --overwrite \
    || fail "--overwrite exit $?"
read -r ok bad lines < <(check_output mine.jsonl in.jsonl)
[ "$ok" = 3 ] && [ "$lines" = 3 ] || fail "--overwrite: ok=$ok lines=$lines"
# The output is created readable by its owner only.
[ "$(stat -c %a out.jsonl)" = 600 ] || fail "mode $(stat -c %a out.jsonl)"
echo ok
