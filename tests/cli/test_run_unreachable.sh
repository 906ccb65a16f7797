#!/usr/bin/env bash
# A server that cannot be reached gives its reason in one line, without
# -v, on stderr and in --summary-json: connection refused, a host that
# does not resolve, a TLS failure. A malformed --base-url and a --ca-file
# that is not PEM certificates are usage errors (exit 2) before anything
# is sent.
source "$(dirname "$0")/run_lib.sh"

gen_input in.jsonl 20
run_rc() {
    local want=$1
    shift
    set +e
    "$PLM" run "$@" 2>err.txt
    local rc=$?
    set -e
    [ $rc = "$want" ] || fail "exit $rc (want $want) for $*: $(cat err.txt)"
}

run_rc 1 in.jsonl -o refused.jsonl --base-url http://127.0.0.1:1 \
    --summary-json s.json
grep -q "^parallm run: first failure: connection refused to 127.0.0.1:1$" \
    err.txt || fail "no reason: $(cat err.txt)"
python3 -c '
import json; s = json.load(open("s.json"))
assert s["first_failure"] == "connection refused to 127.0.0.1:1", s
assert s["exit_code"] == 1 and s["succeeded"] == 0, s' || fail "summary"

run_rc 1 in.jsonl -o nohost.jsonl --base-url http://no-such-host.invalid \
    --retries 0
grep -q "first failure: .*no-such-host.invalid" err.txt || fail "$(cat err.txt)"

# Malformed URLs: exit 2, nothing created.
for url in 'http://[zz' 'http://127.0.0.1:99999' 'http://' 'http://h:x/v1' \
           'http://user:pw@h/v1' 'http://h/a b'; do
    run_rc 2 in.jsonl -o bad.jsonl --base-url "$url"
    grep -q "invalid value for --base-url" err.txt || fail "$url: $(cat err.txt)"
    [ ! -e bad.jsonl ] || fail "$url: output created"
done

# --ca-file: a private key, garbage, an empty file: exit 2 before
# anything is sent.
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem \
    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    2>/dev/null || fail "openssl req"
head -c 3000 /dev/urandom > garbage.pem
: > empty.pem
for ca in key.pem garbage.pem empty.pem; do
    run_rc 2 in.jsonl -o ca.jsonl --provider mock --ca-file "$ca"
    grep -q -- "--ca-file $ca: holds no PEM certificate" err.txt \
        || fail "$ca: $(cat err.txt)"
    [ ! -e ca.jsonl ] || fail "$ca: output created"
done
# A certificate followed by a key is refused too.
cat cert.pem key.pem > mixed.pem
run_rc 2 in.jsonl -o ca.jsonl --provider mock --ca-file mixed.pem
grep -q "also something that is not a PEM certificate" err.txt || fail "mixed: $(cat err.txt)"

# TLS: a server whose certificate is not trusted, then trusted.
"$PLM" mock --port 0 --port-file port --tls-cert cert.pem --tls-key key.pem \
    --latency 0 2>/dev/null &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s port ] && break; sleep 0.02; done
[ -s port ] || fail "TLS mock did not start"
URL="https://127.0.0.1:$(cat port)"
run_rc 1 in.jsonl -o tls.jsonl --base-url "$URL" --retries 0
grep -q "first failure: TLS to 127.0.0.1:$(cat port): certificate verify failed" \
    err.txt || fail "TLS reason: $(cat err.txt)"
run_rc 0 in.jsonl -o tls2.jsonl --base-url "$URL" --ca-file cert.pem -q
# Plain HTTP spoken to... an https URL on a plain server is a TLS failure.
"$PLM" mock --port 0 --port-file port2 --latency 0 2>/dev/null &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s port2 ] && break; sleep 0.02; done
run_rc 1 in.jsonl -o plain.jsonl --base-url "https://127.0.0.1:$(cat port2)"
grep -q "first failure: TLS to 127.0.0.1:$(cat port2): " err.txt \
    || fail "TLS on plain: $(cat err.txt)"
echo ok
