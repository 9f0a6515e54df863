#!/usr/bin/python3
"""kask's benchmark: the service against its two ceilings, interleaved.

`make bench` runs this (after building the release binaries and starting
the local Cassandra); bench/README.md says what is measured and how to read
it. Measured, never asserted: the exit status says whether the run itself
worked, not whether the targets were met.

Sides of each case:
  service  kask over HTTP, loaded by wrk (GET, POST, 90/10 mix, /healthz)
  ceiling  GET/POST/mix: cdrs-tokio straight to Cassandra with the service's
           session and statements (kask-bench-ceilings driver);
           /healthz: a bare hyper server (kask-bench-ceilings hyper), by wrk

Environment: BENCH_QUICK=1 (concurrency 32 only, short runs), BENCH_SECONDS
(per run), BENCH_ROUNDS (runs per case and side), BENCH_CONCURRENCY (e.g.
"8,32"), BENCH_KEYS (pre-populated keys).
"""

import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
KASK = os.path.join(ROOT, "target/release/kask")
CEILINGS = os.path.join(ROOT, "target/release/kask-bench-ceilings")
CTL = os.path.join(ROOT, "tests/cassandra/ctl.sh")
# The local Cassandra of tests/cassandra/ctl.sh, wherever its variables put it.
STATE = os.environ.get("KASK_CASSANDRA_STATE", os.path.join(ROOT, ".state/cassandra"))
CASSANDRA_HOST = os.environ.get("KASK_CASSANDRA_NET", "127.0.0") + ".1"
NODE_PID = os.path.join(STATE, "node1/node.pid")

KEYSPACE = "kask_bench"
TABLE = "values"
BASE = "/sessions/v1/"
# Long enough for the pre-populated keys to outlive a full run; short
# enough that what the POST cases write leaves the shared node soon.
TTL = 3600
VALUE_BYTES = 1024
WORKLOADS = ["get", "post", "mix", "healthz"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def die(msg):
    print(f"bench failed: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- processes -------------------------------------------------------------


def cpu_ms(pid):
    """utime + stime of a process, in milliseconds (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    # Fields 14 and 15 of the file; the list starts at field 3 (state).
    return (int(fields[11]) + int(fields[12])) * 1000.0 / CLK_TCK


def status_kib(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pid):
    """Resets VmHWM to the current RSS (Linux: 5 > clear_refs), so that
    each case reports its own peak. False where not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, within, proc):
    deadline = time.time() + within
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(proc, name):
    """SIGTERM by PID, then SIGKILL after 10 s; only processes we started."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log(f"{name} (pid {proc.pid}) ignored SIGTERM for 10 s; killing it")
        proc.kill()
        proc.wait(timeout=10)


def cassandra_pid(path=NODE_PID):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cassandra_version():
    """The release the node reports (system.local), e.g. 4.1.5."""
    out = subprocess.run([CTL, "cql", "SELECT release_version FROM system.local"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def backend_cpu_ms():
    """CPU time of the Cassandra node (both sides use it)."""
    total = 0.0
    for path in (NODE_PID,):
        pid = cassandra_pid(path)
        try:
            total += cpu_ms(pid) if pid else 0.0
        except (OSError, IndexError, ValueError):
            pass
    return total


def children_cpu_ms():
    """CPU time of the waited-for children so far: wrk's, in each case."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * 1000.0


def cql(statement):
    r = subprocess.run([CTL, "cql", statement], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        die(f"cql {statement!r}: {r.stdout}{r.stderr}")
    return r.stdout


# --- the sides -------------------------------------------------------------


class Driver:
    """The driver ceiling: one long-lived process, one session, commands on
    stdin, one JSON answer per line on stdout."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [CEILINGS, "driver", "--host", CASSANDRA_HOST, "--keyspace", KEYSPACE, "--table", TABLE, "--ttl", str(TTL)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = self.read(60)
        if not first.get("ready"):
            die(f"driver ceiling did not start: {first}")

    def read(self, within):
        import select

        ready, _, _ = select.select([self.proc.stdout], [], [], within)
        if not ready:
            die(f"driver ceiling gave no answer within {within} s")
        line = self.proc.stdout.readline()
        if not line:
            die("driver ceiling exited")
        return json.loads(line)

    def command(self, line, within):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.read(within)
        if "error" in answer:
            die(f"driver ceiling: {answer['error']}")
        return answer


def wrk(url, script, concurrency, seconds, keys):
    threads = min(concurrency, 2)
    env = dict(
        os.environ,
        BENCH_WRK_DIR=os.path.join(BENCH, "wrk"),
        BENCH_BASE=BASE,
        BENCH_KEYS=str(keys),
        BENCH_VALUE_BYTES=str(VALUE_BYTES),
    )
    cmd = [
        "wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s",
        "--timeout", "5s", "-s", os.path.join(BENCH, "wrk", f"{script}.lua"), url,
    ]
    # wrk stops itself after -d; the timeout only guards against a hang.
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    for line in r.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            j = json.loads(line[len("BENCH_JSON "):])
            secs = j["duration_us"] / 1e6
            return {
                "requests": j["requests"],
                "errors": j["socket_errors"] + j["status_errors"],
                "seconds": secs,
                "rps": j["requests"] / secs if secs else 0.0,
                "p50_us": j["p50_us"],
                "p99_us": j["p99_us"],
                "p999_us": j["p999_us"],
            }
    die(f"wrk gave no report (exit {r.returncode}): {r.stdout}{r.stderr}")


# --- the run ---------------------------------------------------------------


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = status_kib_file("/proc/meminfo", "MemTotal")
    return {
        "nproc": os.cpu_count(),
        "model": model,
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": os.uname().release,
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }


def status_kib_file(path, name):
    with open(path) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def git_commit():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "Cargo.toml"],
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + (" (src/ modified)" if dirty else "")


def main():
    quick = os.environ.get("BENCH_QUICK") == "1"
    concurrencies = [int(c) for c in os.environ.get(
        "BENCH_CONCURRENCY", "32" if quick else "1,8,32,128").split(",")]
    seconds = int(os.environ.get("BENCH_SECONDS", "5" if quick else "8"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    keys = int(os.environ.get("BENCH_KEYS", "10000"))
    for path in (KASK, CEILINGS):
        if not os.access(path, os.X_OK):
            die(f"{path} missing: `make bench` builds it (cargo build --release)")
    if shutil.which("wrk") is None:
        die("wrk is not installed: `make deps` installs it (Debian package wrk)")

    started = datetime.datetime.now(datetime.timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    outdir = os.path.join(BENCH, "results", stamp)
    os.makedirs(outdir, exist_ok=True)
    info = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "commit": git_commit(),
        "quick": quick,
        "concurrencies": concurrencies,
        "seconds": seconds,
        "rounds": rounds,
        "keys": keys,
        "cassandra": cassandra_version(),
    }
    log(f"{'quick' if quick else 'full'} run: concurrency {concurrencies}, "
        f"{rounds} rounds of {seconds} s per case and side; results in {outdir}")

    # A fresh table each run, so that each starts from the same state.
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "schema.yaml")
        with open(conf, "w") as f:
            f.write(f"cassandra:\n  keyspace: {KEYSPACE}\n  table: {TABLE}\n")
        schema = subprocess.run([KASK, "--print-schema", "--config", conf,
                                 "--replication", "datacenter1:1"],
                                capture_output=True, text=True, check=True).stdout
    for stmt in filter(None, (l.strip() for l in schema.splitlines())):
        cql(stmt)
    cql(f'TRUNCATE "{KEYSPACE}"."{TABLE}"')

    procs = {}
    tmp = tempfile.mkdtemp(prefix="kask-bench-")
    try:
        results = run_all(procs, tmp, concurrencies, seconds, rounds, keys, quick)
    finally:
        for name in ("kask", "hyper", "driver"):
            stop(procs.get(name), name)
        shutil.rmtree(tmp, ignore_errors=True)
    # Leave the shared node lean: what the POST cases wrote goes.
    cql(f'TRUNCATE "{KEYSPACE}"."{TABLE}"')

    info.update(results["info"])
    cases = summarize(results["runs"], concurrencies)
    # Before results.json: it records the peak RSS (and report.py needs it).
    line = summary_line(cases, info)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"info": info, "runs": results["runs"], "cases": cases, "summary": line},
                  f, indent=1)
    import report
    report.write(outdir, info, cases, line)
    for name, dest in (("table.md", "latest.md"), ("plot.png", "latest.png")):
        shutil.copyfile(os.path.join(outdir, name), os.path.join(BENCH, dest))
    log(f"table and plot: {outdir}/table.md, {outdir}/plot.png (copied to bench/latest.*)")
    for row in cases:
        if "ratio" in row:
            log(f"{row['workload']:7} c={row['concurrency']:<3} kask/ceiling "
                f"{row['service']['rps']:.0f}/{row['ceiling']['rps']:.0f} req/s = {row['ratio']:.2f}")
    # The one line that sums the run up (and the only one starting so).
    print(line, flush=True)


def kask_config(port):
    return f"""---
service_name: kask-bench
base_uri: {BASE.strip('/')}
listen_address: 127.0.0.1
listen_port: {port}
log_level: info
default_ttl: {TTL}
cassandra:
  hosts:
  - {CASSANDRA_HOST}
  port: 9042
  keyspace: {KEYSPACE}
  table: {TABLE}
  local_dc: datacenter1
  # Negotiated: v5 on Cassandra 4.1, which the driver ceiling speaks too.
  query_timeout_ms: 2000
  connect_timeout_ms: 2000
  authentication:
    username: cassandra
    password: cassandra
"""


def run_all(procs, tmp, concurrencies, seconds, rounds, keys, quick):
    kask_port, hyper_port = free_port(), free_port()
    conf = os.path.join(tmp, "config.yaml")
    with open(conf, "w") as f:
        f.write(kask_config(kask_port))
    kask_log = open(os.path.join(tmp, "kask.log"), "w")
    procs["kask"] = subprocess.Popen([KASK, "--config", conf], stdout=kask_log, stderr=kask_log)
    procs["hyper"] = subprocess.Popen(
        [CEILINGS, "hyper", "--listen", f"127.0.0.1:{hyper_port}"], stdout=subprocess.DEVNULL)
    kask_url = f"http://127.0.0.1:{kask_port}"
    hyper_url = f"http://127.0.0.1:{hyper_port}"
    # /readyz: kask answers /healthz at once, but serves keys only once it
    # is connected to Cassandra.
    if not wait_http(kask_url + "/readyz", 60, procs["kask"]):
        kask_log.flush()
        die("kask was not ready (/readyz) within 60 s; its log:\n"
            + open(os.path.join(tmp, "kask.log")).read())
    if not wait_http(hyper_url + "/healthz", 10, procs["hyper"]):
        die("the hyper ceiling did not answer")
    driver = Driver()
    procs["driver"] = driver.proc

    log(f"kask pid {procs['kask'].pid} on :{kask_port}, hyper ceiling pid "
        f"{procs['hyper'].pid} on :{hyper_port}, driver ceiling pid {driver.proc.pid}")
    pop = driver.command(f"populate {keys} 32", 300)
    if pop["failed"]:
        die(f"could not pre-populate {pop['failed']} of {keys} keys")
    log(f"pre-populated {keys} keys of {VALUE_BYTES} bytes in {pop['seconds']:.1f} s")

    # The service must read what the driver wrote, byte for byte: the two
    # sides really share the table.
    with urllib.request.urlopen(f"{kask_url}{BASE}k0", timeout=5) as r:
        body = r.read()
    expected = bytes(97 + i % 26 for i in range(VALUE_BYTES))
    if body != expected:
        die(f"GET {BASE}k0 through kask returned {len(body)} bytes, not the pre-populated value")

    info = {"kask_hwm_startup_kib": status_kib(procs["kask"].pid, "VmHWM"),
            "rss_reset": reset_peak_rss(procs["kask"].pid)}

    def one(side, workload, c, secs):
        """One run of one side; returns its numbers with CPU and peak RSS of
        the process that served it."""
        if side == "ceiling" and workload != "healthz":
            pid = driver.proc.pid
        else:
            pid = procs["hyper" if side == "ceiling" else "kask"].pid
        reset_peak_rss(pid)
        before = cpu_ms(pid)
        backend_before, loadgen_before = backend_cpu_ms(), children_cpu_ms()
        if side == "ceiling" and workload != "healthz":
            r = driver.command(f"run {workload} {c} {secs} {keys}", secs + 60)
            r.pop("cpu_ms", None)
        else:
            url = (hyper_url if side == "ceiling" else kask_url) + "/healthz"
            if workload != "healthz":
                url = kask_url + BASE
            r = wrk(url, workload, c, secs, keys)
        r["cpu_ms"] = cpu_ms(pid) - before
        r["backend_cpu_ms"] = backend_cpu_ms() - backend_before
        r["loadgen_cpu_ms"] = children_cpu_ms() - loadgen_before
        r["hwm_kib"] = status_kib(pid, "VmHWM")
        return r

    # Warm-up, not recorded: connections, caches, JIT of the node.
    log("warm-up")
    for workload in WORKLOADS:
        for side in ("service", "ceiling"):
            one(side, workload, max(concurrencies), 2)

    runs = []
    total = len(concurrencies) * len(WORKLOADS) * 2 * rounds
    n = 0
    for rnd in range(rounds):
        for c in concurrencies:
            for wi, workload in enumerate(WORKLOADS):
                # Alternate which side goes first, so drift hits both alike.
                sides = ["service", "ceiling"]
                if (rnd + wi) % 2:
                    sides.reverse()
                for side in sides:
                    n += 1
                    for attempt in (1, 2, 3):
                        node = cassandra_pid()
                        r = one(side, workload, c, seconds)
                        if procs["kask"].poll() is not None:
                            die("kask exited during the run")
                        if cassandra_pid() == node and node is not None:
                            break
                        # Someone restarted the shared Cassandra under us:
                        # the numbers say nothing about either side.
                        log(f"Cassandra restarted during {workload} c={c} {side}; "
                            f"waiting for it and running again")
                        subprocess.run([CTL, "start"], capture_output=True, timeout=300)
                        time.sleep(5)
                        r["disturbed"] = True
                    r.update(side=side, workload=workload, concurrency=c, round=rnd + 1,
                             attempts=attempt)
                    runs.append(r)
                    log(f"[{n}/{total}] {workload:7} c={c:<3} {side:7} "
                        f"{r['rps']:9.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms  "
                        f"p99 {r['p99_us'] / 1000:7.2f} ms  errors {r['errors']}")
    info["kask_hwm_final_kib"] = status_kib(procs["kask"].pid, "VmHWM")
    return {"runs": runs, "info": info}


def summarize(runs, concurrencies):
    """Per case and side: the median over rounds of req/s and of each
    latency percentile, errors summed, CPU per 1000 requests over all rounds,
    the highest peak RSS."""
    cases = []
    for workload in WORKLOADS:
        for c in concurrencies:
            row = {"workload": workload, "concurrency": c}
            for side in ("service", "ceiling"):
                rs = [r for r in runs if r["workload"] == workload
                      and r["concurrency"] == c and r["side"] == side]
                if not rs:
                    continue
                requests = sum(r["requests"] for r in rs)
                row[side] = {
                    "rps": statistics.median(r["rps"] for r in rs),
                    "rps_all": [round(r["rps"]) for r in rs],
                    "p50_us": statistics.median(r["p50_us"] for r in rs),
                    "p99_us": statistics.median(r["p99_us"] for r in rs),
                    "p999_us": statistics.median(r["p999_us"] for r in rs),
                    "errors": sum(r["errors"] for r in rs),
                    "requests": requests,
                    "cpu_ms_per_1000": sum(r["cpu_ms"] for r in rs) * 1000.0 / requests
                    if requests else None,
                    "hwm_mib": max(r["hwm_kib"] for r in rs) / 1024.0,
                    "loadgen_cpu_ms_per_1000": sum(r["loadgen_cpu_ms"] for r in rs) * 1000.0
                    / requests if requests else None,
                    "backend_cpu_ms_per_1000": sum(r["backend_cpu_ms"] for r in rs) * 1000.0
                    / requests if requests else None,
                    "disturbed": sum(1 for r in rs if r.get("disturbed")),
                }
            if "service" in row and "ceiling" in row and row["ceiling"]["rps"]:
                row["ratio"] = row["service"]["rps"] / row["ceiling"]["rps"]
            cases.append(row)
    return cases


def summary_line(cases, info):
    def ratio(workload):
        for row in cases:
            if row["workload"] == workload and row["concurrency"] == 32 and "ratio" in row:
                return f"{row['ratio']:.2f}"
        return "n/a"

    peak_kib = max([info.get("kask_hwm_startup_kib", 0), info.get("kask_hwm_final_kib", 0)]
                   + [row["service"]["hwm_mib"] * 1024 for row in cases if "service" in row])
    errors = sum(row["service"]["errors"] for row in cases if "service" in row)
    info["kask_peak_rss_mib"] = peak_kib / 1024.0
    return (f"bench: get={ratio('get')} post={ratio('post')} healthz={ratio('healthz')} "
            f"rss_mib={peak_kib / 1024:.1f} errors={errors}")


if __name__ == "__main__":
    sys.path.insert(0, BENCH)
    main()
