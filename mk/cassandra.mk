# A real Apache Cassandra for development and CI: 4.1 (what production runs)
# by default, 5.0 with KASK_CASSANDRA_VERSION=5.0, from Maven Central, spoken
# to directly (tests/cassandra/README.md). Test infrastructure only.
#
#   make cassandra-up     start it (idempotent; instant when already up);
#                         KASK_CASSANDRA_NODES=3 for a ring of three,
#                         KASK_CASSANDRA_TOPOLOGY=eqiad:1,codfw:1 for two DCs
#   make cassandra-down   stop it, keep the data
#   make test-cassandra   the fault controls and settings of ctl.sh
# Everything lives in .state/ (cache/ for the downloads, cassandra/ for the
# node); tests/cassandra/ctl.sh does the rest (stop, start, status, cql,
# stop-node N, start-node N, wipe, env).

APT_PACKAGES += maven openjdk-17-jre-headless python3-cassandra python3-pip util-linux openssl
TEST_TARGETS += test-cassandra
CLEAN_TARGETS += clean-cassandra

CASSANDRA_CTL := tests/cassandra/ctl.sh

.PHONY: cassandra-up cassandra-down test-cassandra clean-cassandra

cassandra-up:
	@$(CASSANDRA_CTL) up

cassandra-down:
	@$(CASSANDRA_CTL) down

test-cassandra: cassandra-up
	tests/cassandra/test-ctl.sh

clean-cassandra:
	$(CASSANDRA_CTL) down
	rm -rf .state/cassandra .state/cassandra-*
