# @summary kask services from the Docker-era `service_defs` Hiera.
#
# Takes service definitions shaped exactly like
# `profile::docker::runner::service_defs` and runs each as a native
# `kask@<name>` instance of the Debian package. When
# `profile::kask::service_defs` is not in Hiera, the Docker runner's key is
# used, so the Hiera that operators have in Horizon works pasted unchanged.
#
# How each key of a definition is treated:
# * `config`: written verbatim to `/etc/<name>/config.yaml` (`kask::instance`).
# * `port`: Docker published it; natively the daemon listens on
#   `config.listen_port` (default 8080), so the two must be equal, otherwise
#   the catalog fails.
# * `ensure`: `present` or `absent`, as before.
# * `environment`: `Environment=` lines in the instance's drop-in.
# * `version` (an image tag), `namespace`, `image_name`, `override_cmd`,
#   `volume`, `bind_mounts`, `host_network`, `runtime`: container-only,
#   ignored with a notice that names the key and says why.
#
# `profile::docker::engine::*` keys of a pasted sample are simply never
# looked up: nothing on this host includes a Docker profile.
#
# @param service_defs
#   Service name to definition. Defaults to
#   `profile::docker::runner::service_defs` when this key is absent.
class profile::kask (
  Hash[String[1], Profile::Kask::ServiceDef] $service_defs = lookup('profile::docker::runner::service_defs', {
      'value_type'    => Hash[String[1], Profile::Kask::ServiceDef],
      'default_value' => {},
  }),
) {
  # The package version (what the image tag `version` used to select) is
  # `kask::package_ensure` in Hiera; `include` keeps the kask class shareable
  # with profile::cassandra, which needs the binary to print the schema.
  include kask

  # Default listen port of the daemon (kask contract, section 2).
  $default_listen_port = 8080
  $default_listen_address = 'localhost'

  $ignored_keys = {
    'version'      => 'it was the Docker image tag; the daemon is the installed kask package (pin it with kask::package_ensure)',
    'namespace'    => 'it was the Docker registry namespace; the package comes from apt',
    'image_name'   => 'there is no image; the package is kask',
    'override_cmd' => 'the packaged unit kask@<name> runs /usr/bin/kask --config /etc/<name>/config.yaml',
    'volume'       => 'Docker volumes do not apply; the daemon keeps no local state',
    'bind_mounts'  => 'the native daemon sees host paths directly',
    'host_network' => 'a native daemon always uses the host network',
    'runtime'      => 'there is no container runtime; systemd runs the daemon',
  }

  $present = $service_defs.filter |$name, $def| { $def['ensure'] != 'absent' }
  $endpoints = $present.map |$name, $def| {
    $listen_port = $def['config']['listen_port'] ? {
      Undef   => $default_listen_port,
      default => $def['config']['listen_port'],
    }
    $listen_address = $def['config']['listen_address'] ? {
      Undef   => $default_listen_address,
      default => $def['config']['listen_address'],
    }
    if $def['port'] =~ Integer and $listen_port =~ Integer and $def['port'] != $listen_port {
      $why = "Docker published 'port'; the native daemon listens on config.listen_port itself, so make them equal (or drop 'port')"
      fail("profile::kask: service '${name}': port ${def['port']} does not match config.listen_port ${listen_port}. ${why}")
    }
    "${listen_address}:${listen_port}"
  }
  $endpoints.each |$endpoint| {
    $users = $present.keys.filter |$index, $name| { $endpoints[$index] == $endpoint }
    if $users.length > 1 {
      fail("profile::kask: services ${users.join(', ')} would all listen on ${endpoint}; give each its own config.listen_port")
    }
  }

  $service_defs.each |$name, $def| {
    $ignored_keys.each |$key, $why| {
      if $key in $def {
        $shown = $def[$key] ? {
          String  => " (${def[$key]})",
          default => '',
        }
        notice("profile::kask: service '${name}': ignoring Docker-only key '${key}'${shown}: ${why}")
      }
    }
    $cmd_config = $def['override_cmd'] ? {
      String  => $def['override_cmd'].match(/--?config[ =]+(\S+)/),
      default => undef,
    }
    if $cmd_config and $cmd_config[1] != "/etc/${name}/config.yaml" {
      $unit_reads = "kask@${name} reads /etc/${name}/config.yaml"
      warning("profile::kask: service '${name}': override_cmd named the config file ${cmd_config[1]}, but ${unit_reads}")
    }

    $ensure = $def['ensure'].lest || { 'present' }
    $environment = ($def['environment'].lest || { {} }).map |$k, $v| { [$k, String($v)] }.convert_to(Hash)
    kask::instance { $name:
      ensure      => $ensure,
      config      => $def['config'],
      environment => $environment,
    }
  }
}
