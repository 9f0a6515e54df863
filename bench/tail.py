#!/usr/bin/python3
"""Whose POST tail is it? (`make bench-tail`; bench/PROFILE.md, "POST tail on 4.1")

A short, bounded, interleaved load: POST of 1 KiB at concurrency 32, the
driver ceiling and kask (loaded by wrk) back to back, BENCH_ROUNDS rounds of
BENCH_SECONDS each. Per run it records, from independent vantage points:

  client    latency percentiles as the load generator sees them (wrk, or the
            driver ceiling's exact sorted latencies)
  kask      its own histograms, diffed around the run (GET /metrics):
            http_request_duration_seconds{POST,201} = dispatch to response
            (body read + store call + response built) and
            kask_cassandra_request_duration_seconds{set} = the store call
            (the driver's exec_with_params under its timeout): the share of
            requests over each bucket bound
  Cassandra system_views.coordinator_write_latency and local_write_latency of
            the table, after the run (the node's own view, decaying window)
  kernel    run-queue wait (/proc/<pid>/task/*/schedstat, field 2): how long
            the threads of kask, wrk, the driver ceiling and Cassandra were
            runnable but not running, per request

Only processes it starts are stopped, by PID. Everything stays on loopback.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: processes, config, the driver ceiling)

C = int(os.environ.get("BENCH_CONCURRENCY", "32"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORKLOAD = os.environ.get("BENCH_WORKLOAD", "post")
# BENCH_TAIL_WIRE=1: also time every exchange on the wire (tcpdump on lo).
WIRE = os.environ.get("BENCH_TAIL_WIRE") == "1"


def sched(pid):
    """Sums over the threads of pid of schedstat's fields 2 and 3: time
    spent runnable but waiting for a CPU (ns), and time slices run."""
    wait = slices = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    fields = f.read().split()
                wait += int(fields[1])
                slices += int(fields[2])
            except OSError:
                pass
    except OSError:
        pass
    return wait, slices


def run_wait_ns(pid):
    return sched(pid)[0]


def metrics(url):
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    hist = {}
    for line in text.splitlines():
        m = re.match(r'(http_request_duration_seconds|kask_cassandra_request_duration_seconds)_bucket\{(.*)\} (\S+)', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if m.group(1).startswith("http") and labels.get("method") == WORKLOAD.upper() \
                and labels.get("code") in ("200", "201"):
            key = "handler"
        elif m.group(1).startswith("kask") and labels.get("operation") == \
                ("set" if WORKLOAD == "post" else "get"):
            key = "store"
        else:
            continue
        hist.setdefault(key, {})[labels["le"]] = float(m.group(3))
    return hist


def over(before, after, key):
    """Share of the run's requests above each bucket bound, in percent."""
    a, b = after.get(key, {}), before.get(key, {})
    total = a.get("+Inf", 0) - b.get("+Inf", 0)
    out = {}
    for le in a:
        if le == "+Inf":
            continue
        n = (a[le] - b.get(le, 0))
        out[f"{float(le) * 1000:g}ms"] = round(100.0 * (total - n) / total, 3) if total else None
    return total, out


def wire_start(port, path):
    """tcpdump on loopback: the packets with payload to and from kask's
    port, timestamped by the kernel between wrk and kask."""
    payload = "(((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)"
    return subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-s", "96", "-B", "16384", "-w", path,
                             f"tcp port {port} and {payload}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wire_latencies(path, port):
    """Per HTTP exchange: first response packet minus the request's packet,
    per connection (wrk never pipelines), in ms, sorted."""
    out = subprocess.run(["tcpdump", "-r", path, "-tt", "-n"], capture_output=True,
                         text=True).stdout
    pending, lat = {}, []
    for line in out.splitlines():
        m = re.match(r"(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+):", line)
        if not m:
            continue
        t, src, dst = float(m.group(1)), int(m.group(2)), int(m.group(3))
        if dst == port:
            # wrk never pipelines: a new request means the last answer came.
            pending[src] = t
        elif src == port and dst in pending:
            lat.append((t - pending.pop(dst)) * 1000)
    lat.sort()
    return lat


def pct(sorted_ms, p):
    if not sorted_ms:
        return None
    return round(sorted_ms[min(len(sorted_ms) - 1, int(p / 100 * len(sorted_ms)))], 3)


def cassandra_latency():
    out = {}
    for view in ("coordinator_write_latency", "local_write_latency",
                 "coordinator_read_latency"):
        r = subprocess.run([run.CTL, "cql",
                            f"SELECT count, p50th_ms, p99th_ms, max_ms FROM system_views.{view} "
                            f"WHERE keyspace_name = '{run.KEYSPACE}' AND table_name = '{run.TABLE}'"],
                           capture_output=True, text=True, timeout=60)
        f = r.stdout.split()
        out[view] = {"count": int(f[0]), "p50_ms": float(f[1]), "p99_ms": float(f[2]),
                     "max_ms": float(f[3])} if len(f) == 4 else r.stdout + r.stderr
    return out


def wrk_run(url, pids, script=None):
    env = dict(os.environ, BENCH_WRK_DIR=os.path.join(run.BENCH, "wrk"), BENCH_BASE=run.BASE,
               BENCH_KEYS="10000", BENCH_VALUE_BYTES=str(run.VALUE_BYTES))
    p = subprocess.Popen(["wrk", "-t", "2", "-c", str(C), "-d", f"{SECONDS}s", "--timeout", "5s",
                          "-s", os.path.join(run.BENCH, "wrk", f"{script or WORKLOAD}.lua"), url],
                         env=env, stdout=subprocess.PIPE, text=True)
    # wrk's own run-queue wait: sampled until it exits.
    wait = (0, 0)
    while p.poll() is None:
        wait = max(wait, sched(p.pid))
        time.sleep(0.2)
    out = p.stdout.read()
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            j = json.loads(line[len("BENCH_JSON "):])
            return {"requests": j["requests"], "rps": j["requests"] / (j["duration_us"] / 1e6),
                    "p50_ms": j["p50_us"] / 1000, "p99_ms": j["p99_us"] / 1000,
                    "p999_ms": j["p999_us"] / 1000, "max_ms": j["max_us"] / 1000,
                    "errors": j["socket_errors"] + j["status_errors"], "wrk_run_wait_ns": wait[0],
                    "wrk_wait_us_per_slice": round(wait[0] / 1000 / max(wait[1], 1), 1)}
    run.die(f"wrk gave no report: {out}")


def main():
    tmp = tempfile.mkdtemp(prefix="kask-tail-")
    port = run.free_port()
    conf = os.path.join(tmp, "config.yaml")
    with open(conf, "w") as f:
        f.write(run.kask_config(port).replace("log_level: info", "log_level: warning"))
    log = open(os.path.join(tmp, "kask.log"), "w")
    kask = subprocess.Popen([os.environ.get("KASK_BIN", run.KASK), "--config", conf],
                            stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    hport = run.free_port()
    hyper = subprocess.Popen([run.CEILINGS, "hyper", "--listen", f"127.0.0.1:{hport}"],
                             stdout=subprocess.DEVNULL)
    hop_url = f"http://127.0.0.1:{hport}/healthz"
    driver = None
    try:
        if not run.wait_http(url + "/readyz", 60, kask):
            run.die("kask did not start: " + open(os.path.join(tmp, "kask.log")).read())
        driver = run.Driver()
        if WORKLOAD != "post":
            driver.command("populate 10000 32", 300)
        node = run.cassandra_pid()
        results = []
        # Warm-up, unrecorded.
        driver.command(f"run {WORKLOAD} {C} 2 10000", 60)
        subprocess.run(["wrk", "-t2", f"-c{C}", "-d2s", "-s",
                        os.path.join(run.BENCH, "wrk", f"{WORKLOAD}.lua"), url + run.BASE],
                       env=dict(os.environ, BENCH_WRK_DIR=os.path.join(run.BENCH, "wrk")),
                       capture_output=True, timeout=60)
        for rnd in range(ROUNDS):
            # hop: wrk against the hyper ceiling's constant answer, the
            # HTTP round trip and the load generator with no store at all.
            sides = ["ceiling", "kask", "hop"] if rnd % 2 == 0 else ["hop", "kask", "ceiling"]
            for side in sides:
                waits = {n: sched(p) for n, p in
                         (("kask", kask.pid), ("driver", driver.proc.pid), ("cassandra", node))}
                before = metrics(url)
                cpu0 = run.cpu_ms(kask.pid)
                if side == "ceiling":
                    r = driver.command(f"run {WORKLOAD} {C} {SECONDS} 10000", SECONDS + 60)
                    r = {"requests": r["requests"], "rps": r["rps"], "p50_ms": r["p50_us"] / 1000,
                         "p99_ms": r["p99_us"] / 1000, "p999_ms": r["p999_us"] / 1000,
                         "errors": r["errors"]}
                else:
                    target, tport = ((hop_url, hport) if side == "hop"
                                     else (url + run.BASE, port))
                    cap = os.path.join(tmp, f"{side}.pcap")
                    dump = wire_start(tport, cap) if WIRE else None
                    time.sleep(1 if WIRE else 0)
                    r = wrk_run(target, None, "healthz" if side == "hop" else None)
                    if dump:
                        time.sleep(0.5)
                        dump.terminate()
                        err = dump.communicate(timeout=10)[1]
                        m = re.search(r"(\d+) packets dropped by kernel", err)
                        lat = wire_latencies(cap, tport)
                        r["wire"] = {"exchanges": len(lat), "p50_ms": pct(lat, 50),
                                     "p99_ms": pct(lat, 99), "p999_ms": pct(lat, 99.9),
                                     "max_ms": pct(lat, 100),
                                     "dropped": int(m.group(1)) if m else None,
                                     "pct_over": {f"{b}ms": round(100 * sum(1 for x in lat if x > b)
                                                                  / max(len(lat), 1), 3)
                                                  for b in (10, 25, 50, 100, 250, 500)}}
                        os.unlink(cap)
                after = metrics(url)
                r["kask_cpu_ms_per_1000"] = (run.cpu_ms(kask.pid) - cpu0) * 1000 / max(r["requests"], 1)
                for n, p in (("kask", kask.pid), ("driver", driver.proc.pid), ("cassandra", node)):
                    w, sl = sched(p)
                    r[f"{n}_run_wait_us_per_req"] = round((w - waits[n][0]) / 1000
                                                         / max(r["requests"], 1), 1)
                    r[f"{n}_wait_us_per_slice"] = round((w - waits[n][0]) / 1000
                                                       / max(sl - waits[n][1], 1), 1)
                if "wrk_run_wait_ns" in r:
                    r["wrk_run_wait_us_per_req"] = round(r.pop("wrk_run_wait_ns") / 1000 / r["requests"], 1)
                if side == "kask":
                    for key in ("handler", "store"):
                        n, shares = over(before, after, key)
                        r[f"kask_{key}_count"] = n
                        r[f"kask_{key}_pct_over"] = shares
                if side != "hop":
                    r["cassandra"] = cassandra_latency()
                r.update(side=side, round=rnd + 1)
                results.append(r)
                print(json.dumps(r), flush=True)
        if run.cassandra_pid() != node:
            run.die("Cassandra restarted during the run; numbers discarded")
        out = os.environ.get("BENCH_TAIL_OUT")
        if out:
            with open(out, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        if driver:
            run.stop(driver.proc, "driver")
        run.stop(kask, "kask")
        run.stop(hyper, "hyper")


if __name__ == "__main__":
    main()
