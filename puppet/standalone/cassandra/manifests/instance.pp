# @summary Stand-in for operations/puppet's `cassandra::instance` (Cassandra 4.x).
#
# The parameters, types and defaults of Wikimedia's define; the class
# `cassandra` passes the cluster-wide ones. The instance `default` is the
# Debian package's layout (`/etc/cassandra`, `/var/lib/cassandra`, service
# `cassandra`, JMX 7199); an instance `<name>` reads `/etc/cassandra-<name>`,
# keeps its data under `/srv/cassandra-<name>` (hints in `data/hints`), runs
# as `cassandra-<name>.service` and, unless `jmx_port` says otherwise,
# listens for JMX (locally) on 7189 plus the offset of its first letter from
# `a` (a: 7189, b: 7190). An instance whose `rpc_address` is not the host's
# address gets that address added to the host's primary interface, as the
# real module does.
#
# `cassandra.yaml` carries what the real 4.x template renders from these
# parameters; the rest of the configuration (JVM options, logging) is the
# package's, copied for a named instance.
#
# @param cluster_name
#   From `cassandra`.
# @param tls_cluster_name
#   From `cassandra`: the keystores of this cluster.
# @param tls_keystore_password
#   From `cassandra`.
# @param seeds
#   From `cassandra`. This host's own names and addresses are left out when
#   there are others (a node is not its own seed); if nothing is left the
#   catalog fails.
# @param additional_jvm_opts
#   From `cassandra`.
# @param extra_classpath
#   From `cassandra`.
# @param memory_allocator
#   From `cassandra`.
# @param listen_address
#   Address for the cluster's traffic (an IP address).
# @param native_transport_port
#   CQL port.
# @param target_version
#   From `cassandra`.
# @param dc
#   Data centre.
# @param rack
#   Rack.
# @param super_username
#   Written to `<config>/credentials` for cqlsh.
# @param super_password
#   Its password.
# @param config_directory
#   Configuration directory.
# @param service_name
#   systemd unit name.
# @param tls_hostname
#   Name of this instance's certificate.
# @param pid_file
#   PID file.
# @param instance_id
#   `-Dcassandra.instance-id`.
# @param jmx_port
#   Local JMX port (default: see above).
# @param data_directory_base
#   Base of the data directories.
# @param data_directories
#   Data directories, relative to the base, when `data_file_directories` is unset.
# @param data_file_directories
#   Absolute data directories.
# @param commitlog_directory
#   Commit log directory.
# @param hints_directory
#   Hints directory.
# @param heapdump_directory
#   Where heap dumps go.
# @param saved_caches_directory
#   Saved caches directory.
# @param jmx_exporter_enabled
#   Prometheus' JMX exporter as a Java agent on `<listen_address>:7800`
#   (package `prometheus-jmx-exporter`, from the host's apt sources).
# @param num_tokens
#   Virtual nodes per instance. Cassandra refuses to start when it changes.
# @param authenticator
#   true: PasswordAuthenticator, false: AllowAllAuthenticator, or a class name.
# @param authorizor
#   true: CassandraAuthorizer, false: AllowAllAuthorizer, or a class name.
# @param permissions_validity_in_ms
#   Permissions and credentials cache validity.
# @param disk_failure_policy
#   `disk_failure_policy`.
# @param row_cache_size_in_mb
#   Row cache, MiB.
# @param concurrent_reads
#   `concurrent_reads`.
# @param concurrent_writes
#   `concurrent_writes`.
# @param concurrent_counter_writes
#   `concurrent_counter_writes`.
# @param trickle_fsync
#   `trickle_fsync`.
# @param trickle_fsync_interval_in_kb
#   `trickle_fsync_interval`, KiB.
# @param storage_port
#   Inter-node port.
# @param broadcast_address
#   Address announced to other nodes.
# @param start_native_transport
#   Whether CQL is served.
# @param rpc_address
#   Address CQL clients connect to; default `listen_address`.
# @param rpc_port
#   Thrift port; Cassandra 4 has none.
# @param rpc_server_type
#   Thrift server type; Cassandra 4 has none.
# @param incremental_backups
#   `incremental_backups`.
# @param snapshot_before_compaction
#   `snapshot_before_compaction`.
# @param auto_snapshot
#   `auto_snapshot`.
# @param compaction_throughput_mb_per_sec
#   `compaction_throughput`, MiB/s.
# @param concurrent_compactors
#   `concurrent_compactors`.
# @param streaming_socket_timeout_in_ms
#   Gone in Cassandra 4; no effect there, as in the real 4.x template.
# @param endpoint_snitch
#   `endpoint_snitch`.
# @param internode_compression
#   `all`, `dc` or `none`.
# @param max_heap_size
#   `-Xms`/`-Xmx`.
# @param heap_newsize
#   Young generation size.
# @param key_cache_size_in_mb
#   Key cache, MiB.
# @param internode_encryption
#   `none`, `dc`, `rack` or `all` (needs `tls_cluster_name`).
# @param client_encryption_enabled
#   TLS for CQL clients (needs `tls_cluster_name`).
# @param auto_bootstrap
#   `auto_bootstrap`.
# @param monitor_enabled
#   Used by Wikimedia's monitoring only.
define cassandra::instance (
    String                        $cluster_name,
    Optional[String]              $tls_cluster_name,
    Optional[String]              $tls_keystore_password,
    Array[Stdlib::Host]           $seeds,
    Array[String]                 $additional_jvm_opts,
    Array[String]                 $extra_classpath,
    String                        $memory_allocator,
    Stdlib::IP::Address           $listen_address,
    Stdlib::Port                  $native_transport_port,
    String                        $target_version,
    String                        $dc,
    String                        $rack,
    String                        $super_username,
    String                        $super_password,

    Stdlib::Unixpath              $config_directory       = "/etc/cassandra-${title}",
    String                        $service_name           = "cassandra-${title}",
    String                        $tls_hostname           = "${facts['networking']['hostname']}-${title}",
    Stdlib::Unixpath              $pid_file               = "/var/run/cassandra/cassandra-${title}.pid",
    String                        $instance_id            = "${facts['networking']['hostname']}-${title}",
    Optional[Stdlib::Port]        $jmx_port               = undef,
    Stdlib::Unixpath              $data_directory_base    = "/srv/cassandra-${title}",
    Array[String]                 $data_directories       = ['data'],
    Optional[Array[Stdlib::Unixpath]] $data_file_directories = undef,
    Stdlib::Unixpath              $commitlog_directory    = "/srv/cassandra-${title}/commitlog",
    Stdlib::Unixpath              $hints_directory        = "/srv/cassandra-${title}/data/hints",
    Stdlib::Unixpath              $heapdump_directory     = "/srv/cassandra-${title}",
    Stdlib::Unixpath              $saved_caches_directory = "/srv/cassandra-${title}/saved_caches",

    Boolean                       $jmx_exporter_enabled             = false,
    Integer[1]                    $num_tokens                       = 256,
    Variant[Boolean, String]      $authenticator                    = true,
    Variant[Boolean, String]      $authorizor                       = true,
    Integer[0]                    $permissions_validity_in_ms       = 2000,
    Enum['stop_paranoid', 'die', 'stop', 'best_effort', 'ignore'] $disk_failure_policy = 'stop',
    Integer[0]                    $row_cache_size_in_mb             = 200,
    Integer[1]                    $concurrent_reads                 = 32,
    Integer[1]                    $concurrent_writes                = 32,
    Integer[1]                    $concurrent_counter_writes        = 32,
    Boolean                       $trickle_fsync                    = true,
    Integer[1]                    $trickle_fsync_interval_in_kb     = 30240,
    Stdlib::Port                  $storage_port                     = 7000,
    Optional[Stdlib::IP::Address] $broadcast_address                = undef,
    Boolean                       $start_native_transport           = true,
    Optional[Stdlib::IP::Address] $rpc_address                      = undef,
    Stdlib::Port                  $rpc_port                         = 9160,
    Enum['sync', 'hsha', 'async'] $rpc_server_type                  = 'sync',
    Boolean                       $incremental_backups              = false,
    Boolean                       $snapshot_before_compaction       = false,
    Boolean                       $auto_snapshot                    = true,
    Integer[0]                    $compaction_throughput_mb_per_sec = 16,
    Integer[1]                    $concurrent_compactors            = 1,
    Integer[0]                    $streaming_socket_timeout_in_ms   = 0,
    String                        $endpoint_snitch                  = 'GossipingPropertyFileSnitch',
    Enum['all', 'dc', 'none']     $internode_compression            = 'all',
    Optional[String]              $max_heap_size                    = undef,
    Optional[String]              $heap_newsize                     = undef,
    Integer[0]                    $key_cache_size_in_mb             = 400,
    Enum['none', 'dc', 'rack', 'all'] $internode_encryption         = 'none',
    Boolean                       $client_encryption_enabled        = false,
    Boolean                       $auto_bootstrap                   = true,
    Boolean                       $monitor_enabled                  = true,
) {
    $context = "Cassandra::Instance[${title}]"
    $jmx = pick($jmx_port, 7189 + cassandra::letter_offset($title))
    $address = pick($rpc_address, $listen_address)
    $data_dirs = pick($data_file_directories, $data_directories.map |$d| { "${data_directory_base}/${d}" })

    # A node is not its own seed (when there are others): the real template
    # drops this host's names, its instances' names and its address.
    $hostname = $facts['networking']['hostname']
    $own = [$hostname, $facts['networking']['fqdn'], $facts['networking']['ip']]
    $cluster_seeds = $seeds.length ? {
        1       => $seeds,
        default => $seeds.filter |$s| { !($s in $own) and $s[0, $hostname.length + 1] != "${hostname}-" },
    }
    if $cluster_seeds.empty {
        fail("${context}: every seed (${seeds.join(', ')}) is this host; Cassandra needs a seed on another host")
    }

    $tls = $tls_cluster_name =~ String[1]
    if $client_encryption_enabled and !$tls {
        fail("${context}: client_encryption_enabled needs settings.tls_cluster_name, which names the keystore")
    }
    if $internode_encryption != 'none' and !$tls {
        fail("${context}: internode_encryption '${internode_encryption}' needs settings.tls_cluster_name, which names the keystore")
    }
    $keystore_password = pick($tls_keystore_password, 'placeholder')
    $server_encryption = {
        'internode_encryption'            => $internode_encryption,
        # Accepting both (Cassandra's default for `none`) needs a keystore,
        # which only a cluster with tls_cluster_name has.
        'optional'                        => $tls and $internode_encryption == 'none',
        'legacy_ssl_storage_port_enabled' => false,
        'keystore'                        => "${config_directory}/tls/server.key",
        'keystore_password'               => $keystore_password,
        'require_client_auth'             => false,
        'require_endpoint_verification'   => false,
    } + ($tls ? {
        true    => { 'truststore' => "${config_directory}/tls/server.trust", 'truststore_password' => $keystore_password },
        default => {},
    })
    $client_encryption = {
        'enabled'             => $client_encryption_enabled,
        'optional'            => $tls and !$client_encryption_enabled,
        'keystore'            => "${config_directory}/tls/server.key",
        'keystore_password'   => $keystore_password,
        'require_client_auth' => false,
    }

    $authenticator_class = $authenticator ? {
        true    => 'PasswordAuthenticator',
        false   => 'AllowAllAuthenticator',
        default => $authenticator,
    }
    $authorizer_class = $authorizor ? {
        true    => 'CassandraAuthorizer',
        false   => 'AllowAllAuthorizer',
        default => $authorizor,
    }

    $settings = {
        'cluster_name'                                 => $cluster_name,
        'num_tokens'                                   => $num_tokens,
        'allocate_tokens_for_local_replication_factor' => 3,
        'hinted_handoff_enabled'                       => true,
        'max_hint_window'                              => '3h',
        'hints_directory'                              => $hints_directory,
        'authenticator'                                => $authenticator_class,
        'authorizer'                                   => $authorizer_class,
        'role_manager'                                 => 'CassandraRoleManager',
        'network_authorizer'                           => 'AllowAllNetworkAuthorizer',
        'roles_validity'                               => '2000ms',
        'permissions_validity'                         => "${permissions_validity_in_ms}ms",
        'credentials_validity'                         => "${permissions_validity_in_ms}ms",
        'partitioner'                                  => 'org.apache.cassandra.dht.Murmur3Partitioner',
        'data_file_directories'                        => $data_dirs,
        'commitlog_directory'                          => $commitlog_directory,
        'disk_failure_policy'                          => $disk_failure_policy,
        'commit_failure_policy'                        => 'stop',
        'key_cache_size'                               => "${key_cache_size_in_mb}MiB",
        'row_cache_size'                               => "${row_cache_size_in_mb}MiB",
        'saved_caches_directory'                       => $saved_caches_directory,
        'commitlog_sync'                               => 'periodic',
        'commitlog_sync_period'                        => '10000ms',
        'seed_provider'                                => [{
            'class_name' => 'org.apache.cassandra.locator.SimpleSeedProvider',
            'parameters' => [{ 'seeds' => $cluster_seeds.join(',') }],
        }],
        'concurrent_reads'                             => $concurrent_reads,
        'concurrent_writes'                            => $concurrent_writes,
        'concurrent_counter_writes'                    => $concurrent_counter_writes,
        'trickle_fsync'                                => $trickle_fsync,
        'trickle_fsync_interval'                       => "${trickle_fsync_interval_in_kb}KiB",
        'storage_port'                                 => $storage_port,
        'ssl_storage_port'                             => 7001,
        'listen_address'                               => $listen_address,
        'start_native_transport'                       => $start_native_transport,
        'native_transport_port'                        => $native_transport_port,
        'rpc_address'                                  => $address,
        'rpc_keepalive'                                => true,
        'incremental_backups'                          => $incremental_backups,
        'snapshot_before_compaction'                   => $snapshot_before_compaction,
        'auto_snapshot'                                => $auto_snapshot,
        'auto_bootstrap'                               => $auto_bootstrap,
        'concurrent_compactors'                        => $concurrent_compactors,
        'compaction_throughput'                        => "${compaction_throughput_mb_per_sec}MiB/s",
        'endpoint_snitch'                              => $endpoint_snitch,
        'server_encryption_options'                    => $server_encryption,
        'client_encryption_options'                    => $client_encryption,
        'internode_compression'                        => $internode_compression,
    } + ($broadcast_address ? {
        undef   => {},
        default => { 'broadcast_address' => $broadcast_address },
    })

    $is_default = $title == 'default'
    # The package starts its own service on installation: the default
    # instance's files are written first, so that its first start already
    # has this cluster's name (Puppet's apt provider keeps existing files).
    $before_package = $is_default ? {
        true    => Package['cassandra'],
        default => undef,
    }
    $after_package = $is_default ? {
        true    => undef,
        default => Package['cassandra'],
    }

    file { $config_directory:
        ensure  => directory,
        owner   => 'root',
        group   => 'root',
        mode    => '0755',
        before  => $before_package,
        require => $after_package,
    }
    file { "${config_directory}/cassandra.yaml":
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0444',
        content => to_yaml($settings),
        before  => $before_package,
        notify  => Service[$service_name],
    }
    file { "${config_directory}/cassandra-rackdc.properties":
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0444',
        content => "# Managed by Puppet (cassandra::instance ${title})\ndc=${dc}\nrack=${rack}\n",
        before  => $before_package,
        notify  => Service[$service_name],
    }
    unless $is_default {
        # The rest of the configuration is the package's.
        $package_files = [
            'cassandra-env.sh', 'logback.xml', 'logback-tools.xml', 'hotspot_compiler',
            'commitlog_archiving.properties', 'jvm-server.options', 'jvm8-server.options',
            'jvm11-server.options', 'jvm-clients.options', 'jvm8-clients.options', 'jvm11-clients.options',
        ]
        $package_files.each |$f| {
            file { "${config_directory}/${f}":
                ensure  => file,
                owner   => 'cassandra',
                group   => 'cassandra',
                mode    => '0444',
                source  => "/etc/cassandra/${f}",
                require => Package['cassandra'],
                notify  => Service[$service_name],
            }
        }
    }

    $log_directory = $is_default ? {
        true    => '/var/log/cassandra',
        default => "/var/log/cassandra-${title}",
    }
    $data_paths = ([$data_directory_base] + $data_dirs + [$commitlog_directory, $saved_caches_directory, $hints_directory, $log_directory]).unique
    file { $data_paths:
        ensure  => directory,
        owner   => 'cassandra',
        group   => 'cassandra',
        mode    => '0750',
        require => Package['cassandra'],
        before  => Service[$service_name],
    }

    if $jmx_exporter_enabled {
        ensure_packages(['prometheus-jmx-exporter'])
        $agent = ["-javaagent:/usr/share/java/prometheus/jmx_prometheus_javaagent.jar=${listen_address}:7800:${config_directory}/prometheus_jmx_exporter.yaml"]
        file { "${config_directory}/prometheus_jmx_exporter.yaml":
            ensure  => file,
            owner   => 'cassandra',
            group   => 'cassandra',
            mode    => '0444',
            content => "# Managed by Puppet (cassandra::instance ${title})\nlowercaseOutputName: true\nrules:\n  - pattern: '.*'\n",
            notify  => Service[$service_name],
        }
    } else {
        $agent = []
    }
    $jvm_opts = ["-Dcassandra.jmx.local.port=${jmx}", "-Dcassandra.instance-id=${instance_id}", "-XX:HeapDumpPath=${heapdump_directory}"] + $additional_jvm_opts + $agent
    file { "${config_directory}/cassandra.in.sh":
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0444',
        content => epp('cassandra/cassandra.in.sh.epp', {
            'config_directory' => $config_directory,
            'log_directory'    => $log_directory,
            'max_heap_size'    => $max_heap_size,
            'heap_newsize'     => $heap_newsize,
            'jvm_opts'         => $jvm_opts,
            'extra_classpath'  => $extra_classpath,
        }),
        notify  => Service[$service_name],
    }

    # cqlsh as the superuser, for grants and for the operator.
    file { "${config_directory}/credentials":
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0400',
        content => Sensitive("[PlainTextAuthProvider]\nusername = ${super_username}\npassword = ${super_password}\n"),
    }
    file { "${config_directory}/cqlshrc":
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0400',
        content => epp('cassandra/cqlshrc.epp', {
            'config_directory' => $config_directory,
            'tls'              => $client_encryption_enabled,
        }),
    }

    if $tls {
        $secrets = "${cassandra::standalone::secrets_dir()}/cassandra/${tls_cluster_name}"
        file { "${config_directory}/tls":
            ensure  => directory,
            owner   => 'cassandra',
            group   => 'cassandra',
            mode    => '0500',
            require => Package['cassandra'],
        }
        $tls_files = {
            'server.key'   => "${secrets}/${tls_hostname}/${tls_hostname}.kst",
            'server.trust' => "${secrets}/truststore",
            'rootCa.crt'   => "${secrets}/rootCa.crt",
        }
        $tls_files.each |$name, $source| {
            file { "${config_directory}/tls/${name}":
                ensure    => file,
                owner     => 'cassandra',
                group     => 'cassandra',
                mode      => '0400',
                source    => $source,
                show_diff => false,
                notify    => Service[$service_name],
            }
        }
    }

    # The address must be on the host before Cassandra binds it.
    if $address != $facts['networking']['ip'] and $address !~ /\A127\./ and $address =~ Stdlib::IP::Address::V4 {
        $interface = $facts['networking']['primary']
        file { "/etc/systemd/system/${service_name}-address.service":
            ensure  => file,
            owner   => 'root',
            group   => 'root',
            mode    => '0444',
            content => epp('cassandra/address.service.epp', {
                'instance'  => $title,
                'address'   => $address,
                'interface' => $interface,
            }),
        }
        service { "${service_name}-address":
            ensure    => running,
            enable    => true,
            subscribe => File["/etc/systemd/system/${service_name}-address.service"],
            before    => Service[$service_name],
        }
    }

    file { "/etc/systemd/system/${service_name}.service":
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0444',
        content => epp('cassandra/instance.service.epp', {
            'instance'         => $title,
            'config_directory' => $config_directory,
            'data_directory'   => $data_directory_base,
            'pid_file'         => $pid_file,
        }),
        notify  => Service[$service_name],
    }
    service { $service_name:
        ensure  => running,
        enable  => true,
        require => Package['cassandra'],
    }
}
