# frozen_string_literal: true

require 'spec_helper'

describe 'profile::kask' do
  let(:base_config) { { 'listen_port' => 8080, 'cassandra' => { 'hosts' => ['127.0.0.1'] } } }

  context 'without any service definitions in Hiera' do
    it { is_expected.to compile.with_all_deps }
    it { is_expected.not_to contain_package('kask') }
    it { is_expected.not_to contain_class('kask') }
    it { expect(catalogue.resources.map(&:type)).not_to include('Kask::Instance') }
  end

  context 'with the native key (two-instances sample)' do
    let(:facts) { debian12_facts(fqdn: 'x.kask.test', sample: 'two-instances') }

    it { is_expected.to contain_kask__instance('sessions') }
    it { is_expected.to contain_kask__instance('echostore') }
    it { is_expected.to contain_package('kask').with_ensure('installed') }
  end

  context 'with the Docker runner key aliased by the project Hiera (deployment-prep)' do
    let(:facts) { debian12_facts(fqdn: 'x.kask.test', sample: 'deployment-prep') }

    it { is_expected.to contain_kask__instance('mediawiki-services-kask') }
  end

  context 'with the alias in Hiera but no Docker runner key (an empty string)' do
    let(:hiera_config) { layered_hiera('deployment-prep/common.yaml') }

    it { is_expected.to compile.with_all_deps }
    it { is_expected.not_to contain_package('kask') }
  end

  context 'with a pinned package' do
    let(:params) { { package_ensure: '1.0.0-1', service_defs: { 'sessions' => { 'config' => base_config } } } }

    it { is_expected.to contain_package('kask').with_ensure('1.0.0-1') }
  end

  context 'with port disagreeing with listen_port' do
    let(:params) { { service_defs: { 'sessions' => { 'port' => 8081, 'config' => base_config } } } }

    it {
      is_expected.to compile.and_raise_error(
        /profile::kask: service 'sessions': port 8081 does not match config.listen_port 8080\. Docker published 'port'/,
      )
    }
  end

  context 'with port disagreeing with the default listen_port' do
    let(:params) { { service_defs: { 'sessions' => { 'port' => 9000, 'config' => { 'service_name' => 'x' } } } } }

    it { is_expected.to compile.and_raise_error(/port 9000 does not match config.listen_port 8080/) }
  end

  context 'with two services on the same port' do
    let(:params) do
      { service_defs: { 'a' => { 'config' => base_config }, 'b' => { 'config' => base_config } } }
    end

    it { is_expected.to compile.and_raise_error(%r{services a, b would all listen on localhost:8080}) }
  end

  context 'with two services on the same port, one of them absent' do
    let(:params) do
      { service_defs: { 'a' => { 'config' => base_config }, 'b' => { 'config' => base_config, 'ensure' => 'absent' } } }
    end

    it { is_expected.to compile.with_all_deps }
    it { is_expected.to contain_kask__instance('b').with_ensure('absent') }
    it { is_expected.to contain_service('kask@b.service').with_ensure('stopped') }
  end

  context 'with a key that is not in the Docker runner shape' do
    let(:params) { { service_defs: { 'sessions' => { 'config' => base_config, 'replicas' => 3 } } } }

    it { is_expected.to compile.and_raise_error(/service_defs.*unrecognized key 'replicas'/) }
  end

  context 'with port of the wrong type' do
    let(:params) { { service_defs: { 'sessions' => { 'config' => base_config, 'port' => '8080' } } } }

    it { is_expected.to compile.and_raise_error(/service_defs.*'port'.*expects.*Integer/) }
  end

  context 'with a config of the wrong type' do
    let(:params) { { service_defs: { 'sessions' => { 'config' => base_config.merge('listen_port' => 'http') } } } }

    it { is_expected.to compile.and_raise_error(/Kask::Instance\[sessions\]: config key 'listen_port' must be/) }
  end

  context 'with every Docker-only key' do
    let(:facts) { debian12_facts(extra: fresh_compile_fact) }
    let(:params) do
      {
        service_defs: {
          'sessions' => {
            'config' => base_config, 'port' => 8080, 'version' => 'v1.0.10', 'namespace' => 'wikimedia',
            'image_name' => 'kask', 'override_cmd' => './kask --config /srv/other.yaml', 'volume' => true,
            'bind_mounts' => { '/srv/a' => '/srv/a' }, 'host_network' => true, 'runtime' => 'runsc',
            'environment' => { 'MALLOC_ARENA_MAX' => 2 }, 'ensure' => 'present'
          },
        },
      }
    end

    it { is_expected.to compile.with_all_deps }

    it 'notices each ignored key with its reason' do
      is_expected.to compile
      %w[version namespace image_name override_cmd volume bind_mounts host_network runtime].each do |key|
        expect(logged).to include(a_string_matching(/profile::kask: service 'sessions': ignoring Docker-only key '#{key}'.*: \S+/))
      end
      expect(logged).to include(a_string_matching(%r{override_cmd named the config file /srv/other.yaml, but kask@sessions reads /etc/sessions/config.yaml}))
      # Mapped keys are not reported as ignored.
      %w[environment ensure port config].each do |key|
        expect(logged).not_to include(a_string_matching(/ignoring Docker-only key '#{key}'/))
      end
    end

    it 'maps environment to the drop-in' do
      is_expected.to contain_file('/etc/systemd/system/kask@sessions.service.d/puppet.conf')
        .with_content(/^Environment="MALLOC_ARENA_MAX=2"$/)
    end

    it 'leaves the pool state alone when pooled is not given' do
      is_expected.to contain_kask__instance('sessions').with(pooled: nil)
      is_expected.not_to contain_file('/var/lib/kask/kask@sessions.pool')
    end
  end

  context 'with pooled: false in a service definition' do
    let(:params) { { service_defs: { 'sessions' => { 'config' => base_config, 'pooled' => false } } } }
    let(:pool) { '/var/lib/kask/kask@sessions.pool' }

    it 'depools through the state file, without restarting the service' do
      is_expected.to contain_kask__instance('sessions').with(pooled: false)
      is_expected.to contain_file(pool).with_content("depooled\n")
      is_expected.not_to contain_file(pool).that_notifies('Service[kask@sessions.service]')
      is_expected.not_to contain_service('kask@sessions.service').that_subscribes_to("File[#{pool}]")
    end
  end

  context 'with pooled that is not a Boolean' do
    let(:params) { { service_defs: { 'sessions' => { 'config' => base_config, 'pooled' => 'no' } } } }

    it { is_expected.to compile.and_raise_error(/pooled/) }
  end
end
