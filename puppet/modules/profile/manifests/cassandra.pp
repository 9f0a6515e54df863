# @summary Stand-in for operations/puppet's `profile::cassandra`, for hosts outside Wikimedia.
#
# Not copied into operations/puppet, which has the real profile: this one
# has exactly its parameters, Hiera keys, types and defaults, so that one
# Hiera file means the same in both (docs/deployment.md says which files go
# where). As the real profile does, it takes this host's entry of
# `instances` (none: the package's single default instance), computes the
# seeds from every host of `instances` (a host without instances is its own
# seed; an instance `a` of `host.example` is `host-a.example`), and
# declares `class cassandra` with `settings` merged over `instances`,
# `rack`, the seeds, `user_credentials`, `auto_apply_grants` and
# `tls_keystore_password` (the stand-in of puppet/standalone/cassandra).
#
# The firewall: where the real profile opens ports in ferm, this one loads
# an nftables table (`cassandra-firewall.service`) that lets only the seeds
# reach the inter-node, TLS (with `tls_cluster_name`) and JMX ports, and
# only the seeds and `client_ips` reach CQL (9042).
#
# Refused, one line naming the key: `allow_analytics` true (Wikimedia's
# analytics networks). Reported with a notice, since they only feed
# Wikimedia's monitoring and log pipeline and change neither security nor
# data placement: `monitor_enabled` and `monitor_tls_port` (Icinga and
# Prometheus probes of a cluster with `tls_cluster_name`), and
# `settings.logstash_host`/`logstash_port` (the logback encoder Wikimedia
# deploys): Cassandra logs to /var/log/cassandra*.
#
# @param all_instances
#   Host FQDN to instance name to instance parameters (`cassandra::instance`).
#   Hiera key `profile::cassandra::instances`.
# @param rack
#   This host's rack. Hiera key `profile::cassandra::rack`.
# @param cassandra_settings
#   Parameters of `class cassandra`. Hiera key `profile::cassandra::settings`.
# @param client_ips
#   Addresses or networks (IPv4, IPv6) allowed to reach CQL.
# @param allow_analytics
#   Let Wikimedia's analytics networks reach CQL: refused here when true.
# @param monitor_enabled
#   Wikimedia's monitoring of the instances.
# @param auto_apply_grants
#   Apply the CQL of `settings.users` when it changes.
# @param cassandra_passwords
#   User to password, for `settings.users`. Hiera key
#   `profile::cassandra::user_credentials`.
# @param monitor_tls_port
#   Port Wikimedia's monitoring probes for the certificate.
# @param tls_keystore_password
#   Password of the instances' keystores.
class profile::cassandra (
    Hash                       $all_instances         = lookup('profile::cassandra::instances'),
    String                     $rack                  = lookup('profile::cassandra::rack'),
    Hash                       $cassandra_settings    = lookup('profile::cassandra::settings'),
    Array[Stdlib::IP::Address] $client_ips            = lookup('profile::cassandra::client_ips', { 'default_value' => [] }),
    Boolean                    $allow_analytics       = lookup('profile::cassandra::allow_analytics'),
    Boolean                    $monitor_enabled       = lookup('profile::cassandra::monitor_enabled', { 'default_value' => true }),
    Boolean                    $auto_apply_grants     = lookup('profile::cassandra::auto_apply_grants', { 'default_value' => false }),
    Hash[String, String]       $cassandra_passwords   = lookup('profile::cassandra::user_credentials', { 'default_value' => {} }),
    Integer                    $monitor_tls_port      = lookup('profile::cassandra::monitor_tls_port', { 'default_value' => 7001 }),
    Optional[String]           $tls_keystore_password = lookup('profile::cassandra::tls_keystore_password', { 'default_value' => undef }),
) {
    if $allow_analytics {
        fail('profile::cassandra: allow_analytics: Wikimedia\'s analytics networks exist only there; list the clients in client_ips')
    }

    $instances = $all_instances[$facts['networking']['fqdn']]

    # Seeds: each host of the cluster, or each of its instances.
    $host_seeds = $all_instances.map |$host, $host_instances| {
        if $host_instances =~ Hash and !$host_instances.empty {
            $short = $host.split('\.')[0]
            $host_instances.keys.map |$instance| { regsubst($host, "\\A${short}", "${short}-${instance}") }
        } else {
            [$host]
        }
    }
    $seeds = $host_seeds.flatten
    $firewall_sources = ($all_instances.keys + $seeds).unique

    $base_settings = {
        'instances'             => $instances,
        'rack'                  => $rack,
        'seeds'                 => $seeds,
        'logstash_host'         => 'localhost',
        'cassandra_passwords'   => $cassandra_passwords,
        'auto_apply_grants'     => $auto_apply_grants,
        'tls_keystore_password' => $tls_keystore_password,
    }
    $settings = $base_settings + $cassandra_settings

    class { 'cassandra':
        * => $settings,
    }

    class { 'cassandra::sysctl':
        # Queue page flushes at 24MB intervals, as production does.
        vm_dirty_background_bytes => 25165824,
    }

    class { 'cassandra::standalone::firewall':
        cluster_hosts => $firewall_sources,
        client_ips    => $client_ips,
        tls           => $cassandra_settings['tls_cluster_name'] =~ String[1],
    }

    if $monitor_enabled and $cassandra_settings['tls_cluster_name'] =~ String[1] {
        $checks = 'the CQL and certificate checks are Wikimedia\'s monitoring, not set up here'
        notice("profile::cassandra: monitor_enabled (port ${monitor_tls_port}): ${checks}")
    }
    if $settings['logstash_host'] != 'localhost' {
        $logs = 'shipping to logstash needs Wikimedia\'s logback encoder; Cassandra logs to /var/log/cassandra*'
        notice("profile::cassandra: settings.logstash_host ${settings['logstash_host']}: ${logs}")
    }
}
