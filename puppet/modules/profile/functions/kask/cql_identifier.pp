# @summary A CQL identifier, double-quoted (so its case is kept).
#
# @param identifier
#   The name of a keyspace, table or role.
# @return [String] the quoted identifier
function profile::kask::cql_identifier(String[1] $identifier) >> String {
    "\"${regsubst($identifier, '"', '""', 'G')}\""
}
