# @summary Apache Cassandra for the session store, and kask's schema in it.
#
# Mirrors the parameters of the Docker-era `profile::cassandra`, so that the
# same Hiera compiles unchanged; only `instances` is required.
#
# On a host listed in `instances` this profile adds the Cassandra apt source
# (Apache's repository by default), installs Cassandra, renders each local
# instance's `cassandra.yaml` with the seed list computed from every instance
# of every host, and turns password authentication on when
# `user_credentials` is given. On the first host of `instances` (sorted), it
# also creates the Cassandra users and, for each kask service, the keyspace
# and table from the schema that kask itself prints
# (`kask --print-schema --config ... --replication ...`), before the kask
# unit starts. A host not listed in `instances` gets nothing from this
# profile.
#
# An instance named `default` (what `{}` for a host means) is the package's
# own `cassandra` service with `/etc/cassandra`; an instance with another
# name, for example `a`, gets `/etc/cassandra-a`, data under
# `/srv/cassandra-a` and a unit `cassandra-a.service` written here.
#
# @param instances
#   Host FQDN to a hash of instance name to instance parameters
#   (`listen_address`, `rpc_address`, `native_transport_port`,
#   `storage_port`, `jmx_port`, `max_heap_size`, `heap_newsize`). `{}` means
#   one default instance listening on the host's FQDN.
# @param rack
#   Rack of this host's instances (`cassandra-rackdc.properties`).
# @param settings
#   Cluster settings: `cluster_name`, `dc`, `num_tokens`,
#   `default_instance_params` (merged under each instance's parameters),
#   `client_encryption_enabled`, `client_keystore`,
#   `client_keystore_password`, and `cassandra_yaml` (raw `cassandra.yaml`
#   keys, applied last). Other keys of the Docker-era profile are accepted
#   and ignored with a notice.
# @param client_ips
#   Addresses of CQL clients. Kept for compatibility: this profile manages no
#   firewall, so they are only reported.
# @param user_credentials
#   Cassandra user to password. When not empty, password authentication is
#   on and these users are created; the entry `cassandra` (if any) is the
#   password the profile logs in with as superuser, otherwise `cassandra`.
# @param allow_analytics
#   Kept for compatibility; there is no analytics access to configure here.
# @param monitor_enabled
#   Kept for compatibility; monitoring is not managed by this profile.
# @param manage_apt_source
#   Whether to add the apt source for Cassandra.
# @param apt_location
#   URL of the Debian repository that has the `cassandra` package.
# @param apt_release
#   Its suite (Apache's repository names one per release series, e.g. `41x`).
# @param apt_key_source
#   Where to fetch the repository's signing keys (ASCII-armoured) from.
# @param package_ensure
#   `installed`, `latest` or a version of the `cassandra` package.
# @param kask_service_defs
#   The kask services whose keyspaces live in this cluster; the same Hiera
#   that `profile::kask` reads.
# @param kask_replication
#   Replication of kask's keyspaces, DC name to replication factor. Default:
#   this host's DC with a factor of the number of instances, at most 3.
class profile::cassandra (
  Hash[Stdlib::Fqdn, Hash[String[1], Hash[String[1], Any]]] $instances,
  Optional[String[1]] $rack = undef,
  Hash[String[1], Any] $settings = {},
  Array[Stdlib::Host] $client_ips = [],
  Hash[String[1], Variant[String[1], Sensitive[String[1]]]] $user_credentials = {},
  Boolean $allow_analytics = false,
  Boolean $monitor_enabled = false,
  Boolean $manage_apt_source = true,
  Stdlib::HTTPUrl $apt_location = 'https://debian.cassandra.apache.org',
  String[1] $apt_release = '41x',
  Stdlib::Filesource $apt_key_source = 'https://downloads.apache.org/cassandra/KEYS',
  String[1] $package_ensure = 'installed',
  Hash[String[1], Profile::Kask::ServiceDef] $kask_service_defs = lookup('profile::kask::service_defs', {
      'value_type'    => Hash[String[1], Profile::Kask::ServiceDef],
      'default_value' => lookup('profile::docker::runner::service_defs', {
          'value_type'    => Hash[String[1], Profile::Kask::ServiceDef],
          'default_value' => {},
      }),
  }),
  Optional[Hash[String[1], Integer[1]]] $kask_replication = undef,
) {
  $fqdn = $facts['networking']['fqdn']

  if $fqdn in $instances {
    $known_settings = [
      'cluster_name', 'dc', 'num_tokens', 'default_instance_params', 'client_encryption_enabled',
      'client_keystore', 'client_keystore_password', 'cassandra_yaml',
    ]
    ($settings.keys - $known_settings).each |$key| {
      notice("profile::cassandra: ignoring settings key '${key}': this profile does not manage it")
    }
    unless $client_ips.empty {
      $clients = $client_ips.join(', ')
      notice("profile::cassandra: client_ips given, but this profile manages no firewall: allow ${clients} to reach the CQL port yourself")
    }
    if $allow_analytics {
      notice('profile::cassandra: ignoring allow_analytics: there is no analytics access to configure on this host')
    }
    if $monitor_enabled {
      notice('profile::cassandra: ignoring monitor_enabled: monitoring is not managed by this profile')
    }

    $dc = $settings['dc'].lest || { 'datacenter1' }
    $auth_enabled = !$user_credentials.empty

    # Every instance of every host, with the address it listens on.
    $all_instances = $instances.keys.sort.map |$host| {
      $host_instances = $instances[$host].empty ? {
        true    => { 'default' => {} },
        default => $instances[$host],
      }
      $host_instances.keys.sort.map |$instance_name| {
        $params = ($settings['default_instance_params'].lest || { {} }) + $host_instances[$instance_name]
        [$host, $instance_name, $params['listen_address'].lest || { $host }, $params]
      }
    }.reduce([]) |$all, $host_entries| { $all + $host_entries }
    $listen_addresses = $all_instances.map |$entry| { "${entry[0]}/${entry[2]}" }
    $all_instances.each |$entry| {
      if $listen_addresses.filter |$a| { $a == "${entry[0]}/${entry[2]}" }.length > 1 {
        fail("profile::cassandra: several instances on ${entry[0]} would listen on ${entry[2]}; give each a listen_address")
      }
    }
    $seeds = $all_instances.map |$entry| { $entry[2] }.unique.join(',')
    $local_instances = $all_instances.filter |$entry| { $entry[0] == $fqdn }

    if $manage_apt_source {
      $signed_by = 'signed-by=/etc/apt/keyrings/cassandra.asc'
      file { '/etc/apt/keyrings':
        ensure => directory,
        owner  => 'root',
        group  => 'root',
        mode   => '0755',
      }
      file { '/etc/apt/keyrings/cassandra.asc':
        ensure => file,
        owner  => 'root',
        group  => 'root',
        mode   => '0644',
        source => $apt_key_source,
      }
      file { '/etc/apt/sources.list.d/cassandra.list':
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0644',
        content => "# Managed by Puppet (profile::cassandra)\ndeb [${signed_by}] ${apt_location} ${apt_release} main\n",
        notify  => Exec['profile::cassandra apt-get update'],
      }
      exec { 'profile::cassandra apt-get update':
        command     => '/usr/bin/apt-get update',
        refreshonly => true,
        subscribe   => File['/etc/apt/keyrings/cassandra.asc'],
        before      => Package['cassandra'],
      }
    }

    # The package starts its default service on installation: write the
    # default instance's files first, so that its very first start already
    # has the right cluster name (Puppet's apt provider keeps existing
    # conffiles).
    package { 'cassandra':
      ensure => $package_ensure,
    }

    $local_names = $local_instances.map |$entry| { $entry[1] }
    unless 'default' in $local_names {
      service { 'cassandra':
        ensure  => stopped,
        enable  => false,
        require => Package['cassandra'],
      }
    }

    $local_instances.each |$entry| {
      profile::cassandra::instance { $entry[1]:
        cluster_name              => $settings['cluster_name'].lest || { 'kask' },
        dc                        => $dc,
        rack                      => $rack.lest || { 'rack1' },
        seeds                     => $seeds,
        listen_address            => $entry[2],
        params                    => $entry[3],
        num_tokens                => $settings['num_tokens'].lest || { 16 },
        authentication            => $auth_enabled,
        client_encryption_enabled => $settings['client_encryption_enabled'].lest || { false },
        client_keystore           => $settings['client_keystore'],
        client_keystore_password  => $settings['client_keystore_password'],
        extra_settings            => $settings['cassandra_yaml'].lest || { {} },
      }
    }

    # Users: those of user_credentials and those named in kask's configs.
    $kask_users = $kask_service_defs.filter |$name, $def| {
      $def['config'].dig('cassandra', 'authentication', 'username') =~ String
    }.map |$name, $def| {
      [$def['config']['cassandra']['authentication']['username'], $def['config']['cassandra']['authentication']['password']]
    }.convert_to(Hash)
    $users = ($kask_users + $user_credentials).filter |$user, $password| { $user != 'cassandra' and $auth_enabled }

    # Users and schema once per cluster, from its first host.
    if $fqdn == $instances.keys.sort[0] and !$local_instances.empty and !($users.empty and $kask_service_defs.empty) {
      $first = $local_instances[0]
      $admin_password = $user_credentials['cassandra'].lest || { 'cassandra' }
      $admin_plain = $admin_password ? {
        Sensitive => $admin_password.unwrap,
        default   => $admin_password,
      }
      $cql_port = $first[3]['native_transport_port'].lest || { 9042 }
      $tls = $settings['client_encryption_enabled'].lest || { false }
      $service = $first[1] ? {
        'default' => 'cassandra',
        default   => "cassandra-${first[1]}",
      }

      file { ['/root/.cassandra', '/etc/cassandra/puppet']:
        ensure  => directory,
        owner   => 'root',
        group   => 'root',
        mode    => '0700',
        require => Package['cassandra'],
      }
      file { '/root/.cassandra/cqlshrc':
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0600',
        content => Sensitive(epp('profile/cassandra/cqlshrc.epp', {
              'host'     => $first[2],
              'port'     => $cql_port,
              'username' => 'cassandra',
              'password' => $admin_plain,
              'tls'      => $tls,
        })),
      }
      $cqlsh = '/usr/bin/cqlsh --cqlshrc=/root/.cassandra/cqlshrc'

      $users.each |$user, $password| {
        $plain = $password ? {
          Sensitive => $password.unwrap,
          default   => $password,
        }
        $escaped = regsubst($plain, "'", "''", 'G')
        file { "/etc/cassandra/puppet/role-${user}.cql":
          ensure  => file,
          owner   => 'root',
          group   => 'root',
          mode    => '0600',
          content => Sensitive("CREATE ROLE IF NOT EXISTS \"${user}\" WITH PASSWORD = '${escaped}' AND LOGIN = true;\n"),
        }
        exec { "profile::cassandra create role ${user}":
          command   => "${cqlsh} -f /etc/cassandra/puppet/role-${user}.cql",
          unless    => "${cqlsh} -e \"SELECT role FROM system_auth.roles WHERE role = '${user}'\" | grep -q '(1 rows)'",
          path      => ['/usr/bin', '/bin'],
          provider  => shell,
          tries     => 12,
          try_sleep => 10,
          require   => [File["/etc/cassandra/puppet/role-${user}.cql", '/root/.cassandra/cqlshrc'], Service[$service]],
        }
      }

      unless $kask_service_defs.empty {
        include kask
        $replication = $kask_replication.lest || { { $dc => min(3, $all_instances.length) } }
        $kask_service_defs.each |$name, $def| {
          if $def['ensure'] != 'absent' {
            $user = $def['config'].dig('cassandra', 'authentication', 'username')
            profile::cassandra::kask_schema { $name:
              keyspace    => $def['config'].dig('cassandra', 'keyspace').lest || { 'kask' },
              table       => $def['config'].dig('cassandra', 'table').lest || { 'values' },
              replication => $replication,
              grant_to    => ($auth_enabled and $user =~ String and $user != 'cassandra') ? {
                true    => $user,
                default => undef,
              },
              cqlsh       => $cqlsh,
              require     => [File['/root/.cassandra/cqlshrc', '/etc/cassandra/puppet'], Service[$service]],
            }
            if $user =~ String and $user != 'cassandra' and $auth_enabled {
              Exec["profile::cassandra create role ${user}"] -> Profile::Cassandra::Kask_schema[$name]
            }
          }
        }
      }
    }
  }
}
