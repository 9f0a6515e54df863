#!/bin/bash
# tests/logging/journal-rsyslog.sh: `log_format: json` under a real systemd
# and journald (systemd-nspawn), read back twice: by journalctl (MESSAGE is
# the JSON line; LEVEL and REQUEST_ID stay fields) and by a real rsyslog
# running docs/examples/rsyslog/30-kask.conf unchanged (the JSON's fields
# come out parsed, request id and level included). Then `log_format: auto`
# (the default) keeps MESSAGE as text, and a reload to `json` applies live.
#
# kask talks to the real Cassandra of `make cassandra-up` (KASK_CASSANDRA_NET)
# from inside the container, which shares the host's network.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
# shellcheck source=../nspawn/lib.sh
. "$top/tests/nspawn/lib.sh"

failures=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

KASK=${KASK_BIN:-$top/target/debug/kask}
net=${KASK_CASSANDRA_NET:-127.0.0}
addr=$net.99
port=18099
if [ ! -x "$KASK" ]; then
    echo "FAIL: no kask binary at $KASK (cargo build first)"; exit 1
fi
if ! tests/cassandra/ctl.sh status >/dev/null 2>&1; then
    echo "FAIL: no Cassandra on $net (make cassandra-up)"; exit 1
fi

nspawn_boot kask-log rsyslog || { echo "FAIL: the container did not boot"; exit 1; }

nspawn_copy_in "$KASK" /usr/local/bin/kask 0755
nspawn_copy_in docs/examples/rsyslog/30-kask.conf /etc/rsyslog.d/30-kask.conf 0644
nspawn_sh 'mkdir -p /var/log/kask /etc/kask && systemctl restart rsyslog' \
    || fail "rsyslog did not restart with 30-kask.conf"

config() {
    printf -- '---\nservice_name: kask\nbase_uri: /sessions/v1/\nlisten_address: %s\nlisten_port: %s\nlog_format: %s\ncassandra:\n  hosts: [%s.1]\n  keyspace: kask_logtest\n  authentication:\n    username: cassandra\n    password: cassandra\n' \
        "$addr" "$port" "$1" "$net" >"$NSPAWN_ROOT/etc/kask/config.yaml"
}
tests/cassandra/ctl.sh cql \
    "CREATE KEYSPACE IF NOT EXISTS kask_logtest WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}" \
    "CREATE TABLE IF NOT EXISTS kask_logtest.values (key text PRIMARY KEY, value blob)" >/dev/null \
    || fail "cannot create the test keyspace"

config json
nspawn_exec systemd-run --unit=kask-logtest --property=Type=simple \
    /usr/local/bin/kask --config /etc/kask/config.yaml >/dev/null \
    || fail "systemd-run kask"
up=
for _ in $(seq 1 150); do
    if curl -s -o /dev/null "http://$addr:$port/healthz"; then up=1; break; fi
    sleep 0.2
done
[ -n "$up" ] || { fail "kask did not answer on $addr:$port"; nspawn_journal -u kask-logtest | tail -20; exit 1; }

# An empty POST is refused with an INFO line that carries the request id.
curl -s -o /dev/null -X POST -H 'X-Request-ID: req-ops-json-1' \
    "http://$addr:$port/sessions/v1/k"

# The last line COMMAND prints, once it prints one (at most 10 s).
last_line() {
    local out
    for _ in $(seq 1 50); do
        out=$("$@" 2>/dev/null | tail -n 1)
        [ -n "$out" ] && { echo "$out"; return 0; }
        sleep 0.2
    done
    return 1
}

entry=$(last_line nspawn_journal -u kask-logtest -o json REQUEST_ID=req-ops-json-1)
python3 - "$entry" <<'PY' && pass "journal: MESSAGE is the JSON line; LEVEL and REQUEST_ID are fields" || fail "journal entry: $entry"
import json, sys
e = json.loads(sys.argv[1])
assert e["LEVEL"] == "INFO" and e["REQUEST_ID"] == "req-ops-json-1", e
assert e["SYSLOG_IDENTIFIER"] == "kask" and e["PRIORITY"] == "6", e
m = json.loads(e["MESSAGE"])
assert list(m) == ["msg", "appname", "time", "level", "request_id"], m
assert m["request_id"] == "req-ops-json-1" and m["level"] == "INFO", m
assert "empty body refused" in m["msg"] and m["appname"] == "kask", m
assert m["time"].endswith("Z") and len(m["time"]) == 24, m
PY

line=$(last_line nspawn_sh 'grep -h req-ops-json-1 /var/log/kask/logstash.json')
python3 - "$line" <<'PY' && pass "rsyslog with 30-kask.conf: request_id, level and msg arrive as fields" || fail "rsyslog output: '$line'"
import json, sys
m = json.loads(sys.argv[1])
assert m["request_id"] == "req-ops-json-1" and m["level"] == "INFO", m
assert "empty body refused" in m["msg"], m
PY
# Lines that are not kask's do not end up there.
nspawn_exec logger -t other 'not kask' || true
sleep 1
if nspawn_sh 'grep -q "not kask" /var/log/kask/logstash.json'; then
    fail "another program's line reached kask's file"
else
    pass "only kask's lines reach kask's file"
fi

# The default keeps MESSAGE as text; a reload switches formats live.
config auto
nspawn_exec systemctl kill --signal=HUP kask-logtest >/dev/null
sleep 1
curl -s -o /dev/null -X POST -H 'X-Request-ID: req-ops-auto-1' "http://$addr:$port/sessions/v1/k"
sleep 1
msg=$(nspawn_journal -u kask-logtest -o json REQUEST_ID=req-ops-auto-1 | tail -n 1 \
    | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["MESSAGE"])' 2>/dev/null)
case "$msg" in
    "POST /sessions/v1/k: empty body refused") pass "log_format: auto keeps MESSAGE as text (after a reload)" ;;
    *) fail "auto: MESSAGE is '$msg'" ;;
esac

nspawn_exec systemctl stop kask-logtest >/dev/null 2>&1
tests/cassandra/ctl.sh cql "DROP KEYSPACE IF EXISTS kask_logtest;" >/dev/null 2>&1
nspawn_stop
if [ "$failures" -gt 0 ]; then
    echo "journal-rsyslog: $failures failure(s)"; exit 1
fi
echo "journal-rsyslog: all passed"
