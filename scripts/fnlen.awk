# Reports C functions longer than MAXFN lines and files longer than
# MAXFILE lines. The code puts a function's opening and closing braces at
# column 0, so a function runs from the first line of its signature (a
# line starting at column 0 with an identifier and a "(" that does not end
# in ";") through the "}" at column 0 that closes it. A return type alone
# on the line above the name (`static int\nname(...)`) counts as part of
# the signature. Output: file:line: kind N lines (limit): text
function report(file, line, what, n, limit, text) {
    printf "%s:%d: %s %d lines (limit %d): %s\n", file, line, what, n,
           limit, text
    bad++
}
FNR == 1 {
    if (NR > 1 && prevlines > MAXFILE)
        report(prevfile, 1, "file", prevlines, MAXFILE, "")
    infn = 0; cand = 0; prev = ""
}
{ prevfile = FILENAME; prevlines = FNR }
/^[A-Za-z_].*\(/ && !/;[ \t]*$/ && !infn {
    start = FNR; name = $0; cand = 1
    if (/^[A-Za-z_][A-Za-z0-9_]*\(/ && prev ~ /^[A-Za-z_][^;(){}=]*$/)
        start = FNR - 1
}
/^\{/ { if (cand) { infn = 1; cand = 0 } }
/^\}/ {
    if (infn) {
        len = FNR - start + 1
        if (len > MAXFN)
            report(FILENAME, start, "function", len, MAXFN, name)
        infn = 0
    }
}
/;[ \t]*$/ && !infn { cand = 0 }
{ prev = $0 }
END {
    if (NR > 0 && prevlines > MAXFILE)
        report(prevfile, 1, "file", prevlines, MAXFILE, "")
    exit bad ? 1 : 0
}
