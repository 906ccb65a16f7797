#!/usr/bin/env bash
# What the server gets is the body as the Batch line spells it, byte for
# byte (unicode escapes, raw UTF-8, nested objects, whitespace, numbers
# as written), whether the line takes the command's fast path or
# jansson's (an escaped custom_id, CRLF line ends); what the user gets
# is the server's answer body byte for byte; a body jansson refuses (a
# duplicate key deep inside) is still refused with jansson's words.
source "$(dirname "$0")/run_lib.sh"

# A server that logs each request body (hex, one a line) and answers with
# a body whose spelling a parse and dump would change.
cat > server.py <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
ANSWER = (b'{"id": "x", "object":"chat.completion",\t"choices":[{"index":0,'
          b'"message":{"role":"assistant","content":"caf\\u00e9 1.50"},'
          b'"finish_reason":"stop"}], "usage":{"prompt_tokens":1,'
          b'"completion_tokens":1.0e0,"total_tokens":2}}')
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "a") as f:
            f.write(body.hex() + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
python3 server.py port bodies.log &
BG_PIDS+=("$!")
for i in $(seq 1 1500); do [ -s port ] && break; sleep 0.02; done
[ -s port ] || fail "server did not start"

python3 - <<'PY'
bodies = [
    rb'{"model":"m","messages":[{"role":"user","content":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/"}]}',
    b'{ "model" :\t"m" , "messages": [ {"role": "user", "content": "x"} ], '
    b'"metadata": {"a": {"b": [1, 2.50, -0e+0, 1E5, {"c": null}]}}, "max_tokens": 8 }',
    '{"model":"m","messages":[{"role":"user","content":"na\u00efve \u65e5\u672c"}]}'.encode(),
]
with open("in.jsonl", "wb") as f:
    for i, b in enumerate(bodies):
        f.write(b'{"custom_id":"b%d","method":"POST","url":"/v1/chat/completions","body":%s}\n' % (i, b))
    # The full path: an escaped custom_id, and a CRLF line end.
    f.write(b'{"custom_id":"b\\u0033","method":"POST","url":"/v1/chat/completions","body":%s}\r\n' % bodies[1])
with open("want.txt", "w") as f:
    for b in bodies + [bodies[1]]:
        f.write(b.hex() + "\n")
PY

OPENAI_API_KEY=k "$PLM" run in.jsonl -o out.jsonl -q --no-progress \
    --base-url "http://127.0.0.1:$(cat port)" \
    || fail "run failed: $(cat out.jsonl)"
sort bodies.log > got.txt
sort want.txt > want.sorted
cmp -s got.txt want.sorted || {
    python3 -c 'import sys; [print(bytes.fromhex(l.strip())) for l in open(sys.argv[1])]' got.txt >&2
    fail "the server did not get the bodies as written"
}

# The answer is in every output line as the server sent it.
python3 - <<'PY' || fail "an answer body was changed"
import json
answer = (b'{"id": "x", "object":"chat.completion",\t"choices":[{"index":0,'
          b'"message":{"role":"assistant","content":"caf\\u00e9 1.50"},'
          b'"finish_reason":"stop"}], "usage":{"prompt_tokens":1,'
          b'"completion_tokens":1.0e0,"total_tokens":2}}')
lines = open("out.jsonl", "rb").read().splitlines()
assert len(lines) == 4, lines
ids = set()
for l in lines:
    assert b'"body":' + answer + b'}' in l, l
    ids.add(json.loads(l)["custom_id"])
assert ids == {"b0", "b1", "b2", "b3"}, ids
PY

# A duplicate key deep in a body: refused, in jansson's words, not sent.
printf '%s\n' '{"custom_id":"d","method":"POST","url":"/v1/chat/completions","body":{"model":"m","x":{"a":1,"a":2}}}' > dup.jsonl
rm -f bodies.log
set +e
OPENAI_API_KEY=k "$PLM" run dup.jsonl -o dup.out -q --no-progress \
    --base-url "http://127.0.0.1:$(cat port)" 2> dup.err
rc=$?
set -e
[ "$rc" != 0 ] || fail "a duplicate key was accepted"
grep -q 'line 1: invalid JSON: duplicate object key' dup.err \
    || fail "unexpected message: $(cat dup.err)"
grep -q '"custom_id":"line-1"' dup.out || fail "no invalid line: $(cat dup.out)"
[ ! -s bodies.log ] || fail "a refused line was sent"
echo ok
