#!/usr/bin/env python3
"""`parallm report`'s page in headless Chromium.

    python3 test_report_page.py PARALLM SHOT_DIR

1. The report of a run loads from a file:// URL with no console error and
   shows the run's request count and latency p50/p95/p99 as computed here,
   independently, from the trace (nearest rank over every attempt's
   sent-to-done time). The trace comes from `parallm run --provider mock
   --trace` with retries after 500s and 429s.
2. The report of a trace with a garbage line and a cut-off last line names
   both lines on stderr and in the page, and still draws the rest.
3. The report of a run without attempts (a header only) draws, blank.
Screenshots go to SHOT_DIR.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import chromium  # noqa: E402

SOURCE = os.path.dirname(os.path.dirname(HERE))
GEN = os.path.join(SOURCE, "bench", "gen_trace.py")
READY = "document.body && document.body.getAttribute('data-ready') === '1'"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def nearest_rank(values, p):
    values = sorted(values)
    return values[max(1, math.ceil(p / 100 * len(values))) - 1]


def expected(trace):
    """Requests, attempts and latency percentiles, from the trace."""
    lat, indexes = [], set()
    with open(trace) as f:
        for n, line in enumerate(f):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict) or "trace" in rec:
                continue
            indexes.add(rec["index"])
            # Whole ms, halves away from zero, as the command rounds.
            lat.append(math.floor(rec["done_ms"] + 0.5) -
                       math.floor(rec["sent_ms"] + 0.5))
    return {"requests": len(indexes), "attempts": len(lat),
            "p50": nearest_rank(lat, 50), "p95": nearest_rank(lat, 95),
            "p99": nearest_rank(lat, 99)}


def make_trace(parallm, tmp):
    """The trace of a real run: 200 requests against the embedded mock,
    every tenth answered 500 once (a retry) and every 25th 429 once."""
    trace = os.path.join(tmp, "trace.jsonl")
    inp = os.path.join(tmp, "in.jsonl")
    with open(inp, "w") as f:
        for i in range(200):
            text = f"hello {i}"
            if i % 25 == 0:
                text = "[mock status=429 times=1 retry_after=0.05] " + text
            elif i % 10 == 0:
                text = "[mock status=500 times=1] " + text
            f.write(json.dumps({
                "custom_id": f"r{i}", "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "m", "messages": [
                    {"role": "user", "content": text}]}}) + "\n")
    r = subprocess.run([parallm, "run", inp, "-o",
                        os.path.join(tmp, "out.jsonl"), "--provider",
                        "mock", "--trace", trace], capture_output=True,
                       text=True)
    if r.returncode != 0:
        fail(f"parallm run exit {r.returncode}: {r.stderr}")
    got = expected(trace)
    if got["requests"] != 200:
        fail(f"the trace of a run of 200 requests has {got['requests']}")
    retried = sum(1 for i in range(200) if i % 25 == 0 or i % 10 == 0)
    if got["attempts"] != 200 + retried:
        fail(f"the trace has {got['attempts']} attempts, "
             f"expected {200 + retried}")
    return trace


def report(parallm, trace, html):
    r = subprocess.run([parallm, "report", trace, "-o", html],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"parallm report exit {r.returncode}: {r.stderr}")
    return r.stderr


def check_numbers(b, want, what):
    got = {
        "requests": b.attr("requests", "data-value"),
        "attempts": b.attr("attempts", "data-value"),
        "p50": b.attr("p50", "data-ms"),
        "p95": b.attr("p95", "data-ms"),
        "p99": b.attr("p99", "data-ms"),
    }
    for key, value in want.items():
        if got[key] != str(value):
            fail(f"{what}: {key} shows {got[key]!r}, the trace says {value}")
    for p in ("p50", "p95", "p99"):
        text = b.text(p)
        shown = (f"{want[p]} ms" if want[p] < 1000 else
                 f"{want[p] / 1000:.2f} s" if want[p] < 10000 else None)
        if shown is not None and text != shown:
            fail(f"{what}: {p} card reads {text!r}, want {shown!r}")
    # The charts drew something: the timeline has coloured pixels.
    painted = b.js("""
        var c = document.getElementById('timeline');
        var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        var n = 0;
        for (var i = 0; i < d.length; i += 4)
            if (d[i + 3] > 0 && !(d[i] > 240 && d[i + 1] > 240)) n++;
        return n;""")
    if not painted or painted < 1000:
        fail(f"{what}: the timeline canvas is (nearly) empty ({painted})")


def test_run_report(b, parallm, tmp, shots):
    trace = make_trace(parallm, tmp)
    html = os.path.join(tmp, "report.html")
    report(parallm, trace, html)
    size = os.path.getsize(html)
    with open(html, encoding="utf-8") as f:
        page = f.read()
    for needle in ("http://", "https://", "<link rel=\"stylesheet\""):
        if needle in page:
            fail(f"the report refers to the network: {needle!r}")
    b.console()  # start with an empty log
    b.open("file://" + html)
    b.wait_for(READY, "the report to render")
    want = expected(trace)
    check_numbers(b, want, "report")
    if b.attr("bad-lines", "data-count") != "0":
        fail("a clean trace shows bad lines")
    b.screenshot("report.png")
    errors = b.console_errors()
    if errors:
        fail(f"console errors: {errors}")
    print(f"ok: report of {want['requests']} requests, {size} bytes, "
          f"p50/p95/p99 {want['p50']}/{want['p95']}/{want['p99']} ms")


def test_bad_lines(b, parallm, tmp, shots):
    trace = os.path.join(tmp, "bad.jsonl")
    subprocess.run([sys.executable, GEN, "-n", "50", "-c", "5", "--fail-rate",
                    "0", "-o", trace], check=True)
    with open(trace) as f:
        lines = f.read().splitlines()
    lines.insert(4, "this is not json")  # line 5
    cut = lines[-1][: len(lines[-1]) // 2]  # the last line, cut off
    lines[-1] = cut
    with open(trace, "w") as f:
        f.write("\n".join(lines))  # no final newline, as after a crash
    last = len(lines)
    html = os.path.join(tmp, "bad.html")
    err = report(parallm, trace, html)
    for n in (5, last):
        if f"bad.jsonl:{n}:" not in err:
            fail(f"stderr does not name line {n}: {err!r}")
    b.console()
    b.open("file://" + html)
    b.wait_for(READY, "the report with bad lines to render")
    if b.attr("bad-lines", "data-lines") != f"5,{last}":
        fail(f"the page names lines {b.attr('bad-lines', 'data-lines')!r}, "
             f"want 5,{last}")
    text = b.text("bad-lines")
    if "5" not in text or str(last) not in text:
        fail(f"the bad-lines notice reads {text!r}")
    visible = b.js("return getComputedStyle(document.getElementById("
                   "'bad-lines')).display !== 'none';")
    if not visible:
        fail("the bad-lines notice is hidden")
    # The 49 complete attempts still count (the 50th was cut off).
    if b.attr("requests", "data-value") != "49":
        fail(f"requests {b.attr('requests', 'data-value')!r}, want 49")
    b.screenshot("report-bad-lines.png")
    errors = b.console_errors()
    if errors:
        fail(f"console errors: {errors}")
    print(f"ok: bad lines 5 and {last} named")


def test_no_attempts(b, parallm, tmp, shots):
    """A run that traced nothing but its header still draws, with blanks."""
    trace = os.path.join(tmp, "empty-run.jsonl")
    with open(trace, "w") as f:
        f.write(json.dumps({"trace": "parallm", "version": 1,
                            "started_at": "2026-01-01T00:00:00Z",
                            "max_concurrent": 8, "rpm": None,
                            "tpm": None}) + "\n")
    html = os.path.join(tmp, "empty-run.html")
    report(parallm, trace, html)
    b.console()
    b.open("file://" + html)
    b.wait_for(READY, "the report of an empty run to render")
    if b.attr("requests", "data-value") != "0" or b.text("p50") != "-":
        fail(f"empty run shows {b.text('requests')!r}, p50 {b.text('p50')!r}")
    errors = b.console_errors()
    if errors:
        fail(f"console errors: {errors}")
    print("ok: a run without attempts")


def main():
    if len(sys.argv) != 3:
        fail("usage: test_report_page.py PARALLM SHOT_DIR")
    parallm, shots = os.path.abspath(sys.argv[1]), sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="plm-report-test-") as tmp:
        try:
            with chromium.Browser(shots) as b:
                test_run_report(b, parallm, tmp, shots)
                test_bad_lines(b, parallm, tmp, shots)
                test_no_attempts(b, parallm, tmp, shots)
        except chromium.Missing as e:
            fail(str(e))


if __name__ == "__main__":
    main()
