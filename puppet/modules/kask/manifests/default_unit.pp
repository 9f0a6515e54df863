# @summary The package's default `kask.service` and `kask.socket`.
#
# They read `/etc/kask/config.yaml` and listen on 127.0.0.1:8080 by default,
# which would compete with an instance for the same port; instances start
# only after this class.
#
# @api private
class kask::default_unit {
  assert_private()

  if $kask::default_unit_ensure != 'unmanaged' {
    service { ['kask.socket', 'kask.service']:
      ensure  => $kask::default_unit_ensure,
      enable  => $kask::default_unit_ensure == 'running',
      require => Class['kask::install'],
    }
  }
}
