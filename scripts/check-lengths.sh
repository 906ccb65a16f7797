#!/bin/sh
# Fails, listing the offenders, if a function in src/ or cli/ (*.c) is
# longer than MAX_FUNCTION_LINES (120) lines or a file there is longer than
# MAX_FILE_LINES (900) lines. See scripts/fnlen.awk for what a function is.
set -eu
cd "$(dirname "$0")/.."
MAXFN=${MAX_FUNCTION_LINES:-120}
MAXFILE=${MAX_FILE_LINES:-900}
files=$(find src cli -type f -name '*.c' | LC_ALL=C sort)
if out=$(awk -v MAXFN="$MAXFN" -v MAXFILE="$MAXFILE" -f scripts/fnlen.awk \
        $files); then
    echo "check-lengths: functions <= $MAXFN lines, files <= $MAXFILE lines"
    exit 0
fi
echo "check-lengths: too long (split them up):" >&2
printf '%s\n' "$out" >&2
exit 1
