# @summary The keyspace and table of one kask service, from kask's own schema.
#
# Writes a minimal kask configuration naming the keyspace and table, prints
# the schema with `kask --print-schema --config <it> --replication
# <DC:RF,...>`, and runs it with cqlsh, unless the table already exists.
# Then grants the service's user what it needs on the keyspace.
#
# @api private
#
# @param keyspace
#   The service's `cassandra.keyspace`.
# @param table
#   The service's `cassandra.table`.
# @param replication
#   DC name to replication factor.
# @param grant_to
#   The service's Cassandra user, granted SELECT and MODIFY on the keyspace.
# @param cqlsh
#   The cqlsh command line, with its credentials file.
define profile::cassandra::kask_schema (
  String[1] $keyspace,
  String[1] $table,
  Hash[String[1], Integer[1]] $replication,
  Optional[String[1]] $grant_to,
  String[1] $cqlsh,
) {
  assert_private()

  $dir = '/etc/cassandra/puppet'
  $replication_arg = $replication.keys.sort.map |$dc| { "${dc}:${replication[$dc]}" }.join(',')
  $grants = $grant_to ? {
    undef   => '',
    default => ['SELECT', 'MODIFY'].map |$p| { "GRANT ${p} ON KEYSPACE \"${keyspace}\" TO \"${grant_to}\";\n" }.join,
  }

  file { "${dir}/kask-${title}.yaml":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => to_yaml({ 'cassandra' => { 'keyspace' => $keyspace, 'table' => $table } }),
  }
  file { "${dir}/kask-${title}-grants.cql":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => "-- Managed by Puppet (profile::cassandra)\n${grants}",
  }

  $schema = "${dir}/kask-${title}-schema.cql"
  $print_schema = "${kask::binary} --print-schema --config ${dir}/kask-${title}.yaml --replication ${replication_arg}"
  $table_query = "SELECT table_name FROM system_schema.tables WHERE keyspace_name = '${keyspace}' AND table_name = '${table}'"
  exec { "profile::cassandra kask schema ${title}":
    command   => "${print_schema} > ${schema} && ${cqlsh} -f ${schema} && ${cqlsh} -f ${dir}/kask-${title}-grants.cql",
    unless    => "${cqlsh} -e \"${table_query}\" | grep -q '(1 rows)'",
    path      => ['/usr/bin', '/bin'],
    provider  => shell,
    tries     => 12,
    try_sleep => 10,
    require   => [Class['kask::install'], File["${dir}/kask-${title}.yaml", "${dir}/kask-${title}-grants.cql"]],
  }
  # Before the service starts: kask prepares its statements at startup.
  Exec["profile::cassandra kask schema ${title}"] -> Service <| title == "kask@${title}.service" |>
}
