#!/usr/bin/env bash
# `--provider` presets: each sends its requests where the service expects
# them (path under the preset's base, auth header name, query), checked in
# the mock's --log; a missing key is a usage error naming its variable
# (exit 2, nothing sent); the key never appears in any output; --base-url
# overrides the preset's URL; `run --help` lists the presets.
source "$(dirname "$0")/run_lib.sh"
unset GEMINI_API_KEY AZURE_OPENAI_API_KEY AZURE_OPENAI_ENDPOINT \
    OPENAI_API_VERSION OPENROUTER_API_KEY GROQ_API_KEY TOGETHER_API_KEY \
    TOGETHER_BASE_URL MISTRAL_API_KEY DEEPSEEK_API_KEY VLLM_API_KEY \
    LLAMA_API_KEY

"$PLM" run --help >help.txt
for p in gemini azure openrouter groq together mistral deepseek vllm \
         llamacpp ollama GEMINI_API_KEY AZURE_OPENAI_ENDPOINT \
         generativelanguage.googleapis.com/v1beta/openai; do
    grep -q -- "$p" help.txt || fail "run --help does not list $p"
done

set +e
"$PLM" run in.jsonl -o x.out --provider nosuch 2>err.txt
rc=$?
set -e
[ $rc = 2 ] && grep -q "preset" err.txt || fail "unknown preset: $rc"

"$PLM" mock --port 0 --port-file port --log mock.log &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s port ] && break; sleep 0.02; done
[ -s port ] || fail "mock did not start"
M="http://127.0.0.1:$(cat port)"

gen_input in.jsonl 2
SECRET=0123456789abcdefDONOTPRINT0123456789

# run_preset NAME KEYVAR BASE_URL: runs in.jsonl with --provider NAME and
# the key in KEYVAR (none when "-"); the mock's log lines it caused go to
# NAME.log. Every output line must succeed and hold no key.
run_preset() {
    local name=$1 var=$2 base=$3 before
    before=$(line_count mock.log)
    if [ "$var" = - ]; then
        "$PLM" run in.jsonl -o "$name.out" --provider "$name" \
            --base-url "$base" --no-progress 2>"$name.err" \
            || fail "$name: exit $? $(cat "$name.err")"
    else
        env "$var=$SECRET" "$PLM" run in.jsonl -o "$name.out" \
            --provider "$name" --base-url "$base" --no-progress \
            2>"$name.err" || fail "$name: exit $? $(cat "$name.err")"
    fi
    check_output "$name.out" in.jsonl >/dev/null
    tail -n +$((before + 1)) mock.log >"$name.log"
    [ "$(line_count "$name.log")" = 2 ] || fail "$name: $(cat "$name.log")"
}

# expect NAME PATH QUERY AUTH_HEADER: what every request of NAME carried.
expect() {
    python3 - "$1.log" "$2" "$3" "$4" <<'PY'
import json, sys
log, path, query, auth = sys.argv[1:]
for raw in open(log):
    r = json.loads(raw)
    got = (r["path"], r["query"], r["auth_header"], r["status"])
    assert got == (path, query, auth, 200), f"{log}: {got} != {(path, query, auth)}"
PY
}

# The services' bases, served by the mock: the path each SDK would use.
run_preset gemini GEMINI_API_KEY "$M/v1beta/openai/"
expect gemini /v1beta/openai/chat/completions "" authorization
run_preset openrouter OPENROUTER_API_KEY "$M/api/v1"
expect openrouter /api/v1/chat/completions "" authorization
run_preset groq GROQ_API_KEY "$M/openai/v1"
expect groq /openai/v1/chat/completions "" authorization
run_preset together TOGETHER_API_KEY "$M/v1"
expect together /v1/chat/completions "" authorization
run_preset mistral MISTRAL_API_KEY "$M/v1"
expect mistral /v1/chat/completions "" authorization
run_preset deepseek DEEPSEEK_API_KEY "$M"
expect deepseek /v1/chat/completions "" authorization
run_preset vllm VLLM_API_KEY "$M"
expect vllm /v1/chat/completions "" authorization
run_preset llamacpp - "$M/v1"
expect llamacpp /v1/chat/completions "" ""
# A local preset never sends an OpenAI key it finds in the environment.
OPENAI_API_KEY=sk-should-not-be-sent run_preset ollama - "$M"
expect ollama /v1/chat/completions "" ""

# Azure: the endpoint from AZURE_OPENAI_ENDPOINT gets /openai, the line's
# model is the deployment, the key goes in api-key, api-version is added.
before=$(line_count mock.log)
AZURE_OPENAI_ENDPOINT="$M/" AZURE_OPENAI_API_KEY=$SECRET \
    "$PLM" run in.jsonl -o azure.out --provider azure --no-progress \
    2>azure.err || fail "azure: $(cat azure.err)"
tail -n +$((before + 1)) mock.log >azure.log
expect azure /openai/deployments/m/chat/completions api-version=2024-10-21 \
    api-key
# OPENAI_API_VERSION picks the version; --base-url wins over the endpoint.
before=$(line_count mock.log)
AZURE_OPENAI_ENDPOINT=http://127.0.0.1:9/ AZURE_OPENAI_API_KEY=$SECRET \
    OPENAI_API_VERSION=2025-01-01-preview \
    "$PLM" run in.jsonl -o azure2.out --provider azure --base-url "$M" \
    --no-progress 2>azure2.err || fail "azure2: $(cat azure2.err)"
tail -n +$((before + 1)) mock.log >azure2.log
expect azure2 /openai/deployments/m/chat/completions \
    api-version=2025-01-01-preview api-key

# `parallm describe` takes the presets too, and lists them.
"$PLM" describe --help | grep -q "openrouter" || fail "describe --help"
echo "some text" >doc.txt
before=$(line_count mock.log)
GEMINI_API_KEY=$SECRET "$PLM" describe -P gemini -m gm \
    --base-url "$M/v1beta/openai" doc.txt >describe.out 2>describe.err \
    || fail "describe: $(cat describe.err)"
grep -q summary describe.out || fail "describe output: $(cat describe.out)"
tail -n +$((before + 1)) mock.log >describe.log
expect describe /v1beta/openai/chat/completions "" authorization
set +e
"$PLM" describe -P groq -m x doc.txt 2>err.txt
rc=$?
set -e
[ $rc = 2 ] && grep -q "set GROQ_API_KEY" err.txt || fail "describe key"

# The key is in no output, message or log.
if grep -rl -- "$SECRET" ./*.out ./*.err ./*.log mock.log; then
    fail "a key was printed"
fi
grep -q should-not-be-sent mock.log && fail "OPENAI_API_KEY reached ollama"

# A missing key or endpoint: exit 2, the variable named, nothing sent.
before=$(line_count mock.log)
for case in "gemini GEMINI_API_KEY" "openrouter OPENROUTER_API_KEY" \
            "groq GROQ_API_KEY" "together TOGETHER_API_KEY" \
            "mistral MISTRAL_API_KEY" "deepseek DEEPSEEK_API_KEY"; do
    set -- $case
    set +e
    OPENAI_API_KEY=sk-x "$PLM" run in.jsonl -o "miss-$1.out" --provider "$1" \
        --base-url "$M" 2>err.txt
    rc=$?
    set -e
    [ $rc = 2 ] || fail "$1 without key: exit $rc"
    grep -q "set $2" err.txt || fail "$1: message lacks $2: $(cat err.txt)"
    [ ! -e "miss-$1.out" ] || fail "$1: output created without a key"
done
set +e
AZURE_OPENAI_API_KEY=k "$PLM" run in.jsonl -o miss.out --provider azure \
    2>err.txt
rc=$?
AZURE_OPENAI_ENDPOINT="$M" "$PLM" run in.jsonl -o miss.out \
    --provider azure 2>err2.txt
rc2=$?
set -e
[ $rc = 2 ] && grep -q AZURE_OPENAI_ENDPOINT err.txt \
    || fail "azure without endpoint: $rc $(cat err.txt)"
[ $rc2 = 2 ] && grep -q AZURE_OPENAI_API_KEY err2.txt \
    || fail "azure without key: $rc2 $(cat err2.txt)"
[ "$(line_count mock.log)" = "$before" ] || fail "a refused run sent requests"
echo ok
