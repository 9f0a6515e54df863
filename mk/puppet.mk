# Puppet (puppet/modules: kask, profile, role, which go into
# operations/puppet; puppet/standalone: the stand-in of its cassandra
# module), the Hiera samples and the Vagrant setup. See docs/deployment.md.
#
#   make test-puppet       static checks (parser, puppet-lint with Wikimedia's
#                          style, metadata, REFERENCE.md, vagrant validate)
#                          and the rspec-puppet specs
#   make test-puppet-e2e   Cassandra 4.1 started on the cassandra.yaml the
#                          stand-in renders (deployment-prep, production);
#                          puppet apply of role::kask::service with the
#                          deployment-prep sample and with two services on
#                          one host, in a systemd-nspawn container, against
#                          `make cassandra-up`
#   make puppet-reference  regenerate each module's REFERENCE.md

APT_PACKAGES += puppet puppet-lint puppet-strings ruby-rspec-puppet \
	ruby-puppetlabs-spec-helper ruby-puppet-syntax metadata-json-lint \
	puppet-module-puppetlabs-stdlib vagrant vagrant-libvirt rsync systemd-container mmdebstrap curl \
	openjdk-17-jre-headless python3-cassandra
TEST_TARGETS += test-puppet test-puppet-e2e
CLEAN_TARGETS += clean-puppet

PUPPET_MODULES := kask profile role

.PHONY: test-puppet test-puppet-static test-puppet-spec test-puppet-e2e puppet-reference clean-puppet

test-puppet: test-puppet-static test-puppet-spec

test-puppet-static:
	tests/puppet/static.sh

test-puppet-spec:
	rspec -I tests/puppet --require spec_helper $(addprefix puppet/modules/,$(addsuffix /spec,$(PUPPET_MODULES)))

test-puppet-e2e: deb cassandra-up
	tests/puppet/cassandra-config.sh
	tests/puppet/e2e.sh

puppet-reference:
	for m in $(addprefix puppet/modules/,$(PUPPET_MODULES)) puppet/standalone/cassandra; do \
	    (cd $$m && RUBYOPT=-W0 puppet strings generate --format markdown --out REFERENCE.md >/dev/null && rm -rf .yardoc doc) || exit 1; \
	done

clean-puppet:
	rm -rf .state/puppet-e2e $(addprefix puppet/modules/,$(addsuffix /.yardoc,$(PUPPET_MODULES)))
