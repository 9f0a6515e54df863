#!/bin/bash
# End to end: the kask .deb under a real systemd (systemd-nspawn, Debian
# bookworm), against the real Cassandra of `make cassandra-up` on the host's
# loopback (127.0.0.1:9042, cassandra/cassandra).
#
# Install; the default instance through Type=notify; an HTTP round trip; the
# journal; reload and restart under load without losing a request; the
# watchdog killing a SIGSTOPped daemon; a bad config failing fast with the
# key named and no restart loop; a kask@NAME instance alongside; an upgrade
# restarting both; purge.
#
# Usage: tests/package/e2e.sh dist/kask_<version>_<arch>.deb
# Ports (host loopback, shared with the container): KASK_E2E_PORT (default
# 18480) for kask.service, KASK_E2E_PORT2 (18481) for the instance.
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
deb=$(realpath "${1:?usage: $0 PACKAGE.deb}")
port=${KASK_E2E_PORT:-18480}
port2=${KASK_E2E_PORT2:-18481}
keyspace=kask_pkgtest
instance=kask-pkgtest
cql=$top/tests/cassandra/ctl.sh

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
skip() { echo "SKIP: $*  (not a pass)"; exit 1; }
step() { echo "--- $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn)"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn missing (apt install systemd-container)"
# Other tests stop and start the shared Cassandra: give it a minute.
for i in $(seq 1 60); do "$cql" status >/dev/null 2>&1 && break; sleep 1; done
"$cql" status >/dev/null 2>&1 || skip "no Cassandra on 127.0.0.1:9042: run 'make cassandra-up'"
for p in "$port" "$port2"; do
    if ss -Htln "sport = :$p" | grep -q .; then
        skip "port $p is in use on the host loopback; set KASK_E2E_PORT/KASK_E2E_PORT2"
    fi
done

# shellcheck source=../nspawn/lib.sh
. "$top/tests/nspawn/lib.sh"
started=$SECONDS
nspawn_boot kask-pkg || { fail "the container did not boot"; exit 1; }

ct() { nspawn_exec "$@"; }
show() { ct systemctl show -p "$2" --value "$1"; }

# A config for the local Cassandra, and the socket drop-in that matches it.
# write_config PATH PORT SERVICE_NAME BASE_URI
write_config() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp" <<YAML
---
service_name: $3
base_uri: $4
listen_address: 127.0.0.1
listen_port: $2
default_ttl: 3600
log_level: info
cassandra:
  hosts:
  - 127.0.0.1
  port: 9042
  keyspace: $keyspace
  table: values
  local_dc: datacenter1
  authentication:
    username: cassandra
    password: cassandra
YAML
    nspawn_copy_in "$tmp" "$1" 0640 && ct chgrp kask "$1"
    rm -f "$tmp"
}
write_listen_dropin() {   # UNIT PORT
    local tmp
    tmp=$(mktemp)
    printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "$2" >"$tmp"
    nspawn_copy_in "$tmp" "/etc/systemd/system/$1.d/listen.conf" 0644
    rm -f "$tmp"
}
# round_trip PORT BASE_URI KEY: POST random bytes, expect 201; GET, expect
# 200 and the same bytes.
round_trip() {
    local url=http://127.0.0.1:$1$2$3
    ct sh -c "head -c 3000 /dev/urandom > /tmp/value.bin" || return 1
    local post get
    post=$(ct curl -sS -m 10 -o /dev/null -w '%{http_code}' -X POST \
        -H 'Content-Type: application/octet-stream' --data-binary @/tmp/value.bin "$url")
    get=$(ct curl -sS -m 10 -o /tmp/got.bin -w '%{http_code}' "$url")
    if [ "$post" = 201 ] && [ "$get" = 200 ] && ct cmp -s /tmp/value.bin /tmp/got.bin; then
        return 0
    fi
    echo "POST $url -> $post, GET -> $get, bytes equal: $(ct cmp -s /tmp/value.bin /tmp/got.bin && echo yes || echo no)"
    return 1
}

# --- install ---------------------------------------------------------------
step "install $(basename "$deb")"
nspawn_copy_in "$deb" /root/kask.deb 0644
if ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/kask.deb >"$NSPAWN_DIR/apt.log" 2>&1; then
    pass "apt-get install ./kask.deb"
else
    fail "apt-get install ./kask.deb: $(tail -n 20 "$NSPAWN_DIR/apt.log")"
    exit 1
fi
[ "$(ct kask --version)" = "kask $(dpkg-deb -f "$deb" Version)" ] \
    && pass "/usr/bin/kask --version" || fail "kask --version: $(ct kask --version 2>&1)"
ct getent passwd kask >/dev/null && pass "system user kask exists: $(ct getent passwd kask)" \
    || fail "no user kask"
perms=$(ct stat -c '%a %U:%G' /etc/kask/config.yaml)
[ "$perms" = "640 root:kask" ] && pass "/etc/kask/config.yaml is 0640 root:kask" \
    || fail "/etc/kask/config.yaml is $perms"
ct test -f /usr/share/man/man8/kask.8.gz && pass "kask(8) installed" || fail "no kask(8)"
states=$(ct systemctl is-active kask.service kask.socket | paste -sd' ')
enabled=$(ct systemctl is-enabled kask.service kask.socket | paste -sd' ')
[ "$states" = "inactive inactive" ] && [ "$enabled" = "disabled disabled" ] \
    && pass "nothing enabled or started on install" \
    || fail "after install: active '$states', enabled '$enabled'"

# --- schema ------------------------------------------------------------------
step "schema $keyspace (RF 1: one node)"
write_config /etc/kask/config.yaml "$port" kask /v1/
schema=$(ct kask --print-schema --config /etc/kask/config.yaml --replication datacenter1:1)
ok=1
while IFS= read -r stmt; do
    [ -n "$stmt" ] || continue
    "$cql" cql "$stmt" >/dev/null || ok=0
done < <(tr -d '\n' <<<"$schema" | tr ';' '\n')
[ "$ok" = 1 ] && pass "created $keyspace from kask --print-schema" || fail "schema: $schema"

# --- the default instance ----------------------------------------------------
step "kask.service on 127.0.0.1:$port"
write_listen_dropin kask.socket "$port"
ct systemctl daemon-reload
t0=$SECONDS
if ct timeout 90 systemctl start kask.service; then
    pass "systemctl start kask.service returned in $((SECONDS - t0)) s"
else
    fail "systemctl start kask.service failed"
    ct systemctl status --no-pager --full kask.service
fi
state=$(show kask.service ActiveState)/$(show kask.service SubState)
[ "$state" = active/running ] && pass "kask.service is active (running)" || fail "kask.service is $state"
[ "$(show kask.service Type)" = notify ] && [ "$(show kask.service NotifyAccess)" = main ] \
    && pass "Type=notify, NotifyAccess=main" || fail "Type/NotifyAccess wrong"
status_text=$(show kask.service StatusText)
[ -n "$status_text" ] && pass "the daemon sent STATUS=: '$status_text'" || fail "no STATUS= from the daemon"
[ "$(ct systemctl is-active kask.socket)" = active ] && pass "kask.socket is active" || fail "kask.socket is not active"
pid=$(show kask.service MainPID)
user=$(ct ps -o user= -p "$pid" | tr -d ' ')
[ "$user" = kask ] && pass "the daemon runs as kask" || fail "the daemon runs as '$user'"
ct grep -q "^kask" "/proc/$pid/comm" 2>/dev/null || true
if out=$(round_trip "$port" /v1/ "e2e-$$"); then
    pass "HTTP round trip on 127.0.0.1:$port: POST 201, GET 200, same 3000 bytes"
else
    fail "HTTP round trip: $out"
fi
lines=$(nspawn_journal -u kask.service "_PID=$pid" -o cat | wc -l)
if [ "$lines" -gt 0 ]; then
    pass "the daemon's own log lines are in the journal ($lines, e.g. '$(nspawn_journal -u kask.service "_PID=$pid" -o cat | head -n 1)')"
else
    fail "no log line of the daemon (pid $pid) in journalctl -u kask.service"
fi

# --- reload and restart under load ---------------------------------------------
step "reload and restart while the load generator runs"
nspawn_copy_in tests/package/loadgen.py /root/loadgen.py 0755
nspawn_exec python3 /root/loadgen.py "$port" /v1/ 10 4 >"$NSPAWN_DIR/load.json" 2>&1 &
load=$!
sleep 2
pid_before=$(show kask.service MainPID)
ct systemctl reload kask.service && reload_ok=1 || reload_ok=0
sleep 1
pid_reloaded=$(show kask.service MainPID)
ct systemctl restart kask.service && restart_ok=1 || restart_ok=0
pid_restarted=$(show kask.service MainPID)
wait "$load"
result=$(cat "$NSPAWN_DIR/load.json")
[ "$reload_ok" = 1 ] && [ "$pid_reloaded" = "$pid_before" ] \
    && pass "systemctl reload succeeded, same process ($pid_before)" \
    || fail "reload: exit ok=$reload_ok, pid $pid_before -> $pid_reloaded"
[ "$restart_ok" = 1 ] && [ "$pid_restarted" != "$pid_before" ] \
    && pass "systemctl restart succeeded, new process ($pid_before -> $pid_restarted)" \
    || fail "restart: exit ok=$restart_ok, pid $pid_before -> $pid_restarted"
ok_count=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$result" 2>/dev/null || echo 0)
lost=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["lost"])' "$result" 2>/dev/null || echo "?")
if [ "$lost" = 0 ] && [ "$ok_count" -ge 100 ]; then
    pass "no request lost across reload and restart ($ok_count requests answered)"
else
    fail "load across reload/restart: $result"
fi
# The daemon's own lines (not systemd's "Reloading ..."): it saw the SIGHUP.
reloads=$(nspawn_journal -u kask.service "_PID=$pid_before" -o cat | grep -i 'reload' || true)
[ -n "$reloads" ] && pass "the daemon logged the reload: $(head -n 1 <<<"$reloads")" \
    || fail "the daemon (pid $pid_before) logged nothing about a reload"

# --- watchdog ------------------------------------------------------------------------
step "watchdog: SIGSTOP the daemon"
tmp=$(mktemp)
# TimeoutAbortSec: a stopped process cannot act on the watchdog's SIGABRT, so
# systemd waits that long before SIGKILL (default: TimeoutStopSec, 30 s).
printf '[Service]\nWatchdogSec=3s\nTimeoutAbortSec=3s\n' >"$tmp"
nspawn_copy_in "$tmp" /etc/systemd/system/kask.service.d/watchdog.conf 0644
rm -f "$tmp"
ct systemctl daemon-reload
ct timeout 90 systemctl restart kask.service
pid=$(show kask.service MainPID)
restarts=$(show kask.service NRestarts)
sleep 4   # alive and pinging across more than one WatchdogSec
if [ "$(show kask.service MainPID)" = "$pid" ] && [ "$(ct systemctl is-active kask.service)" = active ]; then
    pass "a healthy daemon keeps the 3 s watchdog happy"
else
    fail "the daemon was restarted although healthy (WATCHDOG=1 missing?)"
fi
ct kill -STOP "$pid"
t0=$SECONDS
new=$pid
while [ $((SECONDS - t0)) -lt 30 ]; do
    new=$(show kask.service MainPID)
    if [ "$new" != "$pid" ] && [ "$new" != 0 ] && [ "$(ct systemctl is-active kask.service)" = active ]; then
        break
    fi
    sleep 0.5
done
if [ "$new" != "$pid" ] && [ "$(show kask.service NRestarts)" -gt "$restarts" ] \
    && nspawn_journal -u kask.service -o cat | grep -q -i 'watchdog timeout'; then
    pass "watchdog killed the stopped daemon and systemd restarted it in $((SECONDS - t0)) s ($pid -> $new)"
else
    fail "watchdog: pid $pid -> $new, NRestarts $restarts -> $(show kask.service NRestarts)"
    ct systemctl status --no-pager --full kask.service | tail -n 15
fi
ct rm -f /etc/systemd/system/kask.service.d/watchdog.conf
ct systemctl daemon-reload
ct timeout 90 systemctl restart kask.service
out=$(round_trip "$port" /v1/ "after-watchdog-$$") && pass "serving again after the watchdog restart" \
    || fail "after the watchdog restart: $out"

# --- bad config --------------------------------------------------------------------------
step "bad config"
ct cp -p /etc/kask/config.yaml /root/good.yaml
ct sed -i 's/^  port: 9042$/  port: ninety/' /etc/kask/config.yaml
pid=$(show kask.service MainPID)
if ct systemctl reload kask.service 2>/dev/null; then
    fail "systemctl reload accepted a bad config"
else
    pass "systemctl reload refuses a bad config"
fi
[ "$(ct systemctl is-active kask.service)" = active ] && [ "$(show kask.service MainPID)" = "$pid" ] \
    && pass "the daemon keeps running on its old config" || fail "the daemon did not survive the refused reload"
restarts=$(show kask.service NRestarts)
t0=$SECONDS
ct timeout 60 systemctl restart kask.service 2>/dev/null && started=1 || started=0
took=$((SECONDS - t0))
[ "$started" = 0 ] && [ "$took" -le 10 ] && pass "systemctl restart fails fast on a bad config (${took} s)" \
    || fail "restart with a bad config: success=$started after ${took} s"
sleep 5
[ "$(show kask.service ExecMainStatus)" = 78 ] && pass "exit status 78 (EX_CONFIG)" \
    || fail "exit status $(show kask.service ExecMainStatus), expected 78"
[ "$(show kask.service NRestarts)" = "$restarts" ] && [ "$(ct systemctl is-active kask.service)" = failed ] \
    && pass "no restart loop: failed, NRestarts still $restarts after 5 s" \
    || fail "restart loop? state $(ct systemctl is-active kask.service), NRestarts $restarts -> $(show kask.service NRestarts)"
status_out=$(ct systemctl status --no-pager --full -n 20 kask.service 2>&1)
if grep -q 'cassandra\.port' <<<"$status_out"; then
    pass "systemctl status names the key: $(grep -m1 'cassandra\.port' <<<"$status_out" | sed 's/^ *//')"
else
    fail "the key cassandra.port is not in systemctl status: $status_out"
fi
ct cp -p /root/good.yaml /etc/kask/config.yaml
ct timeout 90 systemctl start kask.service && pass "starts again with the config fixed" || fail "does not start after the fix"

# --- an instance alongside ---------------------------------------------------------------
step "kask@$instance on 127.0.0.1:$port2"
ct mkdir -p "/etc/$instance"
write_config "/etc/$instance/config.yaml" "$port2" pkgtest sessions/v1
write_listen_dropin "kask@$instance.socket" "$port2"
ct systemctl daemon-reload
if ct timeout 90 systemctl enable --now "kask@$instance.service" 2>/dev/null; then
    pass "systemctl enable --now kask@$instance.service"
else
    fail "kask@$instance.service did not start"
    ct systemctl status --no-pager --full "kask@$instance.service"
fi
[ "$(ct systemctl is-active "kask@$instance.service" "kask@$instance.socket" kask.service | paste -sd' ')" = "active active active" ] \
    && pass "kask@$instance and its socket run alongside kask.service" \
    || fail "states: $(ct systemctl is-active "kask@$instance.service" "kask@$instance.socket" kask.service | paste -sd' ')"
out=$(round_trip "$port2" /sessions/v1/ "instance-$$") && pass "HTTP round trip on the instance (/sessions/v1/)" \
    || fail "instance round trip: $out"
ipid=$(show "kask@$instance.service" MainPID)
n=$(nspawn_journal -u "kask@$instance.service" "_PID=$ipid" -o cat | wc -l)
[ "$n" -gt 0 ] && pass "journalctl -u kask@$instance has the daemon's lines ($n)" \
    || fail "no line of the daemon (pid $ipid) in journalctl -u kask@$instance"
# Native journal entries: SYSLOG_IDENTIFIER is the config's service_name
# (pkgtest here), with structured LEVEL and PRIORITY fields.
n=$(nspawn_journal -t pkgtest "_PID=$ipid" -o cat | wc -l)
[ "$n" -gt 0 ] && pass "journalctl -t pkgtest (service_name) has the daemon's lines ($n)" \
    || fail "journalctl -t pkgtest has no line of the daemon (pid $ipid)"
fields=$(nspawn_journal -u "kask@$instance.service" "_PID=$ipid" -o json -n 1 \
    | python3 -c 'import json,sys; e=json.loads(sys.stdin.readline()); print(e.get("LEVEL"), e.get("PRIORITY"), e.get("SYSLOG_IDENTIFIER"))' 2>/dev/null)
[[ "$fields" =~ ^(DEBUG|INFO|WARNING|ERROR|FATAL)\ [0-7]\ pkgtest$ ]] && pass "structured journal fields: LEVEL PRIORITY SYSLOG_IDENTIFIER = $fields" \
    || fail "journal entry fields are '$fields'"

# --- upgrade ---------------------------------------------------------------------------------
step "upgrade (reinstall): running units restart, sockets stay"
main_pid=$(show kask.service MainPID)
inst_pid=$(show "kask@$instance.service" MainPID)
sock_since=$(show "kask@$instance.socket" ActiveEnterTimestampMonotonic)
if ct env DEBIAN_FRONTEND=noninteractive dpkg -i /root/kask.deb >"$NSPAWN_DIR/upgrade.log" 2>&1; then
    sleep 1
    new_main=$(show kask.service MainPID)
    new_inst=$(show "kask@$instance.service" MainPID)
    [ "$new_main" != "$main_pid" ] && [ "$(ct systemctl is-active kask.service)" = active ] \
        && pass "kask.service restarted by the upgrade" || fail "kask.service not restarted ($main_pid -> $new_main)"
    [ "$new_inst" != "$inst_pid" ] && [ "$(ct systemctl is-active "kask@$instance.service")" = active ] \
        && pass "kask@$instance restarted by the upgrade" || fail "kask@$instance not restarted ($inst_pid -> $new_inst)"
    [ "$(show "kask@$instance.socket" ActiveEnterTimestampMonotonic)" = "$sock_since" ] \
        && pass "the instance's socket stayed open through the upgrade" || fail "the socket was restarted"
else
    fail "dpkg -i (upgrade): $(tail -n 20 "$NSPAWN_DIR/upgrade.log")"
fi

# --- purge -------------------------------------------------------------------------------------
step "purge"
if ct env DEBIAN_FRONTEND=noninteractive dpkg --purge kask >"$NSPAWN_DIR/purge.log" 2>&1; then
    pass "dpkg --purge kask"
else
    fail "dpkg --purge: $(tail -n 20 "$NSPAWN_DIR/purge.log")"
fi
left=$(ct sh -c 'ls -d /etc/kask /usr/share/kask /usr/bin/kask /lib/systemd/system/kask* \
    /usr/lib/systemd/system/kask* /usr/lib/sysusers.d/kask.conf /usr/share/man/man8/kask.8.gz \
    /usr/share/doc/kask /etc/systemd/system/*.wants/kask* 2>/dev/null')
[ -z "$left" ] && pass "nothing of the package is left" || fail "left after purge: $left"
procs=$(ct pgrep -x kask || true)
[ -z "$procs" ] && pass "no kask process left" || fail "kask processes left: $procs"
units=$(ct systemctl list-units --all --plain --no-legend 'kask*' | awk '$2 != "not-found"' || true)
[ -z "$units" ] && pass "systemd knows no kask unit" || fail "units still loaded: $units"
ct test -f "/etc/$instance/config.yaml" && pass "the administrator's /etc/$instance/config.yaml is left alone" \
    || fail "purge deleted /etc/$instance/config.yaml, which the package does not own"

echo
echo "test-package-e2e: $((SECONDS - started)) s"
if [ "$failures" -eq 0 ]; then
    echo "test-package-e2e: all checks passed"
else
    echo "test-package-e2e: $failures check(s) FAILED"
    exit 1
fi
