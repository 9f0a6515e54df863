# The storage tests across the versions that matter (tests/cassandra_api.rs):
#
#   make test-protocols      the whole storage suite against Cassandra 4.1
#                            again, with kask held to protocol v4, then v5
#                            (test-rust runs it negotiating, which gives v5)
#   make test-cassandra-5.0  a smoke subset (CRUD, TTL, data shared with
#                            another client, protocol) against Cassandra 5.0,
#                            a node of its own started and stopped here
#
# Both talk to real servers; the 5.0 node lives on the loopback network after
# the ring's (third octet of KASK_CASSANDRA_NET + 4), with its own state.

TEST_TARGETS += test-protocols test-cassandra-5.0

CASSANDRA_NET ?= $(or $(KASK_CASSANDRA_NET),127.0.0)
CASSANDRA_50_NET := $(shell echo $(CASSANDRA_NET) | awk -F. '{print $$1"."$$2"."$$3+4}')
CASSANDRA_50 := KASK_CASSANDRA_VERSION=5.0 KASK_CASSANDRA_NET=$(CASSANDRA_50_NET) \
	KASK_CASSANDRA_STATE=$(CURDIR)/.state/cassandra-5.0
SMOKE_TESTS := test(create_read_overwrite_delete) | test(ttl_) | test(other_clients) \
	| test(speaks_the_expected_protocol_version)

.PHONY: test-protocols test-cassandra-5.0

test-protocols: cassandra-up
	KASK_TEST_PROTOCOL=4 cargo nextest run -p kask --locked --no-fail-fast --test cassandra_api
	KASK_TEST_PROTOCOL=5 cargo nextest run -p kask --locked --no-fail-fast --test cassandra_api

# The node is stopped whether the tests pass or not; the target fails if
# they did.
test-cassandra-5.0:
	$(CASSANDRA_50) tests/cassandra/ctl.sh up
	rc=0; $(CASSANDRA_50) cargo nextest run -p kask --locked --no-fail-fast \
	  --test cassandra_api -E '$(SMOKE_TESTS)' || rc=$$?; \
	$(CASSANDRA_50) tests/cassandra/ctl.sh down; exit $$rc
