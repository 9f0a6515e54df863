# Logging under systemd: `log_format: json` in a real journal (systemd-nspawn)
# and through a real rsyslog with docs/examples/rsyslog/30-kask.conf, the
# file docs/logging.md tells operators to install.
#
#   make test-logging   the release binary against `make cassandra-up`

APT_PACKAGES += systemd-container mmdebstrap curl python3
TEST_TARGETS += test-logging

.PHONY: test-logging

test-logging: build cassandra-up
	KASK_BIN=$(CURDIR)/$(KASK_BIN) tests/logging/journal-rsyslog.sh
