# The service itself: build, lint, unit and storage tests, and `make run`.
#
#   make build       target/release/kask
#   make test-rust   fmt, clippy, unit and HTTP tests, storage tests against
#                    the real Cassandra (started if needed), then on their
#                    own, one at a time: the outage and ring tests (they stop
#                    and start Cassandra nodes), the two-data-centre and the
#                    TLS tests (each brings up and takes down its own cluster)
#   make run         local Cassandra + schema + kask on docs/examples/local.yaml

APT_PACKAGES += build-essential pkg-config libsystemd-dev curl ca-certificates
TEST_TARGETS += test-rust
DEPS_TARGETS += deps-nextest

RUN_CONFIG := docs/examples/local.yaml
KASK_BIN := target/release/kask
# Test binaries that stop and start Cassandra nodes or run clusters of their
# own: after the others, one at a time.
ONE_AT_A_TIME := binary(cassandra_outage) | binary(cassandra_ring) | binary(cassandra_dc) | binary(cassandra_tls)

.PHONY: build test-rust run schema-local deps-nextest

# The test runner, from crates.io (Debian 12 has no package of it).
deps-nextest:
	cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

build:
	cargo build --release --locked

test-rust: cassandra-up
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo nextest run -p kask --locked --no-fail-fast -E 'not ($(ONE_AT_A_TIME))'
	cargo nextest run -p kask --locked --no-fail-fast --test-threads 1 -E '$(ONE_AT_A_TIME)'

# The schema and kask's role, as an operator creates them: from
# `kask --print-schema`, the role's password placeholder filled in.
schema-local: build cassandra-up
	$(KASK_BIN) --print-schema --config $(RUN_CONFIG) --replication datacenter1:1 \
	  | sed "s/'<password>'/'kask-local-password'/" \
	  | while read -r stmt; do tests/cassandra/ctl.sh cql "$$stmt" >/dev/null; done

run: schema-local
	@echo
	@echo "kask is starting on http://127.0.0.1:8081/sessions/v1/ (Ctrl-C stops it). In another shell:"
	@echo "  curl -i -X POST --data-binary 'hello' http://127.0.0.1:8081/sessions/v1/greeting"
	@echo "  curl -i http://127.0.0.1:8081/sessions/v1/greeting"
	@echo "  curl -i -X DELETE http://127.0.0.1:8081/sessions/v1/greeting"
	@echo "  curl http://127.0.0.1:8081/healthz; curl http://127.0.0.1:8081/metrics"
	@echo
	exec $(KASK_BIN) --config $(RUN_CONFIG)
