#!/usr/bin/env bash
# parallm run on every endpoint a Batch line may name, against the embedded
# mock and against `parallm mock` over HTTP: each success line's body is
# the JSON object the endpoint returns, and a "stream": true line is
# recorded as the assembled object (content, tool calls, finish reason,
# usage), not as the events. A stream cut midway is retried, and when it
# is cut every time it ends as an error line, never as a success.
source "$(dirname "$0")/run_lib.sh"

python3 - <<'PY'
import json
tools = [{"type": "function", "function": {"name": "get_weather",
          "parameters": {"type": "object", "properties":
                         {"city": {"type": "string"}}, "required": ["city"]}}}]
atools = [{"name": "get_weather", "input_schema": {"type": "object",
           "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
msgs = [{"role": "user", "content": "hello there"}]
lines = [
    ("chat", "/v1/chat/completions", {"model": "m", "messages": msgs}),
    ("cmpl", "/v1/completions", {"model": "m", "prompt": "say hi"}),
    ("emb", "/v1/embeddings", {"model": "e", "input": ["a", "b"]}),
    ("resp", "/v1/responses", {"model": "m", "input": "say hi"}),
    ("mod", "/v1/moderations", {"model": "omni-moderation-latest",
                                "input": ["fine", "bad [mock flagged]"]}),
    ("img", "/v1/images/generations", {"model": "gpt-image-1",
                                       "prompt": "a cat", "n": 2}),
    ("img-url", "/v1/images/generations", {"model": "dall-e-3",
                                           "prompt": "a dog",
                                           "response_format": "url"}),
    ("img-edit", "/v1/images/edits", {"model": "gpt-image-1",
                                      "prompt": "add a hat", "images": [
                                          {"image_url": "https://x/a.png"}]}),
    ("msg", "/v1/messages", {"model": "c", "max_tokens": 64,
                             "messages": msgs}),
    # Streams.
    ("s-chat", "/v1/chat/completions", {"model": "m", "stream": True,
                                        "messages": msgs}),
    ("s-chat-n2", "/v1/chat/completions", {"model": "m", "stream": True,
                                           "n": 2, "messages": msgs}),
    ("s-chat-nousage", "/v1/chat/completions", {
        "model": "m", "stream": True,
        "stream_options": {"include_usage": False}, "messages": msgs}),
    ("s-chat-tool", "/v1/chat/completions", {
        "model": "m", "stream": True, "tools": tools,
        "tool_choice": "required", "messages": msgs}),
    ("s-cmpl", "/v1/completions", {"model": "m", "stream": True,
                                   "prompt": "say hi"}),
    ("s-resp", "/v1/responses", {"model": "m", "stream": True,
                                 "input": "say hi"}),
    ("s-msg", "/v1/messages", {"model": "c", "max_tokens": 64,
                               "stream": True, "messages": msgs}),
    ("s-msg-tool", "/v1/messages", {
        "model": "c", "max_tokens": 64, "stream": True, "tools": atools,
        "tool_choice": {"type": "any"}, "messages": msgs}),
    # Cut midway on the first attempt only.
    ("s-cut-once", "/v1/chat/completions", {
        "model": "m", "stream": True, "messages": [
            {"role": "user", "content": "once [mock fault=cut times=1]"}]}),
]
with open("in.jsonl", "w") as f:
    for cid, url, body in lines:
        f.write(json.dumps({"custom_id": cid, "method": "POST", "url": url,
                            "body": body}) + "\n")
PY

# check_bodies OUT: every line a success whose body is the endpoint's
# object, field by field.
check_bodies() {
    python3 - "$1" <<'PY'
import json, sys
recs = {}
for raw in open(sys.argv[1]):
    r = json.loads(raw)
    assert r["error"] is None, r
    assert r["response"]["status_code"] == 200, r
    b = r["response"]["body"]
    assert isinstance(b, dict), f'{r["custom_id"]}: body is not an object: {b!r:.200}'
    recs[r["custom_id"]] = b

def chat_text(b, i=0):
    c = b["choices"][i]
    assert c["message"]["role"] == "assistant"
    return c["message"]["content"]

b = recs["chat"]
assert b["object"] == "chat.completion"
assert chat_text(b) == "mock reply: hello there"
assert b["choices"][0]["finish_reason"] == "stop"
b = recs["cmpl"]
assert b["object"] == "text_completion"
assert b["choices"][0]["text"] == "mock reply: say hi"
b = recs["emb"]
assert len(b["data"]) == 2 and b["data"][0]["object"] == "embedding"
b = recs["resp"]
assert b["object"] == "response" and b["status"] == "completed"
b = recs["mod"]
assert [x["flagged"] for x in b["results"]] == [False, True], b
b = recs["img"]
assert len(b["data"]) == 2 and all("b64_json" in d for d in b["data"]), b
assert b["usage"]["output_tokens"] > 0
b = recs["img-url"]
assert list(b["data"][0]) == ["url"] and "usage" not in b, b
b = recs["img-edit"]
assert "b64_json" in b["data"][0] and "usage" in b, b
b = recs["msg"]
assert b["type"] == "message" and b["content"][0]["text"] == \
    "mock reply: hello there"

# Streams: the non-streamed shape, assembled.
b = recs["s-chat"]
assert b["object"] == "chat.completion", b
assert b["id"].startswith("chatcmpl-")
assert chat_text(b) == "mock reply: hello there", b
assert b["choices"][0]["finish_reason"] == "stop"
# No stream_options in the line: usage was asked for and recorded.
u = b["usage"]
assert u["completion_tokens"] > 0 and \
    u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
b = recs["s-chat-n2"]
assert [c["index"] for c in b["choices"]] == [0, 1], b
assert chat_text(b, 1) == "mock reply: hello there"
assert b["usage"]["completion_tokens"] > 0
# stream_options set by the line are left alone: no usage asked, none.
assert "usage" not in recs["s-chat-nousage"], recs["s-chat-nousage"]
assert chat_text(recs["s-chat-nousage"]) == "mock reply: hello there"
b = recs["s-chat-tool"]
c = b["choices"][0]
assert c["finish_reason"] == "tool_calls", c
assert c["message"]["content"] is None, c
calls = c["message"]["tool_calls"]
assert len(calls) == 1 and calls[0]["type"] == "function", calls
assert calls[0]["id"].startswith("call_") and "index" not in calls[0]
assert calls[0]["function"]["name"] == "get_weather"
assert json.loads(calls[0]["function"]["arguments"]) == {"city": "mock"}
b = recs["s-cmpl"]
assert b["object"] == "text_completion", b
assert b["choices"][0]["text"] == "mock reply: say hi"
assert b["choices"][0]["finish_reason"] == "stop"
assert b["usage"]["completion_tokens"] > 0
b = recs["s-resp"]
assert b["object"] == "response" and b["status"] == "completed", b
assert b["output"][0]["content"][0]["text"] == "mock reply: say hi"
assert b["usage"]["output_tokens"] > 0
assert "type" not in b and "sequence_number" not in b
b = recs["s-msg"]
assert b["type"] == "message" and b["role"] == "assistant", b
assert b["content"] == [{"type": "text", "text": "mock reply: hello there"}], b
assert b["stop_reason"] == "end_turn"
assert b["usage"]["input_tokens"] > 0 and b["usage"]["output_tokens"] > 1
b = recs["s-msg-tool"]
assert b["stop_reason"] == "tool_use", b
blk = b["content"][0]
assert blk["type"] == "tool_use" and blk["name"] == "get_weather", blk
assert blk["input"] == {"city": "mock"}, blk
b = recs["s-cut-once"]
assert chat_text(b) == "mock reply: once [mock fault=cut times=1]", b
print(len(recs))
PY
}

"$PLM" run in.jsonl -o out.jsonl --provider mock -q --summary-json sum.json \
    || fail "embedded mock run exit $?"
n=$(check_bodies out.jsonl) || fail "bodies on the embedded mock"
[ "$n" = 18 ] || fail "want 18 lines, got $n"
python3 -c 'import json,sys; s=json.load(open("sum.json"))
assert s["succeeded"] == 18 and s["retries"] == 1, s' \
    || fail "the cut stream was not retried once: $(cat sum.json)"

# The same lines through `parallm mock` over HTTP.
"$PLM" mock --port 0 --port-file port 2>mock.err &
BG_PIDS+=($!)
for _ in $(seq 1 1500); do [ -s port ] && break; sleep 0.02; done
[ -s port ] || fail "mock did not start: $(cat mock.err)"
OPENAI_API_KEY=sk-test-openai ANTHROPIC_API_KEY=sk-ant-test \
    "$PLM" run in.jsonl -o http.jsonl --base-url "http://127.0.0.1:$(cat port)" \
    -q || fail "run against parallm mock exit $?"
n=$(check_bodies http.jsonl) || fail "bodies through parallm mock"
[ "$n" = 18 ] || fail "want 18 lines over HTTP, got $n"

# A stream cut midway on every attempt: never a success, an error line.
python3 - <<'PY'
import json
with open("cut.jsonl", "w") as f:
    for cid, url, body in [
        ("cut-chat", "/v1/chat/completions", {"model": "m", "stream": True,
            "messages": [{"role": "user", "content": "a [mock fault=cut]"}]}),
        ("cut-msg", "/v1/messages", {"model": "c", "max_tokens": 9,
            "stream": True,
            "messages": [{"role": "user", "content": "b [mock fault=cut]"}]}),
    ]:
        f.write(json.dumps({"custom_id": cid, "method": "POST", "url": url,
                            "body": body}) + "\n")
PY
rc=0
"$PLM" run cut.jsonl -o cut.out --provider mock -q --retries 2 \
    --summary-json cutsum.json 2>cut.err || rc=$?
[ "$rc" != 0 ] || fail "a run of cut streams exited 0"
python3 - <<'PY' || fail "cut streams recorded wrongly: $(cat cut.out)"
import json
recs = [json.loads(l) for l in open("cut.out")]
assert sorted(r["custom_id"] for r in recs) == ["cut-chat", "cut-msg"], recs
for r in recs:
    assert r["response"] is None, r
    assert r["error"]["code"] == "invalid_response", r
s = json.load(open("cutsum.json"))
assert s["succeeded"] == 0 and s["retries"] == 4, s
PY

# An unknown url is still refused, and the message lists the endpoints.
printf '%s\n' '{"custom_id":"v","method":"POST","url":"/v1/videos","body":{"prompt":"x"}}' \
    > bad.jsonl
"$PLM" run bad.jsonl -o bad.out --provider mock -q 2>/dev/null || true
grep -q '/v1/moderations, /v1/images/generations' bad.out \
    || fail "refusal message does not list the endpoints: $(cat bad.out)"

echo "ok"
