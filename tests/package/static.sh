#!/bin/bash
# Static checks of the kask package: no container, a few seconds.
#   1. one version: Cargo.toml = debian/changelog = the .deb = `kask --version`
#   2. `systemd-analyze verify` of the four units as installed, silent
#   3. `systemd-analyze security --offline=yes`: exposure <= 2.0 for the
#      services (the template checked as an instance)
#   4. lintian --fail-on error,warning (overrides carry their reasons in
#      debian/kask.lintian-overrides)
#   5. the package's contents and permissions
# Usage: tests/package/static.sh dist/kask_<version>_<arch>.deb
set -uo pipefail
cd "$(dirname "$0")/../.."
deb=${1:?usage: $0 PACKAGE.deb}
max_exposure=2.0

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
dpkg-deb -x "$deb" "$root"

# --- 1. versions -----------------------------------------------------------
cargo_version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
changelog_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
deb_version=$(dpkg-deb -f "$deb" Version)
binary_version=$("$root/usr/bin/kask" --version 2>&1)
if [ -n "$cargo_version" ] && [ "$cargo_version" = "$changelog_version" ] \
    && [ "$deb_version" = "$cargo_version" ] \
    && [ "$binary_version" = "kask $cargo_version" ]; then
    pass "one version everywhere: $cargo_version"
else
    fail "versions disagree: Cargo.toml '$cargo_version', debian/changelog" \
         "'$changelog_version', .deb '$deb_version', kask --version '$binary_version'"
fi
# The build itself must refuse a mismatch: try it on a copy of debian/rules.
mkdir -p "$work/vcheck/debian"
cp debian/rules debian/control "$work/vcheck/debian/"
sed '1s/(\([^)]*\))/(9.9.9)/' debian/changelog > "$work/vcheck/debian/changelog"
cp Cargo.toml "$work/vcheck/"
if (cd "$work/vcheck" && debian/rules override_dh_auto_configure) >"$work/vcheck.log" 2>&1; then
    fail "debian/rules accepted changelog 9.9.9 against Cargo.toml $cargo_version"
elif grep -q "debian/changelog says 9.9.9" "$work/vcheck.log"; then
    pass "debian/rules refuses a changelog/Cargo.toml version mismatch"
else
    fail "debian/rules failed on a version mismatch, but not with the expected message: $(cat "$work/vcheck.log")"
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
lintian --fail-on error,warning "$deb" >"$work/lintian.log" 2>&1
rc=$?
out=$(grep -v 'running with root privileges' "$work/lintian.log")
if [ "$rc" -eq 0 ]; then
    pass "lintian --fail-on error,warning${out:+ (notes: $out)}"
else
    fail "lintian (exit $rc): $out"
fi

# --- 5. contents -------------------------------------------------------------------
contents=$(dpkg-deb -c "$deb")
for path in usr/bin/kask etc/kask/config.yaml usr/share/kask/schema.cql \
    usr/share/kask/openapi.yaml usr/share/man/man8/kask.8.gz usr/lib/sysusers.d/kask.conf \
    lib/systemd/system/kask.service lib/systemd/system/kask@.service \
    lib/systemd/system/kask.socket lib/systemd/system/kask@.socket \
    usr/share/doc/kask/systemd.md; do
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

echo
if [ "$failures" -eq 0 ]; then
    echo "test-package-static: all checks passed"
else
    echo "test-package-static: $failures check(s) FAILED"
    exit 1
fi
