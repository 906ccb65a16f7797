#!/bin/sh
# The shared library exports exactly the API: every exported function is
# plm_<name> (not plm__<name>, the internal prefix), and every function the
# headers declare PLM_EXTERN (the public one and the tool-only one) is
# exported. Exports declared in none of them are listed, not failed.
# usage: exports.sh NM LIBRARY HEADER...
set -eu
nm=$1 lib=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# T/t text, W/w weak, i indirect: the function symbols.
"$nm" -D --defined-only "$lib" > "$tmp/nm"
awk 'NF >= 3 && $2 ~ /^[TtWwi]$/ { print $3 }' "$tmp/nm" | sed 's/@.*//' \
    | LC_ALL=C sort -u > "$tmp/exported"
# Declarations span lines: join the header, drop comments and #lines,
# split at ';' and braces, keep the pieces that start with PLM_EXTERN and take the name before the first '('.
cat "$@" | grep -v '^[[:space:]]*#' | tr '\n' ' ' \
    | sed -E 's@/\*[^*]*\*+([^/*][^*]*\*+)*/@ @g' | tr ';{}' '\n\n\n' \
    | sed -n 's/^[[:space:]]*PLM_EXTERN[^(]*[^A-Za-z0-9_(]\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*(.*/\1/p' \
    | LC_ALL=C sort -u > "$tmp/declared"
fail=0
n_exp=$(wc -l < "$tmp/exported")
n_decl=$(wc -l < "$tmp/declared")
echo "exports: $n_exp function symbols exported, $n_decl declared PLM_EXTERN"
if [ "$n_decl" -eq 0 ] || [ "$n_exp" -eq 0 ]; then
    echo "exports: nothing found; are $lib and $* right?" >&2
    exit 1
fi
bad=$(grep -v '^plm_' "$tmp/exported" || true)
internal=$(grep '^plm__' "$tmp/exported" || true)
missing=$(LC_ALL=C comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$bad" ]; then
    echo "exported without the plm_ prefix:" >&2; printf '  %s\n' $bad >&2
    fail=1
fi
if [ -n "$internal" ]; then
    echo "internal plm__ functions exported:" >&2; printf '  %s\n' $internal >&2
    fail=1
fi
if [ -n "$missing" ]; then
    echo "declared PLM_EXTERN in $* but not exported:" >&2
    printf '  %s\n' $missing >&2
    fail=1
fi
extra=$(LC_ALL=C comm -13 "$tmp/declared" "$tmp/exported")
if [ -n "$extra" ]; then
    echo "note: exported but declared PLM_EXTERN in none of the headers:"
    printf '  %s\n' $extra
fi
exit $fail
