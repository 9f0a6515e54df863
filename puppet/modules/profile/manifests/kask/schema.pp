# @summary kask's keyspaces, tables and least-privilege roles, on a Cassandra host.
#
# Runs on the first host (sorted) of `profile::cassandra::instances`, once
# for the whole cluster, through cqlsh as the Cassandra superuser (the
# `cqlshrc` and `credentials` that the cassandra module writes for the
# first local instance). Works beside the real `profile::cassandra` as
# beside this repository's stand-in: it reads only the cassandra class's
# parameters.
#
# Each keyspace is replicated (NetworkTopologyStrategy) to every data
# centre of the cluster: when every host of `instances` is in one domain,
# that is this host's DC (`settings.dc`) with a factor of the number of
# instances, at most 3; a cluster over several domains (eqiad.wmnet,
# codfw.wmnet) needs `replication`, naming as many DCs as there are
# domains, this one among them, or the catalog fails. Changing the
# replication of an existing keyspace is applied too (`ALTER KEYSPACE`):
# run a repair after it.
#
# The CQL of each keyspace (`profile::kask::schema_cql`) is written to
# `/etc/kask-schema/<keyspace>.cql` (0400, it holds the role's password)
# and applied until it has been applied once as it is now.
#
# @param keyspaces
#   Keyspace to its table and kask's user (see `Profile::Kask::Keyspace`).
#   Hiera key `profile::kask::schema::keyspaces`.
# @param replication
#   Data centre to replication factor, for a cluster over several data
#   centres. Hiera key `profile::kask::schema::replication`.
class profile::kask::schema (
    Hash[String[1], Profile::Kask::Keyspace] $keyspaces = lookup('profile::kask::schema::keyspaces', { 'default_value' => {} }),
    Optional[Hash[String[1], Integer[1, 9]]] $replication = lookup('profile::kask::schema::replication', { 'default_value' => undef }),
) {
    require profile::cassandra

    $hosts = $profile::cassandra::all_instances.keys.sort
    $keyspace_names = $keyspaces.keys
    $invalid = $keyspace_names.filter |$k| { $k !~ /\A[A-Za-z][A-Za-z0-9_]{0,47}\z/ }
    unless $invalid.empty {
        $rule = 'a letter, then letters, digits or _, 48 at most'
        fail("profile::kask::schema: keyspaces: '${invalid[0]}' is not a kask keyspace name (${rule})")
    }

    if !$keyspaces.empty and $facts['networking']['fqdn'] == $hosts[0] {
        $domains = $hosts.map |$h| { $h.split('\.')[1, -1].join('.') }.unique
        $instance_count = $profile::cassandra::all_instances.values.map |$i| {
            $i ? {
                Hash[String, Any, 1] => $i.length,
                default              => 1,
            }
        }.reduce(0) |$sum, $n| { $sum + $n }
        $local_dc = $cassandra::dc
        if $replication =~ Undef {
            if $domains.length > 1 {
                $spans = "the cluster spans ${domains.length} domains (${domains.join(', ')})"
                fail("profile::kask::schema: replication: ${spans}; name each data centre and its factor")
            }
            $dcs = { $local_dc => min(3, $instance_count) }
        } else {
            if $replication.length != $domains.length or !($local_dc in $replication) {
                $names_given = $replication.keys.sort.join(', ')
                $has = "the cluster has ${domains.length} domain(s), this host is in ${local_dc}"
                fail("profile::kask::schema: replication names ${names_given}; ${has}")
            }
            $dcs = $replication
        }

        # The first local instance, as the cassandra module names it.
        $names = $cassandra::instances.empty ? {
            true    => ['default'],
            default => $cassandra::instances.keys.sort,
        }
        $first = $names[0]
        $params = $cassandra::default_instance_params + pick($cassandra::instances[$first], {})
        $suffix = $first ? {
            'default' => '',
            default   => "-${first}",
        }
        $config = pick($params['config_directory'], "/etc/cassandra${suffix}")
        $service = pick($params['service_name'], "cassandra${suffix}")
        $address = pick($params['rpc_address'], $params['listen_address'], $cassandra::listen_address)
        $port = pick($params['native_transport_port'], $cassandra::native_transport_port)
        # The cassandra module's cqlshrc names the CA; cqlsh uses TLS when told.
        $ssl = $params['client_encryption_enabled'] ? {
            true    => ' --ssl',
            default => '',
        }
        $cqlsh = "/usr/bin/cqlsh --cqlshrc=${config}/cqlshrc${ssl} ${address} ${port}"

        file { '/etc/kask-schema':
            ensure => directory,
            owner  => 'root',
            group  => 'root',
            mode   => '0700',
        }
        $keyspaces.each |$keyspace, $spec| {
            $cql = profile::kask::schema_cql($keyspace, pick($spec['table'], 'values'), $dcs, $spec['user'], $spec['password'])
            $file = "/etc/kask-schema/${keyspace}.cql"
            file { $file:
                ensure  => file,
                owner   => 'root',
                group   => 'root',
                mode    => '0400',
                content => Sensitive($cql),
            }
            exec { "kask schema ${keyspace}":
                command   => "${cqlsh} -f ${file} && cp ${file} ${file}.applied",
                unless    => "cmp -s ${file} ${file}.applied",
                path      => ['/usr/bin', '/bin'],
                provider  => shell,
                tries     => 12,
                try_sleep => 10,
                require   => [File[$file], Service[$service]],
            }
        }
    }
}
