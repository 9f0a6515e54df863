# frozen_string_literal: true

# rspec-puppet harness for puppet/modules/* (Debian 12 packages only: no
# Forge, no rubygems). Run through `make test-puppet`, or by hand:
#   rspec -I tests/puppet --require spec_helper puppet/modules/*/spec
#
# rspec-puppet 2.9 on Debian needs hocon loaded before it.
require 'hocon'
require 'hocon/config_factory'
require 'rspec-puppet'
require 'yaml'
require 'securerandom'
require 'tmpdir'

REPO_ROOT = File.expand_path('../..', __dir__)
SAMPLES_DIR = File.join(REPO_ROOT, 'hiera-samples')

# Hand-written Debian 12 facts (no facterdb here). `fqdn`, `ip`, `site` (as
# Wikimedia's manifests set it) and `kask_sample` are overridden per example
# through `debian12_facts`.
def debian12_facts(fqdn: 'kask-test.example.test', sample: 'none', site: nil, ip: '192.0.2.10', extra: {})
  hostname, domain = fqdn.split('.', 2)
  facts = {
    'kernel' => 'Linux',
    'osfamily' => 'Debian',
    'operatingsystem' => 'Debian',
    'operatingsystemrelease' => '12.8',
    'os' => {
      'name' => 'Debian',
      'family' => 'Debian',
      'release' => { 'full' => '12.8', 'major' => '12', 'minor' => '8' },
      'distro' => { 'codename' => 'bookworm', 'id' => 'Debian' },
      'architecture' => 'amd64',
      'hardware' => 'x86_64',
    },
    'architecture' => 'amd64',
    'hardwaremodel' => 'x86_64',
    'service_provider' => 'systemd',
    'path' => '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'fqdn' => fqdn,
    'hostname' => hostname,
    'domain' => domain,
    'networking' => {
      'fqdn' => fqdn,
      'hostname' => hostname,
      'domain' => domain,
      'ip' => ip,
      'primary' => 'eth0',
    },
    'ipaddress' => ip,
    'kask_sample' => sample,
  }
  facts['site'] = site if site
  facts.merge(extra)
end

# The value of a file's content parameter, unwrapped if it is Sensitive.
def file_content(catalogue, path)
  resource = catalogue.resource('File', path)
  raise "no File[#{path}] in the catalogue" if resource.nil?

  content = resource[:content]
  content.respond_to?(:unwrap) ? content.unwrap : content
end

# A Hiera sample, parsed, for comparing with what Puppet wrote.
def sample_data(relative)
  YAML.safe_load(File.read(File.join(SAMPLES_DIR, relative)))
end

# Collects Puppet log messages of the compilation that follows. rspec-puppet
# caches catalogues, so examples that look at logs add a fact that makes
# the compilation unique (`fresh_compile_fact`).
def fresh_compile_fact
  { 'spec_nonce' => SecureRandom.hex(8) }
end

RSpec.configure do |c|
  # The drop-in modules, then the stand-ins of operations/puppet's.
  c.module_path = [File.join(REPO_ROOT, 'puppet', 'modules'), File.join(REPO_ROOT, 'puppet', 'standalone'),
                   '/usr/share/puppet/modules'].join(':')
  c.manifest_dir = File.join(__dir__, 'manifests')
  c.hiera_config = File.join(SAMPLES_DIR, 'hiera.yaml')
  c.default_facts = debian12_facts
  c.strict_variables = true
  c.before(:each) do
    @logs = []
    Puppet::Util::Log.level = :notice
    Puppet::Util::Log.newdestination(Puppet::Test::LogCollector.new(@logs))
  end
  c.after(:each) do
    Puppet::Util::Log.close_all
  end
end

# Messages logged while compiling, as strings.
def logged
  @logs.map(&:message)
end

# A Hiera configuration made of the given layers, highest first: each is a
# file under hiera-samples/ (relative path), or a Hash written to a file of
# its own. `edit` may change a parsed layer before it is written (say, to
# drop a key of a real fixture). Returns the path of its hiera.yaml.
def layered_hiera(*layers, edit: {})
  dir = Dir.mktmpdir('kask-hiera-')
  paths = layers.each_with_index.map do |layer, i|
    data = layer.is_a?(Hash) ? layer : YAML.safe_load(File.read(File.join(SAMPLES_DIR, layer)))
    edit[layer]&.call(data)
    name = "layer#{i}.yaml"
    File.write(File.join(dir, name), data.to_yaml)
    name
  end
  config = { 'version' => 5, 'defaults' => { 'datadir' => dir, 'data_hash' => 'yaml_data' },
             'hierarchy' => [{ 'name' => 'layers', 'paths' => paths }] }
  File.write(File.join(dir, 'hiera.yaml'), config.to_yaml)
  File.join(dir, 'hiera.yaml')
end

# cassandra.yaml of an instance, parsed.
def cassandra_yaml(catalogue, config_dir)
  YAML.safe_load(file_content(catalogue, "#{config_dir}/cassandra.yaml"))
end
