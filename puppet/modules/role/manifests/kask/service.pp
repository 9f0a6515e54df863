# @summary kask in front of a Cassandra cluster that runs elsewhere.
#
# Only the kask services of `profile::kask::service_defs`; nothing about
# Cassandra is installed or configured on this host.
class role::kask::service {
    include profile::kask
}
