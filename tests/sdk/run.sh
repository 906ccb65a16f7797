#!/bin/sh
# Runs the official OpenAI and Anthropic Node SDKs against `parallm mock`.
# Usage: tests/sdk/run.sh PARALLM_BINARY
# Installs the pinned SDKs (npm ci) when node_modules is missing, starts
# the mock on a free port, runs every *.test.mjs here with Node's own test
# runner (PARALLM_MOCK_URL points them at the mock, with fake keys) and
# stops the mock. Exits 77 (skipped) only when node or npm is absent.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 PARALLM_BINARY" >&2
    exit 2
fi
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "sdk tests: SKIPPED: $tool not found (scripts/install-deps.sh installs nodejs and npm)" >&2
        exit 77
    fi
done
if [ ! -x "$bin" ]; then
    echo "sdk tests: $bin is not an executable" >&2
    exit 2
fi

# No real credentials or endpoints from the environment reach the SDKs.
for v in $(env | sed -n 's/^\(\(OPENAI\|ANTHROPIC\)_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done

# One npm ci at a time (two build trees may run this test at once).
if [ ! -d "$here/node_modules" ]; then
    lock="$here/.npm-ci.lock"
    tries=0
    until mkdir "$lock" 2>/dev/null; do
        tries=$((tries + 1))
        if [ "$tries" -gt 600 ]; then
            echo "sdk tests: $lock held for 10 minutes; remove it if stale" >&2
            exit 1
        fi
        sleep 1
    done
    rc=0
    if [ ! -d "$here/node_modules" ]; then
        echo "sdk tests: installing the pinned SDKs (npm ci)" >&2
        (cd "$here" && npm ci --no-audit --no-fund --prefer-offline) >&2 || rc=$?
    fi
    rmdir "$lock"
    if [ "$rc" -ne 0 ]; then
        echo "sdk tests: npm ci failed ($rc): the npm registry or its cache is needed once" >&2
        exit 1
    fi
fi

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" mock --port 0 --port-file "$work/port" 2>"$work/mock.err" &
pid=$!
# The port file appears (by rename) once the mock listens: poll for it,
# at most 30 s, and give up early if the mock died.
i=0
while [ ! -s "$work/port" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "sdk tests: parallm mock exited before listening:" >&2
        cat "$work/mock.err" >&2
        pid=""
        exit 1
    fi
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then
        echo "sdk tests: parallm mock wrote no port file in 30 s" >&2
        exit 1
    fi
    sleep 0.1
done
port=$(cat "$work/port")
echo "sdk tests: node $(node --version), parallm mock on port $port" >&2

rc=0
(cd "$here" && PARALLM_MOCK_URL="http://127.0.0.1:$port" \
    node --test openai.test.mjs anthropic.test.mjs) || rc=$?
# The mock must stop cleanly on SIGTERM (under the sanitizers this is
# also their verdict on it after the SDKs' traffic).
kill "$pid"
mrc=0
wait "$pid" || mrc=$?
pid=""
if [ "$mrc" -ne 0 ]; then
    echo "sdk tests: parallm mock exited $mrc on SIGTERM" >&2
    rc=1
fi
if [ "$rc" -ne 0 ]; then
    echo "sdk tests: failed; the mock said:" >&2
    tail -n 40 "$work/mock.err" >&2
fi
exit "$rc"
