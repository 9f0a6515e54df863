#!/usr/bin/env python3
"""A small, bounded load generator for the autopkgtest debian/tests/smoke.

Each worker loops for DURATION seconds: POST a value to a fresh key, GET it
back, compare. Every request uses its own connection (Connection: close), so
that a restart of the daemon behind a systemd socket is seen request by
request: a request counts as lost if the connection is refused or reset, the
status is not the expected one, or the value read back differs.

Prints one JSON object: {"ok": N, "lost": N, "errors": {...first few...}}.
Only ever talks to 127.0.0.0/8.

usage: loadgen.py PORT BASE_URI [DURATION_SECONDS] [WORKERS]
"""
import http.client
import json
import os
import sys
import threading
import time

port = int(sys.argv[1])
base = sys.argv[2]
duration = float(sys.argv[3]) if len(sys.argv) > 3 else 8.0
workers = int(sys.argv[4]) if len(sys.argv) > 4 else 4
assert 1 <= workers <= 16 and 0 < duration <= 60, "bounded load only"

lock = threading.Lock()
counts = {"ok": 0, "lost": 0}
errors = []


def request(method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        headers = {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def record(ok, what):
    with lock:
        if ok:
            counts["ok"] += 1
        else:
            counts["lost"] += 1
            if len(errors) < 10:
                errors.append(f"{time.strftime('%H:%M:%S')} {what}")


def worker(n):
    deadline = time.monotonic() + duration
    i = 0
    while time.monotonic() < deadline:
        i += 1
        key = f"loadgen-{os.getpid()}-{n}-{i}"
        value = os.urandom(64) + key.encode()
        try:
            status, _ = request("POST", base + key, value)
            record(status == 201, f"POST {key}: {status}")
            status, got = request("GET", base + key)
            record(status == 200 and got == value, f"GET {key}: {status}, {len(got)} bytes")
        except Exception as e:  # refused, reset, timeout: a lost request
            record(False, f"{key}: {type(e).__name__}: {e}")


threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({**counts, "errors": errors}))
