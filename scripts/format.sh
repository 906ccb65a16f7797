#!/bin/sh
# `make format`: rewrites every C file under src cli tests bench examples
# include in place with clang-format and the repository's .clang-format.
set -eu
cd "$(dirname "$0")/.."
. scripts/format-files.sh
plm_format_files | xargs "$CLANG_FORMAT" --style=file -i
