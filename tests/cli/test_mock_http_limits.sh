#!/usr/bin/env bash
# `parallm mock` answers requests over its limits in the provider's JSON
# error shape with a request id, as it does every other error: headers
# over 64 KiB 431, a body over 32 MiB 413. What libevent itself refuses
# before the mock sees it (headers over 1 MiB, malformed HTTP) is its own
# HTML page, as parallm(1) says. Raw sockets, so nothing is normalised.
# Usage: test_mock_http_limits.sh PATH_TO_PARALLM
. "$(dirname "$0")/run_lib.sh"

"$PLM" mock -p 0 --port-file port.txt 2>mock.err &
BG_PIDS+=($!)
for _ in $(seq 100); do [ -s port.txt ] && break; sleep 0.1; done

python3 - "$(cat port.txt)" <<'PY' || fail "limits"
import json, socket, sys
port = int(sys.argv[1])

def exchange(head, body=b"", refused=False):
    """Sends head + body, returns (status, headers dict, body bytes). With
    refused, the server may close before it has read everything sent
    (libevent does, on what it refuses): then None when the reset came
    before any answer could be read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    data = b""
    try:
        s.sendall(head)
        for i in range(0, len(body), 1 << 20):
            s.sendall(body[i:i + (1 << 20)])
        s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        if not refused:
            raise
    try:
        while True:
            c = s.recv(1 << 16)
            if not c:
                break
            data += c
    except ConnectionResetError:
        if not refused:
            raise
    s.close()
    if refused and not data:
        return None
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in
               (l.partition(":") for l in lines[1:])}
    return int(lines[0].split()[1]), headers, rest

def post(path, extra=b"", body=None, anthropic=False, refused=False):
    body = body if body is not None else json.dumps(
        {"model": "m", "max_tokens": 5,
         "messages": [{"role": "user", "content": "hi"}]}).encode()
    head = (b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nx-api-key: k\r\n" +
            (b"anthropic-version: 2023-06-01\r\n" if anthropic else b"") +
            extra + b"Content-Length: %d\r\nConnection: close\r\n\r\n"
            % len(body))
    return exchange(head, body, refused)

def big_header(n):
    return b"X-Padding: " + b"p" * n + b"\r\n"

# Below the limit: answered.
st, h, b = post(b"/v1/chat/completions", big_header(60 * 1024))
assert st == 200, (st, b[:200])
# Headers over 64 KiB: JSON 431 in OpenAI's shape, with a request id.
st, h, b = post(b"/v1/chat/completions", big_header(70 * 1024))
assert st == 431, (st, b[:200])
assert h["content-type"] == "application/json", h
assert h.get("x-request-id", "").startswith("req_"), h
err = json.loads(b)["error"]
assert err["message"] == "mock: request headers too large", err
assert set(err) == {"message", "type", "param", "code"}, err
# Spread over many headers, and in Anthropic's shape on /v1/messages.
many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(80))
st, h, b = post(b"/v1/messages", many, anthropic=True)
assert st == 431 and h.get("request-id", "").startswith("req_"), (st, h)
doc = json.loads(b)
assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error", doc
# A body over 32 MiB: JSON 413.
st, h, b = post(b"/v1/chat/completions", body=b" " * (33 << 20))
assert st == 413 and h.get("x-request-id", "").startswith("req_"), (st, h)
assert json.loads(b)["error"]["message"] == "mock: request body too large", b
# What stays libevent's: headers over 1 MiB, malformed HTTP.
# libevent may close before reading all 2 MiB: a reset, or its answer.
r = post(b"/v1/chat/completions", big_header(2 << 20), refused=True)
assert r is None or (r[0] in (400, 413) and "x-request-id" not in r[1]), r
st, h, b = exchange(b"NOT HTTP AT ALL\r\n\r\n")
assert st == 400 and b"<HTML>" in b.upper() and "x-request-id" not in h, (st, b)
PY
echo ok
