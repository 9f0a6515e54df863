#!/bin/bash
# Pool, depool and readiness under a real systemd (systemd-nspawn, Debian
# bookworm), against the real Cassandra of `make cassandra-up` (its first
# node, $KASK_CASSANDRA_NET.1:9042), issue 10:
#
#   Cassandra absent at start: the unit is active within 5 s, key requests
#   get 503 within 100 ms, readiness 503; Cassandra started: ready without
#   a restart. Depool under a steady load: readiness flips within 1 s and no
#   request fails; `kask depool --wait` returns after the load stops. The
#   depooled state survives `systemctl restart` and a reboot of the
#   container; pool: readiness 200. Taken out for good (socket and
#   service): nothing answers.
#
# The binary and the units are installed directly (not the .deb, whose
# own test is tests/package/e2e.sh): /usr/bin/kask, systemd/*.service and
# *.socket, the package's sysusers file.
#
# Usage: tests/pool/nspawn.sh [target/release/kask]
# Port (host loopback, shared with the container): KASK_POOL_PORT (18490).
# Stops and starts the shared test Cassandra: run it alone.
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
bin=$(realpath "${1:-target/release/kask}")
port=${KASK_POOL_PORT:-18490}
net=${KASK_CASSANDRA_NET:-127.0.0}
keyspace=kask_pooltest
cql=$top/tests/cassandra/ctl.sh
url=http://127.0.0.1:$port

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
cannot() { echo "FAIL (cannot run, not skipped): $*"; exit 1; }
step() { echo "--- $*"; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }
lt() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$1" "$2"; }

[ "$(id -u)" = 0 ] || cannot "needs root (systemd-nspawn)"
command -v systemd-nspawn >/dev/null || cannot "systemd-nspawn missing (apt install systemd-container)"
[ -x "$bin" ] || cannot "no kask binary at $bin (make build)"
"$cql" status >/dev/null 2>&1 || cannot "no Cassandra on $net.1:9042: run 'make cassandra-up'"
ss -Htln "sport = :$port" | grep -q . && cannot "port $port is in use on the host loopback; set KASK_POOL_PORT"

# readyz: "CODE BODY" of GET /readyz (000 if nothing answers).
readyz() {
    local out
    out=$(curl -s -m 2 -w '\n%{http_code}' "$url/readyz")
    echo "${out##*$'\n'} $(printf '%s' "${out%$'\n'*}" | tr -d '\n')"
}
code_of() { curl -s -m 2 -o /dev/null -w '%{http_code}' "$@"; }
# until_readyz CODE LIMIT [URL]: poll /readyz every 20 ms until it answers
# CODE or LIMIT seconds pass; prints the seconds since the call.
until_readyz() {
    local t0
    t0=$(now)
    until [ "$(code_of "${3:-$url}/readyz")" = "$1" ]; do
        lt "$(since "$t0")" "$2" || break
        sleep 0.02
    done
    since "$t0"
}

# --- schema and the container --------------------------------------------------
step "schema $keyspace (RF 1)"
tmp=$(mktemp -d)
cat >"$tmp/config.yaml" <<YAML
---
service_name: kask
base_uri: /v1/
listen_address: 127.0.0.1
listen_port: $port
log_level: info
cassandra:
  hosts:
  - $net.1
  port: 9042
  keyspace: $keyspace
  table: values
  local_dc: datacenter1
  query_timeout_ms: 2000
  connect_timeout_ms: 1000
  authentication:
    username: cassandra
    password: cassandra
YAML
ok=1
while IFS= read -r stmt; do
    [ -n "$stmt" ] || continue
    "$cql" cql "$stmt" >/dev/null || ok=0
done < <("$bin" --print-schema --config "$tmp/config.yaml" --replication datacenter1:1 | tr -d '\n' | tr ';' '\n')
[ "$ok" = 1 ] && pass "created $keyspace from kask --print-schema" || cannot "schema"

# shellcheck source=../nspawn/lib.sh
. "$top/tests/nspawn/lib.sh"
nspawn_boot kask-pool || cannot "the container did not boot"
cassandra_stopped=0
cleanup() {
    [ "$cassandra_stopped" = 1 ] && "$cql" start >/dev/null 2>&1
    nspawn_stop
    rm -rf "$tmp"
}
trap cleanup EXIT
ct() { nspawn_exec "$@"; }
show() { ct systemctl show -p "$2" --value "$1"; }

step "install the binary, the units, the kask user and the config"
nspawn_copy_in "$bin" /usr/bin/kask 0755
for u in kask.service kask.socket kask@.service kask@.socket; do
    nspawn_copy_in "systemd/$u" "/usr/lib/systemd/system/$u" 0644
done
nspawn_copy_in debian/kask.sysusers /usr/lib/sysusers.d/kask.conf 0644
ct systemd-sysusers kask.conf || fail "systemd-sysusers"
nspawn_copy_in "$tmp/config.yaml" /etc/kask/config.yaml 0640
ct chgrp kask /etc/kask/config.yaml
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "$port" >"$tmp/listen.conf"
nspawn_copy_in "$tmp/listen.conf" /etc/systemd/system/kask.socket.d/listen.conf 0644
ct systemctl daemon-reload
ct systemctl enable kask.socket kask.service >/dev/null 2>&1 || fail "systemctl enable"

# --- 1. Cassandra absent at start ------------------------------------------------------
step "Cassandra absent at start"
cassandra_stopped=1
"$cql" stop >/dev/null || cannot "ctl.sh stop"
t0=$(now)
ct timeout 30 systemctl start kask.socket kask.service
took=$(since "$t0")
state=$(show kask.service ActiveState)
if [ "$state" = active ] && lt "$took" 5; then
    pass "kask.service active ${took} s after systemctl start, Cassandra down"
else
    fail "kask.service is '$state' after ${took} s (want active within 5 s)"
    ct systemctl status --no-pager --full kask.service
fi
status_text=$(show kask.service StatusText)
case "$status_text" in
    *"waiting for Cassandra at $net.1:9042"*) pass "STATUS says why: '$status_text'" ;;
    *) fail "STATUS does not say it waits for Cassandra: '$status_text'" ;;
esac
worst=0
for m in GET POST DELETE; do
    out=$(curl -s -m 2 -o /dev/null -w '%{http_code} %{time_total}' -X "$m" --data-binary v "$url/v1/absent")
    [ "$m" = GET ] && out=$(curl -s -m 2 -o /dev/null -w '%{http_code} %{time_total}' "$url/v1/absent")
    code=${out% *} t=${out#* }
    if [ "$code" = 503 ] && lt "$t" 0.1; then
        pass "$m during the outage: 503 in ${t} s"
    else
        fail "$m during the outage: $code in ${t} s (want 503 within 0.1 s)"
    fi
done
hdr=$(curl -s -m 2 -D - -o /dev/null "$url/v1/absent" | tr -d '\r' | grep -i '^retry-after:')
[ -n "$hdr" ] && pass "503 carries '$hdr'" || fail "no Retry-After on the 503"
r=$(readyz)
case "$r" in
    "503 "*'"reason":"cassandra unavailable"'*) pass "readiness: $r" ;;
    *) fail "readiness during the outage: $r" ;;
esac
[ "$(code_of "$url/healthz")" = 200 ] && pass "/healthz 200 (alive)" || fail "/healthz is not 200"
sleep 3
pid=$(show kask.service MainPID)
[ "$(show kask.service NRestarts)" = 0 ] && [ "$(show kask.service ActiveState)" = active ] \
    && pass "no restart after 3 s more" || fail "restarted: NRestarts=$(show kask.service NRestarts)"

# --- 2. Cassandra started: ready without a restart ---------------------------------------
step "Cassandra started"
"$cql" start >/dev/null || fail "ctl.sh start"
cassandra_stopped=0
took=$(until_readyz 200 10)
if [ "$(code_of "$url/readyz")" = 200 ] && lt "$took" 2; then
    pass "ready ${took} s after Cassandra came back"
else
    fail "not ready ${took} s after Cassandra came back: $(readyz)"
fi
[ "$(show kask.service MainPID)" = "$pid" ] && [ "$(show kask.service NRestarts)" = 0 ] \
    && pass "same process ($pid), no restart" || fail "the process changed: $pid -> $(show kask.service MainPID)"
[ "$(code_of -X POST --data-binary hello "$url/v1/greeting")" = 201 ] \
    && pass "POST 201 once connected" || fail "POST once connected"
case "$(show kask.service StatusText)" in
    *"connected to Cassandra"*) pass "STATUS: $(show kask.service StatusText)" ;;
    *) fail "STATUS after connecting: $(show kask.service StatusText)" ;;
esac
perms=$(ct stat -c '%a %U:%G' /var/lib/kask /run/kask /run/kask/kask.sock | paste -sd' ')
[ "$perms" = "770 kask:kask 750 kask:kask 660 kask:kask" ] \
    && pass "/var/lib/kask, /run/kask, the socket: $perms" || fail "permissions: $perms"

# --- 3. depool under a steady load -----------------------------------------------------------
step "depool under a steady load (4 workers, 10 s)"
python3 tests/pool/load.py "$port" /v1/ 10 4 >"$tmp/load.json" 2>&1 &
load=$!
sleep 2
t0=$(now)
ct kask depool || fail "kask depool"
flip=$(since "$t0")
flip=$(python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) + float(sys.argv[2])))" "$flip" "$(until_readyz 503 5)")
r=$(readyz)
case "$r" in
    "503 "*'"reason":"depooled"'*) lt "$flip" 1 && pass "readiness 503 depooled ${flip} s after kask depool began" \
        || fail "readiness flipped only after ${flip} s" ;;
    *) fail "readiness after depool: $r" ;;
esac
ct kask depool --wait --idle 2 --timeout 40 >"$tmp/wait.out" 2>&1 &
waiter=$!
wait "$load"
load_rc=$?
wait "$waiter"
wait_rc=$?
wait_end=$(now)
result=$(cat "$tmp/load.json")
read -r ok failed ended < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["ok"], r["failed"], r["ended"])' "$result" 2>/dev/null || echo "0 ? 0")
if [ "$load_rc" = 0 ] && [ "$failed" = 0 ] && [ "$ok" -ge 200 ]; then
    pass "no request failed across the depool ($ok answered, all 201/200)"
else
    fail "load across the depool: $result"
fi
after=$(python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$wait_end" "$ended")
if [ "$wait_rc" = 0 ] && lt 1.9 "$after" && lt "$after" 5; then
    pass "kask depool --wait returned ${after} s after the last request (--idle 2): $(cat "$tmp/wait.out")"
else
    fail "kask depool --wait: exit $wait_rc, ${after} s after the last request: $(cat "$tmp/wait.out")"
fi
st=$(ct kask status)
case "$st" in
    *"pooled: no"*"ready: no (depooled)"*"in flight: 0"*) pass "kask status: $(echo "$st" | paste -sd' ')" ;;
    *) fail "kask status: $st" ;;
esac

# --- 4. the state survives a restart and a reboot -------------------------------------------
step "systemctl restart"
ct systemctl restart kask.service || fail "systemctl restart"
r=$(readyz)
case "$r" in "503 "*depooled*) pass "after systemctl restart: $r" ;; *) fail "after systemctl restart: $r" ;; esac
step "reboot of the container"
nspawn_reboot || cannot "the container did not boot again"
nspawn_wait_active kask.service 30 || fail "kask.service not active after the reboot"
r=$(readyz)
case "$r" in "503 "*depooled*) pass "after a reboot: $r" ;; *) fail "after a reboot: $r" ;; esac
[ "$(code_of "$url/v1/greeting")" = 200 ] && pass "depooled, still serving: GET 200" || fail "GET while depooled"

# --- 5. pool ------------------------------------------------------------------------------------
step "pool"
t0=$(now)
ct kask pool || fail "kask pool"
until_readyz 200 5 >/dev/null
r=$(readyz)
case "$r" in "200 "*) pass "readiness 200 $(since "$t0") s after kask pool: $r" ;; *) fail "after kask pool: $r" ;; esac
[ "$(ct cat /var/lib/kask/kask.pool)" = pooled ] && pass "/var/lib/kask/kask.pool says pooled" \
    || fail "/var/lib/kask/kask.pool: $(ct cat /var/lib/kask/kask.pool)"

# --- 6. an instance: kask@NAME has its own state ---------------------------------------
step "kask@pooltest beside the default instance"
port2=$((port + 1))
sed -e "s/^listen_port: .*/listen_port: $port2/" -e "s/^service_name: .*/service_name: pooltest/" \
    "$tmp/config.yaml" >"$tmp/config2.yaml"
nspawn_copy_in "$tmp/config2.yaml" /etc/pooltest/config.yaml 0640
ct chgrp kask /etc/pooltest/config.yaml
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "$port2" >"$tmp/listen2.conf"
nspawn_copy_in "$tmp/listen2.conf" /etc/systemd/system/kask@pooltest.socket.d/listen.conf 0644
ct systemctl daemon-reload
ct timeout 30 systemctl start kask@pooltest.socket kask@pooltest.service || fail "start kask@pooltest"
until_readyz 200 10 "http://127.0.0.1:$port2" >/dev/null
ct kask depool --instance pooltest >/dev/null || fail "kask depool --instance pooltest"
r2=$(code_of "http://127.0.0.1:$port2/readyz") r1=$(code_of "$url/readyz")
if [ "$r2" = 503 ] && [ "$r1" = 200 ] && [ "$(ct cat /var/lib/kask/kask@pooltest.pool)" = depooled ]; then
    pass "kask depool --instance pooltest: kask@pooltest 503, kask.service still 200, /var/lib/kask/kask@pooltest.pool"
else
    fail "instance depool: kask@pooltest $r2, kask.service $r1, file '$(ct cat /var/lib/kask/kask@pooltest.pool)'"
fi
st=$(ct kask status --instance pooltest)
case "$st" in *"kask@pooltest: running"*"pooled: no"*) pass "kask status --instance pooltest: $(echo "$st" | head -n 2 | paste -sd' ')" ;;
    *) fail "kask status --instance pooltest: $st" ;; esac
ct systemctl stop kask@pooltest.socket kask@pooltest.service

# --- 7. out for good ------------------------------------------------------------------------------
step "out for good: socket and service"
ct systemctl disable --now kask.socket kask.service >/dev/null 2>&1
code=$(code_of "$url/healthz")
[ "$code" = 000 ] && [ "$(show kask.service ActiveState)" = inactive ] \
    && pass "disable --now kask.socket kask.service: nothing answers, and a request starts nothing" \
    || fail "after disable --now: /healthz $code, kask.service $(show kask.service ActiveState)"

echo "pool under systemd: $failures failure(s)"
[ "$failures" = 0 ]
