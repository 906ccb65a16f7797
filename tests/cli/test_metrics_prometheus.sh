#!/usr/bin/env bash
# A real Prometheus scrapes `parallm run --metrics-listen` every second
# (its own storage in the test's directory, on free loopback ports); with
# --metrics-linger the run stays up until a scrape of its final numbers,
# so Prometheus's parallm_llm_requests_total equals the requests sent.
# Skipped (exit 0 with a note) only where the prometheus binary is absent.
source "$(dirname "$0")/run_lib.sh"

PROM=$(command -v prometheus || true)
if [ -z "$PROM" ]; then
    echo "SKIP: prometheus not installed"
    exit 0
fi
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
N=200
gen_input in.jsonl "$N"
pport=$(free_port)
qport=$(free_port)
cat > prometheus.yml <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: parallm
    static_configs:
      - targets: ["127.0.0.1:$pport"]
YML
"$PROM" --config.file=prometheus.yml --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$qport" >prom.log 2>&1 &
BG_PIDS+=("$!")

# Waits (bounded) for Prometheus to be ready.
python3 - "$qport" <<'PY' || fail "prometheus not ready: $(tail -5 prom.log)"
import sys, time, urllib.request
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/-/ready",
                                  timeout=2).status == 200:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY

# About 4 seconds of work (200 requests, 2 at a time, 40 ms each); the
# linger holds the listener until Prometheus scraped the final numbers.
"$PLM" run in.jsonl -o out.jsonl --provider mock --mock-latency 40 -c 2 \
    --metrics-listen "$pport" --metrics-linger 60 -q 2>err.txt \
    || fail "run exit $?: $(cat err.txt)"
read -r ok bad lines < <(check_output out.jsonl in.jsonl)
[ "$ok" = "$N" ] || fail "want $N successes: $ok"

# The run is over, so its series are stale in an instant query: ask for
# the newest sample of the last 10 minutes (bounded poll for the ingest).
python3 - "$qport" "$N" <<'PY' || fail "prometheus query: $(tail -5 prom.log)"
import json, sys, time, urllib.parse, urllib.request
port, want = sys.argv[1], float(sys.argv[2])
def query(q):
    url = (f"http://127.0.0.1:{port}/api/v1/query?" +
           urllib.parse.urlencode({"query": q}))
    return json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
deadline = time.monotonic() + 60
got = None
while time.monotonic() < deadline:
    r = query("sum(last_over_time(parallm_llm_requests_total[10m]))")
    got = float(r[0]["value"][1]) if r else None
    if got == want:
        break
    time.sleep(0.2)
assert got == want, f"parallm_llm_requests_total = {got}, want {want}"
r = query('last_over_time(parallm_llm_request_duration_seconds_count'
          '{class="none"}[10m])')
assert r and float(r[0]["value"][1]) == want, r
PY
echo "ok"
