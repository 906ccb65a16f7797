#!/usr/bin/env bash
# Output failures stop the run with a clear message and exit 3, and never
# leave half a line: /dev/full (every write fails), a directory that does
# not exist, and a full disk simulated by a file-size limit (ulimit -f; the
# command ignores SIGXFSZ so write() fails with EFBIG).
source "$(dirname "$0")/run_lib.sh"

gen_input in.jsonl 200

set +e
"$PLM" run in.jsonl -o /dev/full --provider mock 2>err.txt
rc=$?
set -e
[ $rc = 3 ] || fail "/dev/full exit $rc"
grep -q "cannot write /dev/full: No space left on device; stopping" err.txt \
    || fail "/dev/full message: $(cat err.txt)"

set +e
"$PLM" run in.jsonl -o no/such/dir/out.jsonl --provider mock 2>err.txt
rc=$?
set -e
[ $rc = 3 ] || fail "missing dir exit $rc"
grep -q "no/such/dir/out.jsonl: cannot open: No such file or directory" \
    err.txt || fail "missing dir message: $(cat err.txt)"

# 16 KiB limit: about 35 lines fit, the one that crosses it is cut back.
set +e
(ulimit -f 16; exec "$PLM" run in.jsonl -o out.jsonl --provider mock \
    --mock-latency 0 -c 8 2>err.txt)
rc=$?
set -e
[ $rc = 3 ] || fail "file-size limit exit $rc: $(cat err.txt)"
grep -q "File too large; stopping" err.txt || fail "EFBIG message: $(cat err.txt)"
size=$(stat -c %s out.jsonl)
[ "$size" -le 16384 ] && [ "$size" -gt 1000 ] || fail "size $size"
python3 - <<'PY' || fail "partial file is not whole lines"
import json
data = open("out.jsonl", "rb").read()
assert data.endswith(b"\n")
for l in data.splitlines():
    assert json.loads(l)["response"]["status_code"] == 200
PY
n=$(line_count out.jsonl)
# With room again, the run resumes and completes.
"$PLM" run in.jsonl -o out.jsonl --provider mock --mock-latency 0 -q \
    || fail "resume exit $?"
read -r ok bad lines < <(check_output out.jsonl in.jsonl)
[ "$ok" = 200 ] && [ "$lines" = 200 ] || fail "resume after full disk: $ok/$lines"
[ "$n" -lt 200 ] || fail "the limit did not bite"
# A second run on an output that a run is writing is refused.
gen_input slow.jsonl 100
"$PLM" run slow.jsonl -o busy.jsonl --provider mock --mock-latency 100 -c 2 \
    -q &
pid=$!
BG_PIDS+=("$pid")
wait_lines busy.jsonl 1
set +e
"$PLM" run slow.jsonl -o busy.jsonl --provider mock 2>err.txt
rc=$?
set -e
[ $rc = 3 ] || fail "concurrent run exit $rc"
grep -q "busy.jsonl: in use by another parallm run" err.txt || fail "$(cat err.txt)"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
# The lock died with the process.
"$PLM" run slow.jsonl -o busy.jsonl --provider mock --mock-latency 0 -q \
    || fail "run after the holder died: $?"
check_output busy.jsonl slow.jsonl >/dev/null
echo ok
