# Breaks each rule of wmf_style for component classes and defines once
# (tests/puppet/static.sh).
class kask::bad {
  $value = lookup('kask::bad::value')
  include kask::install
  include stdlib
  class { 'apt': }
  validate_string($value)
}

define kask::bad_define {
  include other::thing
  base::service_unit { $title: }
}
