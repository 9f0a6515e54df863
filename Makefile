# kask — the two commands an operator needs are `make run` and `make test`.
#
# Each area of the project keeps its targets in mk/<area>.mk and registers
# itself through three variables:
#   APT_PACKAGES  Debian packages it needs (installed by `make deps`)
#   TEST_TARGETS  targets that `make test` runs, in order
#   CLEAN_TARGETS targets that `make clean` runs
SHELL := /bin/bash
.DEFAULT_GOAL := help

APT_PACKAGES :=
TEST_TARGETS :=
CLEAN_TARGETS :=

include $(sort $(wildcard mk/*.mk))

.PHONY: help deps test clean
help:
	@echo "make run    start a local Cassandra and kask on a sample config"
	@echo "make test   every test (the command CI runs)"
	@echo "make deps   install the Debian packages the project needs (root)"
	@echo "make deb    build dist/kask_<version>_<arch>.deb"
	@echo "make bench  benchmark against the driver and HTTP ceilings"

deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(sort $(APT_PACKAGES))

test: .state/deps.stamp $(TEST_TARGETS)
	@echo "make test: all of $(TEST_TARGETS) passed"
	@echo "targets: $(words $(TEST_TARGETS)) passed, 0 failed"

# Installed once per machine (and again when the package list changes), so
# that `make run` and `make test` work on a fresh Debian 12 machine.
.state/deps.stamp: Makefile $(wildcard mk/*.mk)
	@mkdir -p .state
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	$(MAKE) deps
	touch $@

clean: $(CLEAN_TARGETS)
	cargo clean
