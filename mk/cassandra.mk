# A real Apache Cassandra 2.1 for development and CI, behind the CQL relay
# the driver needs (tests/cassandra/README.md). Test infrastructure only.
#
#   make cassandra-up     start it (idempotent; instant when already up);
#                         KASK_CASSANDRA_NODES=3 for a ring of three
#   make cassandra-down   stop it, keep the data
#   make test-cassandra   the relay's tests: unit, fake node, then against
#                         the real node (cdrs-tokio V3 round trip), and the
#                         stop/start fault controls of ctl.sh
# Everything lives in .state/cassandra/; tests/cassandra/ctl.sh does the rest
# (stop, start, status, cql, stop-node N, start-node N, wipe).
# npm (to fetch the server once) and cargo are expected on the machine.

APT_PACKAGES += openjdk-17-jre-headless python3-cassandra util-linux
TEST_TARGETS += test-cassandra
CLEAN_TARGETS += clean-cassandra

CASSANDRA_CTL := tests/cassandra/ctl.sh

.PHONY: cassandra-up cassandra-down test-cassandra clean-cassandra

cassandra-up:
	@$(CASSANDRA_CTL) up

cassandra-down:
	@$(CASSANDRA_CTL) down

test-cassandra: cassandra-up
	cargo test -p kask-cql-relay -- --include-ignored
	tests/cassandra/test-ctl.sh

clean-cassandra:
	$(CASSANDRA_CTL) down
	rm -rf .state/cassandra
