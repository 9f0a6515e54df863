# The benchmark: kask against its ceilings (bench/README.md). Measured, never
# asserted, so it is not part of `make test`.
#
#   make bench                 full run: GET, POST, 90/10 mix and /healthz at
#                              concurrency 1, 8, 32, 128 (about 15 minutes)
#   BENCH_QUICK=1 make bench   concurrency 32 only (about 3 minutes)
#   make bench-profile         the service under load in valgrind's callgrind
#   make bench-tail            whose POST tail it is: a short interleaved trace
#                              (bench/tail.py; BENCH_TAIL_WIRE=1 adds tcpdump)
#   make soak                  30 minutes of mixed and hostile load, the
#                              Cassandra node killed and restarted twice; RSS
#                              and descriptors before, at peak, after
#                              (bench/soak.sh; SOAK_SECONDS to shorten)
#
# Results go to bench/results/<date>/ (not committed); the latest table and
# plot are copied to bench/latest.md and bench/latest.png.

APT_PACKAGES += wrk python3 python3-matplotlib valgrind procps tcpdump
CLEAN_TARGETS += clean-bench

# Debian's interpreter, which has python3-matplotlib (not a pyenv shim).
BENCH_PYTHON := /usr/bin/python3
# Every run is bounded: each load run by its own duration, the whole by this.
BENCH_TIMEOUT := $(if $(filter 1,$(BENCH_QUICK)),600,3600)

.PHONY: bench bench-build bench-profile bench-tail soak clean-bench

bench-build:
	cargo build --release -p kask -p kask-bench-ceilings

bench: bench-build cassandra-up
	timeout --signal=TERM --kill-after=30 $(BENCH_TIMEOUT) $(BENCH_PYTHON) bench/run.py

bench-profile: bench-build cassandra-up
	timeout --signal=TERM --kill-after=30 1200 bench/profile.sh

bench-tail: bench-build cassandra-up
	timeout --signal=TERM --kill-after=30 900 $(BENCH_PYTHON) bench/tail.py

soak: build cassandra-up
	timeout --signal=TERM --kill-after=30 $$(( $${SOAK_SECONDS:-1800} + 600 )) bench/soak.sh

clean-bench:
	rm -rf bench/results
