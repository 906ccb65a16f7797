"""Reads the mock's --log (one JSON line per request) and prints what the
shared-limits tests check: requests, 429s, the most arrivals in any 1 s
window, and the rate from the first to the last arrival.

usage: arrivals.py LOG  ->  "requests N limited N max1s N rate R"
"""
import datetime
import json
import sys


def when(text):
    return datetime.datetime.strptime(
        text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def main():
    times, limited = [], 0
    with open(sys.argv[1]) as f:
        for line in f:
            rec = json.loads(line)
            if rec["status"] == 429:
                limited += 1
            times.append(when(rec["time"]))
    times.sort()
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    span = times[-1] - times[0] if len(times) > 1 else 0
    rate = (len(times) - 1) / span if span > 0 else 0
    print("requests %d limited %d max1s %d rate %.2f"
          % (len(times), limited, best, rate))


main()
