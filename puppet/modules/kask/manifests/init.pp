# @summary Installs the kask package and declares kask service instances.
#
# The Debian package `kask` ships the daemon (`/usr/bin/kask`), the system
# user and group `kask`, the units `kask.service` (configuration
# `/etc/kask/config.yaml`) and the template `kask@.service` (one instance per
# service name, configuration `/etc/<name>/config.yaml`). This class installs
# the package and keeps the package's default unit out of the way; each
# service runs as an instance declared with `kask::instance` (directly, or
# through the `instances` parameter).
#
# The package owns the units: this module never replaces them, it only adds
# drop-ins (see `kask::instance`).
#
# @example A pinned package and one instance
#   class { 'kask':
#     package_ensure => '1.0.0-1',
#     instances      => {
#       'sessions' => {
#         'config' => {
#           'listen_port' => 8081,
#           'cassandra'   => { 'hosts' => ['127.0.0.1'], 'keyspace' => 'sessions' },
#         },
#       },
#     },
#   }
#
# @param package_name
#   Name of the Debian package.
# @param package_ensure
#   `installed`, `latest`, or a Debian version string to pin (for example
#   `1.0.0-1`).
# @param binary
#   Path of the daemon; used to validate each configuration file
#   (`<binary> --check-config --strict <file>`: unknown keys are refused)
#   before it replaces the running one.
# @param group
#   Group the service runs as (created by the package); configuration files
#   are `0640 root:<group>` because they carry the Cassandra password.
# @param default_unit_ensure
#   What to do with the package's default `kask.service` (and `kask.socket`),
#   which reads `/etc/kask/config.yaml` and would compete with instances for
#   the same port: `stopped` (stopped and disabled), `running`, or
#   `unmanaged` (leave them alone).
# @param instances
#   Instances to declare: a hash of service name to the parameters of
#   `kask::instance`.
class kask (
  String[1] $package_name = 'kask',
  String[1] $package_ensure = 'installed',
  Stdlib::Absolutepath $binary = '/usr/bin/kask',
  String[1] $group = 'kask',
  Enum['running', 'stopped', 'unmanaged'] $default_unit_ensure = 'stopped',
  Hash[String[1], Hash[String[1], Any]] $instances = {},
) {
  contain kask::install
  contain kask::default_unit

  $instances.each |String[1] $instance_name, Hash $params| {
    kask::instance { $instance_name:
      * => $params,
    }
  }
}
