#!/bin/bash
# The soak (`make soak`): kask under mixed load for SOAK_SECONDS (default
# 1800), its Cassandra node killed (kill -9) and restarted twice, resident
# memory and open descriptors sampled every 5 s. Measured, never asserted.
#
# Load, all on loopback:
# - wrk, 2 threads, 32 connections, the benchmark's 90/10 GET/POST mix of
#   1 KiB values (bench/wrk/mix.lua) over 1000 pre-populated keys;
# - bench/soak_hostile.py, in a loop: connections that stall in a body,
#   pipelined GETs that are read slowly, made-up methods, malformed
#   requests, and a burst of connections held idle.
# Cassandra: the local node of KASK_CASSANDRA_NET (tests/cassandra/ctl.sh),
# stopped at 1/3 and 2/3 of the run for SOAK_OUTAGE_SECONDS (default 30).
#
# Output: bench/results/soak-<date>/ (samples.csv, kask.log, wrk.txt,
# summary.txt); the summary is printed at the end: RSS and descriptors
# before the first outage, at their peak, and after the load stopped.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kask=${SOAK_KASK:-$root/target/release/kask}
seconds=${SOAK_SECONDS:-1800}
outage=${SOAK_OUTAGE_SECONDS:-30}
ctl=$root/tests/cassandra/ctl.sh
out=$root/bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
tmp=$(mktemp -d)
kask_pid='' wrk_pid='' hostile_pid=''
cleanup() {
    # Only what this script started, by PID; Cassandra is left up.
    for p in $wrk_pid $hostile_pid; do kill -TERM "$p" 2>/dev/null || true; done
    [ -n "$kask_pid" ] && kill -TERM "$kask_pid" 2>/dev/null && wait "$kask_pid" 2>/dev/null || true
    "$ctl" start >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "soak: $tool missing (make deps)" >&2; exit 1; }
done
[ -x "$kask" ] || { echo "soak: $kask missing (make build)" >&2; exit 1; }

cassandra_host=${KASK_CASSANDRA_NET:-127.0.0}.1
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/config.yaml" <<YAML
---
service_name: kask-soak
base_uri: sessions/v1
listen_address: 127.0.0.1
listen_port: $port
log_level: warning
default_ttl: 3600
body_timeout_seconds: 5
idle_timeout_seconds: 10
max_connections: 2000
cassandra:
  hosts:
  - $cassandra_host
  port: 9042
  keyspace: kask_soak
  table: values
  local_dc: datacenter1
  query_timeout_ms: 2000
  connect_timeout_ms: 2000
  authentication:
    username: kask_soak
    password: kask-soak-password
YAML

"$kask" --print-schema --config "$tmp/config.yaml" --replication datacenter1:1 |
    sed "s/'<password>'/'kask-soak-password'/" |
    while read -r l; do [ -n "$l" ] && "$ctl" cql "$l" >/dev/null; done

"$kask" --config "$tmp/config.yaml" >"$out/kask.log" 2>&1 &
kask_pid=$!
for _ in $(seq 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null &&
        curl -sS -o /dev/null -X POST --data-binary x "http://127.0.0.1:$port/sessions/v1/probe" 2>/dev/null &&
        break
    kill -0 "$kask_pid" 2>/dev/null || { echo "soak: kask exited; see $out/kask.log" >&2; exit 1; }
    sleep 0.5
done

echo "soak: pre-populating 1000 keys"
/usr/bin/python3 - "$port" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
value = bytes(97 + i % 26 for i in range(1024))
for i in range(1000):
    c.request("POST", f"/sessions/v1/k{i}", body=value)
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY

sample() { # phase
    local rss fds
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$kask_pid/status")
    fds=$(ls "/proc/$kask_pid/fd" | wc -l)
    echo "$(( $(date +%s) - start )),$rss,$fds,$1" >>"$out/samples.csv"
}
echo "seconds,rss_kib,fds,phase" >"$out/samples.csv"
start=$(date +%s)
sample idle

export BENCH_WRK_DIR=$root/bench/wrk BENCH_BASE=/sessions/v1/ BENCH_KEYS=1000
wrk -t2 -c32 -d"${seconds}s" --timeout 10s -s "$root/bench/wrk/mix.lua" \
    "http://127.0.0.1:$port/sessions/v1/" >"$out/wrk.txt" 2>&1 &
wrk_pid=$!
/usr/bin/python3 "$root/bench/soak_hostile.py" 127.0.0.1 "$port" "$seconds" >"$out/hostile.txt" 2>&1 &
hostile_pid=$!

phase=load
kills=("$((seconds / 3))" "$((2 * seconds / 3))")
down_until=0
while kill -0 "$wrk_pid" 2>/dev/null; do
    now=$(( $(date +%s) - start ))
    for k in "${!kills[@]}"; do
        if [ "${kills[$k]}" -ge 0 ] && [ "$now" -ge "${kills[$k]}" ]; then
            echo "soak: ${now}s: killing the Cassandra node"
            "$ctl" stop >/dev/null
            kills[$k]=-1
            phase=outage
            down_until=$((now + outage))
        fi
    done
    if [ "$phase" = outage ] && [ "$now" -ge "$down_until" ]; then
        echo "soak: ${now}s: restarting the Cassandra node"
        "$ctl" start >/dev/null
        phase=load
    fi
    sample "$phase"
    sleep 5
done
wait "$wrk_pid" || true
wrk_pid=''
wait "$hostile_pid" || true
hostile_pid=''
sleep 15
sample after

curl -fsS "http://127.0.0.1:$port/metrics" >"$out/metrics.txt"
/usr/bin/python3 - "$out" <<'PY' | tee "$out/summary.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/samples.csv")))
def at(phase):
    return [r for r in rows if r["phase"] == phase]
first_outage = next((i for i, r in enumerate(rows) if r["phase"] == "outage"), len(rows))
before = rows[max(first_outage - 1, 0)]
peak_rss = max(rows, key=lambda r: int(r["rss_kib"]))
peak_fds = max(rows, key=lambda r: int(r["fds"]))
after = rows[-1]
mib = lambda r: int(r["rss_kib"]) / 1024
print(f"soak: {rows[-1]['seconds']} s, {len(rows)} samples")
print(f"soak: idle at start: RSS {mib(rows[0]):.1f} MiB, {rows[0]['fds']} fds")
print(f"soak: under load, before the first outage ({before['seconds']} s): RSS {mib(before):.1f} MiB, {before['fds']} fds")
print(f"soak: peak: RSS {mib(peak_rss):.1f} MiB at {peak_rss['seconds']} s ({peak_rss['phase']}), fds {peak_fds['fds']} at {peak_fds['seconds']} s ({peak_fds['phase']})")
print(f"soak: after the load stopped: RSS {mib(after):.1f} MiB, {after['fds']} fds")
PY
grep -E "requests in|Non-2xx|Socket errors|Latency" "$out/wrk.txt" | sed 's/^/soak: wrk: /'
tail -n 3 "$out/hostile.txt" | sed 's/^/soak: hostile: /'
grep -E '^http_requests_total' "$out/metrics.txt" | sed 's/^/soak: /'
echo "soak: done; see $out"
