# @summary Checks that a users' CQL file only creates roles and grants.
#
# The real module runs a validator over each grants file before applying
# it; this is the same rule at catalog time: every statement starts with
# GRANT, CREATE USER or CREATE ROLE (comments aside).
#
# @param cql
#   The file's content.
# @param name
#   What to name in the failure.
# @return [Array[String]] the statements
function cassandra::grant_statements(String $cql, String[1] $name) >> Array[String] {
    $statements = $cql.split(';').map |$s| {
        $s.split("\n").filter |$line| { $line !~ /\A\s*--/ }.join("\n").strip
    }.filter |$s| { !$s.empty }
    $statements.each |$s| {
        if $s !~ /\A(?i:GRANT\s|CREATE\s+USER\s|CREATE\s+ROLE\s)/ {
            fail("cassandra: ${name}: '${s.split("\n")[0]}' is not GRANT, CREATE USER or CREATE ROLE")
        }
    }
    $statements
}
