#!/usr/bin/env bash
# What a server leaves out stays unknown: tokens of answers without
# "usage" are "unknown" in the summary and null in --summary-json (not 0),
# with a count of such answers; and a response's request_id is the
# server's request-id header, null without one (never the body's "id").
# Usage: test_run_no_usage.sh PATH_TO_PARALLM
. "$(dirname "$0")/run_lib.sh"

# A server that leaves out what the request's message names: "no-usage"
# drops the usage, "no-rid" the x-request-id header.
cat >server.py <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = req["messages"][-1]["content"]
        body = {"id": "chatcmpl-" + text, "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant",
                                         "content": "ok"}}]}
        if "no-usage" not in text:
            body["usage"] = {"prompt_tokens": 7, "completion_tokens": 2,
                             "total_tokens": 9}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if "no-rid" not in text:
            self.send_header("x-request-id", "req_" + text)
        self.end_headers()
        self.wfile.write(data)

s = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
python3 server.py port.txt &
BG_PIDS+=($!)
for _ in $(seq 100); do [ -s port.txt ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat port.txt)"

# input FILE TEXT...: one chat request per TEXT, custom_id = TEXT.
input() {
    local f=$1
    shift
    python3 - "$f" "$@" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for t in sys.argv[2:]:
        f.write(json.dumps({"custom_id": t, "method": "POST",
            "url": "/v1/chat/completions", "body": {"model": "m",
            "messages": [{"role": "user", "content": t}]}}) + "\n")
PY
}

# No answer reports usage: unknown, not 0.
input none.jsonl a-no-usage b-no-usage-no-rid
"$PLM" run none.jsonl -o none.out --base-url "$url" --summary-json none.json \
    2>none.err || fail "run: $(cat none.err)"
grep -q "tokens in unknown, out unknown (2 answers without usage)" none.err ||
    fail "summary: $(cat none.err)"
# Some do: the sum of those, and how many did not.
input some.jsonl c d-no-usage e
"$PLM" run some.jsonl -o some.out --base-url "$url" --summary-json some.json \
    2>some.err || fail "run: $(cat some.err)"
grep -q "tokens in 14, out 4 (1 answer without usage)" some.err ||
    fail "summary: $(cat some.err)"
# All do: no note.
input all.jsonl f
"$PLM" run all.jsonl -o all.out --base-url "$url" --summary-json all.json \
    2>all.err || fail "run: $(cat all.err)"
grep -q "tokens in 7, out 2; all requests succeeded" all.err ||
    fail "summary: $(cat all.err)"
python3 - <<'PY' || fail "summary JSON / request_id"
import json
none, some, full = (json.load(open(n + ".json")) for n in ("none", "some", "all"))
assert none["prompt_tokens"] is None and none["completion_tokens"] is None, none
assert none["answers_without_usage"] == 2, none
assert (some["prompt_tokens"], some["completion_tokens"]) == (14, 4), some
assert some["answers_without_usage"] == 1, some
assert (full["prompt_tokens"], full["completion_tokens"]) == (7, 2), full
assert full["answers_without_usage"] == 0, full
rid = {r["custom_id"]: r["response"]["request_id"]
       for n in ("none.out", "some.out") for r in map(json.loads, open(n))}
assert rid == {"a-no-usage": "req_a-no-usage", "b-no-usage-no-rid": None,
               "c": "req_c", "d-no-usage": "req_d-no-usage", "e": "req_e"}, rid
PY
echo ok
