#!/usr/bin/env bash
# Bounded memory: the input is read as the engine asks for requests and the
# output written as results arrive, so peak RSS does not follow the file
# size. 60,000 requests at zero latency must stay under 32 MiB (about 14 MiB
# measured; holding every result would take several times that). The
# 1,000,000-line figure is in docs/run.md. Skipped under sanitizers, whose
# shadow memory makes RSS meaningless.
source "$(dirname "$0")/run_lib.sh"

if [ "${PLM_SANITIZED:-0}" = 1 ] || [ ! -x /usr/bin/time ]; then
    echo "skipped (sanitizer build or no /usr/bin/time)"
    exit 0
fi
gen_input in.jsonl 60000
/usr/bin/time -f "%M" -o rss.txt "$PLM" run in.jsonl -o out.jsonl \
    --provider mock --mock-latency 0 -c 50 -q || fail "run exit $?"
rss_kb=$(tail -n 1 rss.txt)
[ "$(line_count out.jsonl)" = 60000 ] || fail "lines: $(line_count out.jsonl)"
[ "$rss_kb" -lt 32768 ] || fail "peak RSS ${rss_kb} KiB"
# Resume reads the whole output back; that too stays bounded.
/usr/bin/time -f "%M" -o rss2.txt "$PLM" run in.jsonl -o out.jsonl \
    --provider mock -q || fail "resume exit $?"
rss2_kb=$(tail -n 1 rss2.txt)
[ "$rss2_kb" -lt 32768 ] || fail "resume peak RSS ${rss2_kb} KiB"
echo "ok (peak RSS ${rss_kb} KiB, resume ${rss2_kb} KiB)"
