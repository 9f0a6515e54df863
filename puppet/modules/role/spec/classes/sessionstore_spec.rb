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
end
