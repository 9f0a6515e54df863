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

REPO_ROOT = File.expand_path('../..', __dir__)
SAMPLES_DIR = File.join(REPO_ROOT, 'hiera-samples')

# Hand-written Debian 12 facts (no facterdb here). `fqdn` and `kask_sample`
# are overridden per example through `debian12_facts`.
def debian12_facts(fqdn: 'kask-test.example.test', sample: 'none', site: nil, extra: {})
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
      'ip' => '192.0.2.10',
    },
    'kask_sample' => sample,
  }
  facts['kask_site'] = site if site
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
  c.module_path = [File.join(REPO_ROOT, 'puppet', 'modules'), '/usr/share/puppet/modules'].join(':')
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
