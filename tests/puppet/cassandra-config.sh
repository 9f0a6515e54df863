#!/bin/bash
# Does Cassandra 4.1 itself accept the cassandra.yaml that the stand-in
# cassandra module renders? The specs check key by key what the real module
# would write; this starts a real Cassandra (the test infrastructure's, the
# release of `make cassandra-up`) on each rendered file and checks that it
# serves CQL with the cluster name, data centre and rack of the Hiera, and,
# where the Hiera asks for it, client TLS.
#
#   A. deployment-prep: the pasted instance Hiera over the project block
#      (the package's default instance, no TLS).
#   B. production's sessionstore role Hiera without tls_use_pki: instance
#      a of sessionstore1004, client and inter-DC encryption with the
#      cluster's keystore (a throwaway one made here with keytool, where
#      production's comes from the private repository).
#
# Only what cannot be the same on this machine is changed in the file:
# directories (under a temporary directory), addresses and seeds (an
# address of this checkout's network, $KASK_CASSANDRA_NET.61) and the
# keystore paths. Everything else is Cassandra's to judge.
#
# Exit: 0 all held; 1 an assertion failed or a prerequisite is missing.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

NET=${KASK_CASSANDRA_NET:-127.0.0}
ADDRESS=$NET.61
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
missing() { echo "FAIL: tests/puppet/cassandra-config.sh cannot run: $*" >&2; exit 1; }

eval "$(tests/cassandra/ctl.sh env 2>/dev/null)" || missing "tests/cassandra/ctl.sh env failed"
CACHE=${KASK_CASSANDRA_CACHE:-$ROOT/.state/cache}
SERVER=$CACHE/cassandra-$KASK_CASSANDRA_VERSION
JAVA=${KASK_CASSANDRA_JAVA:-}
case "$KASK_CASSANDRA_VERSION" in 4.1.*) ;; *) missing "the test Cassandra is $KASK_CASSANDRA_VERSION; the stand-in renders 4.1's format" ;; esac
[ -x "$JAVA" ] && [ -d "$SERVER/lib" ] || missing "no Cassandra $KASK_CASSANDRA_VERSION or its Java under $CACHE (make cassandra-up)"
command -v keytool >/dev/null || missing "keytool is not installed (openjdk-17-jre-headless)"
if ss -ltnH "src $ADDRESS" | grep -q .; then missing "something already listens on $ADDRESS"; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kask-cassandra-config.XXXXXX")
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# render CASE HIERA FQDN IP SITE SAMPLE CONFIG_DIR: the instance's files.
render() {
    local case=$1 hiera=$2 fqdn=$3 ip=$4 site=$5 sample=$6 conf=$7 f
    mkdir -p "$WORK/$case/conf"
    for f in cassandra.yaml cassandra-rackdc.properties; do
        ruby tests/puppet/render.rb "$hiera" "$fqdn" "$ip" "$site" "$sample" "$conf/$f" >"$WORK/$case/conf/$f" 2>"$WORK/$case/render.log" \
            || { cat "$WORK/$case/render.log" >&2; fail "$case: rendering $conf/$f"; return 1; }
    done
}

# localize CASE CONFIG_DIR: point directories, addresses and keystores here.
localize() {
    ruby -ryaml -e '
        c = YAML.safe_load(File.read(ARGV[0])); dir, addr, conf = ARGV[1], ARGV[2], ARGV[3]
        c["data_file_directories"] = ["#{dir}/data"]
        %w[commitlog saved_caches hints].each { |k| c["#{k}_directory"] = "#{dir}/#{k}" }
        c["listen_address"] = c["rpc_address"] = addr
        c["seed_provider"][0]["parameters"][0]["seeds"] = addr
        %w[server_encryption_options client_encryption_options].each do |o|
          %w[keystore truststore].each { |k| c[o][k] = c[o][k].sub(conf, "#{dir}/conf") if c[o][k] }
        end
        File.write(ARGV[0], c.to_yaml)' "$WORK/$1/conf/cassandra.yaml" "$WORK/$1" "$ADDRESS" "$2"
}

# start CASE: Cassandra on the case's files, as ctl.sh starts its nodes.
start() {
    local dir=$WORK/$1 p flags=()
    for p in java.base/jdk.internal.misc java.base/jdk.internal.ref java.base/sun.nio.ch \
        java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry \
        java.rmi/sun.rmi.server java.sql/java.sql java.base/jdk.internal.util; do
        flags+=(--add-exports "$p=ALL-UNNAMED")
    done
    for p in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
        java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
        java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal; do
        flags+=(--add-opens "$p=ALL-UNNAMED")
    done
    cp tests/cassandra/logback.xml "$dir/conf/logback.xml"
    mkdir -p "$dir/data" "$dir/commitlog" "$dir/saved_caches" "$dir/hints"
    "$JAVA" -Xms64M -Xmx512M -Xss256k -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
        -Djdk.attach.allowAttachSelf=true "${flags[@]}" -Dio.netty.tryReflectionSetAccessible=true \
        -javaagent:"$(ls "$SERVER"/lib/jamm-*.jar | head -n 1)" -Djava.net.preferIPv4Stack=true \
        -Dkask.puppet.config.test="$1" -Dlogback.configurationFile="$dir/conf/logback.xml" \
        -Dcassandra.storagedir="$dir" -Dcassandra-foreground=yes -Dcassandra.superuser_setup_delay_ms=0 \
        -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=1000 \
        -cp "$dir/conf:$SERVER/lib/*" org.apache.cassandra.service.CassandraDaemon \
        </dev/null >"$dir/node.log" 2>&1 &
    PID=$!
}

stop() {
    [ -n "$PID" ] || return 0
    kill "$PID" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=
}

# check CASE CLUSTER DC RACK [CQL_ARGS...]: CQL answers with these.
check() {
    local case=$1 cluster=$2 dc=$3 rack=$4 got=
    shift 4
    for _ in $(seq 1 120); do
        kill -0 "$PID" 2>/dev/null || break
        got=$(/usr/bin/python3 tests/cassandra/cql.py --host "$ADDRESS" "$@" \
            'SELECT cluster_name, data_center, rack FROM system.local' 2>/dev/null) && break
        sleep 1
    done
    if [ "$got" = "$(printf '%s\t%s\t%s' "$cluster" "$dc" "$rack")" ]; then
        pass "$case: Cassandra $KASK_CASSANDRA_VERSION runs on the rendered cassandra.yaml ($cluster, $dc, $rack)"
    else
        fail "$case: Cassandra did not serve the rendered configuration (got '$got'); its log:"
        grep -E 'ERROR|Exception|Invalid' "$WORK/$case/node.log" | head -n 20 >&2
    fi
}

echo "== A. deployment-prep: the default instance"
if render A hiera-samples/hiera.yaml deployment-sessionstore02.deployment-prep.eqiad1.wikimedia.cloud "$ADDRESS" - \
        deployment-prep /etc/cassandra; then
    localize A /etc/cassandra
    start A
    check A 'Test Cluster' datacenter1 rack1
    stop
fi

echo "== B. production (without tls_use_pki): instance a, client and inter-DC TLS"
mkdir -p "$WORK/hiera/production"
cp -r hiera-samples/production/. "$WORK/hiera/production/"
cp hiera-samples/hiera.yaml "$WORK/hiera/"
ruby -ryaml -e 'f = ARGV[0]; d = YAML.safe_load(File.read(f)); d["profile::cassandra::settings"].delete("tls_use_pki")
                File.write(f, d.to_yaml)' "$WORK/hiera/production/role/common/sessionstore.yaml"
if render B "$WORK/hiera/hiera.yaml" sessionstore1004.eqiad.wmnet 10.64.0.4 eqiad production /etc/cassandra-a; then
    localize B /etc/cassandra-a
    password=$(ruby -ryaml -e 'puts YAML.safe_load(File.read(ARGV[0]))["client_encryption_options"]["keystore_password"]' \
        "$WORK/B/conf/cassandra.yaml")
    mkdir -p "$WORK/B/conf/tls"
    keytool -genkeypair -keystore "$WORK/B/conf/tls/server.key" -storepass "$password" -storetype JKS -alias node \
        -keyalg RSA -keysize 2048 -validity 2 -dname "CN=$ADDRESS" -ext "SAN=IP:$ADDRESS" >/dev/null 2>&1 \
        || fail "B: keytool could not make a keystore"
    keytool -exportcert -rfc -keystore "$WORK/B/conf/tls/server.key" -storepass "$password" -alias node >"$WORK/B/ca.pem" 2>/dev/null
    keytool -importcert -noprompt -keystore "$WORK/B/conf/tls/server.trust" -storepass "$password" -storetype JKS \
        -alias node -file "$WORK/B/ca.pem" >/dev/null 2>&1
    start B
    check B sessions eqiad d5 --tls-ca "$WORK/B/ca.pem"
    if /usr/bin/python3 tests/cassandra/cql.py --host "$ADDRESS" --timeout 5 'SELECT release_version FROM system.local' >/dev/null 2>&1; then
        fail "B: CQL answered without TLS (client_encryption_options.optional should be false)"
    else
        pass "B: CQL without TLS is refused"
    fi
    stop
fi

if [ "$failures" -ne 0 ]; then
    echo "tests/puppet/cassandra-config.sh: $failures assertion(s) FAILED" >&2
    exit 1
fi
echo "tests/puppet/cassandra-config.sh: all assertions held"
