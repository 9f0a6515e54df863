# @summary kask services, each a native `kask@<name>` instance of the Debian package.
#
# Takes service definitions shaped exactly like those of
# `profile::docker::runner::service_defs`, so that a Docker-era host's
# definitions can be used unchanged: point this profile's key at them with
# `profile::kask::service_defs: "%{alias('profile::docker::runner::service_defs')}"`
# (hiera-samples/deployment-prep/common.yaml does; on a host where that key
# is absent, `alias` gives an empty string, which means no services). A host
# without service definitions gets nothing from this profile, not even the
# package.
#
# How each key of a definition is treated:
# * `config`: written verbatim to `/etc/<name>/config.yaml` (`kask::instance`).
# * `port`: Docker published it; natively the daemon listens on
#   `config.listen_port` (default 8080), so the two must be equal, otherwise
#   the catalog fails.
# * `ensure`: `present` or `absent`, as before.
# * `environment`: `Environment=` lines in the instance's drop-in.
# * `pooled` (not a Docker key; optional): `false` depools the instance,
#   `true` pools it (`kask::instance`'s `pooled`, docs/pool-depool.md), with
#   no restart. Absent: the pool state is left to `kask pool`/`kask depool`.
# * `version` (an image tag), `namespace`, `image_name`, `override_cmd`,
#   `volume`, `bind_mounts`, `host_network`, `runtime`: container-only,
#   ignored with a notice that names the key and says why. The package
#   version is `package_ensure`.
#
# @param service_defs
#   Service name to definition, or `''` for none. Hiera key
#   `profile::kask::service_defs`.
# @param package_ensure
#   `installed`, `latest` or a version of the kask package. Hiera key
#   `profile::kask::package_ensure`.
class profile::kask (
    Variant[Hash[String[1], Profile::Kask::ServiceDef], Enum['']] $service_defs = lookup(
        'profile::kask::service_defs', { 'default_value' => {} }
    ),
    String[1] $package_ensure = lookup('profile::kask::package_ensure', { 'default_value' => 'installed' }),
) {
    $services = $service_defs ? {
        ''      => {},
        default => $service_defs,
    }
    unless $services.empty {
        class { 'kask':
            package_ensure => $package_ensure,
        }
    }

    # Default listen port and address of the daemon (kask contract, section 2).
    $default_listen_port = 8080
    $default_listen_address = 'localhost'

    $ignored_keys = {
        'version'      => 'it was the Docker image tag; the daemon is the kask package (pin it with profile::kask::package_ensure)',
        'namespace'    => 'it was the Docker registry namespace; the package comes from apt',
        'image_name'   => 'there is no image; the package is kask',
        'override_cmd' => 'the packaged unit kask@<name> runs /usr/bin/kask --config /etc/<name>/config.yaml',
        'volume'       => 'Docker volumes do not apply; the daemon keeps no local state',
        'bind_mounts'  => 'the native daemon sees host paths directly',
        'host_network' => 'a native daemon always uses the host network',
        'runtime'      => 'there is no container runtime; systemd runs the daemon',
    }

    $present = $services.filter |$name, $def| { $def['ensure'] != 'absent' }
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

    $services.each |$name, $def| {
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
            pooled      => $def['pooled'],
        }
    }
}
