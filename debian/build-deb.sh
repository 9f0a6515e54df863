#!/bin/bash
# `make deb`: the source package and the binary package, from the working
# tree, through dpkg-buildpackage, into dist/.
#
# 1. kask_<upstream>.orig.tar.gz: the files git knows (tracked, or new and
#    not ignored), without debian/, as they are in the working tree;
# 2. kask_<upstream>.orig-vendor.tar.gz: `cargo vendor --versioned-dirs` of
#    Cargo.lock without prebuilt Windows binaries (prune below), cached
#    under .state/vendor/<hash>/ (the only step that may fetch crates, and
#    only when Cargo.lock changed);
# 3. both unpacked with debian/ into .state/deb/kask-<upstream>/, then
#    `dpkg-buildpackage -us -uc` there: the source package (3.0 quilt) and
#    the .deb, built offline by debian/rules;
# 4. the .deb, .dsc, tarballs, .buildinfo and .changes copied to dist/.
#
# Both tarballs are reproducible (sorted, owner 0, every mtime set to the
# changelog's date, gzip -n). Environment:
#   KASK_DEB_VERSION   the package version (mk/package.mk reads it once from
#                      debian/changelog)
#   KASK_DEB_STAGE     where to build (default .state/deb)
#   KASK_DEB_TARGET    CARGO_TARGET_DIR for the build (default
#                      .state/deb-target, kept between builds so that a
#                      rebuild compiles only kask); "tree" builds in the
#                      package tree from nothing, as a buildd would
#   KASK_DEB_DIST      where the results go (default dist)
#   DEB_BUILD_OPTIONS  passed on; default "nocheck": `make test` runs the
#                      unit tests in test-rust already, and the release
#                      build of the test harness costs minutes (set
#                      DEB_BUILD_OPTIONS= to run them here too)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

version=${KASK_DEB_VERSION:?run me through make deb (KASK_DEB_VERSION is the debian/changelog version)}
upstream=${version%-*}
stage=$(realpath -m "${KASK_DEB_STAGE:-.state/deb}")
dist=$(realpath -m "${KASK_DEB_DIST:-dist}")
case "${KASK_DEB_TARGET:-}" in
    tree) target= ;;
    '') target=$top/.state/deb-target ;;
    *) target=$(realpath -m "$KASK_DEB_TARGET") ;;
esac
epoch=$(dpkg-parsechangelog -l debian/changelog -S Timestamp)
arch=$(dpkg --print-architecture)
log() { echo "build-deb: $*" >&2; }

# A reproducible tarball of DIR's entries listed NUL-separated on stdin,
# each under PREFIX/.
tarball() {   # OUT DIR PREFIX
    LC_ALL=C sort -z | tar -C "$2" --null --no-recursion -T - \
        --transform "s,^,$3/," --mtime="@$epoch" \
        --owner=0 --group=0 --numeric-owner --format=gnu -cf - \
        | gzip -n -6 > "$1.tmp"
    mv "$1.tmp" "$1"
}

# Prebuilt Windows binaries that crates ship for Windows targets only: the
# import libraries of the windows_* crates and ring's NASM objects. They are
# never used for a Linux build, are not source, and make lintian index tens
# of thousands of archive members. Each file goes, and so does its line in
# the crate's .cargo-checksum.json (cargo checks the files listed there).
prune() {   # VENDOR_DIR
    python3 - "$1" <<'PY'
import fnmatch, json, os, sys
RULES = [("windows_*", "lib/*"), ("ring-*", "pregenerated/*.o")]
vendor = sys.argv[1]
for crate in sorted(os.listdir(vendor)):
    globs = [g for c, g in RULES if fnmatch.fnmatch(crate, c)]
    if not globs:
        continue
    sums_path = os.path.join(vendor, crate, ".cargo-checksum.json")
    sums = json.load(open(sums_path))
    for name in sorted(sums["files"]):
        if any(fnmatch.fnmatch(name, g) for g in globs):
            os.remove(os.path.join(vendor, crate, name))
            del sums["files"][name]
    json.dump(sums, open(sums_path, "w"), sort_keys=True, separators=(",", ":"))
PY
}

rm -rf "$stage"
mkdir -p "$stage"

# --- 1. the upstream tarball -----------------------------------------------------
orig=$stage/kask_$upstream.orig.tar.gz
git ls-files -z --cached --others --exclude-standard \
    | python3 -c '
import os, sys
names = [n for n in sys.stdin.buffer.read().split(b"\0") if n]
seen = set()
for n in names:
    if n.startswith(b"debian/") or not os.path.lexists(n):
        continue
    parts = n.split(b"/")
    for i in range(1, len(parts)):      # the directories, for their entries
        d = b"/".join(parts[:i])
        if d not in seen:
            seen.add(d)
            sys.stdout.buffer.write(d + b"\0")
    sys.stdout.buffer.write(n + b"\0")
' | tarball "$orig" "$top" "kask-$upstream"

# --- 2. the vendored crates --------------------------------------------------------
# The cache key: Cargo.lock and the pruning below.
lock=$( (cat Cargo.lock; sed -n '/^prune()/,/^}/p' "$0") | sha256sum | cut -c1-16)
cache=$top/.state/vendor/$lock
vendor_tar=$cache/vendor.tar.gz
if [ ! -s "$vendor_tar" ]; then
    log "vendoring the crates of Cargo.lock into $cache"
    rm -rf "$cache"
    mkdir -p "$cache"
    cargo vendor --locked --versioned-dirs --quiet "$cache/vendor" >/dev/null
    prune "$cache/vendor"
    (cd "$cache/vendor" && find . -mindepth 1 -printf '%P\0') | tarball "$vendor_tar" "$cache/vendor" vendor
    rm -rf "$cache/vendor"
fi
cp "$vendor_tar" "$stage/kask_$upstream.orig-vendor.tar.gz"

# --- 3. the package tree and dpkg-buildpackage ----------------------------------------
src=$stage/kask-$upstream
# -m: files get the time of unpacking, so that cargo, comparing mtimes, sees
# a changed file as changed in a kept CARGO_TARGET_DIR.
tar -C "$stage" -m -xzf "$orig"
mkdir "$src/vendor"
# Not -m here: the crates never change under a version, and build scripts
# that watch their own files would rerun for a newer mtime.
tar -C "$src/vendor" --strip-components=1 -xzf "$stage/kask_$upstream.orig-vendor.tar.gz"
git ls-files -z --cached --others --exclude-standard debian \
    | xargs -0 cp -a --parents -t "$src"

log "dpkg-buildpackage in $src (log: $stage/build.log)"
started=$SECONDS
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck}
(cd "$src" && env ${target:+CARGO_TARGET_DIR="$target"} dpkg-buildpackage -us -uc) \
    > "$stage/build.log" 2>&1 || {
    tail -n 40 "$stage/build.log" >&2
    log "dpkg-buildpackage failed; full log in $stage/build.log"
    exit 1
}
grep -E '^(dpkg-[a-z]+: )?warning:|^W: ' "$stage/build.log" >&2 || true
log "dpkg-buildpackage took $((SECONDS - started)) s"

# --- 4. results ----------------------------------------------------------------------------
mkdir -p "$dist"
rm -f "$dist"/kask_*
for f in "kask_${version}_$arch.deb" "kask_$version.dsc" "kask_$upstream.orig.tar.gz" \
    "kask_$upstream.orig-vendor.tar.gz" "kask_$version.debian.tar.xz" \
    "kask_${version}_$arch.buildinfo" "kask_${version}_$arch.changes"; do
    cp "$stage/$f" "$dist/"
done
log "$dist/kask_${version}_$arch.deb"
