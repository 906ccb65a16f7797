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
echo '#include "parallm.h"' > "$src"
echo "$cc $flags -fsyntax-only -I$inc $src"
$cc $flags -fsyntax-only -I"$inc" "$src"
