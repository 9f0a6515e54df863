# Breaks each role rule of wmf_style once (tests/puppet/static.sh).
class role::bad (
  Boolean $switch = true,
) {
  include kask
  include profile::good
  $value = lookup('role::bad::value')
  file { '/tmp/role-bad': }
  class { 'profile::good': }
}
