# frozen_string_literal: true

require 'spec_helper'

# The stand-in of operations/puppet's profile::cassandra: its interface, and
# the cassandra module's semantics behind it.
describe 'profile::cassandra' do
  let(:facts) { debian12_facts(fqdn: 'db1.kask.test', ip: '192.0.2.1', extra: fresh_compile_fact) }
  let(:base) { { rack: 'r1', allow_analytics: false, cassandra_settings: { 'target_version' => '4.x' } } }

  context 'with the real interface\'s parameters and defaults' do
    let(:params) { base.merge(all_instances: { 'db1.kask.test' => {} }) }

    it { is_expected.to compile.with_all_deps }
    it { is_expected.to contain_class('cassandra').with(rack: 'r1', seeds: ['db1.kask.test'], logstash_host: 'localhost', auto_apply_grants: false) }
    it { is_expected.to contain_class('cassandra::sysctl').with_vm_dirty_background_bytes(25_165_824) }
  end

  context 'on a host that instances does not list' do
    let(:params) { base.merge(all_instances: { 'db2.kask.test' => {} }) }

    it 'runs the default instance, as the real module does' do
      is_expected.to contain_cassandra__instance('default')
      expect(cassandra_yaml(catalogue, '/etc/cassandra')['seed_provider'][0]['parameters'][0]['seeds']).to eq('db2.kask.test')
    end
  end

  context 'with two instances on each of two hosts' do
    let(:params) do
      base.merge(all_instances: {
                   'db1.kask.test' => { 'a' => { 'listen_address' => '192.0.2.11' }, 'b' => { 'listen_address' => '192.0.2.12' } },
                   'db2.kask.test' => { 'a' => { 'listen_address' => '192.0.2.21' }, 'b' => { 'listen_address' => '192.0.2.22' } },
                 })
    end

    it 'numbers JMX from the instance letter and seeds from the other host' do
      is_expected.to contain_file('/etc/cassandra-a/cassandra.in.sh').with_content(/-Dcassandra\.jmx\.local\.port=7189 /)
      is_expected.to contain_file('/etc/cassandra-b/cassandra.in.sh').with_content(/-Dcassandra\.jmx\.local\.port=7190 /)
      %w[a b].each do |i|
        expect(cassandra_yaml(catalogue, "/etc/cassandra-#{i}")['seed_provider'][0]['parameters'][0]['seeds']).to eq('db2-a.kask.test,db2-b.kask.test')
      end
      is_expected.to contain_service('cassandra-a')
      is_expected.to contain_service('cassandra-b')
      is_expected.to contain_service('cassandra').with_ensure('stopped')
    end
  end

  context 'with two instances on the only host' do
    let(:params) { base.merge(all_instances: { 'db1.kask.test' => { 'a' => { 'listen_address' => '192.0.2.11' }, 'b' => { 'listen_address' => '192.0.2.12' } } }) }

    it { is_expected.to compile.and_raise_error(/Cassandra::Instance\[a\]: every seed \(db1-a\.kask\.test, db1-b\.kask\.test\) is this host/) }
  end

  context 'with cluster-wide settings and instance defaults' do
    let(:params) do
      base.merge(all_instances: { 'db1.kask.test' => {} },
                 cassandra_settings: { 'target_version' => '4.x', 'cluster_name' => 'c1', 'dc' => 'dc9',
                                       'default_instance_params' => { 'num_tokens' => 16, 'authenticator' => false, 'authorizor' => false } })
    end

    it 'renders them' do
      yaml = cassandra_yaml(catalogue, '/etc/cassandra')
      expect(yaml).to include('cluster_name' => 'c1', 'num_tokens' => 16, 'authenticator' => 'AllowAllAuthenticator', 'authorizer' => 'AllowAllAuthorizer')
      is_expected.to contain_file('/etc/cassandra/cassandra-rackdc.properties').with_content(/^dc=dc9\nrack=r1$/)
    end
  end

  {
    'a settings key the real class does not have' => [{ 'target_version' => '4.x', 'replication' => 3 }, /Class\[Cassandra\]: has no parameter named 'replication'/],
    'an instance parameter the real define does not have' => [
      { 'target_version' => '4.x', 'default_instance_params' => { 'heap' => '1G' } }, /Cassandra::Instance\[default\]: has no parameter named 'heap'/
    ],
    'another Cassandra version' => [{ 'target_version' => '3.x' }, /cassandra: settings\.target_version '3\.x': [^\n]+ on node/],
    'no target_version (the real default, 2.2)' => [{}, /cassandra: settings\.target_version '2\.2'/],
    'client encryption without a keystore' => [
      { 'target_version' => '4.x', 'default_instance_params' => { 'client_encryption_enabled' => true } },
      /Cassandra::Instance\[default\]: client_encryption_enabled needs settings\.tls_cluster_name[^\n]+ on node/
    ],
    'internode encryption without a keystore' => [
      { 'target_version' => '4.x', 'default_instance_params' => { 'internode_encryption' => 'all' } },
      /internode_encryption 'all' needs settings\.tls_cluster_name/
    ],
    'jbod_devices' => [{ 'target_version' => '4.x', 'jbod_devices' => ['sdb'] }, /cassandra: settings\.jbod_devices: /],
    'a user without CQL here' => [{ 'target_version' => '4.x', 'users' => ['aqs'] }, /settings\.users: no CQL for user 'aqs' here/],
    'a user without a password' => [{ 'target_version' => '4.x', 'users' => ['sessionstore'] }, /settings\.users: 'sessionstore' has no password in profile::cassandra::user_credentials/],
  }.each do |what, (settings, error)|
    context "with #{what}" do
      let(:params) { base.merge(all_instances: { 'db1.kask.test' => {} }, cassandra_settings: settings) }

      it { is_expected.to compile.and_raise_error(error) }
    end
  end

  context 'with allow_analytics' do
    let(:params) { base.merge(all_instances: { 'db1.kask.test' => {} }, allow_analytics: true) }

    it { is_expected.to compile.and_raise_error(/profile::cassandra: allow_analytics: [^\n]+ on node/) }
  end

  context 'with a host name in client_ips' do
    let(:params) { base.merge(all_instances: { 'db1.kask.test' => {} }, client_ips: ['client.kask.test']) }

    it { is_expected.to compile.and_raise_error(/client_ips.*expects a Stdlib::IP::Address/) }
  end

  context 'with auto_apply_grants' do
    let(:params) do
      base.merge(all_instances: { 'db1.kask.test' => {} }, auto_apply_grants: true, cassandra_passwords: { 'sessionstore' => 's3' },
                 cassandra_settings: { 'target_version' => '4.x', 'users' => ['sessionstore'], 'super_password' => 'root' })
    end

    it 'applies the users\' CQL through the first instance when it changes' do
      is_expected.to contain_exec('cassandra apply grants sessionstore')
        .with(refreshonly: true, command: %r{\A/usr/bin/cqlsh --cqlshrc=/etc/cassandra/cqlshrc -f /etc/cassandra-grants/sessionstore\.cql 192\.0\.2\.1 9042\z})
        .that_subscribes_to('File[/etc/cassandra-grants/sessionstore.cql]')
        .that_requires('Service[cassandra]')
    end
  end

  context 'with a missing required key (rack)' do
    let(:params) { { all_instances: {}, allow_analytics: false, cassandra_settings: {} } }

    it { is_expected.to compile.and_raise_error(/profile::cassandra::rack/) }
  end
end
