# @summary One kask service: `/etc/<name>/config.yaml` and the unit `kask@<name>`.
#
# The configuration hash is written verbatim with `to_yaml`, because the
# daemon reads exactly that file as its whole configuration. Before a new
# version replaces the running file it is checked with
# `<kask::binary> --check-config --strict`; a file the daemon would refuse,
# or one with a key it does not know (a typo, a mis-indented key), never
# reaches the service. The file is `0640 root:kask` (it holds the Cassandra
# password) and its content is `Sensitive`, so Puppet neither logs nor diffs
# it. The unit `kask@<name>` (shipped by the package) is enabled, running,
# and restarted when the file or the drop-in changes; its socket
# `kask@<name>.socket`, which holds the listening socket across restarts, is
# enabled and running too.
#
# Puppet never replaces the packaged units; it adds drop-ins:
# `/etc/systemd/system/kask@<name>.socket.d/listen.conf` sets the socket's
# `ListenStream=` from `listen_address`/`listen_port` (see
# `kask::listen_stream`), and
# `/etc/systemd/system/kask@<name>.service.d/puppet.conf` carries environment
# variables and `[Service]` settings, and exists only when there are some.
#
# @example
#   kask::instance { 'echostore':
#     config => {
#       'base_uri'    => 'echoseen/v1',
#       'listen_port' => 8081,
#       'default_ttl' => 31536000,
#       'cassandra'   => { 'hosts' => ['127.0.0.1'], 'keyspace' => 'echostore' },
#     },
#   }
#
# @param config
#   The daemon's configuration (see the kask contract, section 2). Plain or
#   `Sensitive`; known keys are type-checked when the catalog compiles, and
#   an unknown key (a typo, or a key indented under the wrong section) fails
#   the compile, naming it: `kask --check-config --strict`, the file's
#   `validate_cmd`, would refuse the file on the host anyway.
# @param ensure
#   `present`, or `absent` to stop and disable the unit and remove
#   `/etc/<name>/` and the drop-in.
# @param service_ensure
#   `running` or `stopped`.
# @param service_enable
#   Whether the unit starts at boot.
# @param environment
#   Environment variables for the daemon (`Environment=` in the drop-in).
# @param pooled
#   The instance's pool state (docs/pool-depool.md): `false` depools it
#   (readiness fails, requests are still served), `true` pools it. Written
#   to `/var/lib/kask/kask@<name>.pool`, the file `kask pool` and
#   `kask depool` write; the running daemon applies it within 200 ms, so
#   the service is not restarted (nothing notifies it). `undef` (the
#   default) leaves the file alone, so an operator's `kask depool` stays.
# @param service_settings
#   Further `[Service]` settings for the drop-in, for example
#   `{ 'WatchdogSec' => '60s' }`; an array value gives the setting once per
#   element.
define kask::instance (
  Variant[Hash[String[1], Data], Sensitive[Hash[String[1], Data]]] $config,
  Enum['present', 'absent'] $ensure = 'present',
  Enum['running', 'stopped'] $service_ensure = 'running',
  Boolean $service_enable = true,
  Optional[Boolean] $pooled = undef,
  Hash[Pattern[/\A[A-Za-z_][A-Za-z0-9_]*\z/], String] $environment = {},
  Hash[String[1], Variant[String, Integer, Boolean, Array[Variant[String, Integer, Boolean]]]] $service_settings = {},
) {
  include kask

  # The name becomes a directory under /etc and a systemd instance name.
  if $title !~ Pattern[/\A[a-z0-9][a-z0-9_.-]{0,63}\z/] {
    $why = 'it names /etc/<name>/ and the unit kask@<name>'
    fail("Kask::Instance[${title}]: the name must be lower-case letters, digits, '.', '_' or '-' (${why})")
  }
  if $title == 'kask' {
    $owner = "the package's own kask.service and /etc/kask/config.yaml"
    fail("Kask::Instance[${title}]: the name 'kask' belongs to ${owner}; give the instance the service's name")
  }

  $plain_config = $config ? {
    Sensitive => $config.unwrap,
    default   => $config,
  }
  $unknown_keys = kask::check_config($plain_config, "Kask::Instance[${title}]")
  unless $unknown_keys.empty {
    $key = $unknown_keys[0]
    fail("Kask::Instance[${title}]: config key '${key}' is not a kask setting (check its spelling and indentation)")
  }

  $unit = "kask@${title}.service"
  $socket = "kask@${title}.socket"
  $socket_dropin_dir = "/etc/systemd/system/${socket}.d"
  $socket_dropin_file = "${socket_dropin_dir}/listen.conf"
  $config_dir = "/etc/${title}"
  $config_file = "${config_dir}/config.yaml"
  $dropin_dir = "/etc/systemd/system/${unit}.d"
  $dropin_file = "${dropin_dir}/puppet.conf"
  $has_dropin = !($environment.empty and $service_settings.empty)
  $state_dir = '/var/lib/kask'
  $pool_file = "${state_dir}/kask@${title}.pool"

  if $ensure == 'present' {
    file { $config_dir:
      ensure  => directory,
      owner   => 'root',
      group   => $kask::group,
      mode    => '0750',
      require => Class['kask::install'],
    }

    file { $config_file:
      ensure       => file,
      owner        => 'root',
      group        => $kask::group,
      mode         => '0640',
      content      => Sensitive(to_yaml($plain_config)),
      validate_cmd => "${kask::binary} --check-config --strict %",
      require      => Class['kask::install'],
      notify       => Service[$unit],
    }

    if $has_dropin {
      file { $dropin_dir:
        ensure => directory,
        owner  => 'root',
        group  => 'root',
        mode   => '0755',
      }
      file { $dropin_file:
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0644',
        content => epp('kask/dropin.conf.epp', {
            'environment' => $environment,
            'settings'    => $service_settings,
        }),
        notify  => Service[$unit],
      }
    } else {
      file { $dropin_file:
        ensure => absent,
        notify => Service[$unit],
      }
    }

    $listen_stream = kask::listen_stream($plain_config, "Kask::Instance[${title}]")
    file { $socket_dropin_dir:
      ensure => directory,
      owner  => 'root',
      group  => 'root',
      mode   => '0755',
    }
    file { $socket_dropin_file:
      ensure  => file,
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
      content => "# Managed by Puppet (kask::instance), from ${config_file}.\n[Socket]\nListenStream=\nListenStream=${listen_stream}\n",
      notify  => Service[$socket],
    }

    # The pool state: applied by the running daemon itself, so ordered
    # before the service (a new instance starts in that state) but never
    # notifying it.
    if $pooled != undef {
      $pool_state = $pooled ? {
        true    => 'pooled',
        default => 'depooled',
      }
      ensure_resource('file', $state_dir, {
          ensure  => directory,
          owner   => $kask::group,
          group   => $kask::group,
          mode    => '0770',
          require => Class['kask::install'],
      })
      file { $pool_file:
        ensure  => file,
        owner   => 'root',
        group   => $kask::group,
        mode    => '0644',
        content => "${pool_state}\n",
        require => File[$state_dir],
        before  => Service[$unit],
      }
    }

    # Restarting the socket stops the service (it Requires= the socket), so
    # the service follows it.
    service { $socket:
      ensure  => $service_ensure,
      enable  => $service_enable,
      require => Class['kask::install', 'kask::default_unit'],
      notify  => Service[$unit],
    }
    service { $unit:
      ensure  => $service_ensure,
      enable  => $service_enable,
      require => Class['kask::install', 'kask::default_unit'],
    }
  } else {
    service { [$unit, $socket]:
      ensure => stopped,
      enable => false,
    }
    -> file { [$config_dir, $dropin_dir, $socket_dropin_dir, $pool_file]:
      ensure => absent,
      force  => true,
    }
  }
}
