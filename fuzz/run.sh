#!/bin/sh
# Runs one libFuzzer target on its seed corpus.
#   run.sh BINARY FUZZ_DIR OUT_DIR SECONDS RUNS
# FUZZ_DIR is fuzz/ in the source tree: the seeds (corpus/<name>/) and the
# dictionary (dict/<name>.dict) are only read, never written. New inputs go
# to a scratch corpus: a temporary directory under OUT_DIR removed at the
# end, or OUT_DIR/corpus/<name> (kept between runs) when PLM_FUZZ_KEEP=1.
# A crash is written to OUT_DIR/artifacts/<name>/ and fails the run.
# RUNS caps the number of inputs (-1: no cap, only the time limit).
set -eu
bin=$1 fuzz_dir=$2 out=$3 secs=$4 runs=$5
name=$(basename "$bin")
seeds=$fuzz_dir/corpus/$name
mkdir -p "$out/artifacts/$name"
if [ "${PLM_FUZZ_KEEP:-0}" = 1 ]; then
    scratch=$out/corpus/$name
    mkdir -p "$scratch"
else
    scratch=$(mktemp -d "$out/tmp-$name.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT INT TERM
fi
set -- -max_total_time="$secs" -runs="$runs" -timeout=10 \
    -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$name/"
[ -f "$fuzz_dir/dict/$name.dict" ] && set -- "$@" -dict="$fuzz_dir/dict/$name.dict"
[ -d "$seeds" ] || { echo "run.sh: no seed corpus $seeds" >&2; exit 1; }
"$bin" "$@" "$scratch" "$seeds"
