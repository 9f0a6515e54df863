# @summary A session store host: Cassandra and the kask services in front of it.
#
# The Docker-era role also had the firewall, base and password profiles;
# those are not part of this repository.
#
# @example Everything (what a session store host runs)
#   include role::sessionstore
#
# @example kask only, against a Cassandra that something else runs
#   class { 'role::sessionstore': cassandra => false }
#
# @param cassandra
#   Whether to include `profile::cassandra`. Switch it off when Cassandra is
#   not installed from apt by Puppet, as in the end-to-end test, whose
#   Cassandra runs outside the container. Hiera key
#   `role::sessionstore::cassandra`.
class role::sessionstore (
  Boolean $cassandra = true,
) {
  if $cassandra {
    include profile::cassandra
  }
  include profile::kask
}
