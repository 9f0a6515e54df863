#!/bin/bash
# Profiles kask under load with valgrind's callgrind (`make bench-profile`).
# perf is the better tool where the CPU exposes hardware counters; on this
# kind of VM `perf stat -e instructions true` says "not supported", so
# callgrind it is: it counts instructions exactly, at ~50x slowdown, which
# is fine for "where does the time go" (not for latency).
#
# The service runs under callgrind with the bench config; the driver ceiling
# pre-populates keys; wrk loads GET, then POST, then /healthz, each phase
# dumped on its own. Output: bench/results/profile-<date>/ with the raw
# callgrind files and callgrind_annotate summaries (inclusive and self).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# BENCH_KASK: another build to profile (e.g. the one before a change).
kask=${BENCH_KASK:-$root/target/release/kask}
ceilings=$root/target/release/kask-bench-ceilings
seconds=${BENCH_PROFILE_SECONDS:-20}
out=$root/bench/results/profile-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
tmp=$(mktemp -d)
kask_pid='' driver_pid=''
cleanup() {
    # Only what this script started, by PID.
    [ -n "$kask_pid" ] && kill -TERM "$kask_pid" 2>/dev/null && wait "$kask_pid" 2>/dev/null || true
    [ -n "$driver_pid" ] && kill -TERM "$driver_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

for tool in valgrind callgrind_annotate callgrind_control wrk; do
    command -v "$tool" >/dev/null || { echo "bench-profile: $tool missing (make deps)" >&2; exit 1; }
done

# The local Cassandra (tests/cassandra/ctl.sh): node 1 of KASK_CASSANDRA_NET.
cassandra_host=${KASK_CASSANDRA_NET:-127.0.0}.1
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Timeouts are long: everything runs ~50x slower under callgrind.
cat > "$tmp/config.yaml" <<YAML
---
service_name: kask-bench
base_uri: sessions/v1
listen_address: 127.0.0.1
listen_port: $port
log_level: info
default_ttl: 3600
cassandra:
  hosts:
  - $cassandra_host
  port: 9042
  keyspace: kask_bench
  table: values
  local_dc: datacenter1
  query_timeout_ms: 20000
  connect_timeout_ms: 20000
  authentication:
    username: cassandra
    password: cassandra
YAML

"$kask" --print-schema --config "$tmp/config.yaml" --replication datacenter1:1 |
    while read -r l; do [ -n "$l" ] && "$root/tests/cassandra/ctl.sh" cql "$l" >/dev/null; done

echo "bench-profile: pre-populating 10000 keys"
mkfifo "$tmp/driver.in"
"$ceilings" driver --host "$cassandra_host" --keyspace kask_bench --ttl 3600 <"$tmp/driver.in" >"$tmp/driver.out" &
driver_pid=$!
exec 3>"$tmp/driver.in"
echo "populate 10000 32" >&3
for _ in $(seq 120); do grep -q populated "$tmp/driver.out" && break; sleep 1; done
grep -q '"failed":0' "$tmp/driver.out" || { echo "bench-profile: populate failed: $(cat "$tmp/driver.out")" >&2; exit 1; }
exec 3>&-
wait "$driver_pid" || true
driver_pid=''

echo "bench-profile: starting kask under callgrind"
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" \
    "$kask" --config "$tmp/config.yaml" >"$out/kask.log" 2>&1 &
kask_pid=$!
for _ in $(seq 240); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
    kill -0 "$kask_pid" 2>/dev/null || { echo "bench-profile: kask exited; see $out/kask.log" >&2; exit 1; }
    sleep 0.5
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/sessions/v1/k0"

export BENCH_WRK_DIR=$root/bench/wrk BENCH_BASE=/sessions/v1/ BENCH_KEYS=10000
callgrind_control --zero "$kask_pid" >/dev/null
for phase in get post healthz; do
    url=http://127.0.0.1:$port/sessions/v1/
    [ "$phase" = healthz ] && url=http://127.0.0.1:$port/healthz
    echo "bench-profile: $phase, concurrency 32, $seconds s"
    timeout $((seconds + 60)) wrk -t2 -c32 -d"${seconds}s" --timeout 30s \
        -s "$root/bench/wrk/$phase.lua" "$url" | grep -E 'requests in|Non-2xx|Socket errors|BENCH_JSON' | tee "$out/wrk-$phase.txt"
    callgrind_control --dump="$phase" "$kask_pid" >/dev/null
done

kill -TERM "$kask_pid"
wait "$kask_pid" || true
kask_pid=''

for f in "$out"/callgrind.out.*; do
    case $f in *.annotate*) continue ;; esac
    callgrind_annotate --inclusive=yes "$f" 2>/dev/null | head -70 >"$f.annotate-inclusive.txt" || true
    callgrind_annotate "$f" 2>/dev/null | head -70 >"$f.annotate-self.txt" || true
done
# Instructions per request: each phase's dump (callgrind numbers them in
# order) over the requests wrk completed in it.
n=0
for phase in get post healthz; do
    n=$((n + 1))
    f=$(ls "$out"/callgrind.out.*."$n" 2>/dev/null | head -n 1)
    requests=$(awk '/requests in/ {print $1}' "$out/wrk-$phase.txt")
    ir=$(awk '/^summary:|^totals:/ {print $2; exit}' "$f" 2>/dev/null)
    if [ -n "$ir" ] && [ -n "$requests" ] && [ "$requests" -gt 0 ]; then
        echo "bench-profile: $phase: $requests requests, $ir Ir, $((ir / requests)) Ir per request" | tee -a "$out/summary.txt"
    fi
done
echo "bench-profile: done; see $out"
ls "$out"
