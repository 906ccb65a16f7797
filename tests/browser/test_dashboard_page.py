#!/usr/bin/env python3
"""The live dashboard page (cli/assets/dashboard.html, the bytes compiled
into the command) in headless Chromium.

    python3 test_dashboard_page.py SHOT_DIR

The page and a state file are served by python3's http.server on a free
loopback port (one origin, as the run's listener serves /api/state beside
the page); ?state=state.json points the page at the file.
1. A running state: the page shows its numbers (progress, ETA, requests
   per second, in flight against the limit, p50/p95/p99, tokens per minute
   against the budget, retries and errors by class), status "live", no
   console error.
2. The server goes away: status "disconnected", the last numbers stay.
   (Chromium itself logs each failed fetch as a network error, net::ERR_*;
   the page must add no error of its own.)
3. A finished state with unknown (null) numbers: status "finished", "-"
   for the unknowns, polling stops.
Screenshots go to SHOT_DIR.
"""
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import chromium  # noqa: E402

PAGE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "cli", "assets",
                    "dashboard.html")

RUNNING = {
    "elapsed_s": 12.5, "total": 1000, "done": 250, "succeeded": 240,
    "failed": 10, "in_flight": 32, "waiting": 7, "concurrency_limit": 40,
    "requests_per_s": 20.4, "latency_ms": {"p50": 180, "p95": 420, "p99": 950},
    "retries": {"retry_after": 12, "backoff": 3},
    "errors": {"rate_limited": 12, "server": 3},
    "tokens_per_min": 45000, "tpm_limit": 90000, "eta_s": 37.5,
    "finished": False,
}
FINISHED = {
    "elapsed_s": 60.0, "total": None, "done": 1000, "succeeded": 990,
    "failed": 10, "in_flight": 0, "waiting": 0, "concurrency_limit": None,
    "requests_per_s": None, "latency_ms": {"p50": None, "p95": None,
                                           "p99": None},
    "retries": {}, "errors": {}, "tokens_per_min": None, "tpm_limit": None,
    "eta_s": None, "finished": True,
}


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    handler = functools.partial(Quiet, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_state(directory, state):
    tmp = os.path.join(directory, "state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, os.path.join(directory, "state.json"))


def values(b, ids):
    return {i: b.attr(i, "data-value") for i in ids}


def rows(b, table):
    return b.js("var out = {};"
                "document.querySelectorAll('#' + arguments[0] + "
                "' tr[data-name]').forEach(function (r) {"
                " out[r.dataset.name] = Number(r.dataset.count); });"
                "return out;", table)


def test_running(b, url):
    b.console()
    b.open(url)
    b.wait_for("document.getElementById('status').dataset.state === 'live'",
               "status live")
    got = values(b, ["done", "total", "percent", "succeeded", "failed", "eta",
                     "rps", "in-flight", "concurrency-limit", "waiting",
                     "p50", "p95", "p99", "tpm", "tpm-limit", "elapsed"])
    want = {"done": "250", "total": "1000", "percent": "25", "succeeded":
            "240", "failed": "10", "eta": "37.5", "rps": "20.4",
            "in-flight": "32", "concurrency-limit": "40", "waiting": "7",
            "p50": "180", "p95": "420", "p99": "950", "tpm": "45000",
            "tpm-limit": "90000", "elapsed": "12.5"}
    if got != want:
        fail(f"running state shows {got}, want {want}")
    texts = {i: b.text(i) for i in ("done", "percent", "p99", "eta", "tpm")}
    want_text = {"done": "250", "percent": "25.0%", "p99": "950 ms",
                 "eta": "38 s", "tpm": "45,000"}
    if texts != want_text:
        fail(f"running state reads {texts}, want {want_text}")
    if rows(b, "retries") != RUNNING["retries"]:
        fail(f"retries {rows(b, 'retries')}")
    if rows(b, "errors") != RUNNING["errors"]:
        fail(f"errors {rows(b, 'errors')}")
    bar = b.js("return document.getElementById('bar-tpm').style.width;")
    if bar.rstrip("%") not in ("50", "50.00"):
        fail(f"tokens bar at {bar}, want 50%")
    b.screenshot("dashboard-live.png")
    errors = b.console_errors()
    if errors:
        fail(f"console errors: {errors}")
    print("ok: running state shown")


def test_disconnected(b, server):
    server.shutdown()
    server.server_close()
    b.wait_for("document.getElementById('status').dataset.state === "
               "'disconnected'", "status disconnected")
    if b.attr("done", "data-value") != "250":
        fail("the last state's numbers went away on disconnect")
    b.screenshot("dashboard-disconnected.png")
    # Chromium's own log of each failed fetch (refused, or reset when the
    # server closed mid-request), not the page's.
    errors = b.console_errors(ignore=("net::ERR_",))
    if errors:
        fail(f"console errors: {errors}")
    print("ok: disconnected")


def test_finished(b, url):
    # Away from the disconnected page first: its next refused poll must
    # not land in this test's log.
    b.open("about:blank")
    b.console()
    b.open(url)
    b.wait_for("document.getElementById('status').dataset.state === "
               "'finished'", "status finished")
    if b.text("status") != "run finished":
        fail(f"status reads {b.text('status')!r}")
    got = values(b, ["done", "total", "rps", "p50", "tpm", "tpm-limit", "eta",
                     "concurrency-limit"])
    want = {"done": "1000", "total": "", "rps": "", "p50": "", "tpm": "",
            "tpm-limit": "", "eta": "", "concurrency-limit": ""}
    if got != want:
        fail(f"finished state shows {got}, want {want}")
    if b.text("p50") != "-" or b.text("rps") != "-":
        fail(f"unknowns read {b.text('p50')!r} and {b.text('rps')!r}")
    if b.js("return document.querySelectorAll('#errors tr[data-name]')"
            ".length;") != 0:
        fail("errors listed for an empty errors object")
    b.screenshot("dashboard-finished.png")
    errors = b.console_errors()
    if errors:
        fail(f"console errors: {errors}")
    print("ok: finished state with unknowns")


def main():
    if len(sys.argv) != 2:
        fail("usage: test_dashboard_page.py SHOT_DIR")
    shots = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="plm-dash-test-") as tmp:
        shutil.copy(PAGE, os.path.join(tmp, "dashboard.html"))
        try:
            with chromium.Browser(shots) as b:
                write_state(tmp, RUNNING)
                server = serve(tmp)
                port = server.server_address[1]
                url = f"http://127.0.0.1:{port}/dashboard.html?state=state.json"
                test_running(b, url)
                test_disconnected(b, server)
                write_state(tmp, FINISHED)
                server = serve(tmp)
                port = server.server_address[1]
                test_finished(b, f"http://127.0.0.1:{port}/dashboard.html"
                                 "?state=state.json")
                server.shutdown()
                server.server_close()
        except chromium.Missing as e:
            fail(str(e))


if __name__ == "__main__":
    main()
