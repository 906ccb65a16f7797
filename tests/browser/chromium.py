"""Headless Chromium for the page tests, through chromedriver's WebDriver
HTTP API and python3's urllib (no pip packages).

    with Browser(screenshot_dir) as b:
        b.open(url)
        b.wait_for("document.body.dataset.ready === '1'")
        value = b.js("return document.getElementById('p50').dataset.ms")
        b.screenshot("report.png")
        errors = b.console_errors()

chromedriver and chromium (Debian packages "chromium-driver" and
"chromium") are started on free loopback ports with a fresh profile in a
temporary directory, and stopped on exit. A missing package raises
Missing, which the tests turn into a failure naming the package.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

CHROME_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1600",
]


class Missing(Exception):
    """A program the tests need is not installed."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_programs():
    """Paths of chromium and chromedriver, or Missing naming the package."""
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chrome is None:
        raise Missing("chromium not found: install the Debian package "
                      "'chromium' (scripts/install-deps.sh)")
    if driver is None:
        raise Missing("chromedriver not found: install the Debian package "
                      "'chromium-driver' (scripts/install-deps.sh)")
    return chrome, driver


class Browser:
    def __init__(self, out_dir, timeout=20.0):
        self.out_dir = out_dir
        self.timeout = timeout
        self.driver = None
        self.session = None
        self.profile = None
        self.base = None

    def __enter__(self):
        chrome, driver = find_programs()
        self.profile = tempfile.mkdtemp(prefix="plm-chromium-")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.driver = subprocess.Popen(
            [driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_driver()
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chrome,
                "args": CHROME_ARGS + [f"--user-data-dir={self.profile}"],
            }}}}
        reply = self._call("POST", "/session", caps)
        self.session = reply["sessionId"]
        return self

    def __exit__(self, *exc):
        if self.session is not None:
            try:
                self._call("DELETE", f"/session/{self.session}")
            except Exception:
                pass
        if self.driver is not None:
            self.driver.terminate()
            try:
                self.driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
                self.driver.wait()
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
        return False

    def _wait_driver(self):
        """chromedriver answers /status once it listens."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if (self._call("GET", "/status") or {}).get("ready"):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if self.driver.poll() is not None:
                raise RuntimeError("chromedriver exited at start")
            if time.monotonic() > deadline:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.05)

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"webdriver {method} {path}: "
                               f"{e.read().decode(errors='replace')}")

    def _s(self, path):
        return f"/session/{self.session}{path}"

    def open(self, url):
        self._call("POST", self._s("/url"), {"url": url})

    def js(self, script, *args):
        """Runs script (a function body) in the page; returns its value."""
        return self._call("POST", self._s("/execute/sync"),
                          {"script": script, "args": list(args)})

    def wait_for(self, condition, what=None):
        """Polls a JS expression until it is true (or fails the test)."""
        deadline = time.monotonic() + self.timeout
        while not self.js(f"return !!({condition});"):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or condition}")
            time.sleep(0.05)

    def text(self, element_id):
        return self.js("var e = document.getElementById(arguments[0]);"
                       "return e ? e.textContent : null;", element_id)

    def attr(self, element_id, name):
        return self.js("var e = document.getElementById(arguments[0]);"
                       "return e ? e.getAttribute(arguments[1]) : null;",
                       element_id, name)

    def screenshot(self, name):
        png = base64.b64decode(self._call("GET", self._s("/screenshot")))
        os.makedirs(self.out_dir, exist_ok=True)
        path = os.path.join(self.out_dir, name)
        with open(path, "wb") as f:
            f.write(png)
        return path

    def console(self):
        """Console entries since the last call: [{level, message}]."""
        reply = self._call("POST", self._s("/se/log"), {"type": "browser"})
        return reply if isinstance(reply, list) else []

    def console_errors(self, ignore=()):
        """SEVERE entries (errors, uncaught exceptions), less those whose
        message contains one of the ignore strings."""
        return [e for e in self.console()
                if e.get("level") == "SEVERE"
                and not any(s in e.get("message", "") for s in ignore)]
