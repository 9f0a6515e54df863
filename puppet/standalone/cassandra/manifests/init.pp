# @summary Stand-in for operations/puppet's `class cassandra`, for Cassandra 4.x.
#
# This class has the parameters, types and defaults of Wikimedia's `class
# cassandra`, so that `profile::cassandra::settings` (which the profile
# passes here whole) means the same on a host outside Wikimedia as in
# production: a key the real class does not have fails the catalog, naming
# it, exactly as there. It is not copied into operations/puppet, which has
# the real module (see docs/deployment.md).
#
# What it does, as the real class does: installs the `cassandra` package
# (pinned to 4.1 by an apt preference, from whatever apt sources the host
# has: adding a repository is the operator's job), declares one
# `cassandra::instance` per entry of `instances` (or the package's own
# `default` instance when there is none), each merged over
# `default_instance_params` and the cluster-wide parameters, stops the
# package's own service on a host with named instances, and writes the CQL
# of each of `users` (with its password from `cassandra_passwords`),
# applying it when `auto_apply_grants` is true.
#
# What Wikimedia's infrastructure does and this stand-in refuses, with one
# line naming the key: `target_version` other than `4.x`, `tls_use_pki`
# (certificates from Wikimedia's PKI), `jbod_devices` (Wikimedia's disk
# layout), and a user in `users` without a CQL template here.
#
# @param cluster_name
#   `cluster_name` of every instance. Cassandra refuses to start on data
#   written under another name.
# @param tls_cluster_name
#   When set, every instance's keystore (`<config>/tls/server.key`),
#   truststore (`server.trust`) and CA (`rootCa.crt`) come from
#   `cassandra/<tls_cluster_name>/` under `cassandra::standalone::secrets_dir()`,
#   laid out as in Wikimedia's private repository.
# @param tls_use_pki
#   Certificates from Wikimedia's PKI: refused here.
# @param tls_keystore_password
#   Password of the keystores; the real module's default is `placeholder`.
# @param instances
#   Instance name to its parameters (see `cassandra::instance`); empty means
#   the package's single `default` instance.
# @param default_instance_params
#   Parameters every instance gets unless it sets them itself.
# @param seeds
#   Seed addresses or host names.
# @param listen_address
#   Address of the default instance, and of an instance that sets none.
# @param additional_jvm_opts
#   Extra JVM options of every instance.
# @param extra_classpath
#   Extra classpath entries of every instance.
# @param target_version
#   Only `4.x` (Cassandra 4.1) here.
# @param memory_allocator
#   `JEMallocAllocator` installs libjemalloc2, which Cassandra preloads.
# @param cassandra_passwords
#   User name to password, for `users`.
# @param native_transport_port
#   CQL port.
# @param dc
#   Data centre of this host (`cassandra-rackdc.properties`).
# @param rack
#   Rack of this host.
# @param logstash_host
#   Where Wikimedia's logback configuration ships logs; see profile::cassandra.
# @param logstash_port
#   Its port.
# @param start_rpc
#   Thrift; Cassandra 4 has none, so it has no effect on 4.x (as in the real
#   module's 4.x template).
# @param jbod_devices
#   Refused here unless empty.
# @param super_username
#   Superuser of `<config>/credentials`, which cqlsh uses.
# @param super_password
#   Its password.
# @param version
#   A package version to install instead of the newest 4.1.
# @param users
#   Users whose CQL (role and grants) is written to
#   `/etc/cassandra-grants/<user>.cql`.
# @param java_package
#   A package that must be installed before Cassandra.
# @param auto_apply_grants
#   Whether the users' CQL is applied (with cqlsh, as the superuser) when it
#   changes; otherwise it is only written.
class cassandra (
    String                                  $cluster_name            = 'Test Cluster',
    Optional[String]                        $tls_cluster_name        = undef,
    Boolean                                 $tls_use_pki             = false,
    Optional[String]                        $tls_keystore_password   = undef,
    Hash                                    $instances               = {},
    Hash                                    $default_instance_params = {},
    Array[Stdlib::Host]                     $seeds                   = [$facts['networking']['ip']],
    Stdlib::IP::Address                     $listen_address          = $facts['networking']['ip'],
    Array[String]                           $additional_jvm_opts     = [],
    Array[String]                           $extra_classpath         = [],
    Enum['2.2', '3.x', '4.x', '5.x', 'dev'] $target_version          = '2.2',
    String                                  $memory_allocator        = 'JEMallocAllocator',
    Hash[String, String]                    $cassandra_passwords     = {},
    Stdlib::Port                            $native_transport_port   = 9042,
    String                                  $dc                      = 'datacenter1',
    String                                  $rack                    = 'rack1',
    Stdlib::Host                            $logstash_host           = 'logstash.svc.eqiad.wmnet',
    Stdlib::Port                            $logstash_port           = 11514,
    Boolean                                 $start_rpc               = true,
    Array[String]                           $jbod_devices            = [],
    String                                  $super_username          = 'cassandra',
    String                                  $super_password          = 'cassandra',
    Optional[String]                        $version                 = undef,
    Array[String]                           $users                   = [],
    Optional[String]                        $java_package            = undef,
    Boolean                                 $auto_apply_grants       = false,
) {
    if $target_version != '4.x' {
        fail("cassandra: settings.target_version '${target_version}': this stand-in runs Cassandra 4.x (4.1) only")
    }
    if $tls_use_pki {
        fail('cassandra: settings.tls_use_pki: certificates from Wikimedia\'s PKI exist only there; use tls_cluster_name and your own keystores')
    }
    unless $jbod_devices.empty {
        fail('cassandra: settings.jbod_devices: Wikimedia\'s per-disk layout is not managed here; list the directories in data_file_directories')
    }

    # Cassandra 4.1 from the host's apt sources, whichever carries it.
    file { '/etc/apt/preferences.d/cassandra.pref':
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0644',
        content => "# Managed by Puppet (cassandra): target_version 4.x is Cassandra 4.1.\nPackage: cassandra\nPin: version 4.1.*\nPin-Priority: 1001\n",
    }
    $java = $java_package ? {
        undef   => [],
        default => [Package[$java_package]],
    }
    package { 'cassandra':
        ensure  => pick($version, 'installed'),
        require => [File['/etc/apt/preferences.d/cassandra.pref']] + $java,
    }
    if $memory_allocator == 'JEMallocAllocator' {
        package { 'libjemalloc2':
            ensure => installed,
            before => Package['cassandra'],
        }
    }

    $common = {
        'cluster_name'          => $cluster_name,
        'tls_cluster_name'      => $tls_cluster_name,
        'tls_keystore_password' => $tls_keystore_password,
        'seeds'                 => $seeds,
        'additional_jvm_opts'   => $additional_jvm_opts,
        'extra_classpath'       => $extra_classpath,
        'memory_allocator'      => $memory_allocator,
        'listen_address'        => $listen_address,
        'native_transport_port' => $native_transport_port,
        'target_version'        => $target_version,
        'dc'                    => $dc,
        'rack'                  => $rack,
        'super_username'        => $super_username,
        'super_password'        => $super_password,
    }
    if $instances.empty {
        # The Debian package's own layout.
        $single = {
            'config_directory'       => '/etc/cassandra',
            'service_name'           => 'cassandra',
            'pid_file'               => '/var/run/cassandra/cassandra.pid',
            'jmx_port'               => 7199,
            'data_directory_base'    => '/var/lib/cassandra',
            'commitlog_directory'    => '/var/lib/cassandra/commitlog',
            'hints_directory'        => '/var/lib/cassandra/data/hints',
            'heapdump_directory'     => '/var/lib/cassandra',
            'saved_caches_directory' => '/var/lib/cassandra/saved_caches',
        }
        $defaults = $common + $single + $default_instance_params
        $to_create = { 'default' => {} }
    } else {
        $defaults = $common + $default_instance_params
        $to_create = $instances
        service { 'cassandra':
            ensure  => stopped,
            enable  => false,
            require => Package['cassandra'],
        }
    }
    $to_create.each |String $instance_name, Hash $params| {
        cassandra::instance { $instance_name:
            * => $defaults + $params,
        }
    }

    # The users' CQL, applied through the first instance.
    $first = $to_create.keys.sort[0]
    $first_params = $defaults + $to_create[$first]
    $first_config = pick($first_params['config_directory'], "/etc/cassandra-${first}")
    $first_address = pick($first_params['rpc_address'], $first_params['listen_address'])
    $first_service = pick($first_params['service_name'], "cassandra-${first}")
    $first_port = $first_params['native_transport_port']
    $first_ssl = $first_params['client_encryption_enabled'] ? {
        true    => ' --ssl',
        default => '',
    }
    unless $users.empty {
        file { '/etc/cassandra-grants':
            ensure => directory,
            owner  => 'root',
            group  => 'root',
            mode   => '0700',
        }
    }
    $users.each |String $user| {
        $template = "cassandra/users/${user}.cql.epp"
        if find_template($template) =~ Undef {
            fail("cassandra: settings.users: no CQL for user '${user}' here (templates/users/${user}.cql.epp); the real module has one per user")
        }
        unless $user in $cassandra_passwords {
            fail("cassandra: settings.users: '${user}' has no password in profile::cassandra::user_credentials")
        }
        $cql = epp($template, { 'password' => regsubst($cassandra_passwords[$user], "'", "''", 'G') })
        cassandra::grant_statements($cql, "users/${user}.cql")
        file { "/etc/cassandra-grants/${user}.cql":
            ensure  => file,
            owner   => 'root',
            group   => 'root',
            mode    => '0400',
            content => Sensitive($cql),
        }
        if $auto_apply_grants {
            if $super_password.empty {
                fail("cassandra: settings.super_password is empty, so the grants of '${user}' cannot be applied (auto_apply_grants)")
            }
            exec { "cassandra apply grants ${user}":
                command     => "/usr/bin/cqlsh --cqlshrc=${first_config}/cqlshrc${first_ssl} -f /etc/cassandra-grants/${user}.cql ${first_address} ${first_port}",
                refreshonly => true,
                subscribe   => File["/etc/cassandra-grants/${user}.cql"],
                require     => [Service[$first_service], File["${first_config}/cqlshrc"]],
                tries       => 12,
                try_sleep   => 10,
            }
        }
    }
}
