#!/bin/sh
# Shared by format.sh and check-format.sh: prints, one per line, every C
# source and header the project formats (src cli tests bench examples
# include), and picks the clang-format binary (CLANG_FORMAT overrides;
# clang-format-14 preferred, the version .clang-format is written for).
# Sourced, run from the repository root.
if [ -z "${CLANG_FORMAT:-}" ]; then
    if command -v clang-format-14 >/dev/null 2>&1; then
        CLANG_FORMAT=clang-format-14
    else
        CLANG_FORMAT=clang-format
    fi
fi
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
    echo "parallm: $CLANG_FORMAT not found (run scripts/install-deps.sh)" >&2
    exit 2
fi
plm_format_files() {
    for d in src cli tests bench examples include; do
        [ -d "$d" ] && find "$d" -type f \( -name '*.c' -o -name '*.h' \)
    done | LC_ALL=C sort
}
