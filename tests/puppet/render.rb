#!/usr/bin/env ruby
# frozen_string_literal: true

# Compiles role::kask::sessionstore for one host, as Puppet would on it, and
# prints the content of one file of the catalog (tests/puppet/cassandra-config.sh).
#
#   ruby tests/puppet/render.rb HIERA_YAML FQDN IP SITE SAMPLE PATH
#
# SITE may be '-' (none); SAMPLE is the fact kask_sample.
require 'puppet'
require 'tmpdir'

hiera, fqdn, ip, site, sample, path = ARGV
abort 'usage: render.rb HIERA_YAML FQDN IP SITE SAMPLE PATH' unless path

root = File.expand_path('../..', __dir__)
Dir.mktmpdir('kask-render-') do |dir|
  Puppet.initialize_settings(['--vardir', dir, '--confdir', dir, '--codedir', dir, '--strict_variables',
                              '--modulepath', "#{root}/puppet/modules:#{root}/puppet/standalone:/usr/share/puppet/modules",
                              '--hiera_config', File.expand_path(hiera)])
  host, domain = fqdn.split('.', 2)
  facts = {
    'networking' => { 'fqdn' => fqdn, 'hostname' => host, 'domain' => domain, 'ip' => ip, 'primary' => 'eth0' },
    'ipaddress' => ip, 'fqdn' => fqdn, 'hostname' => host, 'domain' => domain, 'kask_sample' => sample,
    'os' => { 'family' => 'Debian', 'name' => 'Debian', 'release' => { 'major' => '12', 'full' => '12.8' } },
    'osfamily' => 'Debian', 'kernel' => 'Linux', 'path' => '/usr/sbin:/usr/bin:/sbin:/bin'
  }
  facts['site'] = site unless site == '-'
  node = Puppet::Node.new(fqdn, facts: Puppet::Node::Facts.new(fqdn, facts))
  node.merge(facts)
  Puppet[:code] = 'include role::kask::sessionstore'
  catalog = Puppet::Parser::Compiler.compile(node)
  resource = catalog.resource('File', path) or abort "render.rb: no File[#{path}] in the catalog"
  content = resource[:content]
  print(content.respond_to?(:unwrap) ? content.unwrap : content)
end
