# @summary One local Cassandra instance: its configuration and its service.
#
# The instance `default` is the package's `cassandra` service reading
# `/etc/cassandra`; its files are written before the package is installed so
# that the package's first start already uses them. Any other instance
# `<name>` reads `/etc/cassandra-<name>`, keeps its data in
# `/srv/cassandra-<name>` and runs as `cassandra-<name>.service`, a unit
# written here (the Cassandra package has none for extra instances).
#
# @api private
#
# @param cluster_name
#   `cluster_name` of cassandra.yaml.
# @param dc
#   Data centre name (`cassandra-rackdc.properties`).
# @param rack
#   Rack name (`cassandra-rackdc.properties`).
# @param seeds
#   Comma-separated seed addresses, computed from every instance.
# @param listen_address
#   Address for gossip and, unless `params` says otherwise, for CQL.
# @param params
#   Per-instance parameters (see `profile::cassandra::instances`).
# @param num_tokens
#   `num_tokens` of cassandra.yaml.
# @param authentication
#   Whether password authentication and authorisation are on.
# @param client_encryption_enabled
#   Whether clients must use TLS.
# @param client_keystore
#   Keystore for client TLS.
# @param client_keystore_password
#   Its password.
# @param extra_settings
#   Raw cassandra.yaml keys, applied last.
define profile::cassandra::instance (
  String[1] $cluster_name,
  String[1] $dc,
  String[1] $rack,
  String[1] $seeds,
  String[1] $listen_address,
  Hash[String[1], Any] $params,
  Integer[1] $num_tokens,
  Boolean $authentication,
  Boolean $client_encryption_enabled,
  Optional[Stdlib::Absolutepath] $client_keystore,
  Optional[Variant[String[1], Sensitive[String[1]]]] $client_keystore_password,
  Hash[String[1], Any] $extra_settings,
) {
  assert_private()

  if $title == 'default' {
    $suffix = ''
  } else {
    $suffix = "-${title}"
  }
  $conf_dir = "/etc/cassandra${suffix}"
  $data_dir = $title ? {
    'default' => '/var/lib/cassandra',
    default   => "/srv/cassandra${suffix}",
  }
  $service = "cassandra${suffix}"

  $keystore_password = $client_keystore_password ? {
    Sensitive => $client_keystore_password.unwrap,
    default   => $client_keystore_password,
  }
  $client_encryption = $client_encryption_enabled ? {
    true    => {
      'enabled'           => true,
      'optional'          => false,
      'keystore'          => $client_keystore.lest || { "${conf_dir}/tls/server.keystore" },
      'keystore_password' => $keystore_password.lest || { 'changeit' },
    },
    default => { 'enabled' => false },
  }

  if $authentication {
    $authenticator = 'PasswordAuthenticator'
    $authorizer = 'CassandraAuthorizer'
  } else {
    $authenticator = 'AllowAllAuthenticator'
    $authorizer = 'AllowAllAuthorizer'
  }

  $cassandra_yaml = {
    'cluster_name'                                => $cluster_name,
    'num_tokens'                                  => $num_tokens,
    'allocate_tokens_for_local_replication_factor' => 3,
    'partitioner'                                 => 'org.apache.cassandra.dht.Murmur3Partitioner',
    'seed_provider'                               => [{
        'class_name' => 'org.apache.cassandra.locator.SimpleSeedProvider',
        'parameters' => [{ 'seeds' => $seeds }],
    }],
    'listen_address'                              => $listen_address,
    'rpc_address'                                 => $params['rpc_address'].lest || { $listen_address },
    'native_transport_port'                       => $params['native_transport_port'].lest || { 9042 },
    'storage_port'                                => $params['storage_port'].lest || { 7000 },
    'endpoint_snitch'                             => 'GossipingPropertyFileSnitch',
    'data_file_directories'                       => ["${data_dir}/data"],
    'commitlog_directory'                         => "${data_dir}/commitlog",
    'saved_caches_directory'                      => "${data_dir}/saved_caches",
    'hints_directory'                             => "${data_dir}/hints",
    'commitlog_sync'                              => 'periodic',
    'commitlog_sync_period_in_ms'                 => 10000,
    'authenticator'                               => $authenticator,
    'authorizer'                                  => $authorizer,
    'role_manager'                                => 'CassandraRoleManager',
    'client_encryption_options'                   => $client_encryption,
    'start_native_transport'                      => true,
  } + $extra_settings

  if $title == 'default' {
    file { $conf_dir:
      ensure => directory,
      owner  => 'root',
      group  => 'root',
      mode   => '0755',
      before => Package['cassandra'],
    }
    $config_before = Package['cassandra']
  } else {
    file { $conf_dir:
      ensure  => directory,
      owner   => 'root',
      group   => 'root',
      mode    => '0755',
      require => Package['cassandra'],
    }
    # The rest of the configuration (JVM options, logging) is the package's.
    $package_files = [
      'cassandra-env.sh', 'logback.xml', 'jvm-server.options', 'jvm11-server.options',
      'jvm-clients.options', 'jvm11-clients.options',
    ]
    $package_files.each |$f| {
      file { "${conf_dir}/${f}":
        ensure => file,
        owner  => 'root',
        group  => 'root',
        mode   => '0644',
        source => "/etc/cassandra/${f}",
        notify => Service[$service],
      }
    }
    file { ["/srv/cassandra${suffix}", "/var/log/cassandra${suffix}"]:
      ensure  => directory,
      owner   => 'cassandra',
      group   => 'cassandra',
      mode    => '0750',
      require => Package['cassandra'],
    }
    file { "${conf_dir}/cassandra.in.sh":
      ensure  => file,
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
      content => epp('profile/cassandra/cassandra.in.sh.epp', {
          'conf_dir' => $conf_dir,
          'log_dir'  => "/var/log/cassandra${suffix}",
          'jmx_port' => $params['jmx_port'].lest || { 7199 },
      }),
      notify  => Service[$service],
    }
    file { "/etc/systemd/system/${service}.service":
      ensure  => file,
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
      content => epp('profile/cassandra/instance.service.epp', {
          'instance' => $title,
          'conf_dir' => $conf_dir,
          'data_dir' => "/srv/cassandra${suffix}",
      }),
      notify  => Service[$service],
    }
    $config_before = Service[$service]
  }

  file { "${conf_dir}/cassandra.yaml":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => to_yaml($cassandra_yaml),
    before  => $config_before,
    notify  => Service[$service],
  }
  file { "${conf_dir}/cassandra-rackdc.properties":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => "# Managed by Puppet (profile::cassandra)\ndc=${dc}\nrack=${rack}\n",
    before  => $config_before,
    notify  => Service[$service],
  }
  file { "/etc/default/${service}":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => epp('profile/cassandra/default.epp', {
        'max_heap_size' => $params['max_heap_size'],
        'heap_newsize'  => $params['heap_newsize'],
    }),
    before  => $config_before,
    notify  => Service[$service],
  }

  service { $service:
    ensure  => running,
    enable  => true,
    require => Package['cassandra'],
  }
}
