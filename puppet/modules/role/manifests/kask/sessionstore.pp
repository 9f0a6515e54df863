# @summary A session store host: Cassandra, kask's schema, and kask in front of it.
#
# Not production's `role::sessionstore` (a Cassandra cluster whose clients
# run elsewhere), which keeps its name and meaning. Inside operations/puppet
# this role includes the real `profile::cassandra`; standalone, this
# repository's stand-in of it. A host with no kask services in Hiera gets
# Cassandra only.
class role::kask::sessionstore {
    include profile::cassandra
    include profile::kask::schema
    include profile::kask
}
