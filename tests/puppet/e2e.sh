#!/bin/bash
# End to end: `puppet apply` of role::kask::service under a real systemd (a
# systemd-nspawn container, see tests/nspawn/lib.sh), against the real
# Cassandra of `make cassandra-up` (tests/cassandra/ctl.sh) on the host's
# loopback, with two Hiera samples:
#
#   A. hiera-samples/deployment-prep.yaml, pasted unchanged, over the
#      project's Hiera (deployment-prep/common.yaml). Puppet installs
#      dist/kask_*.deb (from a local apt repository in the container),
#      writes /etc/mediawiki-services-kask/config.yaml verbatim (0640
#      root:kask), and kask@mediawiki-services-kask serves a session round
#      trip on port 8080. The Docker-only keys are reported as ignored; a
#      config that kask --check-config refuses never replaces the running
#      file; a second apply changes nothing; a changed config is written
#      and restarts the service.
#   B. hiera-samples/two-instances.yaml: two kask services on one host
#      (sessions on 8081, echostore on 8082). Their keyspaces and
#      least-privilege roles are the CQL that profile::kask::schema makes
#      from the same Hiera (profile::kask::schema_cql), applied here as the
#      superuser; each service logs in as its own role and serves a round
#      trip, and neither role can read the other's table.
#
# The samples' Cassandra host names resolve, in the container, to the
# test Cassandra's first node: $KASK_CASSANDRA_NET.1 (default 127.0.0.1).
# Cassandra itself is the test infrastructure's (profile::cassandra is not
# applied: role::kask::service has no Cassandra).
#
# Exit: 0 all assertions held; 1 an assertion failed or a prerequisite is
# missing (the message says which; nothing is skipped).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

NET=${KASK_CASSANDRA_NET:-127.0.0}
CASSANDRA_ADDRESS=$NET.1
MODULEPATH=/kask/puppet/modules:/usr/share/puppet/modules
ROLE='include role::kask::service'
CQL() { tests/cassandra/ctl.sh cql "$@"; }

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
missing() {
    echo "FAIL: tests/puppet/e2e.sh cannot run: $*" >&2
    exit 1
}

# --- prerequisites ------------------------------------------------------
[ "$(id -u)" = 0 ] || missing "needs root (systemd-nspawn)"
for tool in systemd-nspawn mmdebstrap nsenter ruby curl dpkg-scanpackages dpkg-deb ss puppet; do
    command -v "$tool" >/dev/null || missing "'$tool' is not installed (make deps)"
done
deb=$(ls dist/kask_*.deb 2>/dev/null | sort -V | tail -n 1)
[ -n "$deb" ] || missing "no dist/kask_*.deb (make deb)"
tests/cassandra/ctl.sh status >/dev/null 2>&1 || missing "Cassandra is not up on $CASSANDRA_ADDRESS:9042 (make cassandra-up)"

# shellcheck source=../nspawn/lib.sh
. tests/nspawn/lib.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kask-puppet-e2e.XXXXXX")
cleanup() { nspawn_stop; rm -rf "$WORK"; }
trap cleanup EXIT

# A local apt repository with the package, so that Puppet installs it.
mkdir -p "$WORK/repo"
cp "$deb" "$WORK/repo/"
(cd "$WORK/repo" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
dpkg-deb -x "$deb" "$WORK/deb"

# Value at a dotted path of a YAML file, e.g. yaml_value FILE 'a.b.0'.
yaml_value() {
    ruby -ryaml -e 'd = YAML.safe_load(File.read(ARGV[0]))
                    v = ARGV[1].split(".").reduce(d) { |h, k| h.is_a?(Array) ? h[k.to_i] : h[k] }
                    puts(v.is_a?(String) ? v : v.to_yaml)' "$1" "$2"
}

wait_port_free() {  # wait_port_free PORT
    local port=$1
    for _ in $(seq 1 60); do
        ss -ltnH "sport = :$port" | grep -q . || return 0
        sleep 2
    done
    ss -ltnp "sport = :$port" >&2
    fail "port $port is busy on this host; the container shares its loopback"
    return 1
}

# boot NAME HOSTNAME...: a bookworm container with Puppet, the local
# repository, this checkout's code and samples, and the given names
# resolving to the test Cassandra.
boot() {
    local name=$1; shift
    echo "== booting a bookworm container with puppet ($name)"
    nspawn_boot "$name" puppet puppet-module-puppetlabs-stdlib || { fail "container did not boot"; return 1; }
    mkdir -p "$NSPAWN_ROOT/srv"
    cp -r "$WORK/repo" "$NSPAWN_ROOT/srv/kask-repo"
    echo 'deb [trusted=yes] file:/srv/kask-repo ./' >"$NSPAWN_ROOT/etc/apt/sources.list.d/kask-local.list"
    nspawn_exec apt-get update -q -o Dir::Etc::sourcelist=sources.list.d/kask-local.list \
        -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null || { fail "apt-get update of the local repository"; return 1; }
    mkdir -p "$NSPAWN_ROOT/kask"
    cp -r puppet hiera-samples "$NSPAWN_ROOT/kask/"
    local host
    for host in "$@"; do
        echo "$CASSANDRA_ADDRESS $host" >>"$NSPAWN_ROOT/etc/hosts"
    done
}

apply() {  # apply SAMPLE LOGFILE MANIFEST -> puppet's exit code
    nspawn_exec env FACTER_kask_sample="$1" puppet apply --detailed-exitcodes --color=false \
        --modulepath="$MODULEPATH" --hiera_config=/kask/hiera-samples/hiera.yaml -e "$3" >"$2" 2>&1
}

round_trip() {  # round_trip BASE LABEL: POST, GET the same bytes, DELETE; sets KEY
    local base=$1 label=$2 key code
    key="puppet-e2e-$RANDOM$RANDOM"
    KEY=$key
    printf 'value\x00\x01\xff from puppet e2e %s' "$label" >"$WORK/value"
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
        --data-binary @"$WORK/value" "$base/$key")
    [ "$code" = 201 ] && pass "$label: POST $base/$key -> 201" || fail "$label: POST $base/$key -> $code (want 201)"
    code=$(curl -sS -o "$WORK/got" -w '%{http_code}' "$base/$key")
    if [ "$code" = 200 ] && cmp -s "$WORK/value" "$WORK/got"; then
        pass "$label: GET $base/$key -> 200 with the same bytes"
    else
        fail "$label: GET $base/$key -> $code, body $(od -c "$WORK/got" 2>/dev/null | head -n 2)"
    fi
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$base/$key")
    [ "$code" = 204 ] && pass "$label: DELETE -> 204" || fail "$label: DELETE -> $code (want 204)"
}

########################################################################
# A. deployment-prep, pasted unchanged
########################################################################
SAMPLE=hiera-samples/deployment-prep.yaml
SERVICE=mediawiki-services-kask
UNIT=kask@$SERVICE.service
CONFIG=/etc/$SERVICE/config.yaml
PORT=8080
BASE=http://127.0.0.1:$PORT/sessions/v1
ruby -ryaml -e 'puts YAML.safe_load(File.read(ARGV[0]))["profile::docker::runner::service_defs"][ARGV[1]]["config"].to_yaml' \
    "$SAMPLE" "$SERVICE" >"$WORK/config.yaml"
cassandra_host=$(yaml_value "$WORK/config.yaml" cassandra.hosts.0)
echo "== A. $SAMPLE (Cassandra host $cassandra_host -> $CASSANDRA_ADDRESS in the container)"

echo "== keyspace and table from kask --print-schema"
# One node, DC datacenter1: RF 1 so that LOCAL_QUORUM is reachable.
if "$WORK/deb/usr/bin/kask" --print-schema --config "$WORK/config.yaml" --replication datacenter1:1 >"$WORK/schema.cql"; then
    mapfile -t statements < <(grep -v '^\s*--' "$WORK/schema.cql" | grep .)
    CQL "${statements[@]}" >/dev/null && pass "schema applied (${#statements[@]} statements)" || fail "cql: the schema"
else
    fail "kask --print-schema"
fi

if wait_port_free "$PORT" && boot kask-puppet-a "$cassandra_host"; then
    echo "== puppet apply of role::kask::service (first)"
    apply deployment-prep "$WORK/apply1.log" "$ROLE"; rc=$?
    cat "$WORK/apply1.log"
    [ "$rc" = 2 ] && pass "first apply made changes without failures (exit 2)" || fail "first apply exited $rc (want 2)"

    for key in version namespace override_cmd; do
        grep -q "ignoring Docker-only key '$key'" "$WORK/apply1.log" \
            && pass "Docker-only key '$key' reported as ignored" || fail "no notice for Docker-only key '$key'"
    done
    [ "$(nspawn_exec dpkg-query -W -f '${Status}' kask 2>/dev/null)" = "install ok installed" ] \
        && pass "Puppet installed the kask package" || fail "kask package not installed"
    nspawn_exec dpkg-query -W cassandra >/dev/null 2>&1 && fail "Cassandra was installed" || pass "no Cassandra package on a kask-only host"
    [ "$(nspawn_exec systemctl is-active "$UNIT")" = active ] && pass "$UNIT is active" \
        || { fail "$UNIT is not active"; nspawn_exec systemctl status --no-pager --full "$UNIT" >&2; }
    [ "$(nspawn_exec systemctl is-enabled "$UNIT")" = enabled ] && pass "$UNIT is enabled" || fail "$UNIT is not enabled"
    [ "$(nspawn_exec systemctl is-active "kask@$SERVICE.socket")" = active ] && pass "kask@$SERVICE.socket is active" \
        || fail "kask@$SERVICE.socket is not active"
    [ "$(nspawn_exec systemctl is-active kask.service)" != active ] && pass "the package's default kask.service is not running" \
        || fail "kask.service is running"

    perms=$(nspawn_exec stat -c '%a %U %G' "$CONFIG" 2>/dev/null)
    [ "$perms" = "640 root kask" ] && pass "$CONFIG is 0640 root:kask" || fail "$CONFIG is '$perms', want '640 root kask'"
    if ruby -ryaml -e 'exit(YAML.safe_load(File.read(ARGV[0])) == YAML.safe_load(File.read(ARGV[1])) ? 0 : 1)' \
            "$NSPAWN_ROOT$CONFIG" "$WORK/config.yaml"; then
        pass "$CONFIG holds the sample's config hash"
    else
        fail "$CONFIG differs from the sample's config hash"; diff "$WORK/config.yaml" "$NSPAWN_ROOT$CONFIG" >&2
    fi
    head -n 1 "$NSPAWN_ROOT$CONFIG" | grep -qx -- '---' && pass "$CONFIG is to_yaml output (starts with ---)" \
        || fail "$CONFIG does not start with ---"
    [ ! -e "$NSPAWN_ROOT/etc/systemd/system/$UNIT" ] && pass "the packaged unit is not replaced" \
        || fail "/etc/systemd/system/$UNIT exists"

    round_trip "$BASE" "A"
    key=$KEY
    printf 'kept across restarts' >"$WORK/kept"
    curl -sS -o /dev/null -X POST --data-binary @"$WORK/kept" "$BASE/$key-kept"
    nspawn_journal -u "$UNIT" -o cat | grep -q . && pass "$UNIT logs to the journal" || fail "nothing in the journal for $UNIT"

    echo "== puppet apply of a config that kask --check-config refuses"
    before_sum=$(sha256sum "$NSPAWN_ROOT$CONFIG" | cut -d' ' -f1)
    before_pid=$(nspawn_exec systemctl show -p MainPID --value "$UNIT")
    bad="kask::instance { '$SERVICE': config => { 'listen_address' => '0.0.0.0', 'listen_port' => $PORT,
         'cassandra' => { 'hosts' => ['$cassandra_host'], 'keyspace' => 'sessions',
                          'authentication' => { 'username' => 'cassandra' } } } }"
    apply deployment-prep "$WORK/apply-bad.log" "$bad"; rc=$?
    cat "$WORK/apply-bad.log"
    case "$rc" in 4 | 6) pass "apply of a bad config failed (exit $rc)" ;; *) fail "apply of a bad config exited $rc (want 4 or 6)" ;; esac
    grep -q 'kask' "$WORK/apply-bad.log" && grep -qi 'password' "$WORK/apply-bad.log" \
        && pass "the failure shows kask's message naming the key" || fail "kask's message is not in the output"
    [ "$(sha256sum "$NSPAWN_ROOT$CONFIG" | cut -d' ' -f1)" = "$before_sum" ] \
        && pass "$CONFIG was not replaced" || fail "$CONFIG changed despite the failed check"
    [ "$(nspawn_exec systemctl show -p MainPID --value "$UNIT")" = "$before_pid" ] \
        && pass "$UNIT kept running (same MainPID $before_pid)" || fail "$UNIT was restarted or stopped"

    echo "== puppet apply of role::kask::service (again)"
    apply deployment-prep "$WORK/apply2.log" "$ROLE"; rc=$?
    cat "$WORK/apply2.log"
    [ "$rc" = 0 ] && pass "second apply changed nothing (exit 0)" || fail "second apply exited $rc (want 0)"

    echo "== puppet apply of the same instance with another default_ttl"
    before_pid=$(nspawn_exec systemctl show -p MainPID --value "$UNIT")
    changed=$(ruby -ryaml -e 'c = YAML.safe_load(File.read(ARGV[0])); c["default_ttl"] = 3600
                             print "kask::instance { \"#{ARGV[1]}\": config => #{c.inspect} }"' "$WORK/config.yaml" "$SERVICE")
    apply deployment-prep "$WORK/apply-ttl.log" "$changed"; rc=$?
    grep -E '^(Notice|Error|Warning): /' "$WORK/apply-ttl.log"
    [ "$rc" = 2 ] && pass "apply of a changed config made changes (exit 2)" || fail "apply of a changed config exited $rc (want 2)"
    grep -q '^default_ttl: 3600$' "$NSPAWN_ROOT$CONFIG" && pass "$CONFIG has the new default_ttl" || fail "$CONFIG was not rewritten"
    after_pid=$(nspawn_exec systemctl show -p MainPID --value "$UNIT")
    if [ "$(nspawn_exec systemctl is-active "$UNIT")" = active ] && [ "$after_pid" != "$before_pid" ] && [ "$after_pid" != 0 ]; then
        pass "$UNIT restarted on the config change (MainPID $before_pid -> $after_pid)"
    else
        fail "$UNIT not restarted on the config change (MainPID $before_pid -> $after_pid)"
    fi
    apply deployment-prep "$WORK/apply3.log" "$ROLE"; rc=$?
    [ "$rc" = 2 ] && pass "the role puts the sample's config back (exit 2)" || fail "re-apply of the role exited $rc (want 2)"
    code=$(curl -sS -o "$WORK/got" -w '%{http_code}' "$BASE/$key-kept")
    [ "$code" = 200 ] && cmp -s "$WORK/kept" "$WORK/got" && pass "a session survives the restarts" || fail "GET after the restarts -> $code"
    curl -sS -o /dev/null -X DELETE "$BASE/$key-kept" || true
fi
nspawn_stop

########################################################################
# B. two kask services on one host, each with its own role
########################################################################
SAMPLE=hiera-samples/two-instances.yaml
echo "== B. $SAMPLE"
# The CQL that profile::kask::schema makes from this sample's Hiera, for
# this one-node cluster (datacenter1, factor 1), rendered by Puppet here.
manifest='
$keyspaces = lookup("profile::kask::schema::keyspaces")
$keyspaces.each |$ks, $spec| {
  file { "'"$WORK"'/schema-${ks}.cql":
    content => profile::kask::schema_cql($ks, pick($spec["table"], "values"), { "datacenter1" => 1 }, $spec["user"], $spec["password"]),
  }
}'
if FACTER_kask_sample=two-instances puppet apply --color=false --vardir="$WORK/puppet-var" --modulepath="$ROOT/puppet/modules:/usr/share/puppet/modules" \
        --hiera_config="$ROOT/hiera-samples/hiera.yaml" -e "$manifest" >"$WORK/render.log" 2>&1; then
    for ks in sessions echostore; do
        mapfile -t statements < <(grep . "$WORK/schema-$ks.cql")
        CQL "${statements[@]}" >/dev/null && pass "keyspace $ks and its role applied (${#statements[@]} statements)" \
            || fail "cql: the schema of $ks"
    done
else
    cat "$WORK/render.log" >&2; fail "rendering profile::kask::schema_cql with the sample's Hiera"
fi
# Least privilege: the echostore role cannot read the sessions table.
echostore_password=$(yaml_value "$SAMPLE" 'profile::kask::schema::keyspaces.echostore.password')
if /usr/bin/python3 tests/cassandra/cql.py --host "$CASSANDRA_ADDRESS" --user kask_echostore --password "$echostore_password" \
        'SELECT key FROM sessions."values" LIMIT 1' >"$WORK/cross.log" 2>&1; then
    fail "kask_echostore could read the sessions table"
else
    grep -q Unauthorized "$WORK/cross.log" && pass "kask_echostore cannot read the sessions table (Unauthorized)" \
        || { cat "$WORK/cross.log" >&2; fail "reading sessions as kask_echostore failed for another reason"; }
fi

if wait_port_free 8081 && wait_port_free 8082 && boot kask-puppet-b "$(yaml_value "$SAMPLE" 'profile::kask::service_defs.sessions.config.cassandra.hosts.0')"; then
    echo "== puppet apply of role::kask::service with two services"
    apply two-instances "$WORK/applyB1.log" "$ROLE"; rc=$?
    cat "$WORK/applyB1.log"
    [ "$rc" = 2 ] && pass "apply made changes without failures (exit 2)" || fail "apply exited $rc (want 2)"
    for svc in sessions echostore; do
        [ "$(nspawn_exec systemctl is-active "kask@$svc.service")" = active ] && pass "kask@$svc.service is active" \
            || { fail "kask@$svc.service is not active"; nspawn_exec systemctl status --no-pager --full "kask@$svc.service" >&2; }
        user=$(nspawn_exec sed -n 's/^ *username: //p' "/etc/$svc/config.yaml")
        [ "$user" = "kask_$svc" ] && pass "/etc/$svc/config.yaml logs in as kask_$svc" || fail "/etc/$svc/config.yaml logs in as '$user'"
    done
    round_trip http://127.0.0.1:8081/sessions/v1 "B sessions (role kask_sessions)"
    round_trip http://127.0.0.1:8082/echoseen/v1 "B echostore (role kask_echostore)"
    apply two-instances "$WORK/applyB2.log" "$ROLE"; rc=$?
    [ "$rc" = 0 ] && pass "second apply changed nothing (exit 0)" || { cat "$WORK/applyB2.log"; fail "second apply exited $rc (want 0)"; }
fi
CQL 'DROP KEYSPACE IF EXISTS echostore' 'DROP ROLE IF EXISTS kask_sessions' 'DROP ROLE IF EXISTS kask_echostore' >/dev/null || true

if [ "$failures" -ne 0 ]; then
    echo "tests/puppet/e2e.sh: $failures assertion(s) FAILED" >&2
    exit 1
fi
echo "tests/puppet/e2e.sh: all assertions held"
