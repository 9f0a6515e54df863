#!/bin/bash
# `make deb-reproducible`: build the package twice from nothing, in two
# directories (so that the build path differs) with a fresh CARGO_TARGET_DIR
# each, at two different times, and compare the .deb files byte for byte.
# When they differ, say which members differ and how. Slow (two full
# release builds): not part of `make test`. Leave the tree alone meanwhile
# (or run it in a clone): a change between the builds voids the check.
#
# Usage: tests/package/reproducible.sh   (through make: KASK_DEB_VERSION)
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
version=${KASK_DEB_VERSION:?run me through make deb-reproducible}
arch=$(dpkg --print-architecture)
base=$top/.state/repro
deb=kask_${version}_$arch.deb

# The sources both builds read: every file git knows, with its contents. A
# tree edited while the check runs (it takes two full builds) voids it.
sources() {
    git ls-files -z --cached --others --exclude-standard | LC_ALL=C sort -z \
        | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-16
}
before=$(sources)

rm -rf "$base"
for run in first second-build; do
    started=$SECONDS
    if ! KASK_DEB_STAGE=$base/$run/stage KASK_DEB_TARGET=tree KASK_DEB_DIST=$base/$run/dist \
        debian/build-deb.sh; then
        echo "reproducible: the $run build failed"
        exit 1
    fi
    echo "reproducible: $run build took $((SECONDS - started)) s"
done

if [ "$(sources)" != "$before" ]; then
    echo "reproducible: FAIL: the working tree changed between the builds; no verdict (rerun on a tree left alone)"
    exit 1
fi

a=$base/first/dist/$deb
b=$base/second-build/dist/$deb
if cmp -s "$a" "$b"; then
    echo "reproducible: PASS: the two builds give the same $deb ($(sha256sum <"$a" | cut -c1-16)...)"
    for f in "kask_${version%-*}.orig.tar.gz" "kask_${version%-*}.orig-vendor.tar.gz" "kask_$version.debian.tar.xz"; do
        cmp -s "$base/first/dist/$f" "$base/second-build/dist/$f" \
            && echo "reproducible: same $f" || echo "reproducible: $f differs"
    done
    exit 0
fi

echo "reproducible: FAIL: the two builds differ"
for x in first second-build; do
    dpkg-deb -R "$base/$x/dist/$deb" "$base/$x/unpacked"
done
diff -r "$base/first/unpacked" "$base/second-build/unpacked" | head -n 20
for f in $(cd "$base/first/unpacked" && find . -type f | sort); do
    if ! cmp -s "$base/first/unpacked/$f" "$base/second-build/unpacked/$f"; then
        echo "reproducible: $f differs in $(cmp -l "$base/first/unpacked/$f" "$base/second-build/unpacked/$f" | wc -l) bytes"
    fi
done
if command -v diffoscope >/dev/null; then
    diffoscope "$a" "$b" | head -n 100
fi
exit 1
