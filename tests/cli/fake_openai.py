"""A tiny OpenAI-style server for the command's tests: answers
POST /v1/chat/completions on 127.0.0.1 (ephemeral port written to a file),
401 when the Authorization header is not "Bearer <expected key>", and logs
each request's path to a file."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_file, key = sys.argv[1], sys.argv[2], sys.argv[3]
# "echo": a careless server that repeats the Authorization header it got
# in its error message and its x-request-id.
echo = len(sys.argv) > 4 and sys.argv[4] == "echo"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        with open(log_file, "a") as f:
            f.write(self.path + "\n")
        if self.headers.get("Authorization") != "Bearer " + key:
            said = self.headers.get("Authorization", "") if echo else ""
            status, body = 401, {"error": {
                "message": "Incorrect API key provided" + (
                    ": " + said if said else ""),
                "type": "invalid_request_error",
                "code": "invalid_api_key"}}
        elif self.path != "/v1/chat/completions":
            status, body = 404, {"error": {"message": "no such path",
                                           "type": "invalid_request_error"}}
        else:
            status, body = 200, {
                "id": "chatcmpl-fake", "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant",
                                         "content": "fake"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1,
                          "total_tokens": 4}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_fake" + (
            self.headers.get("Authorization", "") if echo and status != 200
            else ""))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
