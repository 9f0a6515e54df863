#!/usr/bin/env bash
# Checks ctl.sh on the running local Cassandra: it is the version asked for;
# a different version or topology on the same data is refused; after `stop`
# every port refuses connections and status says so; after `start` the data
# written before is still there. Prints how long stop and start took.
set -euo pipefail
CTL=$(dirname "${BASH_SOURCE[0]}")/ctl.sh
KS=kask_ctl_selftest
NODE1=${KASK_CASSANDRA_NET:-127.0.0}.1
key="ctl-test-$$-$(date +%s%N)"
failed=0
fail() { echo "test-ctl: FAIL: $*" >&2; failed=$((failed + 1)); }
ok() { echo "test-ctl: ok: $*"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
refuses() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

"$CTL" status >/dev/null || { echo "test-ctl: FAIL: the node is not up (make cassandra-up)" >&2; exit 1; }

# The server really is the release ctl.sh says, with the data centre and
# the authentication asked for.
want=$("$CTL" env | sed -n 's/^KASK_CASSANDRA_VERSION=//p')
got=$("$CTL" cql "SELECT release_version, data_center FROM system.local")
[[ $got == "$want"$'\t'* ]] && ok "node 1 is Cassandra $got" || fail "release/DC is '$got', expected $want"
if /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/cql.py" --host "$NODE1" --password wrong "SELECT now() FROM system.local" 2>/dev/null; then
    fail "a wrong password was accepted"
else
    ok "a wrong password is refused"
fi

# Settings stick to the data: another version or topology is refused (2).
rc=0; KASK_CASSANDRA_VERSION=5.0 "$CTL" up 2>/dev/null || rc=$?
[[ $rc == 2 ]] && ok "another version on this data is refused" || fail "another version: exit $rc, not 2"
rc=0; KASK_CASSANDRA_TOPOLOGY=a:1,b:1 "$CTL" status >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] && ok "another topology on this data is refused" || fail "another topology: exit $rc, not 2"
rc=0; "$CTL" bogus 2>/dev/null || rc=$?
[[ $rc == 2 ]] && ok "an unknown verb is a usage error" || fail "unknown verb: exit $rc, not 2"

"$CTL" cql "CREATE KEYSPACE IF NOT EXISTS $KS WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 1}" \
    "CREATE TABLE IF NOT EXISTS $KS.kv (key text PRIMARY KEY, value blob)" \
    "INSERT INTO $KS.kv (key, value) VALUES ('$key', 0x00ff10)"

t=$(date +%s%N)
"$CTL" stop
stop_ms=$(ms "$t")
refuses "$NODE1" 9042 && ok "port 9042 refuses after stop" || fail "port 9042 still accepts after stop"
rc=0; "$CTL" status >/dev/null || rc=$?
[[ $rc == 3 ]] && ok "status after stop exits 3" || fail "status after stop exited $rc, not 3"

t=$(date +%s%N)
"$CTL" start >/dev/null
start_ms=$(ms "$t")
"$CTL" status >/dev/null && ok "status after start exits 0" || fail "status after start is not 0"
got=$("$CTL" cql "SELECT value FROM $KS.kv WHERE key = '$key'")
[[ $got == 0x00ff10 ]] && ok "a row written before the crash is kept" || fail "row written before stop reads back as '$got'"
"$CTL" cql "DELETE FROM $KS.kv WHERE key = '$key'"
echo "test-ctl: stop ${stop_ms} ms (ports refuse), start ${start_ms} ms"
((failed == 0)) || { echo "test-ctl: $failed check(s) failed" >&2; exit 1; }
