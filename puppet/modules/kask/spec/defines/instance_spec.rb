# frozen_string_literal: true

require 'spec_helper'

describe 'kask::instance' do
  let(:title) { 'echostore' }
  let(:config) do
    {
      'base_uri' => 'echoseen/v1',
      'listen_port' => 8082,
      'default_ttl' => 31_536_000,
      'cassandra' => {
        'hosts' => ['127.0.0.1'],
        'keyspace' => 'echostore',
        'authentication' => { 'username' => 'echo', 'password' => 's3cret' },
      },
    }
  end
  let(:params) { { config: config } }
  let(:path) { '/etc/echostore/config.yaml' }
  let(:unit) { 'kask@echostore.service' }

  it { is_expected.to compile.with_all_deps }

  it 'writes exactly to_yaml of the hash, Sensitive, 0640 root:kask' do
    is_expected.to contain_file(path).with(owner: 'root', group: 'kask', mode: '0640', validate_cmd: '/usr/bin/kask --check-config --strict %')
    expect(file_content(catalogue, path)).to eq(config.to_yaml)
    expect(catalogue.resource('File', path).sensitive_parameters).to include(:content)
  end

  it { is_expected.to contain_file(path).that_notifies("Service[#{unit}]") }
  it { is_expected.to contain_service(unit).with(ensure: 'running', enable: true) }

  it 'binds the packaged socket unit where the config listens (localhost means 127.0.0.1)' do
    is_expected.to contain_file('/etc/systemd/system/kask@echostore.socket.d/listen.conf')
      .with_content(/^\[Socket\]\nListenStream=\nListenStream=127\.0\.0\.1:8082\n\z/)
      .that_notifies('Service[kask@echostore.socket]')
    is_expected.to contain_service('kask@echostore.socket').with(ensure: 'running', enable: true).that_notifies("Service[#{unit}]")
    is_expected.to contain_service('kask@echostore.socket').that_requires('Class[kask::default_unit]')
    is_expected.to contain_service(unit).that_requires('Class[kask::default_unit]')
    is_expected.not_to contain_file('/etc/systemd/system/kask@echostore.socket')
  end

  context 'listening on IPv6' do
    let(:params) { { config: config.merge('listen_address' => '::1') } }

    it { is_expected.to contain_file('/etc/systemd/system/kask@echostore.socket.d/listen.conf').with_content(/^ListenStream=\[::1\]:8082$/) }
  end

  context 'listening on a host name' do
    let(:params) { { config: config.merge('listen_address' => 'kask.example.org') } }

    it { is_expected.to compile.and_raise_error(/listen_address 'kask.example.org' is a host name; the socket unit/) }
  end

  context 'when the config itself is Sensitive' do
    let(:params) { { config: sensitive(config) } }

    it { expect(file_content(catalogue, path)).to eq(config.to_yaml) }
  end

  context 'with environment and service settings' do
    let(:params) do
      {
        config: config,
        environment: { 'MALLOC_ARENA_MAX' => '2', 'ODD' => 'a "quoted" 100% \\ value' },
        service_settings: { 'WatchdogSec' => '60s', 'ReadOnlyPaths' => ['/a', '/b'] },
      }
    end
    let(:dropin) { "/etc/systemd/system/#{unit}.d/puppet.conf" }

    it 'adds a drop-in (never the unit itself) and restarts on its change' do
      is_expected.to contain_file(dropin).that_notifies("Service[#{unit}]")
      is_expected.not_to contain_file("/etc/systemd/system/#{unit}")
      expect(file_content(catalogue, dropin)).to eq(<<~'CONF')
        # Managed by Puppet (kask::instance). The unit itself belongs to the kask
        # package; this drop-in only adds to it.
        [Service]
        Environment="MALLOC_ARENA_MAX=2"
        Environment="ODD=a \"quoted\" 100%% \\ value"
        ReadOnlyPaths=/a
        ReadOnlyPaths=/b
        WatchdogSec=60s
      CONF
    end
  end

  context 'pooled: false' do
    let(:params) { { config: config, pooled: false } }
    let(:pool) { '/var/lib/kask/kask@echostore.pool' }

    it 'writes the state file the daemon polls, ordered before the service, never restarting it' do
      is_expected.to contain_file('/var/lib/kask').with(ensure: 'directory', owner: 'kask', group: 'kask', mode: '0770')
      is_expected.to contain_file(pool).with(ensure: 'file', content: "depooled\n", mode: '0644').that_comes_before("Service[#{unit}]")
      is_expected.not_to contain_file(pool).that_notifies("Service[#{unit}]")
      is_expected.not_to contain_file(pool).that_notifies('Service[kask@echostore.socket]')
      is_expected.not_to contain_service(unit).that_subscribes_to("File[#{pool}]")
      expect(catalogue.resource('File', pool)[:notify]).to be_nil
      expect(Array(catalogue.resource('Service', unit)[:subscribe]).map(&:to_s)).not_to include("File[#{pool}]")
      # No notify edge from it to anything, whatever the syntax.
      notified = catalogue.edges.select { |e| e.source.to_s == "File[#{pool}]" && e.respond_to?(:callback) && e.callback }
      expect(notified).to be_empty
    end
  end

  context 'pooled: true' do
    let(:params) { { config: config, pooled: true } }

    it { is_expected.to contain_file('/var/lib/kask/kask@echostore.pool').with_content("pooled\n") }
  end

  context 'pooled unset' do
    it 'leaves the pool state to kask pool / kask depool' do
      is_expected.not_to contain_file('/var/lib/kask/kask@echostore.pool')
    end
  end

  context 'with ensure absent' do
    let(:params) { { config: config, ensure: 'absent' } }

    it { is_expected.to contain_service(unit).with(ensure: 'stopped', enable: false) }
    it { is_expected.to contain_service('kask@echostore.socket').with(ensure: 'stopped', enable: false) }
    it { is_expected.to contain_file('/etc/systemd/system/kask@echostore.socket.d').with(ensure: 'absent').that_requires('Service[kask@echostore.socket]') }
    it { is_expected.to contain_file('/etc/echostore').with(ensure: 'absent', force: true).that_requires("Service[#{unit}]") }
    it { is_expected.to contain_file('/var/lib/kask/kask@echostore.pool').with(ensure: 'absent').that_requires("Service[#{unit}]") }
  end

  context 'with an unknown config key' do
    let(:params) { { config: config.merge('cassandra' => config['cassandra'].merge('colour' => 'blue')) } }
    let(:facts) { debian12_facts(extra: fresh_compile_fact) }

    it 'fails the compile, naming the key (validate_cmd --strict would refuse the file)' do
      is_expected.to compile.and_raise_error(/Kask::Instance\[echostore\]: config key 'cassandra.colour' is not a kask setting/)
    end
  end

  {
    'a port that is a string' => [{ 'listen_port' => '8080' }, /config key 'listen_port' must be .*Integer/],
    'a port out of range' => [{ 'listen_port' => 70_000 }, /config key 'listen_port' must be/],
    'a negative TTL' => [{ 'default_ttl' => -1 }, /config key 'default_ttl' must be/],
    'a TTL above 20 years' => [{ 'default_ttl' => 630_720_001 }, /config key 'default_ttl' must be/],
    'a bad log level' => [{ 'log_level' => 'loud' }, /config key 'log_level' must be/],
    'hosts as a string' => [{ 'cassandra' => { 'hosts' => 'db1' } }, /config key 'cassandra.hosts' must be/],
    'a keyspace that is not a CQL identifier' => [{ 'cassandra' => { 'keyspace' => 'my-ks' } }, /config key 'cassandra.keyspace' must be/],
    'verification as a string' => [{ 'cassandra' => { 'tls' => { 'enable_host_verification' => 'no' } } },
                                   /config key 'cassandra.tls.enable_host_verification' must be/],
    'a relative TLS path' => [{ 'tls' => { 'cert' => 'cert.pem' } }, /config key 'tls.cert' must be/],
  }.each do |what, (bad, message)|
    context "with #{what}" do
      let(:params) { { config: bad } }

      it { is_expected.to compile.and_raise_error(message) }
    end
  end

  context 'named kask' do
    let(:title) { 'kask' }

    it { is_expected.to compile.and_raise_error(/the name 'kask' belongs to the package's own kask.service/) }
  end

  context 'with a name unfit for a directory' do
    let(:title) { '../etc' }

    it { is_expected.to compile.and_raise_error(/the name must be lower-case letters/) }
  end
end
