#!/bin/bash
# Static checks of the kask package: no container, a minute (lintian).
#   1. one version: debian/changelog = the .deb; its upstream part = `kask
#      --version` = the man page; debian/rules refuses a crate version that
#      is not the changelog's, and a debian/copyright out of date
#   2. `systemd-analyze verify` of the four units as installed, silent
#   3. `systemd-analyze security --offline=yes`: exposure <= 2.0 for the
#      services (the template checked as an instance)
#   4. lintian --pedantic on the .changes (source and binary packages):
#      nothing but overrides, each with its reason in
#      debian/kask.lintian-overrides or debian/source/lintian-overrides
#   5. the package's contents, permissions and control fields
# Usage: tests/package/static.sh dist/kask_<version>_<arch>.deb
# (the .changes beside it; the package tree `make deb` built in
# KASK_DEB_STAGE, default .state/deb).
set -uo pipefail
cd "$(dirname "$0")/../.."
deb=${1:?usage: $0 PACKAGE.deb}
changes=${deb%.deb}.changes
max_exposure=2.0

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
dpkg-deb -x "$deb" "$root"

# --- 1. versions -----------------------------------------------------------
changelog_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${changelog_version%-*}
deb_version=$(dpkg-deb -f "$deb" Version)
binary_version=$("$root/usr/bin/kask" --version 2>&1)
man_version=$(sed -n 's/^\.TH KASK 8 "[^"]*" "kask \([^"]*\)".*/\1/p' docs/kask.8)
if [ "$deb_version" = "$changelog_version" ] && [ "$upstream" != "$changelog_version" ] \
    && [ "$binary_version" = "kask $upstream" ] && [ "$man_version" = "$upstream" ]; then
    pass "one version: package $deb_version (non-native), kask --version and kask(8) $upstream"
else
    fail "versions disagree: debian/changelog '$changelog_version', .deb '$deb_version'," \
         "kask --version '$binary_version', kask(8) '$man_version'"
fi
# The build itself must refuse a mismatch and a stale debian/copyright: try
# both in the package tree make deb built.
tree=$(realpath -m "${KASK_DEB_STAGE:-.state/deb}")/kask-$upstream
if [ ! -x "$tree/debian/rules" ]; then
    fail "no package tree in $tree (make deb)"
else
    # refuses WHAT MESSAGE [RULES_ARG...]: the configure step of debian/rules
    # must fail, saying MESSAGE.
    refuses() {
        local what=$1 message=$2
        shift 2
        if (cd "$tree" && debian/rules override_dh_auto_configure "$@") >"$work/refusal.log" 2>&1; then
            fail "debian/rules accepted $what"
        elif grep -qF "$message" "$work/refusal.log"; then
            pass "debian/rules refuses $what"
        else
            fail "debian/rules failed on $what, but not saying '$message': $(tail -n 5 "$work/refusal.log")"
        fi
    }
    refuses "a changelog version (9.9.9) that is not Cargo.toml's ($upstream)" \
        "Cargo.toml says $upstream, debian/changelog says 9.9.9" DEB_VERSION_UPSTREAM=9.9.9
    cp "$tree/debian/copyright" "$work/copyright.good"
    # Drop the paragraph of one crate, as if Cargo.lock had gained it.
    python3 -c '
import sys
paras = open(sys.argv[1]).read().split("\n\n")
paras = [p for p in paras if not p.startswith("Files: vendor/tokio-")]
open(sys.argv[1], "w").write("\n\n".join(paras))
' "$tree/debian/copyright"
    refuses "a debian/copyright out of date with Cargo.lock (tokio's paragraphs gone)" \
        "debian/copyright is out of date"
    cp "$work/copyright.good" "$tree/debian/copyright"
fi
if cmp -s debian/copyright "$root/usr/share/doc/kask/copyright"; then
    pass "the package ships debian/copyright ($(grep -c '^Files: vendor/' debian/copyright) crates)"
else
    fail "/usr/share/doc/kask/copyright differs from debian/copyright"
fi

# --- 2. systemd-analyze verify -------------------------------------------------
# Verify the units as installed: the package tree on top of the host's own
# units (for sysinit.target and friends), with the package's man pages on
# MANPATH for the Documentation= check. Any output is a finding.
cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
units="kask.service kask.socket kask@verify.service kask@verify.socket"
# shellcheck disable=SC2086
if out=$(MANPATH=$root/usr/share/man systemd-analyze verify --root="$root" $units 2>&1) \
    && [ -z "$out" ]; then
    pass "systemd-analyze verify: $units"
else
    fail "systemd-analyze verify: $out"
fi

# --- 3. systemd-analyze security ---------------------------------------------
for unit in kask.service kask@verify.service; do
    out=$(systemd-analyze security --offline=yes --root="$root" "$unit" 2>&1)
    level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    if [ -z "$level" ]; then
        fail "systemd-analyze security $unit: no exposure level in: $out"
    elif awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l <= m) }'; then
        pass "systemd-analyze security $unit: exposure $level <= $max_exposure"
    else
        fail "systemd-analyze security $unit: exposure $level > $max_exposure"
        grep '✗' <<<"$out"
    fi
done

# --- 4. lintian ------------------------------------------------------------------
# Source and binary packages at every level down to pedantic; anything but an
# override (O:) or lintian's notes (N:) is a finding. The findings are read
# from the output: lintian 2.116 exits 2 whenever --show-overrides shows one,
# so its exit status only tells that it ran (0 with --fail-on none).
lintian --pedantic --display-info --show-overrides --fail-on none \
    "$changes" >"$work/lintian.log" 2>&1
rc=$?
findings=$(grep -E '^[EWIPX]: ' "$work/lintian.log")
overrides=$(grep -c '^O: ' "$work/lintian.log")
if [ "$rc" -eq 0 ] && [ -z "$findings" ]; then
    pass "lintian --pedantic $(basename "$changes"): clean, $overrides override(s), each with its reason"
    grep '^O: ' "$work/lintian.log" | sed 's/^/    /'
else
    fail "lintian --pedantic (exit $rc): $findings"
    [ "$rc" -eq 0 ] || tail -n 20 "$work/lintian.log"
fi

# --- 5. contents -------------------------------------------------------------------
contents=$(dpkg-deb -c "$deb")
for path in usr/bin/kask etc/kask/config.yaml usr/share/kask/schema.cql \
    usr/share/kask/openapi.yaml usr/share/man/man8/kask.8.gz usr/lib/sysusers.d/kask.conf \
    lib/systemd/system/kask.service lib/systemd/system/kask@.service \
    lib/systemd/system/kask.socket lib/systemd/system/kask@.socket \
    usr/share/doc/kask/systemd.md usr/share/doc/kask/README.md \
    usr/share/doc/kask/deployment.md usr/share/doc/kask/monitoring.md usr/share/doc/kask/cassandra.md \
    usr/share/doc/kask/pool-depool.md usr/share/doc/kask/logging.md \
    usr/share/doc/kask/examples/rsyslog/30-kask.conf \
    usr/share/doc/kask/copyright usr/share/doc/kask/examples/local.yaml \
    usr/share/doc/kask/examples/prometheus/kask-alerts.yml \
    usr/share/doc/kask/examples/prometheus/prometheus.yml; do
    if grep -q " \./$path\$" <<<"$contents"; then
        pass "ships /$path"
    else
        fail "does not ship /$path"
    fi
done
if grep -q '^-rw-r----- root/root .* \./etc/kask/config\.yaml$' <<<"$contents"; then
    pass "/etc/kask/config.yaml is shipped 0640 root:root (postinst gives it to group kask)"
else
    fail "/etc/kask/config.yaml permissions: $(grep 'etc/kask/config.yaml' <<<"$contents")"
fi
if [ "$(dpkg-deb -f "$deb" Version)" ] && dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/kask/config.yaml; then
    pass "/etc/kask/config.yaml is a conffile"
else
    fail "/etc/kask/config.yaml is not a conffile"
fi
if grep -q 'CREATE TABLE IF NOT EXISTS "kask"."values" (key text PRIMARY KEY, value blob)' \
        "$root/usr/share/kask/schema.cql"; then
    pass "schema.cql creates \"kask\".\"values\""
else
    fail "schema.cql: $(cat "$root/usr/share/kask/schema.cql")"
fi
# kask's least-privilege role, as kask(8) and systemd.md say: the password a
# placeholder for the operator to fill in, only SELECT and MODIFY granted.
if grep -qx "CREATE ROLE IF NOT EXISTS \"kask\" WITH PASSWORD = '<password>' AND LOGIN = true;" \
        "$root/usr/share/kask/schema.cql" \
    && [ "$(grep -c '^GRANT ' "$root/usr/share/kask/schema.cql")" = 2 ] \
    && grep -qx 'GRANT SELECT ON TABLE "kask"."values" TO "kask";' "$root/usr/share/kask/schema.cql" \
    && grep -qx 'GRANT MODIFY ON TABLE "kask"."values" TO "kask";' "$root/usr/share/kask/schema.cql"; then
    pass "schema.cql creates the role kask (password placeholder) with SELECT and MODIFY only"
else
    fail "schema.cql's role: $(grep -E '^(CREATE ROLE|GRANT)' "$root/usr/share/kask/schema.cql")"
fi
if grep -q '^openapi: 3' "$root/usr/share/kask/openapi.yaml" \
    && grep -q '/v1/{key}' "$root/usr/share/kask/openapi.yaml"; then
    pass "openapi.yaml is OpenAPI 3 with the default base URI rendered"
else
    fail "openapi.yaml: $(head -c 300 "$root/usr/share/kask/openapi.yaml")"
fi
if "$root/usr/bin/kask" --check-config "$root/etc/kask/config.yaml" >/dev/null 2>&1; then
    pass "the shipped config passes kask --check-config"
else
    fail "the shipped config fails kask --check-config: $("$root/usr/bin/kask" --check-config "$root/etc/kask/config.yaml" 2>&1)"
fi

maintainer=$(dpkg-deb -f "$deb" Maintainer)
want="$(git config user.name) <$(git config user.email)>"
[ "$maintainer" = "$want" ] && pass "Maintainer: $maintainer (the project's)" \
    || fail "Maintainer is '$maintainer', the project is '$want'"
# Built-Using fields: the crates debian/copyright says are in the binary.
in_binary=$(grep -c '^Comment: .*, compiled into /usr/bin/kask\.$' debian/copyright)
static=$(dpkg-deb -f "$deb" Static-Built-Using | tr ',' '\n' | grep -c 'rust-')
cargo_using=$(dpkg-deb -f "$deb" X-Cargo-Built-Using | tr ',' '\n' | grep -c 'rust-')
if [ "$static" -gt 0 ] && [ "$static" = "$in_binary" ] && [ "$cargo_using" -ge "$static" ]; then
    pass "Static-Built-Using names the $static crates in the binary; X-Cargo-Built-Using the $cargo_using compiled for it"
else
    fail "Static-Built-Using has $static crates, X-Cargo-Built-Using $cargo_using; debian/copyright says $in_binary are in the binary"
fi
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst >"$work/postinst"
n=$(grep -c 'systemd-sysusers' "$work/postinst")
[ "$n" = 1 ] && pass "postinst creates the user once (one systemd-sysusers call, debhelper's)" \
    || fail "postinst calls systemd-sysusers $n times"

echo
if [ "$failures" -eq 0 ]; then
    echo "test-package-static: all checks passed"
else
    echo "test-package-static: $failures check(s) FAILED"
    exit 1
fi
