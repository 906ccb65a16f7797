#!/usr/bin/env bash
# parallm run over TLS and HTTP/2, as it talks to real providers: nginx
# (TLS with a throwaway certificate, http2, 128 streams a connection) in
# front of `parallm mock`, started on free loopback ports
# (tests/cli/nginx_lib.sh). With default options plus --base-url and
# --ca-file: 500 requests at -c 100 all answered, each with its own
# answer; nginx saw every one over HTTP/2 and on few connections (the
# transport multiplexes and waits for the multiplexed connection rather
# than opening one a request), also at -c 300, past one connection's
# streams; HTTP/1.1 over TLS still works; a streamed request works; and
# verification is on: without the CA the run fails with a certificate
# error. Skipped (exit 0 with a note) only where nginx is absent.
source "$(dirname "$0")/run_lib.sh"
source "$HERE/nginx_lib.sh"

if ! nginx_h2_find >/dev/null; then
    echo "SKIP: nginx not installed (Debian package nginx)"
    exit 0
fi
trap 'nginx_h2_stop; cleanup' EXIT
mkdir ngx
nginx_h2_start "$T/ngx" --latency 20ms || fail "nginx did not start"
LOG="$T/ngx/access.log"

# 500 requests, 100 in flight.
N=500
gen_input in.jsonl "$N"
OPENAI_API_KEY=sk-test "$PLM" run in.jsonl -o out.jsonl -c 100 \
    --base-url "$NGINX_H2_URL" --ca-file "$NGINX_H2_CA" 2>err.txt \
    || fail "run over h2 exit $?: $(cat err.txt)"
read -r ok bad lines < <(check_output out.jsonl in.jsonl)
[ "$ok" = "$N" ] && [ "$lines" = "$N" ] || fail "want $N successes: $ok/$lines"
python3 - <<'PY' || fail "answers do not match their requests"
import json
for l in open("out.jsonl"):
    r = json.loads(l)
    assert r["response"]["status_code"] == 200, r
    i = r["custom_id"][1:]
    got = r["response"]["body"]["choices"][0]["message"]["content"]
    assert got == f"mock reply: hello {i}", (r["custom_id"], got)
PY
read -r req conns h2 ok200 < <(nginx_h2_log_summary "$LOG")
echo "nginx: $req requests, $conns connections, $h2 over h2, $ok200 answered 200"
[ "$req" = "$N" ] || fail "nginx saw $req requests, want $N"
[ "$h2" = "$N" ] || fail "only $h2 of $N requests were HTTP/2: $(head -3 "$LOG")"
[ "$ok200" = "$N" ] || fail "nginx answered $ok200 of $N with 200"
# 100 in flight fit in one connection (128 streams; libcurl's own cap is
# 100); one more allowed for a connection opened while the first
# handshake was under way.
[ "$conns" -le 2 ] || fail "$conns connections for $N requests at -c 100"

# More in flight than one connection's streams: the first wave opens
# connections for 300 multiplexed transfers (3 of libcurl's 100 streams,
# plus one), not one connection per transfer past the first 100.
gen_input in300.jsonl 600
from=$(($(wc -l < "$LOG") + 1))
OPENAI_API_KEY=sk-test "$PLM" run in300.jsonl -o out300.jsonl -c 300 \
    --base-url "$NGINX_H2_URL" --ca-file "$NGINX_H2_CA" 2>err.txt \
    || fail "run at -c 300 exit $?: $(cat err.txt)"
read -r ok bad lines < <(check_output out300.jsonl in300.jsonl)
[ "$ok" = 600 ] || fail "-c 300: $ok successes of 600"
read -r req conns h2 ok200 < <(nginx_h2_log_summary "$LOG" "$from")
echo "nginx, -c 300: $req requests, $conns connections, $h2 over h2"
[ "$h2" = 600 ] || fail "-c 300: $h2 of 600 over HTTP/2"
[ "$conns" -le 4 ] || fail "$conns connections for 600 requests at -c 300"

# HTTP/1.1 over TLS (the mock's own TLS, no h2): the first wave's
# connection limit is lifted when an answer arrives, so the run completes.
"$PLM" mock --port 0 --port-file h1.port --tls-cert "$NGINX_H2_CA" \
    --tls-key "$T/ngx/key.pem" --latency 20ms 2>/dev/null &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s h1.port ] && break; sleep 0.02; done
[ -s h1.port ] || fail "TLS mock did not start"
gen_input in1.jsonl 200
OPENAI_API_KEY=sk-test "$PLM" run in1.jsonl -o out1.jsonl -c 50 \
    --base-url "https://127.0.0.1:$(cat h1.port)" --ca-file "$NGINX_H2_CA" \
    2>err.txt || fail "HTTP/1.1 over TLS exit $?: $(cat err.txt)"
read -r ok bad lines < <(check_output out1.jsonl in1.jsonl)
[ "$ok" = 200 ] || fail "HTTP/1.1 over TLS: $ok successes of 200"

# A streamed request over h2.
printf '%s\n' '{"custom_id":"s1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","stream":true,"messages":[{"role":"user","content":"streamed"}]}}' > stream.jsonl
from=$(($(wc -l < "$LOG") + 1))
OPENAI_API_KEY=sk-test "$PLM" run stream.jsonl -o stream.out \
    --base-url "$NGINX_H2_URL" --ca-file "$NGINX_H2_CA" 2>err.txt \
    || fail "streamed run exit $?: $(cat err.txt)"
python3 - <<'PY' || fail "streamed answer wrong: $(cat stream.out)"
import json
r = json.loads(open("stream.out").read())
assert r["response"]["status_code"] == 200, r
got = r["response"]["body"]["choices"][0]["message"]["content"]
assert got == "mock reply: streamed", got
PY
read -r req conns h2 ok200 < <(nginx_h2_log_summary "$LOG" "$from")
[ "$req" = 1 ] && [ "$h2" = 1 ] && [ "$ok200" = 1 ] \
    || fail "streamed request in nginx's log: $req/$h2/$ok200"

# Verification is on by default: without the CA the run fails, saying why.
set +e
OPENAI_API_KEY=sk-test "$PLM" run in.jsonl -o noca.jsonl --retries 0 \
    --base-url "$NGINX_H2_URL" 2>err.txt
rc=$?
set -e
[ "$rc" = 1 ] || fail "run without the CA exit $rc, want 1: $(cat err.txt)"
grep -q "first failure: TLS to 127.0.0.1:$NGINX_H2_PORT: certificate verify failed" \
    err.txt || fail "no certificate error: $(cat err.txt)"
python3 - <<'PY' || fail "a request succeeded without the CA"
import json
for l in open("noca.jsonl"):
    assert json.loads(l)["response"] is None
PY
echo "ok"
