#!/bin/sh
# Fails, listing the files, if any C file under src cli tests bench
# examples include differs from what scripts/format.sh would make of it.
# Shows the first differences of each with -v (or VERBOSE=1).
set -eu
cd "$(dirname "$0")/.."
. scripts/format-files.sh
verbose=${VERBOSE:-0}
[ "${1:-}" = "-v" ] && verbose=1
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# One clang-format for all files; it names each file that differs in
# "FILE:LINE:COL: error: code should be clang-formatted".
rc=0
plm_format_files | xargs "$CLANG_FORMAT" --style=file --dry-run --Werror \
    2>"$tmp" || rc=$?
bad=$(sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' \
    "$tmp" | uniq)
if [ -z "$bad" ] && [ "$rc" -ne 0 ]; then
    echo "check-format: $CLANG_FORMAT failed:" >&2
    cat "$tmp" >&2
    exit 2
fi
if [ -n "$bad" ]; then
    n=$(printf '%s\n' "$bad" | wc -l)
    echo "check-format: $n file(s) not formatted (run: make format):" >&2
    printf '  %s\n' $bad >&2
    if [ "$verbose" = 1 ]; then
        for f in $bad; do
            "$CLANG_FORMAT" --style=file "$f" | diff -u "$f" - | head -40 >&2
        done
    fi
    exit 1
fi
echo "check-format: all files formatted"
