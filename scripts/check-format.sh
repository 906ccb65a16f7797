#!/bin/sh
# Fails, listing the files, if any C file under src cli tests bench
# examples include differs from what scripts/format.sh would make of it.
# Shows the first differences of each with -v (or VERBOSE=1).
set -eu
cd "$(dirname "$0")/.."
. scripts/format-files.sh
verbose=${VERBOSE:-0}
[ "${1:-}" = "-v" ] && verbose=1
bad=$(plm_format_files | while IFS= read -r f; do
    if ! "$CLANG_FORMAT" --style=file --dry-run --Werror "$f" \
            >/dev/null 2>&1; then
        echo "$f"
    fi
done)
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
