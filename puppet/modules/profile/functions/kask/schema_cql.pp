# @summary The CQL of one kask keyspace: keyspace, table and least-privilege role.
#
# The keyspace is replicated with NetworkTopologyStrategy to each data
# centre of `replication`; the table is kask's
# (`key text PRIMARY KEY, value blob`, the same as `kask --print-schema`).
# With a `user`, a role that can log in and do exactly what kask does: read
# (SELECT) and write and delete (MODIFY, which covers INSERT, UPDATE and
# DELETE) that one table, nothing else. Every statement can run again.
#
# @param keyspace
#   The keyspace (kask's `cassandra.keyspace`).
# @param table
#   The table (kask's `cassandra.table`).
# @param replication
#   Data centre to replication factor.
# @param user
#   kask's `cassandra.authentication.username`, or undef for none.
# @param password
#   Its password.
# @return [String] the statements, one per line
function profile::kask::schema_cql(
    String[1] $keyspace,
    String[1] $table,
    Hash[String[1], Integer[1]] $replication,
    Optional[String[1]] $user = undef,
    Optional[String[1]] $password = undef,
) >> String {
    $dcs = $replication.keys.sort.map |$dc| { "'${regsubst($dc, "'", "''", 'G')}': ${replication[$dc]}" }.join(', ')
    $ks = profile::kask::cql_identifier($keyspace)
    $tbl = "${ks}.${profile::kask::cql_identifier($table)}"
    $schema = [
        "CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = {'class': 'NetworkTopologyStrategy', ${dcs}};",
        "ALTER KEYSPACE ${ks} WITH replication = {'class': 'NetworkTopologyStrategy', ${dcs}};",
        "CREATE TABLE IF NOT EXISTS ${tbl} (key text PRIMARY KEY, value blob);",
    ]
    if ($user =~ Undef) != ($password =~ Undef) {
        fail("profile::kask::schema: keyspace '${keyspace}': give user and password together")
    }
    $role = $user ? {
        undef   => [],
        default => profile::kask::role_cql($user, $password, $tbl),
    }
    "${($schema + $role).join("\n")}\n"
}
