# @summary Installs the kask Debian package.
#
# @api private
class kask::install {
  assert_private()

  package { $kask::package_name:
    ensure => $kask::package_ensure,
  }
}
