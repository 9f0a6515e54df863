# Breaks each profile rule of wmf_style once (tests/puppet/static.sh).
class profile::bad (
  String $plain = 'x',
  Hash $borrowed = lookup('profile::other::borrowed'),
  Hash $own = lookup('profile::bad::own'),
) {
  $late = lookup('profile::bad::late')
  include kask
  include profile::good
  $legacy = hiera('profile::bad::legacy')
}
