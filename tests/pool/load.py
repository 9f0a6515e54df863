#!/usr/bin/env python3
"""Steady, bounded load for the pool test: WORKERS threads, each looping for
DURATION seconds over POST then GET of its own key, on a fresh connection
each time, about RATE requests a second per worker. A request fails if the
connection fails or the status is not 201/200. Only 127.0.0.0/8.

Prints one JSON object: {"ok": N, "failed": N, "errors": [...first few...],
"ended": <unix time of the last answer>}.

usage: load.py PORT BASE_URI DURATION WORKERS [RATE]
"""
import http.client
import json
import sys
import threading
import time

port, base = int(sys.argv[1]), sys.argv[2]
duration, workers = float(sys.argv[3]), int(sys.argv[4])
rate = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0
assert 0 < duration <= 60 and 1 <= workers <= 8 and 0 < rate <= 100, "bounded load only"

lock = threading.Lock()
res = {"ok": 0, "failed": 0, "errors": [], "ended": 0.0}


def one(method, path, body, want):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close"})
        r = conn.getresponse()
        r.read()
        ok, why = r.status == want, "%s %s -> %d" % (method, path, r.status)
    except Exception as e:  # a refused or reset connection is a failure
        ok, why = False, "%s %s -> %r" % (method, path, e)
    finally:
        conn.close()
    with lock:
        res["ended"] = time.time()
        if ok:
            res["ok"] += 1
        else:
            res["failed"] += 1
            if len(res["errors"]) < 5:
                res["errors"].append(why)


def worker(n):
    end = time.time() + duration
    path = "%spool-load-%d" % (base, n)
    while time.time() < end:
        one("POST", path, b"value-%d" % n, 201)
        one("GET", path, None, 200)
        time.sleep(2.0 / rate)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(res))
