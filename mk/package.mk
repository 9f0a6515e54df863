# The Debian package, the systemd units, and their tests (see docs/systemd.md).
#
#   make deb                 dist/kask_<version>_<arch>.deb and the source
#                            package, built from source by dpkg-buildpackage
#                            (debian/build-deb.sh)
#   make deb-reproducible    two builds from nothing in two directories; the
#                            .debs must be identical (slow: not in make test)
#   make copyright           regenerate debian/copyright from cargo metadata
#   make test-package        static checks, then end to end in systemd-nspawn
#   make test-package-static units (verify, security), lintian --pedantic,
#                            versions, contents
#   make test-package-e2e    install and run the .deb under a real systemd
#                            (needs root and `make cassandra-up`)

APT_PACKAGES += debhelper dpkg-dev fakeroot lintian systemd systemd-container \
	mmdebstrap util-linux procps iproute2 rsync python3 libsystemd-dev pkg-config git xz-utils
TEST_TARGETS += test-package
CLEAN_TARGETS += clean-package

# The package's version, read once, here: debian/changelog's. debian/rules
# checks that the crate's (Cargo.toml, read by cargo) is its upstream part.
export KASK_DEB_VERSION := $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
KASK_DEB := dist/kask_$(KASK_DEB_VERSION)_$(shell dpkg --print-architecture 2>/dev/null).deb
KASK_CHANGES := $(KASK_DEB:.deb=.changes)

# Every file git knows is an input of the package: `make deb` rebuilds only
# when one of them changed (so test-package and test-puppet-e2e share one
# build). Outside a git checkout it always rebuilds.
KASK_DEB_INPUTS := $(wildcard $(shell git ls-files --cached --others --exclude-standard 2>/dev/null))

.PHONY: deb deb-reproducible copyright test-package test-package-static test-package-e2e clean-package FORCE

deb: $(KASK_DEB)

$(KASK_DEB): $(if $(KASK_DEB_INPUTS),$(KASK_DEB_INPUTS),FORCE)
	debian/build-deb.sh

deb-reproducible:
	tests/package/reproducible.sh

copyright:
	debian/crates copyright > debian/copyright.new && mv debian/copyright.new debian/copyright

test-package: test-package-static test-package-e2e

test-package-static: deb
	tests/package/static.sh $(KASK_DEB)

test-package-e2e: deb cassandra-up
	tests/package/e2e.sh $(KASK_DEB)

clean-package:
	rm -rf dist .state/deb .state/deb-* .state/vendor .state/nspawn
