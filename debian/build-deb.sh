#!/bin/bash
# Build dist/kask_<version>_<arch>.deb: `make deb` runs this.
#
# 1. cargo build --release --locked (incremental, shared target/);
# 2. stage what the package is made of (debian/, systemd/, docs/, Cargo.toml
#    and the binary) under .state/deb/, so that dpkg-buildpackage writes its
#    by-products there instead of into the parent of the repository;
# 3. dpkg-buildpackage -b, then copy the .deb to dist/.
# Options through the environment: KASK_BINARY=path packages that binary
# instead of building one (e.g. a CI artefact).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
changelog_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$version" != "$changelog_version" ]; then
    echo "build-deb: Cargo.toml says $version, debian/changelog says $changelog_version" >&2
    exit 1
fi
arch=$(dpkg --print-architecture)

if [ -n "${KASK_BINARY:-}" ]; then
    binary=$KASK_BINARY
else
    cargo build --release --locked -p kask
    binary=${CARGO_TARGET_DIR:-target}/release/kask
fi

stage=$top/.state/deb
src=$stage/kask-$version
rm -rf "$stage"
mkdir -p "$src/target/release" "$src/docs"
cp -a debian systemd Cargo.toml "$src/"
rm -f "$src/debian/build-deb.sh"
cp -a docs/kask.8 docs/systemd.md "$src/docs/"
install -m 0755 "$binary" "$src/target/release/kask"

(cd "$src" && dpkg-buildpackage -b -us -uc --no-sign) > "$stage/build.log" 2>&1 || {
    tail -n 40 "$stage/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed; full log in $stage/build.log" >&2
    exit 1
}
grep -E 'WARNING|warning:' "$stage/build.log" >&2 || true

mkdir -p dist
rm -f "dist/kask_${version}_${arch}.deb"
cp "$stage/kask_${version}_${arch}.deb" dist/
echo "build-deb: dist/kask_${version}_${arch}.deb"
