#!/usr/bin/env bash
# Credentials and base URLs: with no key the command says exactly what to
# set; a base URL with or without /v1 reaches the server; a wrong key
# stops the run with exit 6; the key never appears in any output.
source "$(dirname "$0")/run_lib.sh"

gen_input in.jsonl 5
set +e
"$PLM" run in.jsonl -o out.jsonl 2>err.txt
rc=$?
set -e
[ $rc = 2 ] || fail "no key exit $rc"
for s in OPENAI_API_KEY ANTHROPIC_API_KEY "--provider mock" "--base-url"; do
    grep -q -- "$s" err.txt || fail "no-key message lacks $s: $(cat err.txt)"
done
[ ! -e out.jsonl ] || fail "output created without a key"
set +e
OPENAI_API_KEY=sk-x "$PLM" run in.jsonl -o out.jsonl --provider anthropic \
    2>err.txt
rc=$?
set -e
[ $rc = 2 ] && grep -q "set ANTHROPIC_API_KEY" err.txt || fail "anthropic key"

# An OpenAI key alone, and a /v1/messages line: stopped at that line.
cat > anth.jsonl <<'J'
{"custom_id":"m1","method":"POST","url":"/v1/messages","body":{"model":"c","max_tokens":5,"messages":[]}}
J
set +e
OPENAI_API_KEY=sk-x "$PLM" run anth.jsonl -o anth.out 2>err.txt
rc=$?
set -e
[ $rc = 6 ] && grep -q "line 1: no API key for /v1/messages" err.txt \
    || fail "per-line key check: $rc $(cat err.txt)"

SECRET=sk-test-DO-NOT-PRINT-4242
python3 "$HERE/fake_openai.py" port log.txt "$SECRET" &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s port ] && break; sleep 0.02; done
[ -s port ] || fail "fake server did not start"
PORT=$(cat port)

for base in "http://127.0.0.1:$PORT" "http://127.0.0.1:$PORT/v1" \
            "http://127.0.0.1:$PORT/v1/"; do
    rm -f out.jsonl log.txt
    OPENAI_API_KEY=$SECRET "$PLM" run in.jsonl -o out.jsonl --base-url "$base" \
        --summary-json sum.json 2>err.txt || fail "base $base exit $?"
    read -r ok bad lines < <(check_output out.jsonl in.jsonl)
    [ "$ok" = 5 ] || fail "base $base: $ok succeeded"
    [ "$(sort -u log.txt)" = "/v1/chat/completions" ] || fail "paths: $(cat log.txt)"
    python3 -c '
import json, sys
for l in open("out.jsonl"):
    r = json.loads(l)
    assert "simulated" not in r and r["response"]["request_id"] == "req_fake"
' || fail "fake output"
done

# OPENAI_BASE_URL counts as a base URL: no key needed to try (the fake
# server wants one, hence 401 -> exit 6, not the no-key exit 2).
set +e
OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" "$PLM" run in.jsonl \
    -o env.jsonl -c 1 2>err.txt
rc=$?
set -e
[ $rc = 6 ] || fail "OPENAI_BASE_URL without key: exit $rc $(cat err.txt)"

# Wrong key: exit 6, and the key is nowhere.
WRONG=sk-wrong-ALSO-SECRET-777
set +e
OPENAI_API_KEY=$WRONG "$PLM" run in.jsonl -o bad.jsonl --base-url \
    "http://127.0.0.1:$PORT/v1" -c 1 --summary-json bad.json -v 2>err.txt \
    >stdout.txt
rc=$?
set -e
[ $rc = 6 ] || fail "wrong key exit $rc: $(cat err.txt)"
grep -q "authentication failed (HTTP 401)" err.txt || fail "$(cat err.txt)"
if grep -q -e "$SECRET" -e "$WRONG" -e "DO-NOT-PRINT" -e "ALSO-SECRET" \
    err.txt stdout.txt bad.jsonl bad.json out.jsonl sum.json; then
    fail "an API key leaked"
fi
# Nothing listening any more: "connection_error" lines, exit 1.
for p in "${BG_PIDS[@]}"; do kill -9 "$p"; wait "$p" 2>/dev/null || true; done
BG_PIDS=()
set +e
OPENAI_API_KEY=$SECRET "$PLM" run in.jsonl -o refused.jsonl --base-url \
    "http://127.0.0.1:$PORT" --retries 0 -q
rc=$?
set -e
[ $rc = 1 ] || fail "connection refused exit $rc"
python3 - <<'PY' || fail "connection error lines"
import json
recs = [json.loads(l) for l in open("refused.jsonl")]
assert len(recs) == 5
for r in recs:
    assert r["response"] is None, r
    assert r["error"]["code"] == "connection_error", r
PY
! grep -q "$SECRET" refused.jsonl || fail "key in output"

# A server that echoes the Authorization header (in its error body and
# its x-request-id), and a key that does not look like sk-...: no copy
# of it in the output, on stderr (even with -v), in the summary or in
# describe's output.
python3 "$HERE/fake_openai.py" port2 log2.txt "$SECRET" echo &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s port2 ] && break; sleep 0.02; done
[ -s port2 ] || fail "echo server did not start"
LOCAL=local-SECRETVALUE123
set +e
OPENAI_API_KEY=$LOCAL "$PLM" run in.jsonl -o echo.jsonl --base-url \
    "http://127.0.0.1:$(cat port2)" -c 1 -v --summary-json echo.json \
    2>err.txt >stdout.txt
rc=$?
set -e
[ $rc = 6 ] || fail "echo server exit $rc: $(cat err.txt)"
grep -q '"request_id":"req_fakeBearer ' echo.jsonl || fail "no echo: $(cat echo.jsonl)"
if grep -q "SECRETVALUE" err.txt stdout.txt echo.jsonl echo.json; then
    fail "a key of another shape leaked"
fi
[ "$(stat -c %a echo.jsonl)" = 600 ] || fail "output mode $(stat -c %a echo.jsonl)"
echo 'int main(void) { return 0; }' > f.c
set +e
OPENAI_API_KEY=$LOCAL "$PLM" describe --base-url "http://127.0.0.1:$(cat port2)" \
    --model m f.c >desc.json 2>err.txt
set -e
grep -q "Incorrect API key" desc.json || fail "describe: $(cat desc.json err.txt)"
if grep -q "SECRETVALUE" desc.json err.txt; then
    fail "describe printed the key"
fi
echo ok
