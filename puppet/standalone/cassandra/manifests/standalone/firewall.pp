# @summary What the real profile's ferm rules allow, as an nftables table.
#
# Production's firewall drops what no rule accepts, and profile::cassandra
# accepts: inter-node traffic (7000, and 7001 for TLS clusters) and JMX
# (7199-7202) from the cluster's hosts, CQL (9042) from the cluster's hosts
# and `client_ips`. Outside Wikimedia there is no such base firewall, so
# this table does both for these ports only: it accepts those sources and
# drops the rest, and leaves every other port alone. Host names are
# resolved when the table is loaded (as ferm's @resolve does), by
# `cassandra-firewall.service`.
#
# @param cluster_hosts
#   The cluster's hosts and instance names.
# @param client_ips
#   CQL clients (addresses or networks).
# @param tls
#   Whether the cluster uses TLS between nodes (port 7001).
class cassandra::standalone::firewall (
    Array[Stdlib::Host]        $cluster_hosts,
    Array[Stdlib::IP::Address] $client_ips,
    Boolean                    $tls,
) {
    $cluster_ports = $tls ? {
        true    => '7000, 7001, 7199-7202',
        default => '7000, 7199-7202',
    }
    ensure_packages(['nftables'])
    file { '/etc/cassandra-firewall.nft':
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0444',
        content => epp('cassandra/firewall.nft.epp', {
            'cluster_hosts' => $cluster_hosts,
            'client_v4'     => $client_ips.filter |$ip| { $ip =~ Stdlib::IP::Address::V4 },
            'client_v6'     => $client_ips.filter |$ip| { $ip =~ Stdlib::IP::Address::V6 },
            'cluster_ports' => $cluster_ports,
        }),
    }
    file { '/etc/systemd/system/cassandra-firewall.service':
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0444',
        content => "# Managed by Puppet (cassandra::standalone::firewall)\n[Unit]\nDescription=Firewall of Cassandra's ports\nWants=network-online.target\nAfter=network-online.target nss-lookup.target\nBefore=cassandra.service\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/sbin/nft -f /etc/cassandra-firewall.nft\nExecStop=/usr/sbin/nft delete table inet cassandra\n\n[Install]\nWantedBy=multi-user.target\n",
    }
    service { 'cassandra-firewall':
        ensure    => running,
        enable    => true,
        require   => Package['nftables'],
        subscribe => File['/etc/cassandra-firewall.nft', '/etc/systemd/system/cassandra-firewall.service'],
    }
}
