#!/bin/sh
# The public header compiles on its own, warning-free, in a translation
# unit that includes nothing else.
# usage: header_alone.sh COMPILER c|c++ INCLUDE_DIR
set -eu
cc=$1 lang=$2 inc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$lang" = c ]; then
    src=$tmp/header_alone.c
    flags="-x c -std=c11 -Wall -Wextra -pedantic -Werror"
else
    src=$tmp/header_alone.cpp
    flags="-x c++ -std=c++11 -Wall -Wextra -Werror"
fi
# The header alone, and the _INIT macros a user writes first (they must
# stay quiet under -Wextra in both languages).
cat > "$src" <<'EOF'
#include "parallm.h"
int header_alone_init(void);
int header_alone_init(void)
{
    plm_client_options c = PLM_CLIENT_OPTIONS_INIT;
    plm_run_options r = PLM_RUN_OPTIONS_INIT;
    plm_gather_options g = PLM_GATHER_OPTIONS_INIT;
    return c.version + r.version + g.version;
}
EOF
echo "$cc $flags -fsyntax-only -I$inc $src"
$cc $flags -fsyntax-only -I"$inc" "$src"
