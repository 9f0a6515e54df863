#!/usr/bin/env bash
# Checks the fault controls of ctl.sh on the running local Cassandra: after
# `stop` every port refuses connections and status says so; after `start` the
# data written before is still there. Prints how long stop and start took.
set -euo pipefail
CTL=$(dirname "${BASH_SOURCE[0]}")/ctl.sh
KS=kask_relay_selftest
NODE1=${KASK_CASSANDRA_NET:-127.0.0}.1
key="ctl-test-$$-$(date +%s%N)"
fail() { echo "test-ctl: FAIL: $*" >&2; exit 1; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
refuses() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

"$CTL" status >/dev/null || fail "the node is not up (make cassandra-up)"
"$CTL" cql "CREATE KEYSPACE IF NOT EXISTS $KS WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
"$CTL" cql "CREATE TABLE IF NOT EXISTS $KS.kv (key text PRIMARY KEY, value blob)"
"$CTL" cql "INSERT INTO $KS.kv (key, value) VALUES ('$key', 0x00ff10)"

t=$(date +%s%N)
"$CTL" stop
stop_ms=$(ms "$t")
refuses "$NODE1" 9042 || fail "relay port 9042 still accepts after stop"
refuses "$NODE1" 19042 || fail "node port 19042 still accepts after stop"
rc=0; "$CTL" status >/dev/null || rc=$?
[[ $rc == 3 ]] || fail "status after stop exited $rc, not 3"

t=$(date +%s%N)
"$CTL" start >/dev/null
start_ms=$(ms "$t")
"$CTL" status >/dev/null || fail "status after start is not 0"
got=$("$CTL" cql "SELECT value FROM $KS.kv WHERE key = '$key'")
[[ $got == 0x00ff10 ]] || fail "row written before stop reads back as '$got'"
"$CTL" cql "DELETE FROM $KS.kv WHERE key = '$key'"
echo "test-ctl: ok: stop ${stop_ms} ms (ports refuse), start ${start_ms} ms, data kept"
