# frozen_string_literal: true

require 'spec_helper'

# role::kask::sessionstore against the real Hiera: deployment-prep's project
# block with the instance Hiera operators paste, production's sessionstore
# role Hiera with a host file, and the samples. What the rendered
# cassandra.yaml must carry is what Wikimedia's cassandra module renders
# from the same keys.
describe 'role::kask::sessionstore' do
  let(:seed_fqdn) { 'deployment-sessionstore02.deployment-prep.eqiad1.wikimedia.cloud' }

  context 'with deployment-prep: the pasted instance Hiera over the project block' do
    let(:facts) { debian12_facts(fqdn: seed_fqdn, sample: 'deployment-prep', ip: '172.16.4.20', extra: fresh_compile_fact) }
    let(:yaml) { cassandra_yaml(catalogue, '/etc/cassandra') }
    let(:service_def) { sample_data('deployment-prep.yaml')['profile::docker::runner::service_defs']['mediawiki-services-kask'] }

    it { is_expected.to compile.with_all_deps }

    it 'runs the package\'s single default instance, as the real module does for a host listed with {}' do
      is_expected.to contain_cassandra__instance('default')
      is_expected.to contain_service('cassandra').with(ensure: 'running', enable: true)
      expect(yaml['cluster_name']).to eq('Test Cluster')
      expect(yaml['num_tokens']).to eq(256)
      expect(yaml['seed_provider'][0]['parameters'][0]['seeds']).to eq(seed_fqdn)
      expect(yaml['listen_address']).to eq('172.16.4.20')
      expect(yaml['rpc_address']).to eq('172.16.4.20')
      expect(yaml['data_file_directories']).to eq(['/var/lib/cassandra/data'])
      expect(yaml['hints_directory']).to eq('/var/lib/cassandra/data/hints')
      expect(yaml['commitlog_directory']).to eq('/var/lib/cassandra/commitlog')
      expect(yaml['saved_caches_directory']).to eq('/var/lib/cassandra/saved_caches')
      expect(yaml['authenticator']).to eq('PasswordAuthenticator')
      expect(yaml['authorizer']).to eq('CassandraAuthorizer')
      # No keystore (no tls_cluster_name): plain only, or Cassandra 4.1
      # refuses to start (tests/puppet/cassandra-config.sh).
      expect(yaml['client_encryption_options']).to include('enabled' => false, 'optional' => false)
      expect(yaml['server_encryption_options']).to include('internode_encryption' => 'none', 'optional' => false)
      is_expected.to contain_file('/etc/cassandra/cassandra-rackdc.properties').with_content(/^dc=datacenter1\nrack=rack1$/)
      is_expected.to contain_file('/etc/cassandra/cassandra.in.sh').with_content(/-Dcassandra\.jmx\.local\.port=7199 /)
      is_expected.to contain_file('/etc/cassandra/cassandra.yaml').that_comes_before('Package[cassandra]')
    end

    it 'installs Cassandra 4.1 from the host\'s apt sources, fetching no repository or key' do
      is_expected.to contain_file('/etc/apt/preferences.d/cassandra.pref').with_content(/^Pin: version 4\.1\.\*$/)
      is_expected.to contain_package('cassandra').with_ensure('installed')
      sources = catalogue.resources.select { |r| r.type == 'File' && r.title.start_with?('/etc/apt/sources.list') }
      expect(sources).to eq([])
      keys = catalogue.resources.select { |r| r.type == 'File' && r[:source].to_s =~ %r{\Ahttps?://} }
      expect(keys).to eq([])
    end

    it 'runs the pasted service natively, its config verbatim' do
      is_expected.to contain_package('kask')
      is_expected.to contain_service('kask@mediawiki-services-kask.service').with(ensure: 'running', enable: true)
      expect(YAML.safe_load(file_content(catalogue, '/etc/mediawiki-services-kask/config.yaml'))).to eq(service_def['config'])
    end

    it 'says once what only feeds Wikimedia\'s log pipeline' do
      is_expected.to compile
      expect(logged.grep(/settings\.logstash_host deployment-logstash03/).length).to eq(1)
    end

    it 'creates no schema (none is asked for)' do
      expect(catalogue.resources.select { |r| r.type == 'Exec' && r.title.start_with?('kask schema') }).to eq([])
    end
  end

  context 'with deployment-prep\'s project block alone, on its Cassandra host' do
    let(:hiera_config) { layered_hiera('deployment-prep/common.yaml') }
    let(:facts) { debian12_facts(fqdn: 'deployment-restbase04.deployment-prep.eqiad1.wikimedia.cloud', ip: '172.16.1.40') }

    it { is_expected.to compile.with_all_deps }
    it { is_expected.not_to contain_package('kask') }

    it 'renders the default instance with the project\'s settings' do
      yaml = cassandra_yaml(catalogue, '/etc/cassandra')
      expect(yaml['listen_address']).to eq('172.16.1.40')
      expect(yaml['seed_provider'][0]['parameters'][0]['seeds']).to eq('deployment-restbase04.deployment-prep.eqiad1.wikimedia.cloud')
    end
  end

  context 'with production\'s role Hiera as it is (certificates from Wikimedia\'s PKI)' do
    let(:facts) { debian12_facts(fqdn: 'sessionstore1004.eqiad.wmnet', sample: 'production', site: 'eqiad', ip: '10.64.0.4') }

    it 'refuses tls_use_pki in one line naming the key' do
      is_expected.to compile.and_raise_error(/cassandra: settings\.tls_use_pki: [^\n]+ on node/)
    end
  end

  context 'with production\'s role Hiera without tls_use_pki' do
    let(:drop_pki) { ->(data) { data['profile::cassandra::settings'].delete('tls_use_pki') } }
    let(:hiera_config) do
      layered_hiera('production/hosts/sessionstore1004.yaml', 'production/private.yaml', 'production/role/common/sessionstore.yaml',
                    edit: { 'production/role/common/sessionstore.yaml' => drop_pki })
    end
    let(:facts) { debian12_facts(fqdn: 'sessionstore1004.eqiad.wmnet', site: 'eqiad', ip: '10.64.0.4', extra: fresh_compile_fact) }
    let(:yaml) { cassandra_yaml(catalogue, '/etc/cassandra-a') }

    it { is_expected.to compile.with_all_deps }

    it 'renders instance a as the real module would' do
      expect(yaml['cluster_name']).to eq('sessions')
      expect(yaml['num_tokens']).to eq(256)
      expect(yaml['listen_address']).to eq('10.64.0.104')
      expect(yaml['rpc_address']).to eq('10.64.0.104')
      # A node is not its own seed: the five others.
      expect(yaml['seed_provider'][0]['parameters'][0]['seeds'].split(',')).to eq(
        %w[sessionstore1005-a.eqiad.wmnet sessionstore1006-a.eqiad.wmnet sessionstore2004-a.codfw.wmnet
           sessionstore2005-a.codfw.wmnet sessionstore2006-a.codfw.wmnet],
      )
      expect(yaml['data_file_directories']).to eq(['/srv/cassandra-a/data'])
      expect(yaml['hints_directory']).to eq('/srv/cassandra-a/data/hints')
      expect(yaml['commitlog_directory']).to eq('/srv/cassandra-a/commitlog')
      expect(yaml['saved_caches_directory']).to eq('/srv/cassandra-a/saved_caches')
      expect(yaml['concurrent_reads']).to eq(18)
      expect(yaml['concurrent_writes']).to eq(18)
      expect(yaml['concurrent_compactors']).to eq(10)
      expect(yaml['compaction_throughput']).to eq('20MiB/s')
      expect(yaml['permissions_validity']).to eq('600000ms')
      expect(yaml['trickle_fsync']).to be(false)
      expect(yaml['disk_failure_policy']).to eq('best_effort')
      is_expected.to contain_file('/etc/cassandra-a/cassandra-rackdc.properties').with_content(/^dc=eqiad\nrack=d5$/)
    end

    it 'encrypts client and inter-DC traffic with the cluster\'s keystore' do
      expect(yaml['client_encryption_options']).to include('enabled' => true, 'optional' => false, 'keystore' => '/etc/cassandra-a/tls/server.key')
      expect(yaml['server_encryption_options']).to include(
        'internode_encryption' => 'dc', 'optional' => false, 'keystore' => '/etc/cassandra-a/tls/server.key',
        'truststore' => '/etc/cassandra-a/tls/server.trust'
      )
      is_expected.to contain_file('/etc/cassandra-a/tls/server.key')
        .with(source: '/etc/puppet/private/modules/secret/secrets/cassandra/sessions/sessionstore1004-a/sessionstore1004-a.kst', mode: '0400')
      is_expected.to contain_file('/etc/cassandra-a/cqlshrc').with_content(%r{^certfile = /etc/cassandra-a/tls/rootCa\.crt$})
    end

    it 'gives instance a JMX port 7189, the heap, the exporter, and its address' do
      in_sh = file_content(catalogue, '/etc/cassandra-a/cassandra.in.sh')
      expect(in_sh).to match(/-Dcassandra\.jmx\.local\.port=7189 /)
      expect(in_sh).to match(/^MAX_HEAP_SIZE=12g$/)
      expect(in_sh).to match(/^HEAP_NEWSIZE=2048m$/)
      expect(in_sh).to match(%r{-javaagent:/usr/share/java/prometheus/jmx_prometheus_javaagent\.jar=10\.64\.0\.104:7800:})
      is_expected.to contain_package('prometheus-jmx-exporter')
      is_expected.to contain_file('/etc/systemd/system/cassandra-a-address.service')
        .with_content(%r{^ExecStart=/sbin/ip address replace 10\.64\.0\.104/32 dev eth0$})
      is_expected.to contain_service('cassandra-a-address').that_comes_before('Service[cassandra-a]')
      is_expected.to contain_service('cassandra-a').with(ensure: 'running', enable: true)
      is_expected.to contain_service('cassandra').with(ensure: 'stopped', enable: false)
    end

    it 'lets only the cluster and client_ips (IPv4 and IPv6) reach Cassandra\'s ports' do
      nft = file_content(catalogue, '/etc/cassandra-firewall.nft')
      expect(nft).to match(/^\s+tcp dport \{ 7000, 7001, 7199-7202, 9042 \} ip saddr \{ sessionstore1004\.eqiad\.wmnet, .*sessionstore2006-a\.codfw\.wmnet \} accept$/)
      expect(nft).to match(%r{^\s+tcp dport 9042 ip saddr \{ 10\.64\.64\.0/21, 10\.64\.75\.0/24, 10\.192\.75\.0/24, 10\.192\.64\.0/21 \} accept$})
      expect(nft).to match(%r{^\s+tcp dport 9042 ip6 saddr \{ 2620:0:861:cabe::/64, 2620:0:861:babe::/64, 2620:0:860:babe::/64, 2620:0:860:cabe::/64 \} accept$})
      expect(nft).to match(/^\s+tcp dport \{ 7000, 7001, 7199-7202, 9042 \} drop$/)
      is_expected.to contain_service('cassandra-firewall').with(ensure: 'running', enable: true)
    end

    it 'writes the session store user\'s CQL with its password from user_credentials, not applied (auto_apply_grants false)' do
      cql = file_content(catalogue, '/etc/cassandra-grants/sessionstore.cql')
      expect(cql).to match(/^CREATE USER IF NOT EXISTS sessions WITH PASSWORD 'placeholder-sessions-password';$/)
      expect(catalogue.resource('File', '/etc/cassandra-grants/sessionstore.cql').sensitive_parameters).to include(:content)
      is_expected.not_to contain_exec('cassandra apply grants sessionstore')
    end

    it 'installs nothing of kask on a host without kask services' do
      is_expected.not_to contain_package('kask')
      expect(catalogue.resources.select { |r| r.type == 'Kask::Instance' }).to eq([])
    end

    it 'reports the monitoring it does not set up, once' do
      is_expected.to compile
      expect(logged.grep(/monitor_enabled \(port 7001\)/).length).to eq(1)
    end
  end

  context 'with production (no PKI) and kask keyspaces but no replication' do
    let(:hiera_config) do
      layered_hiera({ 'profile::kask::schema::keyspaces' => { 'sessions' => {} }, 'profile::cassandra::rack' => 'd5' }, 'production/private.yaml',
                    'production/role/common/sessionstore.yaml',
                    edit: { 'production/role/common/sessionstore.yaml' => ->(d) { d['profile::cassandra::settings'].delete('tls_use_pki') } })
    end
    let(:facts) { debian12_facts(fqdn: 'sessionstore1004.eqiad.wmnet', site: 'eqiad', ip: '10.64.0.4') }

    it 'asks for the replication of each data centre, in one line' do
      is_expected.to compile.and_raise_error(/profile::kask::schema: replication: the cluster spans 2 domains \(eqiad\.wmnet, codfw\.wmnet\); [^\n]+ on node/)
    end
  end

  context 'with production (no PKI), kask keyspaces and the replication of both data centres' do
    let(:hiera_config) do
      layered_hiera({ 'profile::kask::schema::keyspaces' => { 'sessions' => { 'user' => 'kask', 'password' => 'p\'w' } },
                      'profile::kask::schema::replication' => { 'eqiad' => 3, 'codfw' => 3 },
                      'profile::cassandra::rack' => 'd5' },
                    'production/private.yaml', 'production/role/common/sessionstore.yaml',
                    edit: { 'production/role/common/sessionstore.yaml' => ->(d) { d['profile::cassandra::settings'].delete('tls_use_pki') } })
    end
    let(:facts) { debian12_facts(fqdn: 'sessionstore1004.eqiad.wmnet', site: 'eqiad', ip: '10.64.0.4') }

    it 'replicates to both and makes kask\'s least-privilege role, through instance a' do
      cql = file_content(catalogue, '/etc/kask-schema/sessions.cql')
      expect(cql).to include(%(CREATE KEYSPACE IF NOT EXISTS "sessions" WITH replication = {'class': 'NetworkTopologyStrategy', 'codfw': 3, 'eqiad': 3};\n))
      expect(cql).to include(%(CREATE TABLE IF NOT EXISTS "sessions"."values" (key text PRIMARY KEY, value blob);\n))
      expect(cql).to include(%(CREATE ROLE IF NOT EXISTS "kask" WITH LOGIN = true AND PASSWORD = 'p''w';\n))
      expect(cql).to include(%(GRANT SELECT ON TABLE "sessions"."values" TO "kask";\nGRANT MODIFY ON TABLE "sessions"."values" TO "kask";\n))
      expect(cql.lines.grep(/GRANT/).length).to eq(2)
      is_expected.to contain_exec('kask schema sessions')
        .with_command(%r{\A/usr/bin/cqlsh --cqlshrc=/etc/cassandra-a/cqlshrc --ssl 10\.64\.0\.104 9042 -f /etc/kask-schema/sessions\.cql})
        .that_requires('Service[cassandra-a]')
    end
  end

  context 'with production (no PKI) on a host that is not the first of the cluster' do
    let(:hiera_config) do
      layered_hiera({ 'profile::kask::schema::keyspaces' => { 'sessions' => {} }, 'profile::cassandra::rack' => 'b3' },
                    'production/private.yaml', 'production/role/common/sessionstore.yaml',
                    edit: { 'production/role/common/sessionstore.yaml' => ->(d) { d['profile::cassandra::settings'].delete('tls_use_pki') } })
    end
    let(:facts) { debian12_facts(fqdn: 'sessionstore2005.codfw.wmnet', site: 'codfw', ip: '10.192.16.5') }

    it 'leaves the schema to the first host and talks about its own DC' do
      is_expected.not_to contain_exec('kask schema sessions')
      is_expected.to contain_file('/etc/cassandra-a/cassandra-rackdc.properties').with_content(/^dc=codfw\nrack=b3$/)
    end
  end

  context 'with two kask services on one Cassandra host (two-instances sample)' do
    let(:facts) { debian12_facts(fqdn: 'sessionstore01.kask.test', sample: 'two-instances') }

    it { is_expected.to compile.with_all_deps }

    it 'creates both keyspaces (this DC, factor 1) and a role for each service before kask starts' do
      %w[sessions echostore].each do |ks|
        cql = file_content(catalogue, "/etc/kask-schema/#{ks}.cql")
        expect(cql).to include(%('class': 'NetworkTopologyStrategy', 'datacenter1': 1};))
        expect(cql).to include(%(GRANT MODIFY ON TABLE "#{ks}"."values" TO "kask_#{ks}";))
        is_expected.to contain_exec("kask schema #{ks}").that_requires('Service[cassandra]')
        is_expected.to contain_service("kask@#{ks}.service").with(ensure: 'running', enable: true)
      end
      expect(file_content(catalogue, '/etc/cassandra/credentials')).to match(/^password = two-instances-superuser$/)
    end
  end

  context 'with the Vagrant sample' do
    let(:facts) { debian12_facts(fqdn: 'sessionstore.kask.test', sample: 'vagrant', ip: '192.168.121.10') }

    it { is_expected.to compile.with_all_deps }

    it 'listens on loopback (no address added), with a heap of 1G' do
      yaml = cassandra_yaml(catalogue, '/etc/cassandra')
      expect(yaml['listen_address']).to eq('127.0.0.1')
      is_expected.to contain_file('/etc/cassandra/cassandra.in.sh').with_content(/^MAX_HEAP_SIZE=1G$/)
      expect(catalogue.resources.select { |r| r.type == 'Service' && r.title.end_with?('-address') }).to eq([])
    end
  end
end
