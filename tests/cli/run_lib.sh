# Helpers shared by the `parallm run` tests (sourced, not run). Each test
# gets a private temporary directory, removed on exit together with any
# background process it started.
set -euo pipefail

PLM=${1:?usage: $0 PATH_TO_PARALLM}
PLM=$(cd "$(dirname "$PLM")" && pwd)/$(basename "$PLM")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T=$(mktemp -d /tmp/plm-run-test.XXXXXX)
BG_PIDS=()
cleanup() {
    for p in "${BG_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
# Keys from the caller's environment must not change what the tests see.
unset OPENAI_API_KEY ANTHROPIC_API_KEY OPENAI_BASE_URL ANTHROPIC_BASE_URL
export NO_COLOR=1

fail() { echo "FAIL: $*" >&2; exit 1; }

# gen_input FILE N [TEXT_PREFIX]: N chat requests r0..r(N-1).
gen_input() {
    python3 - "$1" "$2" "${3:-hello}" <<'PY'
import json, sys
path, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({"custom_id": f"r{i}", "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [
                {"role": "user", "content": f"{prefix} {i}"}]}}) + "\n")
PY
}

# line_count FILE: lines in FILE (0 if absent).
line_count() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# wait_lines FILE N: polls (bounded, 30 s) until FILE has N lines.
wait_lines() {
    local i
    for i in $(seq 1 1500); do
        [ "$(line_count "$1")" -ge "$2" ] && return 0
        sleep 0.02
    done
    fail "timed out waiting for $2 lines in $1"
}

# check_output OUT IN [expect_ok]: every line whole and valid, and each
# custom_id of IN has exactly one success line (expect_ok=1, default) or
# at least one line. Prints "succeeded failed lines".
check_output() {
    python3 - "$1" "$2" "${3:-1}" <<'PY'
import json, sys
out, inp, expect_ok = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
data = open(out, "rb").read()
assert data == b"" or data.endswith(b"\n"), "output does not end in newline"
ok, seen, lines = {}, set(), 0
for raw in data.splitlines():
    rec = json.loads(raw)
    lines += 1
    for k in ("id", "custom_id", "response", "error"):
        assert k in rec, f"missing {k}: {raw[:200]}"
    cid = rec["custom_id"]
    seen.add(cid)
    r = rec["response"]
    if r is not None and 200 <= r["status_code"] < 300 and rec["error"] is None:
        ok[cid] = ok.get(cid, 0) + 1
dups = [c for c, n in ok.items() if n > 1]
assert not dups, f"duplicated success lines: {dups[:5]}"
want = [json.loads(l)["custom_id"] for l in open(inp) if l.strip()]
missing = [c for c in want if (c not in ok if expect_ok else c not in seen)]
assert not missing, f"missing custom_ids: {missing[:5]} ({len(missing)})"
print(len(ok), len(seen) - len(ok), lines)
PY
}
