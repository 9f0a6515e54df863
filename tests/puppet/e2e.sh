#!/bin/bash
# End to end: `puppet apply` of role::sessionstore with
# hiera-samples/deployment-prep.yaml, unchanged, under a real systemd (a
# systemd-nspawn container, see tests/nspawn/lib.sh), against the real
# Cassandra of `make cassandra-up` on the host's loopback.
#
# What it proves:
#   1. Puppet installs dist/kask_*.deb (from a local apt repository in the
#      container), writes /etc/mediawiki-services-kask/config.yaml verbatim
#      (0640 root:kask), and kask@mediawiki-services-kask is enabled, active,
#      and serves a session round trip on http://127.0.0.1:8080/sessions/v1/.
#   2. The Docker-only keys are reported as ignored.
#   3. A config that kask --check-config refuses never replaces the running
#      file, and the running service is left alone.
#   4. A second apply changes nothing (--detailed-exitcodes 0).
#   5. A changed config is written and restarts the service.
#
# The Cassandra host name of the sample resolves to 127.0.0.1 in the
# container (/etc/hosts). profile::cassandra is switched off
# (role::sessionstore's `cassandra => false`): Cassandra here is 2.1 from the
# test infrastructure, not from apt. The keyspace and table are created
# first, from `kask --print-schema`, with tests/cassandra/ctl.sh cql.
#
# Exit: 0 all assertions held; 1 an assertion failed; 77 SKIP (a
# prerequisite is missing; printed loudly; not a pass).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

SAMPLE=hiera-samples/deployment-prep.yaml
SERVICE=mediawiki-services-kask
UNIT=kask@$SERVICE.service
CONFIG=/etc/$SERVICE/config.yaml
PORT=8080
BASE=http://127.0.0.1:$PORT/sessions/v1
MODULEPATH=/kask/puppet/modules:/usr/share/puppet/modules
ROLE="class { 'role::sessionstore': cassandra => false }"

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
skip() {
    echo "" >&2
    echo "############################################################" >&2
    echo "SKIP: tests/puppet/e2e.sh did not run: $*" >&2
    echo "############################################################" >&2
    exit 77
}

# --- prerequisites ------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn)"
for tool in systemd-nspawn mmdebstrap nsenter ruby curl dpkg-scanpackages dpkg-deb ss; do
    command -v "$tool" >/dev/null || skip "'$tool' is not installed (make deps)"
done
[ -f tests/nspawn/lib.sh ] || skip "tests/nspawn/lib.sh (the nspawn harness) is not there yet"
[ -x tests/cassandra/ctl.sh ] || skip "tests/cassandra/ctl.sh is not there yet"
deb=$(ls dist/kask_*.deb 2>/dev/null | sort -V | tail -n 1)
[ -n "$deb" ] || skip "no dist/kask_*.deb (make deb)"
tests/cassandra/ctl.sh status >/dev/null 2>&1 || skip "Cassandra is not up on 127.0.0.1:9042 (make cassandra-up)"

# shellcheck source=../nspawn/lib.sh
. tests/nspawn/lib.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kask-puppet-e2e.XXXXXX")
cleanup() { nspawn_stop; rm -rf "$WORK"; }
trap cleanup EXIT

sample_value() {
    ruby -ryaml -e 'd = YAML.safe_load(File.read(ARGV[0]))["profile::docker::runner::service_defs"][ARGV[1]]["config"]
                    puts ARGV[2].split(".").reduce(d) { |h, k| h.is_a?(Array) ? h[k.to_i] : h[k] }' \
        "$SAMPLE" "$SERVICE" "$1"
}
cassandra_host=$(sample_value cassandra.hosts.0)
echo "== sample: $SAMPLE (Cassandra host $cassandra_host -> 127.0.0.1 in the container)"

# --- the schema, from the packaged kask ---------------------------------
echo "== keyspace and table from kask --print-schema"
dpkg-deb -x "$deb" "$WORK/deb"
ruby -ryaml -e 'puts YAML.safe_load(File.read(ARGV[0]))["profile::docker::runner::service_defs"][ARGV[1]]["config"].to_yaml' \
    "$SAMPLE" "$SERVICE" >"$WORK/config.yaml"
# One node, DC datacenter1: RF 1 so that LOCAL_QUORUM is reachable.
if ! "$WORK/deb/usr/bin/kask" --print-schema --config "$WORK/config.yaml" \
        --replication datacenter1:1 >"$WORK/schema.cql"; then
    fail "kask --print-schema"; exit 1
fi
cat "$WORK/schema.cql"
# One statement per call; the schema has no ';' inside literals.
ruby -e 'File.read(ARGV[0]).gsub(/^\s*--.*$/, "").split(";").map(&:strip).reject(&:empty?).each { |s| puts s.gsub(/\s+/, " ") }' \
    "$WORK/schema.cql" >"$WORK/statements"
while IFS= read -r statement; do
    tests/cassandra/ctl.sh cql "$statement" >/dev/null || { fail "cql: $statement"; exit 1; }
done <"$WORK/statements"
pass "schema applied ($(wc -l <"$WORK/statements") statements)"

# --- the port of the sample must be free on the shared loopback ----------
for _ in $(seq 1 60); do
    ss -ltnH "sport = :$PORT" | grep -q . || break
    sleep 2
done
if ss -ltnH "sport = :$PORT" | grep -q .; then
    ss -ltnp "sport = :$PORT" >&2
    fail "port $PORT (the sample's listen_port) is busy on this host; the container shares its loopback"
    exit 1
fi

# --- the container ------------------------------------------------------
echo "== booting a bookworm container with puppet"
nspawn_boot kask-puppet puppet puppet-module-puppetlabs-stdlib || { fail "container did not boot"; exit 1; }

# A local apt repository with the package, so that Puppet installs it.
mkdir -p "$WORK/repo"
cp "$deb" "$WORK/repo/"
(cd "$WORK/repo" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
mkdir -p "$NSPAWN_ROOT/srv"
cp -r "$WORK/repo" "$NSPAWN_ROOT/srv/kask-repo"
echo 'deb [trusted=yes] file:/srv/kask-repo ./' >"$NSPAWN_ROOT/etc/apt/sources.list.d/kask-local.list"
nspawn_exec apt-get update -q -o Dir::Etc::sourcelist=sources.list.d/kask-local.list \
    -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null || { fail "apt-get update of the local repository"; exit 1; }

# The code and the samples, as they are in this checkout.
mkdir -p "$NSPAWN_ROOT/kask"
cp -r puppet hiera-samples "$NSPAWN_ROOT/kask/"
echo "127.0.0.1 $cassandra_host" >>"$NSPAWN_ROOT/etc/hosts"

apply() {  # apply LOGFILE MANIFEST -> puppet's exit code
    nspawn_exec env FACTER_kask_sample=deployment-prep puppet apply --detailed-exitcodes --color=false \
        --modulepath="$MODULEPATH" --hiera_config=/kask/hiera-samples/hiera.yaml -e "$2" >"$1" 2>&1
}

# --- 1. first apply -----------------------------------------------------
echo "== puppet apply of role::sessionstore (first)"
apply "$WORK/apply1.log" "$ROLE"; rc=$?
cat "$WORK/apply1.log"
[ "$rc" = 2 ] && pass "first apply made changes without failures (exit 2)" || fail "first apply exited $rc (want 2)"

for key in version namespace override_cmd; do
    grep -q "ignoring Docker-only key '$key'" "$WORK/apply1.log" \
        && pass "Docker-only key '$key' reported as ignored" || fail "no notice for Docker-only key '$key'"
done

[ "$(nspawn_exec dpkg-query -W -f '${Status}' kask 2>/dev/null)" = "install ok installed" ] \
    && pass "Puppet installed the kask package" || fail "kask package not installed"
[ "$(nspawn_exec systemctl is-active "$UNIT")" = active ] && pass "$UNIT is active" \
    || { fail "$UNIT is not active"; nspawn_exec systemctl status --no-pager --full "$UNIT" >&2; }
[ "$(nspawn_exec systemctl is-enabled "$UNIT")" = enabled ] && pass "$UNIT is enabled" || fail "$UNIT is not enabled"
[ "$(nspawn_exec systemctl is-active "kask@$SERVICE.socket")" = active ] && pass "kask@$SERVICE.socket is active" \
    || fail "kask@$SERVICE.socket is not active"
[ "$(nspawn_exec systemctl is-active kask.service)" != active ] && pass "the package's default kask.service is not running" \
    || fail "kask.service is running"

# Inside the container: its kask group has its own gid.
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

key="puppet-e2e-$RANDOM$RANDOM"
printf 'value\x00\x01\xff from puppet e2e' >"$WORK/value"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @"$WORK/value" "$BASE/$key")
[ "$code" = 201 ] && pass "POST $BASE/$key -> 201" || fail "POST $BASE/$key -> $code (want 201)"
code=$(curl -sS -o "$WORK/got" -w '%{http_code}' "$BASE/$key")
if [ "$code" = 200 ] && cmp -s "$WORK/value" "$WORK/got"; then
    pass "GET $BASE/$key -> 200 with the same bytes"
else
    fail "GET $BASE/$key -> $code, body $(od -c "$WORK/got" 2>/dev/null | head -n 2)"
fi
nspawn_journal -u "$UNIT" -o cat | grep -q . && pass "$UNIT logs to the journal" || fail "nothing in the journal for $UNIT"

# --- 2. a config kask refuses never reaches the running service ----------
echo "== puppet apply of a config that kask --check-config refuses"
before_sum=$(sha256sum "$NSPAWN_ROOT$CONFIG" | cut -d' ' -f1)
before_pid=$(nspawn_exec systemctl show -p MainPID --value "$UNIT")
bad="kask::instance { '$SERVICE': config => { 'listen_address' => '0.0.0.0', 'listen_port' => $PORT,
     'cassandra' => { 'hosts' => ['$cassandra_host'], 'keyspace' => 'sessions',
                      'authentication' => { 'username' => 'cassandra' } } } }"
apply "$WORK/apply-bad.log" "$bad"; rc=$?
cat "$WORK/apply-bad.log"
case "$rc" in 4 | 6) pass "apply of a bad config failed (exit $rc)" ;; *) fail "apply of a bad config exited $rc (want 4 or 6)" ;; esac
grep -q 'kask' "$WORK/apply-bad.log" && grep -qi 'password' "$WORK/apply-bad.log" \
    && pass "the failure shows kask's message naming the key" || fail "kask's message is not in the output"
[ "$(sha256sum "$NSPAWN_ROOT$CONFIG" | cut -d' ' -f1)" = "$before_sum" ] \
    && pass "$CONFIG was not replaced" || fail "$CONFIG changed despite the failed check"
[ "$(nspawn_exec systemctl show -p MainPID --value "$UNIT")" = "$before_pid" ] \
    && pass "$UNIT kept running (same MainPID $before_pid)" || fail "$UNIT was restarted or stopped"

# --- 3. idempotence -----------------------------------------------------
echo "== puppet apply of role::sessionstore (again)"
apply "$WORK/apply2.log" "$ROLE"; rc=$?
cat "$WORK/apply2.log"
[ "$rc" = 0 ] && pass "second apply changed nothing (exit 0)" || fail "second apply exited $rc (want 0)"
code=$(curl -sS -o "$WORK/got" -w '%{http_code}' "$BASE/$key")
if [ "$code" = 200 ] && cmp -s "$WORK/value" "$WORK/got"; then
    pass "the session is still there"
else
    fail "GET after the second apply -> $code"
    # The Cassandra of the host is shared with other tests (some stop it on
    # purpose): say whether it was there.
    tests/cassandra/ctl.sh status >&2
    nspawn_journal -u "$UNIT" -n 20 -o cat >&2
fi

# --- 4. a changed config restarts the service ---------------------------
echo "== puppet apply of the same instance with another default_ttl"
before_pid=$(nspawn_exec systemctl show -p MainPID --value "$UNIT")
changed=$(ruby -ryaml -e 'c = YAML.safe_load(File.read(ARGV[0])); c["default_ttl"] = 3600
                         print "kask::instance { \"#{ARGV[1]}\": config => #{c.inspect} }"' "$WORK/config.yaml" "$SERVICE")
apply "$WORK/apply-ttl.log" "$changed"; rc=$?
grep -E '^(Notice|Error|Warning): /' "$WORK/apply-ttl.log"
[ "$rc" = 2 ] && pass "apply of a changed config made changes (exit 2)" || fail "apply of a changed config exited $rc (want 2)"
grep -q '^default_ttl: 3600$' "$NSPAWN_ROOT$CONFIG" && pass "$CONFIG has the new default_ttl" || fail "$CONFIG was not rewritten"
after_pid=$(nspawn_exec systemctl show -p MainPID --value "$UNIT")
if [ "$(nspawn_exec systemctl is-active "$UNIT")" = active ] && [ "$after_pid" != "$before_pid" ] && [ "$after_pid" != 0 ]; then
    pass "$UNIT restarted on the config change (MainPID $before_pid -> $after_pid)"
else
    fail "$UNIT not restarted on the config change (MainPID $before_pid -> $after_pid)"
fi
apply "$WORK/apply3.log" "$ROLE"; rc=$?
[ "$rc" = 2 ] && pass "the role puts the sample's config back (exit 2)" || fail "re-apply of the role exited $rc (want 2)"
code=$(curl -sS -o "$WORK/got" -w '%{http_code}' "$BASE/$key")
[ "$code" = 200 ] && cmp -s "$WORK/value" "$WORK/got" && pass "the session survives the restarts" || fail "GET after the restarts -> $code"
curl -sS -o /dev/null -X DELETE "$BASE/$key" || true

if [ "$failures" -ne 0 ]; then
    echo "tests/puppet/e2e.sh: $failures assertion(s) FAILED" >&2
    exit 1
fi
echo "tests/puppet/e2e.sh: all assertions held"
