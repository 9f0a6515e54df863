#!/usr/bin/env ruby
# frozen_string_literal: true

# puppet-lint with this repository's wmf_style check loaded (Debian's
# puppet-lint finds plugins only in gems). Arguments are puppet-lint's:
#   ruby tests/puppet/lint.rb --fail-on-warnings puppet/modules puppet/standalone
require 'puppet-lint'
require 'puppet-lint/bin'
load File.join(__dir__, 'lint', 'wmf_style.rb')
exit PuppetLint::Bin.new(ARGV).run
