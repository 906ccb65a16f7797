#!/usr/bin/env bash
# `parallm mock`: starts on an ephemeral port, writes its port file,
# answers the OpenAI and Anthropic shapes, applies its options (latency,
# faults, request log) and exits 0 on SIGTERM. Usage: test_mock_cmd.sh
# PATH_TO_PARALLM
set -euo pipefail

# Absolute, since the test changes directory.
PARALLM=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Waits (bounded) for the port file of the server with pid $1 at $2.
wait_port() {
    for _ in $(seq 1 600); do
        [ -s "$2" ] && return 0
        kill -0 "$1" 2>/dev/null || fail "server exited before listening"
        sleep 0.05
    done
    fail "no port file after 30 s"
}

# Sends SIGTERM to $pid and waits (bounded) for it; sets $status.
stop_server() {
    kill -TERM "$pid"
    for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && fail "server still running 30 s after SIGTERM"
    status=0
    wait "$pid" || status=$?
    pid=""
}

# --help and usage errors.
"$PARALLM" mock --help >"$tmp/help"
for opt in --host --port --port-file --latency --jitter --seed --fault-rate \
           --fault-status --fault-retry-after --rpm --tpm --max-in-flight \
           --ratelimit-headers --tls-cert --tls-key --log; do
    grep -q -- "$opt" "$tmp/help" || fail "--help does not mention $opt"
done
status=0; "$PARALLM" mock --latency 5x 2>/dev/null || status=$?
[ "$status" -eq 2 ] || fail "bad --latency gave exit $status, want 2"
status=0; "$PARALLM" mock --fault-rate 1.5 2>/dev/null || status=$?
[ "$status" -eq 2 ] || fail "bad --fault-rate gave exit $status, want 2"
status=0; "$PARALLM" mock --tls-cert x.pem 2>/dev/null || status=$?
[ "$status" -eq 2 ] || fail "--tls-cert alone gave exit $status, want 2"
# Unreadable certificate files: a message that names them, not "(null)".
status=0
"$PARALLM" mock --port 0 --tls-cert "$tmp/none.pem" --tls-key "$tmp/none.key" \
    2>"$tmp/tls-err" || status=$?
[ "$status" -ne 0 ] || fail "a missing certificate file was accepted"
grep -q "none.pem" "$tmp/tls-err" || fail "TLS error does not name the file"
if grep -q "(null)" "$tmp/tls-err"; then fail "TLS error says (null)"; fi

# A server with 300 ms latency and a request log.
"$PARALLM" mock --port 0 --port-file "$tmp/port" --latency 0.3s \
    --log "$tmp/requests.jsonl" 2>"$tmp/stderr" &
pid=$!
wait_port "$pid" "$tmp/port"
port=$(cat "$tmp/port")
grep -q "parallm mock listening on http://127.0.0.1:$port" "$tmp/stderr" ||
    fail "no listening line: $(cat "$tmp/stderr")"

curl -sS --max-time 20 -o "$tmp/openai.json" -w '%{http_code} %{time_total}' \
    -H 'Content-Type: application/json' -H 'Authorization: Bearer test-key' \
    -d '{"model":"m","messages":[{"role":"user","content":"hello there"}]}' \
    "http://127.0.0.1:$port/v1/chat/completions" >"$tmp/openai.meta"
curl -sS --max-time 20 -o "$tmp/anthropic.json" -w '%{http_code}' \
    -H 'Content-Type: application/json' -H 'x-api-key: test-key' \
    -H 'anthropic-version: 2023-06-01' \
    -d '{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi anthropic"}]}' \
    "http://127.0.0.1:$port/v1/messages" >"$tmp/anthropic.meta"

python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
status, seconds = open(tmp + "/openai.meta").read().split()
assert status == "200", status
assert float(seconds) >= 0.3, "latency option ignored: %s s" % seconds
r = json.load(open(tmp + "/openai.json"))
msg = r["choices"][0]["message"]
assert msg["role"] == "assistant", r
assert "hello there" in msg["content"], r
assert r["choices"][0]["finish_reason"], r
assert isinstance(r["usage"]["prompt_tokens"], int), r
assert isinstance(r["usage"]["completion_tokens"], int), r
assert open(tmp + "/anthropic.meta").read() == "200"
a = json.load(open(tmp + "/anthropic.json"))
assert a["content"][0]["type"] == "text", a
assert "hi anthropic" in a["content"][0]["text"], a
assert isinstance(a["usage"]["input_tokens"], int), a
PY

stop_server
[ "$status" -eq 0 ] || fail "SIGTERM gave exit $status, want 0"
lines=$(grep -c . "$tmp/requests.jsonl" || true)
[ "$lines" -eq 2 ] || fail "request log has $lines lines, want 2"
grep -q '/v1/chat/completions' "$tmp/requests.jsonl" ||
    fail "request log lacks the OpenAI path"
if grep -q 'test-key' "$tmp/requests.jsonl" "$tmp/stderr"; then
    fail "the API key leaked into the log"
fi

# Fault injection: every request fails with the chosen status.
rm -f "$tmp/port"
"$PARALLM" mock --port 0 --port-file "$tmp/port" --fault-rate 1 \
    --fault-status 503 --fault-retry-after 2 2>"$tmp/stderr" &
pid=$!
wait_port "$pid" "$tmp/port"
port=$(cat "$tmp/port")
code=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/json' \
    -d '{"model":"m","messages":[{"role":"user","content":"x"}]}' \
    "http://127.0.0.1:$port/v1/chat/completions")
[ "$code" = 503 ] || fail "--fault-rate 1 --fault-status 503 answered $code"
kill -INT "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
status=0; wait "$pid" || status=$?; pid=""
[ "$status" -eq 0 ] || fail "SIGINT gave exit $status, want 0"

# --rpm and --ratelimit-headers: the second request in a minute of
# --rpm 1 is refused with 429 and the provider's headers.
rm -f "$tmp/port"
"$PARALLM" mock --port 0 --port-file "$tmp/port" --rpm 1 \
    --ratelimit-headers 2>/dev/null &
pid=$!
wait_port "$pid" "$tmp/port"
port=$(cat "$tmp/port")
for n in 1 2; do
    curl -sS --max-time 20 -D "$tmp/h$n" -o /dev/null \
        -H 'Content-Type: application/json' \
        -d '{"model":"m","messages":[{"role":"user","content":"x"}]}' \
        "http://127.0.0.1:$port/v1/chat/completions"
done
head -n 1 "$tmp/h1" | grep -q ' 200' || fail "first request: $(head -n 1 "$tmp/h1")"
head -n 1 "$tmp/h2" | grep -q ' 429' || fail "second request: $(head -n 1 "$tmp/h2")"
grep -qi '^x-ratelimit-limit-requests: 1' "$tmp/h1" ||
    fail "no rate-limit headers with --ratelimit-headers"
grep -qi '^retry-after:' "$tmp/h2" || fail "429 without Retry-After"
stop_server
[ "$status" -eq 0 ] || fail "SIGTERM gave exit $status, want 0"

# --tls-cert/--tls-key: HTTPS with a throwaway self-signed certificate.
if command -v openssl >/dev/null 2>&1; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
    rm -f "$tmp/port"
    "$PARALLM" mock --port 0 --port-file "$tmp/port" \
        --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" 2>"$tmp/stderr" &
    pid=$!
    wait_port "$pid" "$tmp/port"
    port=$(cat "$tmp/port")
    grep -q "listening on https://127.0.0.1:$port" "$tmp/stderr" ||
        fail "TLS listening line: $(cat "$tmp/stderr")"
    code=$(curl -sS --max-time 20 --cacert "$tmp/cert.pem" -o "$tmp/tls.json" \
        -w '%{http_code}' -H 'Content-Type: application/json' \
        -d '{"model":"m","messages":[{"role":"user","content":"over tls"}]}' \
        "https://127.0.0.1:$port/v1/chat/completions")
    [ "$code" = 200 ] || fail "HTTPS answered $code"
    grep -q 'over tls' "$tmp/tls.json" || fail "HTTPS reply: $(cat "$tmp/tls.json")"
    stop_server
    [ "$status" -eq 0 ] || fail "SIGTERM gave exit $status, want 0"
fi

echo "ok"
