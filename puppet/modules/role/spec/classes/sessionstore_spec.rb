# frozen_string_literal: true

require 'spec_helper'

# role::sessionstore compiled against every Hiera sample in hiera-samples/.
describe 'role::sessionstore' do
  context 'with the deployment-prep sample pasted unchanged' do
    fqdn = 'deployment-sessionstore02.deployment-prep.eqiad1.wikimedia.cloud'
    let(:facts) { debian12_facts(fqdn: fqdn, sample: 'deployment-prep') }
    let(:service_def) { sample_data('deployment-prep.yaml')['profile::docker::runner::service_defs']['mediawiki-services-kask'] }
    let(:config_path) { '/etc/mediawiki-services-kask/config.yaml' }
    let(:unit) { 'kask@mediawiki-services-kask.service' }

    it { is_expected.to compile.with_all_deps }
    it { is_expected.to contain_package('kask').with_ensure('installed') }

    it 'writes the config hash verbatim with to_yaml, as Sensitive, 0640 root:kask, checked by kask' do
      is_expected.to contain_file(config_path).with(
        ensure: 'file', owner: 'root', group: 'kask', mode: '0640',
        validate_cmd: '/usr/bin/kask --check-config %'
      )
      resource = catalogue.resource('File', config_path)
      expect(resource.sensitive_parameters).to include(:content)
      content = file_content(catalogue, config_path)
      expect(content).to start_with("---\n")
      expect(YAML.safe_load(content)).to eq(service_def['config'])
      # Key order as in Hiera: the daemon reads exactly this.
      expect(content.lines.grep(/^\S/).map { |l| l.split(':').first }).to eq(service_def['config'].keys.unshift('---').map { |k| k == '---' ? "---\n" : k })
    end

    it { is_expected.to contain_file('/etc/mediawiki-services-kask').with(ensure: 'directory', owner: 'root', group: 'kask', mode: '0750') }

    it 'runs the packaged instance unit, restarted when the config changes' do
      is_expected.to contain_service(unit).with(ensure: 'running', enable: true)
      is_expected.to contain_file(config_path).that_notifies("Service[#{unit}]")
      is_expected.to contain_file(config_path).that_requires('Class[kask::install]')
      is_expected.to contain_service(unit).that_requires('Class[kask::install]')
    end

    it 'binds the instance socket where the config listens, after the default socket is stopped' do
      is_expected.to contain_file("/etc/systemd/system/kask@mediawiki-services-kask.socket.d/listen.conf")
        .with_content(/^ListenStream=0\.0\.0\.0:8080$/)
      is_expected.to contain_service('kask@mediawiki-services-kask.socket').with(ensure: 'running', enable: true)
      is_expected.to contain_service('kask.socket').that_comes_before('Service[kask@mediawiki-services-kask.socket]')
    end

    it 'never writes the unit itself, and adds no drop-in when there is nothing to add' do
      is_expected.not_to contain_file("/etc/systemd/system/#{unit}")
      is_expected.not_to contain_file('/lib/systemd/system/kask@.service')
      is_expected.to contain_file("/etc/systemd/system/#{unit}.d/puppet.conf").with_ensure('absent')
    end

    it 'keeps the package default unit out of the way' do
      is_expected.to contain_service('kask.service').with(ensure: 'stopped', enable: false)
      is_expected.to contain_service('kask.socket').with(ensure: 'stopped', enable: false)
    end

    it 'ignores the Docker engine keys: nothing about Docker in the catalogue' do
      docker = catalogue.resources.select { |r| "#{r.type} #{r.title}" =~ /docker/i }
      expect(docker).to eq([])
    end

    context 'with the Docker-only keys' do
      let(:facts) { debian12_facts(fqdn: fqdn, sample: 'deployment-prep', extra: fresh_compile_fact) }

      it 'notices each ignored key, naming it and saying why' do
        is_expected.to compile
        expect(logged).to include(a_string_matching(/service 'mediawiki-services-kask': ignoring Docker-only key 'namespace' \(wikimedia\): .*registry/))
        expect(logged).to include(a_string_matching(/ignoring Docker-only key 'version' \(v1\.0\.10\): it was the Docker image tag/))
        expect(logged).to include(a_string_matching(/ignoring Docker-only key 'override_cmd' .*kask@<name> runs/))
        # override_cmd named the same file the unit reads: no warning.
        expect(logged).not_to include(a_string_matching(/override_cmd named the config file/))
      end
    end

    it 'installs Cassandra with one default instance whose seed is this host' do
      is_expected.to contain_package('cassandra')
      is_expected.to contain_service('cassandra').with(ensure: 'running', enable: true)
      yaml = YAML.safe_load(file_content(catalogue, '/etc/cassandra/cassandra.yaml'))
      expect(yaml['seed_provider'][0]['parameters'][0]['seeds']).to eq(fqdn)
      expect(yaml['listen_address']).to eq(fqdn)
      expect(yaml['authenticator']).to eq('AllowAllAuthenticator')
      is_expected.to contain_file('/etc/cassandra/cassandra.yaml').that_comes_before('Package[cassandra]')
      is_expected.to contain_file('/etc/cassandra/cassandra.yaml').that_notifies('Service[cassandra]')
    end

    it 'creates the keyspace and table from kask --print-schema before kask starts' do
      exec = 'profile::cassandra kask schema mediawiki-services-kask'
      is_expected.to contain_exec(exec).with_command(
        %r{^/usr/bin/kask --print-schema --config /etc/cassandra/puppet/kask-mediawiki-services-kask.yaml --replication datacenter1:1 > }
      )
      is_expected.to contain_exec(exec).that_comes_before("Service[#{unit}]")
      is_expected.to contain_exec(exec).that_requires('Service[cassandra]')
      is_expected.to contain_exec(exec).that_requires('Class[kask::install]')
      expect(YAML.safe_load(file_content(catalogue, '/etc/cassandra/puppet/kask-mediawiki-services-kask.yaml')))
        .to eq('cassandra' => { 'keyspace' => 'sessions', 'table' => 'values' })
    end
  end

  context 'with Cassandra switched off (the end-to-end test)' do
    let(:facts) { debian12_facts(fqdn: 'deployment-sessionstore02.deployment-prep.eqiad1.wikimedia.cloud', sample: 'deployment-prep') }
    let(:params) { { cassandra: false } }

    it { is_expected.to compile.with_all_deps }
    it { is_expected.not_to contain_class('profile::cassandra') }
    it { is_expected.not_to contain_package('cassandra') }
    it { is_expected.to contain_service('kask@mediawiki-services-kask.service').with_ensure('running') }
  end

  context 'with the production-like sample, eqiad, first host of the cluster' do
    fqdn = 'sessionstore1004.eqiad.wmnet'
    let(:facts) { debian12_facts(fqdn: fqdn, sample: 'production', site: 'eqiad') }
    let(:kask_config) { YAML.safe_load(file_content(catalogue, '/etc/sessionstore/config.yaml')) }

    it { is_expected.to compile.with_all_deps }

    it 'merges the site over the common data in the kask config' do
      expect(kask_config['cassandra']['local_dc']).to eq('eqiad')
      expect(kask_config['cassandra']['hosts']).to eq(%w[sessionstore1004-a.eqiad.wmnet sessionstore1005-a.eqiad.wmnet sessionstore1006-a.eqiad.wmnet])
      expect(kask_config['cassandra']['tls']).to eq('ca' => '/etc/ssl/certs/ca-certificates.crt')
      expect(kask_config['cassandra']['authentication']).to eq('username' => 'sessions', 'password' => 'placeholder-sessions-password')
      expect(kask_config['listen_port']).to eq(8081)
      expect(kask_config['default_ttl']).to eq(86_400)
    end

    it { is_expected.to contain_service('kask@sessionstore.service').with(ensure: 'running', enable: true) }
    it { is_expected.to contain_file('/etc/sessionstore/config.yaml').with(owner: 'root', group: 'kask', mode: '0640') }

    it 'runs Cassandra instance a from its own unit, with TLS, auth, and all six seeds' do
      yaml = YAML.safe_load(file_content(catalogue, '/etc/cassandra-a/cassandra.yaml'))
      seeds = yaml['seed_provider'][0]['parameters'][0]['seeds'].split(',')
      expect(seeds).to eq(%w[1004 1005 1006].map { |n| "sessionstore#{n}-a.eqiad.wmnet" } +
                          %w[2004 2005 2006].map { |n| "sessionstore#{n}-a.codfw.wmnet" })
      expect(yaml['listen_address']).to eq('sessionstore1004-a.eqiad.wmnet')
      expect(yaml['cluster_name']).to eq('sessionstore')
      expect(yaml['authenticator']).to eq('PasswordAuthenticator')
      expect(yaml['authorizer']).to eq('CassandraAuthorizer')
      expect(yaml['client_encryption_options']).to include('enabled' => true, 'keystore' => '/etc/cassandra-a/tls/server.keystore')
      expect(yaml['data_file_directories']).to eq(['/srv/cassandra-a/data'])
      is_expected.to contain_file('/etc/cassandra-a/cassandra-rackdc.properties').with_content(/^dc=eqiad$/)
      is_expected.to contain_file('/etc/systemd/system/cassandra-a.service').with_content(%r{^Environment=CASSANDRA_INCLUDE=/etc/cassandra-a/cassandra.in.sh$})
      is_expected.to contain_file('/etc/default/cassandra-a').with_content(/^MAX_HEAP_SIZE=8G$/)
      is_expected.to contain_service('cassandra-a').with(ensure: 'running', enable: true)
      is_expected.to contain_file('/etc/cassandra-a/cassandra.yaml').that_notifies('Service[cassandra-a]')
      # The package's default instance is not used on this host.
      is_expected.to contain_service('cassandra').with(ensure: 'stopped', enable: false)
    end

    it 'creates the sessions user, then the schema for both DCs, then starts kask' do
      role_exec = 'profile::cassandra create role sessions'
      schema_exec = 'profile::cassandra kask schema sessionstore'
      is_expected.to contain_exec(role_exec).that_requires('Service[cassandra-a]')
      is_expected.to contain_exec(schema_exec).with_command(/--replication codfw:3,eqiad:3 > /)
      is_expected.to contain_exec(schema_exec).that_requires("Exec[#{role_exec}]")
      is_expected.to contain_exec(schema_exec).that_comes_before('Service[kask@sessionstore.service]')
      expect(file_content(catalogue, '/etc/cassandra/puppet/role-sessions.cql'))
        .to eq(%(CREATE ROLE IF NOT EXISTS "sessions" WITH PASSWORD = 'placeholder-sessions-password' AND LOGIN = true;\n))
      expect(catalogue.resource('File', '/etc/cassandra/puppet/role-sessions.cql').sensitive_parameters).to include(:content)
      is_expected.to contain_file('/etc/cassandra/puppet/role-sessions.cql').with(mode: '0600', owner: 'root')
      is_expected.to contain_file('/etc/cassandra/puppet/kask-sessionstore-grants.cql')
        .with_content(/^GRANT SELECT ON KEYSPACE "sessions" TO "sessions";\nGRANT MODIFY ON KEYSPACE "sessions" TO "sessions";$/)
      cqlshrc = file_content(catalogue, '/root/.cassandra/cqlshrc')
      expect(cqlshrc).to match(/^password = placeholder-superuser-password$/)
      expect(cqlshrc).to match(/^ssl = true$/)
      is_expected.to contain_file('/root/.cassandra/cqlshrc').with(mode: '0600')
    end

    it 'adds Apache\'s Cassandra repository before installing the package' do
      is_expected.to contain_file('/etc/apt/sources.list.d/cassandra.list')
        .with_content(%r{^deb \[signed-by=/etc/apt/keyrings/cassandra.asc\] https://debian.cassandra.apache.org 41x main$})
      is_expected.to contain_exec('profile::cassandra apt-get update').that_comes_before('Package[cassandra]')
    end
  end

  context 'with the production-like sample, codfw, not the first host' do
    let(:facts) { debian12_facts(fqdn: 'sessionstore2005.codfw.wmnet', sample: 'production', site: 'codfw') }

    it { is_expected.to compile.with_all_deps }

    it 'talks to its own DC' do
      kask_config = YAML.safe_load(file_content(catalogue, '/etc/sessionstore/config.yaml'))
      expect(kask_config['cassandra']['local_dc']).to eq('codfw')
      expect(kask_config['cassandra']['hosts']).to eq(%w[sessionstore2004-a.codfw.wmnet sessionstore2005-a.codfw.wmnet sessionstore2006-a.codfw.wmnet])
      is_expected.to contain_file('/etc/cassandra-a/cassandra-rackdc.properties').with_content(/^dc=codfw$/)
    end

    it 'leaves users and schema to the first host' do
      is_expected.not_to contain_exec('profile::cassandra kask schema sessionstore')
      is_expected.not_to contain_exec('profile::cassandra create role sessions')
      is_expected.not_to contain_file('/root/.cassandra/cqlshrc')
    end
  end

  context 'with two instances on one host (sessions and echostore)' do
    let(:facts) { debian12_facts(fqdn: 'sessionstore01.kask.test', sample: 'two-instances') }

    it { is_expected.to compile.with_all_deps }

    it 'runs both units, each with its own config' do
      is_expected.to contain_service('kask@sessions.service').with(ensure: 'running', enable: true)
      is_expected.to contain_service('kask@echostore.service').with(ensure: 'running', enable: true)
      echo = YAML.safe_load(file_content(catalogue, '/etc/echostore/config.yaml'))
      expect(echo).to eq(sample_data('two-instances.yaml')['profile::kask::service_defs']['echostore']['config'])
      expect(echo['cassandra']['keyspace']).to eq('echostore')
      expect(echo['base_uri']).to eq('echoseen/v1')
      expect(echo['default_ttl']).to eq(31_536_000)
      sessions = YAML.safe_load(file_content(catalogue, '/etc/sessions/config.yaml'))
      expect(sessions['listen_port']).to eq(8081)
      is_expected.to contain_file('/etc/echostore/config.yaml').that_notifies('Service[kask@echostore.service]')
      is_expected.not_to contain_file('/etc/echostore/config.yaml').that_notifies('Service[kask@sessions.service]')
    end

    it 'creates both keyspaces, without grants (no authentication)' do
      is_expected.to contain_exec('profile::cassandra kask schema echostore').with_command(/--replication datacenter1:1 > /)
      is_expected.to contain_exec('profile::cassandra kask schema sessions')
      expect(file_content(catalogue, '/etc/cassandra/puppet/kask-echostore-grants.cql')).not_to match(/GRANT/)
      expect(YAML.safe_load(file_content(catalogue, '/etc/cassandra/cassandra.yaml'))['authenticator']).to eq('AllowAllAuthenticator')
    end
  end

  context 'with the Vagrant sample' do
    let(:facts) { debian12_facts(fqdn: 'sessionstore.kask.test', sample: 'vagrant') }

    it { is_expected.to compile.with_all_deps }
    it { is_expected.to contain_service('kask@sessions.service').with_ensure('running') }
    it { is_expected.to contain_service('cassandra').with(ensure: 'running', enable: true) }
    it { is_expected.to contain_file('/etc/default/cassandra').with_content(/^MAX_HEAP_SIZE=1G$/) }

    it 'listens on loopback with authentication and creates the sessions user' do
      yaml = YAML.safe_load(file_content(catalogue, '/etc/cassandra/cassandra.yaml'))
      expect(yaml['listen_address']).to eq('127.0.0.1')
      expect(yaml['seed_provider'][0]['parameters'][0]['seeds']).to eq('127.0.0.1')
      expect(yaml['authenticator']).to eq('PasswordAuthenticator')
      is_expected.to contain_exec('profile::cassandra create role sessions')
      is_expected.to contain_exec('profile::cassandra kask schema sessions').that_requires('Exec[profile::cassandra create role sessions]')
    end
  end

  context 'on a host that no sample lists' do
    let(:facts) { debian12_facts(fqdn: 'elsewhere.kask.test', sample: 'deployment-prep') }

    it 'runs kask but installs no Cassandra' do
      is_expected.to compile.with_all_deps
      is_expected.to contain_service('kask@mediawiki-services-kask.service')
      is_expected.not_to contain_package('cassandra')
      is_expected.not_to contain_exec('profile::cassandra kask schema mediawiki-services-kask')
    end
  end
end
