#!/usr/bin/env bash
# `parallm describe`: against the embedded mock (--provider mock) for the
# per-path outcomes (described, empty, unreadable, directory, binary), and
# against a scripted local OpenAI/Anthropic stand-in for what only a
# controlled answer shows: fence stripping, the single re-ask with the
# conversation and the reason, shape errors, HTTP errors, truncation and
# the key staying out of the output. Usage: test_describe.sh PATH_TO_PARALLM
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

# --- command line ---------------------------------------------------------
"$PARALLM" describe --help >"$tmp/help"
for opt in --provider --model --base-url --max-concurrent --max-bytes --output; do
    grep -q -- "$opt" "$tmp/help" || fail "--help does not mention $opt"
done
for bad in "" "--provider nope x" "--max-bytes 0 x" "--max-concurrent x y" \
           "--provider mock --base-url http://h x" "--base-url ftp://h x"; do
    status=0
    # shellcheck disable=SC2086
    "$PARALLM" describe $bad >/dev/null 2>&1 || status=$?
    [ "$status" -eq 2 ] || fail "describe $bad gave exit $status, want 2"
done

# No key for the provider's own API: one clear message, exit 2 (as run
# does), and no
# request (OPENAI_BASE_URL unset means api.openai.com).
printf 'x\n' >"$tmp/k.c"
status=0
env -u OPENAI_API_KEY -u OPENAI_BASE_URL "$PARALLM" describe "$tmp/k.c" \
    >"$tmp/k.out" 2>"$tmp/k.err" || status=$?
[ "$status" -eq 2 ] || fail "no key gave exit $status, want 2"
grep -q OPENAI_API_KEY "$tmp/k.err" || fail "no key: $(cat "$tmp/k.err")"
status=0
env -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL "$PARALLM" describe \
    --provider anthropic "$tmp/k.c" >"$tmp/k.out" 2>"$tmp/k.err" || status=$?
[ "$status" -eq 2 ] || fail "no Anthropic key gave exit $status, want 2"

# --- embedded mock ----------------------------------------------------------
mkdir -p "$tmp/p/dir"
cd "$tmp/p"
printf '#include "b.h"\nint main(void) { return helper(); }\n' >a.c
printf 'int helper(void);\n' >b.h
: >empty.txt
printf 'ab\0cd' >nul.bin
unreadable=""
if [ "$(id -u)" != 0 ]; then
    # root reads everything, so the permission case only runs as a user
    printf 'secret\n' >locked.c
    chmod 000 locked.c
    unreadable=locked.c
fi

status=0
timeout 120 "$PARALLM" describe --provider mock a.c b.h empty.txt missing.c \
    dir nul.bin a.c $unreadable -o out.json 2>err.txt || status=$?
[ "$status" -eq 1 ] || fail "mixed files gave exit $status, want 1: $(cat err.txt)"
python3 - out.json "$unreadable" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
want = ["a.c", "b.h", "empty.txt", "missing.c", "dir", "nul.bin"]
if sys.argv[2]:
    want.append(sys.argv[2])
assert list(doc) == want, list(doc)
for ok in ("a.c", "b.h"):
    d = doc[ok]
    assert set(d) == {"summary", "references"}, d
    assert isinstance(d["summary"], str) and d["summary"], d
    assert all(isinstance(r, str) for r in d["references"]), d
assert doc["empty.txt"] == {"summary": "Empty file", "references": []}, doc
assert "No such file" in doc["missing.c"]["error"], doc
assert "directory" in doc["dir"]["error"], doc
assert "not a text file" in doc["nul.bin"]["error"], doc
if sys.argv[2]:
    assert "Permission denied" in doc[sys.argv[2]]["error"], doc
PY

# All good: exit 0 and the JSON on stdout.
timeout 120 "$PARALLM" describe --provider mock a.c b.h empty.txt >stdout.json
python3 -c '
import json, sys
doc = json.load(open("stdout.json"))
assert list(doc) == ["a.c", "b.h", "empty.txt"], doc
assert all("summary" in d for d in doc.values()), doc
'

# Output errors are exit 3 and leave no temporary file behind.
status=0
"$PARALLM" describe --provider mock a.c -o "$tmp/p/nodir/x.json" \
    2>/dev/null || status=$?
[ "$status" -eq 3 ] || fail "-o into a missing directory gave exit $status, want 3"
if [ -w /dev/full ]; then
    status=0
    "$PARALLM" describe --provider mock a.c >/dev/full 2>/dev/null || status=$?
    [ "$status" -eq 3 ] || fail "a full stdout gave exit $status, want 3"
fi
ls "$tmp/p" | grep -q '\.tmp\.' && fail "temporary output file left behind"

# --- scripted stand-in server ---------------------------------------------
cat >"$tmp/server.py" <<'PY'
# Answers chat requests by the file named in the first user message and
# logs every request (path, auth headers, body) as one JSON line.
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log_path, port_path = sys.argv[1], sys.argv[2]
lock = threading.Lock()

def answer_for(messages):
    users = [m for m in messages if m["role"] == "user"]
    first, again = users[0]["content"], len(users) > 1
    if '"fence.c"' in first:
        return '```json\n{"summary": "fenced", "references": ["a.h"]}\n```'
    if '"bad.c"' in first:
        if again:
            return '{"summary": "fixed", "references": []}'
        return "Sure! Here it is."
    if '"worse.c"' in first:
        return '{"summary": 5, "references": []}'
    return '{"summary": "plain", "references": ["x.h", "y.h"]}'

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock, open(log_path, "a") as f:
            f.write(json.dumps({"path": self.path,
                                "authorization": self.headers.get("Authorization"),
                                "x_api_key": self.headers.get("x-api-key"),
                                "body": body}) + "\n")
        first = [m for m in body["messages"] if m["role"] == "user"][0]["content"]
        if '"http400.c"' in first:
            self.reply(400, {"error": {"message": "no such model",
                                       "type": "invalid_request_error",
                                       "code": None}})
            return
        text = answer_for(body["messages"])
        if self.path.endswith("/messages"):
            self.reply(200, {"id": "msg_1", "type": "message", "role": "assistant",
                             "content": [{"type": "text", "text": text}],
                             "stop_reason": "end_turn",
                             "usage": {"input_tokens": 5, "output_tokens": 5}})
        else:
            self.reply(200, {"id": "c1", "object": "chat.completion",
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant",
                                                      "content": text}}],
                             "usage": {"prompt_tokens": 5, "completion_tokens": 5,
                                       "total_tokens": 10}})

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_path + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_path + ".tmp", port_path)
server.serve_forever()
PY
python3 "$tmp/server.py" "$tmp/requests.jsonl" "$tmp/port" &
pid=$!
for _ in $(seq 1 600); do
    [ -s "$tmp/port" ] && break
    kill -0 "$pid" 2>/dev/null || fail "stand-in server exited"
    sleep 0.05
done
[ -s "$tmp/port" ] || fail "stand-in server did not start"
port=$(cat "$tmp/port")

mkdir -p "$tmp/q"
cd "$tmp/q"
for f in fence.c bad.c worse.c http400.c; do printf 'int %s;\n' "${f%.c}" >"$f"; done
python3 -c 'open("big.c", "w").write("X" * 300 + "Y" * 10)'

status=0
OPENAI_API_KEY=sk-test-secret-123 timeout 120 "$PARALLM" describe \
    --base-url "http://127.0.0.1:$port" --model test-model --max-bytes 300 \
    --max-concurrent 2 fence.c bad.c worse.c http400.c big.c \
    >out.json 2>err.txt || status=$?
[ "$status" -eq 1 ] || fail "stand-in run gave exit $status, want 1: $(cat err.txt)"
if grep -q sk-test-secret out.json err.txt; then fail "API key in the output"; fi

python3 - out.json "$tmp/requests.jsonl" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
log = [json.loads(l) for l in open(sys.argv[2])]
assert list(doc) == ["fence.c", "bad.c", "worse.c", "http400.c", "big.c"], doc
assert doc["fence.c"] == {"summary": "fenced", "references": ["a.h"]}, doc
assert doc["bad.c"] == {"summary": "fixed", "references": []}, doc
assert "summary" in doc["worse.c"]["error"], doc
assert set(doc["worse.c"]) == {"error"}, doc
assert "no such model" in doc["http400.c"]["error"], doc
assert doc["big.c"] == {"summary": "plain", "references": ["x.h", "y.h"]}, doc

def first_user(entry):
    return [m for m in entry["body"]["messages"] if m["role"] == "user"][0]["content"]
def sent_for(name):
    return [e for e in log if '"%s"' % name in first_user(e)]

for e in log:
    assert e["path"] == "/v1/chat/completions", e
    assert e["authorization"] == "Bearer sk-test-secret-123", e
    assert e["body"]["model"] == "test-model", e
assert len(sent_for("fence.c")) == 1
assert len(sent_for("http400.c")) == 1
assert len(sent_for("worse.c")) == 2, "worse.c must be asked again once, only once"
bad = sent_for("bad.c")
assert len(bad) == 2, bad
msgs = bad[1]["body"]["messages"]
roles = [m["role"] for m in msgs if m["role"] != "system"]
assert roles == ["user", "assistant", "user"], msgs
assert msgs[-2]["content"] == "Sure! Here it is.", msgs
assert msgs[-1]["content"].startswith("Your answer was not valid: "), msgs
assert "Reply with only the JSON object" in msgs[-1]["content"], msgs
big = first_user(sent_for("big.c")[0])
assert "X" * 300 in big and "Y" not in big, big
assert "310 bytes long; only its first 300 bytes" in big, big
PY

# The same with the Anthropic protocol.
rm -f "$tmp/requests.jsonl"
ANTHROPIC_API_KEY=sk-ant-test-456 timeout 120 "$PARALLM" describe \
    --provider anthropic --base-url "http://127.0.0.1:$port" fence.c big.c \
    -o anthropic.json 2>err.txt || fail "anthropic run failed: $(cat err.txt)"
python3 - anthropic.json "$tmp/requests.jsonl" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
log = [json.loads(l) for l in open(sys.argv[2])]
assert doc == {"fence.c": {"summary": "fenced", "references": ["a.h"]},
               "big.c": {"summary": "plain", "references": ["x.h", "y.h"]}}, doc
assert len(log) == 2, log
for e in log:
    assert e["path"] == "/v1/messages", e
    assert e["x_api_key"] == "sk-ant-test-456", e
    assert "JSON" in json.dumps(e["body"].get("system")), e
PY

# Starts `parallm mock` with the given options in place of the server.
start_mock() {
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$tmp/port"
    "$PARALLM" mock --port 0 --port-file "$tmp/port" "$@" 2>/dev/null &
    pid=$!
    for _ in $(seq 1 600); do
        [ -s "$tmp/port" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "mock exited"
        sleep 0.05
    done
    fail "mock did not start"
}

# --max-concurrent reaches the server: with 400 ms answers, six files at
# two at a time are never more than two in flight, and do reach two from
# the first round on (a fresh client must not hold its second request back
# until the first connection has answered). The mock logs each request
# when it answers, with the number of the others still in flight.
start_mock --latency 400ms --log "$tmp/mock.jsonl"
for i in 1 2 3 4 5 6; do printf 'int f%d;\n' "$i" >"f$i.c"; done
timeout 60 "$PARALLM" describe --max-concurrent 2 \
    --base-url "http://127.0.0.1:$(cat "$tmp/port")" f1.c f2.c f3.c f4.c \
    f5.c f6.c >conc.json 2>err.txt || fail "describe failed: $(cat err.txt)"
python3 - "$tmp/mock.jsonl" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
assert len(log) == 6, log
peak = max(e["in_flight"] for e in log) + 1
assert peak == 2, "peak in flight %d, want 2" % peak
def seconds(e):  # "2026-01-02T03:04:05.678Z" -> seconds within the day
    h, m, sec = e["time"][11:-1].split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)
gap = abs(seconds(log[1]) - seconds(log[0]))
assert gap < 0.2, "first two answers %.3f s apart: first round serialized" % gap
PY

# --timeout: a server slower than the deadline gives exit 5 and a
# per-file error, and the JSON is still written.
start_mock --latency 20s
status=0
OPENAI_API_KEY=x timeout 60 "$PARALLM" describe --timeout 500ms \
    --base-url "http://127.0.0.1:$(cat "$tmp/port")" fence.c \
    >late.json 2>err.txt || status=$?
[ "$status" -eq 5 ] || fail "--timeout gave exit $status, want 5: $(cat err.txt)"
python3 -c '
import json
doc = json.load(open("late.json"))
assert list(doc) == ["fence.c"] and "timed out" in doc["fence.c"]["error"], doc
'

echo "ok"
