#!/usr/bin/env python3
"""The live dashboard of a real run in headless Chromium: the page the
run's --metrics-listen serves at "/", polling the run's /api/state.

    python3 test_dashboard_live.py PARALLM SHOT_DIR

The run's last request hangs on the mock until the run is interrupted, so
the run is still going while the test looks, whatever the machine's speed:
1. The page shows status "live", 40 of 41 done, 40 succeeded, one in
   flight, no console error.
2. SIGINT twice (stop, then cancel what is in flight): the run ends; the
   page shows "run finished". The test then
   reads /metrics (40 successes), which ends the run's --metrics-linger,
   and the command exits 4 (interrupted), the output holding the 40.
Screenshots go to SHOT_DIR.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import chromium  # noqa: E402


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def line(i, text=None):
    return json.dumps({
        "custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [
            {"role": "user", "content": text or f"hello {i}"}]}}) + "\n"


def dashboard_url(proc):
    """The address the run announces on stderr."""
    for text in proc.stderr:
        m = re.search(r"dashboard on (http://\S+/),", text)
        if m:
            return m.group(1)
    fail(f"the run announced no dashboard (exit {proc.wait()})")


def shows(b, ids):
    return {i: b.attr(i, "data-value") for i in ids}


def main():
    if len(sys.argv) != 3:
        fail("usage: test_dashboard_live.py PARALLM SHOT_DIR")
    parallm, shots = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="plm-dash-live-") as tmp:
        try:
            with chromium.Browser(shots) as b:
                inp = os.path.join(tmp, "in.jsonl")
                with open(inp, "w") as f:
                    for i in range(40):
                        f.write(line(i))
                    f.write(line(40, "[mock fault=hang] stays in flight"))
                proc = subprocess.Popen(
                    [parallm, "run", inp, "-o", os.path.join(tmp, "out.jsonl"),
                     "--provider", "mock", "--mock-latency", "5ms",
                     "--no-progress", "--metrics-listen", "127.0.0.1:0",
                     "--metrics-linger", "120s"],
                    stderr=subprocess.PIPE, text=True)
                try:
                    check(b, proc, tmp)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
        except chromium.Missing as e:
            fail(str(e))
    print("ok: the live dashboard followed a run to its end")


def check(b, proc, tmp):
    url = dashboard_url(proc)
    b.console()
    b.open(url)
    b.wait_for("document.getElementById('status').dataset.state === 'live'"
               " && document.getElementById('done').dataset.value === '40'",
               "40 done, live")
    got = shows(b, ["done", "total", "succeeded", "failed"])
    want = {"done": "40", "total": "41", "succeeded": "40", "failed": "0"}
    if got != want:
        fail(f"the running dashboard shows {got}, want {want}")
    b.wait_for("document.getElementById('in-flight').dataset.value === '1'",
               "one in flight")
    b.screenshot("dashboard-run-live.png")
    errors = b.console_errors()
    if errors:
        fail(f"console errors while live: {errors}")
    # The first SIGINT lets requests in flight finish (this one never
    # will), the second cancels them.
    proc.send_signal(signal.SIGINT)
    for text in proc.stderr:
        if "again to cancel" in text:
            break
    proc.send_signal(signal.SIGINT)
    b.wait_for("document.getElementById('status').dataset.state === "
               "'finished'", "run finished")
    if b.text("status") != "run finished":
        fail(f"status reads {b.text('status')!r}")
    if b.attr("succeeded", "data-value") != "40":
        fail("the finished dashboard lost the successes")
    b.screenshot("dashboard-run-finished.png")
    errors = b.console_errors()
    if errors:
        fail(f"console errors: {errors}")
    with urllib.request.urlopen(url + "metrics", timeout=20) as r:
        text = r.read().decode()
    if not re.search(r'parallm_llm_requests_total\{[^}]*class="none"[^}]*\} 40',
                     text):
        fail("the final /metrics does not count 40 successes")
    rc = proc.wait(timeout=60)
    if rc != 4:
        fail(f"the interrupted run exited {rc}: {proc.stderr.read()}")
    with open(os.path.join(tmp, "out.jsonl")) as f:
        if sum(1 for _ in f) != 40:
            fail("the output does not hold the 40 answers")


if __name__ == "__main__":
    main()
