#!/usr/bin/env bash
# `parallm describe --base-url` needs no key to start (parallm(1)); a
# server that wants one all the same (parallm mock on /v1/messages, as
# Anthropic's API) gets each file an error, status 6, and one line naming
# the variable to set. With any key set, the same command succeeds.
# Usage: test_describe_base_url.sh PATH_TO_PARALLM
. "$(dirname "$0")/run_lib.sh"

"$PLM" mock -p 0 --port-file port.txt 2>mock.err &
BG_PIDS+=($!)
for _ in $(seq 100); do [ -s port.txt ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat port.txt)"
printf 'int main(void) { return 0; }\n' >a.c

# OpenAI's protocol: the mock takes a request without Authorization.
rc=0
"$PLM" describe --base-url "$url" a.c >o.json 2>o.err || rc=$?
[ "$rc" = 0 ] || fail "openai without key: exit $rc: $(cat o.err)"
grep -q '"summary"' o.json || fail "openai: $(cat o.json)"
grep -q "asked for a key" o.err && fail "openai: key hint without a 401"

# Anthropic's: started without a key, told which one to set.
rc=0
"$PLM" describe -P anthropic --base-url "$url" a.c >a.json 2>a.err || rc=$?
[ "$rc" = 6 ] || fail "anthropic without key: exit $rc: $(cat a.err)"
grep -q "x-api-key header is required" a.json || fail "$(cat a.json)"
grep -q "ANTHROPIC_API_KEY is not set" a.err || fail "no hint: $(cat a.err)"

# Any key does; then no hint.
rc=0
ANTHROPIC_API_KEY=anything "$PLM" describe -P anthropic --base-url "$url" \
    a.c >k.json 2>k.err || rc=$?
[ "$rc" = 0 ] || fail "anthropic with key: exit $rc: $(cat k.err)"
grep -q '"summary"' k.json || fail "anthropic: $(cat k.json)"
grep -q "asked for a key" k.err && fail "hint with a key set"
echo ok
