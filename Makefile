# kask — the commands an operator needs: `make deps` once, then `make run`
# and `make test`.
#
# Each area of the project keeps its targets in mk/<area>.mk and registers
# itself through these variables:
#   APT_PACKAGES  Debian packages it needs (installed by `make deps`)
#   DEPS_TARGETS  other installing steps `make deps` runs (e.g. cargo install)
#   TEST_TARGETS  targets that `make test` runs, in order
#   CLEAN_TARGETS targets that `make clean` runs
SHELL := /bin/bash
.DEFAULT_GOAL := help

APT_PACKAGES :=
DEPS_TARGETS :=
TEST_TARGETS :=
CLEAN_TARGETS :=

include $(sort $(wildcard mk/*.mk))

.PHONY: help deps deps-apt test clean $(DEPS_TARGETS)
help:
	@echo "make deps   install what the project needs: Debian packages, cargo-nextest (root)"
	@echo "make run    start a local Cassandra and kask on a sample config"
	@echo "make test   every test (the command CI runs); installs nothing"
	@echo "make deb    build dist/kask_<version>_<arch>.deb"
	@echo "make bench  benchmark against the driver and HTTP ceilings"

# Everything the project installs, and nothing else does: `make test` and
# `make run` only use what is there (and fail saying what is missing).
deps: deps-apt $(DEPS_TARGETS)

# The packages are wanted for their programs (promtool, lintian, ...), never
# as running services: while apt-get runs, a policy-rc.d (unless the machine
# has one) forbids starting any daemon a package ships.
deps-apt:
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	@set -e; policy=/usr/sbin/policy-rc.d; \
	if [ ! -e $$policy ]; then \
	    printf '#!/bin/sh\n# make deps: install, do not start\nexit 101\n' > $$policy; chmod 0755 $$policy; \
	    trap 'rm -f '$$policy EXIT; \
	fi; \
	echo "apt-get install $(sort $(APT_PACKAGES))"; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(sort $(APT_PACKAGES))

# Runs every target of TEST_TARGETS, even after one fails, and counts.
test:
	@passed=0; failed=0; failed_list=; \
	for t in $(TEST_TARGETS); do \
	    echo "=== make $$t ($$(date -u +%H:%M:%S))"; start=$$(date +%s); \
	    if $(MAKE) --no-print-directory $$t; then \
	        passed=$$((passed + 1)); echo "=== make $$t: passed ($$(( $$(date +%s) - start )) s)"; \
	    else \
	        failed=$$((failed + 1)); failed_list="$$failed_list $$t"; echo "=== make $$t: FAILED ($$(( $$(date +%s) - start )) s)"; \
	    fi; \
	done; \
	[ $$failed -eq 0 ] || echo "make test: failed:$$failed_list"; \
	echo "targets: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]

clean: $(CLEAN_TARGETS)
	cargo clean
