# The Debian package, the systemd units, and their tests (see docs/systemd.md).
#
#   make deb                 dist/kask_<version>_<arch>.deb
#   make test-package        static checks, then end to end in systemd-nspawn
#   make test-package-static units (verify, security), lintian, versions
#   make test-package-e2e    install and run the .deb under a real systemd
#                            (needs root and `make cassandra-up`)

APT_PACKAGES += debhelper dpkg-dev fakeroot lintian systemd systemd-container \
	mmdebstrap util-linux procps rsync python3
TEST_TARGETS += test-package
CLEAN_TARGETS += clean-package

KASK_VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
KASK_DEB := dist/kask_$(KASK_VERSION)_$(shell dpkg --print-architecture 2>/dev/null).deb

.PHONY: deb test-package test-package-static test-package-e2e clean-package

deb:
	debian/build-deb.sh

test-package: test-package-static test-package-e2e

test-package-static: deb
	tests/package/static.sh $(KASK_DEB)

test-package-e2e: deb cassandra-up
	tests/package/e2e.sh $(KASK_DEB)

clean-package:
	rm -rf dist .state/deb .state/nspawn
