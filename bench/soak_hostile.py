#!/usr/bin/python3
"""The hostile part of the soak (bench/soak.sh): for the given number of
seconds, in a loop, what a clumsy or hostile client sends. Loopback only.

Usage: soak_hostile.py HOST PORT SECONDS
"""

import random
import socket
import sys
import time

HOST, PORT, SECONDS = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
BASE = "/sessions/v1/"


def connect():
    s = socket.create_connection((HOST, PORT), timeout=10)
    return s


def drain(s, limit=1 << 24):
    got = 0
    try:
        while got < limit:
            b = s.recv(65536)
            if not b:
                break
            got += len(b)
    except OSError:
        pass
    return got


def stalled_bodies(n=20):
    """Bodies that stop one byte short: kask answers 408 after
    body_timeout_seconds and closes."""
    conns = []
    for i in range(n):
        s = connect()
        s.sendall(f"POST {BASE}stall{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n".encode() + b"x" * 4095)
        conns.append(s)
    return conns


def pipelined_unread(n=200):
    """GETs pipelined, read slowly."""
    s = connect()
    s.sendall(f"GET {BASE}k1 HTTP/1.1\r\nHost: x\r\n\r\n".encode() * n)
    time.sleep(1)
    s.settimeout(5)
    return drain(s, n * 1200)


def made_up_methods(n=50):
    for i in range(n):
        s = connect()
        s.sendall(f"M{random.getrandbits(40):x} {BASE}k1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        drain(s)
        s.close()


MALFORMED = [
    b"GET / HTTP/1.1 extra\r\n\r\n",
    b"CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET host:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    b"GET " + BASE.encode() + b"%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: \xff\xfe\r\n\r\n",
    b"\x16\x03\x01\x00\x10garbage\r\n\r\n",
]


def malformed():
    answered = 0
    for m in MALFORMED:
        s = connect()
        try:
            s.sendall(m)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if s.recv(12).startswith(b"HTTP/1."):
            answered += 1
        s.close()
    return answered


def idle_burst(n=200):
    return [connect() for _ in range(n)]


end = time.time() + SECONDS
rounds = 0
unanswered = 0
while time.time() < end:
    held = stalled_bodies() + idle_burst()
    pipelined_unread()
    made_up_methods()
    unanswered += len(MALFORMED) - malformed()
    time.sleep(5)
    for s in held:
        s.close()
    rounds += 1
print(f"hostile: {rounds} rounds; malformed requests without an answer: {unanswered}")
