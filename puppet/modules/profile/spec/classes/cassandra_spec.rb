# frozen_string_literal: true

require 'spec_helper'

describe 'profile::cassandra' do
  let(:facts) { debian12_facts(fqdn: 'db1.kask.test', extra: fresh_compile_fact) }

  context 'with only instances, as in deployment-prep' do
    let(:params) { { instances: { 'db1.kask.test' => {} } } }

    it { is_expected.to compile.with_all_deps }
    it { is_expected.to contain_service('cassandra').with_ensure('running') }
    it { is_expected.not_to contain_file('/root/.cassandra/cqlshrc') }
  end

  context 'when this host is not listed' do
    let(:params) { { instances: { 'db2.kask.test' => {} } } }

    it { is_expected.to compile.with_all_deps }
    it { expect(catalogue.resources.map(&:type) - %w[Class Stage Node]).to eq([]) }
  end

  context 'with two instances on one host and no listen addresses' do
    let(:params) { { instances: { 'db1.kask.test' => { 'a' => {}, 'b' => {} } } } }

    it { is_expected.to compile.and_raise_error(/several instances on db1.kask.test would listen on db1.kask.test/) }
  end

  context 'with two instances on one host' do
    let(:params) do
      { instances: { 'db1.kask.test' => { 'a' => { 'listen_address' => '10.0.0.1' }, 'b' => { 'listen_address' => '10.0.0.2', 'jmx_port' => 7200 } } } }
    end

    it { is_expected.to contain_service('cassandra-a') }
    it { is_expected.to contain_service('cassandra-b') }
    it { is_expected.to contain_file('/etc/cassandra-b/cassandra.in.sh').with_content(/-Dcassandra.jmx.local.port=7200"$/) }
    it { expect(YAML.safe_load(file_content(catalogue, '/etc/cassandra-b/cassandra.yaml'))['seed_provider'][0]['parameters'][0]['seeds']).to eq('10.0.0.1,10.0.0.2') }
  end

  context 'with the Docker-era keys that manage other things' do
    let(:params) do
      {
        instances: { 'db1.kask.test' => {} }, client_ips: ['10.0.0.9'], allow_analytics: true,
        monitor_enabled: true, settings: { 'target_version' => '4.x', 'cassandra_yaml' => { 'concurrent_reads' => 64 } }
      }
    end

    it 'says what it does not manage' do
      is_expected.to compile
      expect(logged).to include(a_string_matching(/ignoring settings key 'target_version'/))
      expect(logged).to include(a_string_matching(/client_ips given, but this profile manages no firewall: allow 10.0.0.9/))
      expect(logged).to include(a_string_matching(/ignoring allow_analytics/))
      expect(logged).to include(a_string_matching(/ignoring monitor_enabled/))
    end

    it { expect(YAML.safe_load(file_content(catalogue, '/etc/cassandra/cassandra.yaml'))['concurrent_reads']).to eq(64) }
  end

  context 'with a bad type' do
    let(:params) { { instances: { 'db1.kask.test' => {} }, user_credentials: { 'sessions' => 42 } } }

    it { is_expected.to compile.and_raise_error(/user_credentials.*expects/) }
  end

  context 'without instances' do
    it { is_expected.to compile.and_raise_error(/instances/) }
  end
end
