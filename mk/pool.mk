# Pool, depool and readiness under a real systemd (docs/pool-depool.md).
#
#   make test-pool   tests/pool/nspawn.sh: Cassandra absent at start, then
#                    started; depool under load, --wait, persistence across
#                    restart and reboot, pool; in systemd-nspawn against
#                    `make cassandra-up` (it stops and starts that Cassandra)

APT_PACKAGES += systemd-container mmdebstrap curl python3 iproute2
TEST_TARGETS += test-pool

.PHONY: test-pool

test-pool: build cassandra-up
	tests/pool/nspawn.sh $(KASK_BIN)
