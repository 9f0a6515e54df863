#!/bin/bash
# End to end: the kask .deb under a real systemd (systemd-nspawn, Debian
# bookworm), against the real Cassandra of `make cassandra-up` on the host's
# loopback ($KASK_CASSANDRA_NET.1:9042, cassandra/cassandra).
#
# 1. The package's autopkgtest (debian/tests/smoke, see debian/tests/control),
#    run by autopkgtest itself inside the container (`autopkgtest ... --
#    null`: the container is the testbed): it installs the .deb and checks
#    the installed package, kask.service, the build facts, the journal,
#    reload and restart under load, the watchdog, a bad config and a
#    kask@NAME instance, and leaves both running.
# 2. Then, from here: an upgrade (reinstall) restarts both and keeps the
#    sockets open; purge leaves nothing of the package behind.
#
# Usage: tests/package/e2e.sh dist/kask_<version>_<arch>.deb
# Ports (host loopback, shared with the container): KASK_E2E_PORT (default
# 18480) for kask.service, KASK_E2E_PORT2 (18481) for the instance.
# KASK_CASSANDRA_NET (default 127.0.0) as for tests/cassandra/ctl.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
deb=$(realpath "${1:?usage: $0 PACKAGE.deb}")
port=${KASK_E2E_PORT:-18480}
port2=${KASK_E2E_PORT2:-18481}
cassandra=${KASK_CASSANDRA_NET:-127.0.0}.1
instance=kask-pkgtest
cql=$top/tests/cassandra/ctl.sh

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
skip() { echo "SKIP: $*  (not a pass)"; exit 1; }
step() { echo "--- $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn)"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn missing (make deps)"
# Other tests stop and start the shared Cassandra: give it a minute.
for i in $(seq 1 60); do "$cql" status >/dev/null 2>&1 && break; sleep 1; done
"$cql" status >/dev/null 2>&1 || skip "no Cassandra on $cassandra:9042: run 'make cassandra-up'"
for p in "$port" "$port2"; do
    if ss -Htln "sport = :$p" | grep -q .; then
        skip "port $p is in use on the host loopback; set KASK_E2E_PORT/KASK_E2E_PORT2"
    fi
done

# shellcheck source=../nspawn/lib.sh
. "$top/tests/nspawn/lib.sh"
started=$SECONDS
# The testbed: autopkgtest (and dpkg-dev, which it needs for a source
# tree) to run the test, and the test's Depends
# (debian/tests/control) so that nothing is fetched while it runs.
nspawn_boot kask-pkg autopkgtest dpkg-dev python3-cassandra || { fail "the container did not boot"; exit 1; }

ct() { nspawn_exec "$@"; }
show() { ct systemctl show -p "$2" --value "$1"; }

# --- 1. the autopkgtest ------------------------------------------------------------
step "autopkgtest debian/tests (testbed: this container)"
nspawn_copy_in "$deb" "/root/$(basename "$deb")" 0644
# The source tree autopkgtest reads: debian/, as the source package has it.
mkdir -p "$NSPAWN_ROOT/root/kask-source"
git ls-files -z --cached --others --exclude-standard debian \
    | xargs -0 cp -a --parents -t "$NSPAWN_ROOT/root/kask-source/"
# isolation-container is what this testbed is; autopkgtest's null runner
# cannot know it, and would skip the test.
NSPAWN_EXEC_TIMEOUT=600 ct autopkgtest --ignore-restrictions=isolation-container \
    --output-dir=/root/autopkgtest-out \
    --env="KASK_TEST_CASSANDRA_HOST=$cassandra" --env="KASK_TEST_PORT=$port" \
    --env="KASK_TEST_PORT2=$port2" \
    "/root/$(basename "$deb")" /root/kask-source/ -- null >"$NSPAWN_DIR/autopkgtest.log" 2>&1
rc=$?
sed -n 's/^\(PASS\|FAIL\|---\|smoke\)/  &/p' "$NSPAWN_ROOT/root/autopkgtest-out/smoke-stdout" 2>/dev/null
summary=$(cat "$NSPAWN_ROOT/root/autopkgtest-out/summary" 2>/dev/null)
if [ "$rc" = 0 ] && grep -qx 'smoke *PASS' <<<"$summary"; then
    pass "autopkgtest: $summary"
else
    fail "autopkgtest exit $rc, summary '$summary'; log:"
    tail -n 40 "$NSPAWN_DIR/autopkgtest.log"
    exit 1
fi

# --- 2. upgrade --------------------------------------------------------------------------------
step "upgrade (reinstall): running units restart, sockets stay"
main_pid=$(show kask.service MainPID)
inst_pid=$(show "kask@$instance.service" MainPID)
sock_since=$(show "kask@$instance.socket" ActiveEnterTimestampMonotonic)
[ "$(ct systemctl is-active kask.service "kask@$instance.service" | paste -sd' ')" = "active active" ] \
    || fail "the autopkgtest did not leave kask.service and kask@$instance running"
if ct env DEBIAN_FRONTEND=noninteractive dpkg -i "/root/$(basename "$deb")" >"$NSPAWN_DIR/upgrade.log" 2>&1; then
    sleep 1
    new_main=$(show kask.service MainPID)
    new_inst=$(show "kask@$instance.service" MainPID)
    [ "$new_main" != "$main_pid" ] && [ "$(ct systemctl is-active kask.service)" = active ] \
        && pass "kask.service restarted by the upgrade" || fail "kask.service not restarted ($main_pid -> $new_main)"
    [ "$new_inst" != "$inst_pid" ] && [ "$(ct systemctl is-active "kask@$instance.service")" = active ] \
        && pass "kask@$instance restarted by the upgrade" || fail "kask@$instance not restarted ($inst_pid -> $new_inst)"
    [ "$(show "kask@$instance.socket" ActiveEnterTimestampMonotonic)" = "$sock_since" ] \
        && pass "the instance's socket stayed open through the upgrade" || fail "the socket was restarted"
    [ "$(ct stat -c '%a %U:%G' /etc/kask/config.yaml)" = "640 root:kask" ] \
        && pass "/etc/kask/config.yaml still 0640 root:kask" \
        || fail "/etc/kask/config.yaml is $(ct stat -c '%a %U:%G' /etc/kask/config.yaml) after the upgrade"
else
    fail "dpkg -i (upgrade): $(tail -n 20 "$NSPAWN_DIR/upgrade.log")"
fi

# --- 3. purge -------------------------------------------------------------------------------------
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
