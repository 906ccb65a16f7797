#!/bin/sh
# `make demo`: the main job on the built-in mock, no API key needed.
# 1. a Batch JSONL file of 40 chat requests run by `parallm run` against
#    the embedded mock, with a progress bar and the summary;
# 2. the sequential against parallel benchmark: `parallm demo`.
set -eu
BUILD=${1:-build}
BIN="$BUILD/parallm"
OUT_DIR="$BUILD/demo"
mkdir -p "$OUT_DIR"
IN="$OUT_DIR/requests.jsonl"
OUT="$OUT_DIR/results.jsonl"

: > "$IN"
i=1
while [ $i -le 40 ]; do
    printf '{"custom_id":"request-%d","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Describe file number %d in one sentence."}],"max_tokens":64}}\n' $i $i >> "$IN"
    i=$((i + 1))
done

echo "== parallm run: 40 requests, 5 at a time, against the built-in mock"
echo "   $BIN run $IN -o $OUT --provider mock --overwrite --max-concurrent 5"
"$BIN" run "$IN" -o "$OUT" --provider mock --overwrite --max-concurrent 5 --progress
echo "   first result line:"
head -n 1 "$OUT" | cut -c1-300
echo
echo "== parallm demo: sequential vs parallel on the built-in mock"
"$BIN" demo
