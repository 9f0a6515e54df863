# Monitoring: the example Prometheus configuration and alerting rules in
# docs/examples/prometheus/ (see docs/monitoring.md).
#
#   make test-monitoring   promtool checks the scrape configuration and the
#                          rules, runs the alert cases of
#                          tests/monitoring/alerts.test.yml, and checks that
#                          every kask metric the rules use is one kask exports

# promtool comes with Debian's prometheus package (`make deps` does not start
# its server).
APT_PACKAGES += prometheus
TEST_TARGETS += test-monitoring

PROM_EXAMPLES := docs/examples/prometheus

.PHONY: test-monitoring

test-monitoring:
	promtool check config $(PROM_EXAMPLES)/prometheus.yml
	promtool check rules $(PROM_EXAMPLES)/kask-alerts.yml
	promtool test rules tests/monitoring/alerts.test.yml
	tests/monitoring/metric-names.sh $(PROM_EXAMPLES)/kask-alerts.yml
