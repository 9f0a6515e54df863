# @summary The CQL of kask's least-privilege role on one table.
#
# A role that can log in, with SELECT (reads) and MODIFY (INSERT, UPDATE,
# DELETE) on the table and nothing else. CREATE sets the password of a new
# role, ALTER that of an existing one; GRANT can run again.
#
# @param user
#   The role.
# @param password
#   Its password.
# @param table
#   The table, already quoted (`"keyspace"."table"`).
# @return [Array[String]] the statements
function profile::kask::role_cql(String[1] $user, String[1] $password, String[1] $table) >> Array[String] {
    $role = profile::kask::cql_identifier($user)
    $secret = regsubst($password, "'", "''", 'G')
    [
        "CREATE ROLE IF NOT EXISTS ${role} WITH LOGIN = true AND PASSWORD = '${secret}';",
        "ALTER ROLE ${role} WITH LOGIN = true AND PASSWORD = '${secret}';",
        "GRANT SELECT ON TABLE ${table} TO ${role};",
        "GRANT MODIFY ON TABLE ${table} TO ${role};",
    ]
}
