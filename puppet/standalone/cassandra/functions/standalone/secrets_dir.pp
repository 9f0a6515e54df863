# @summary Where this stand-in reads the files of Wikimedia's private repository.
#
# In production the real module reads keystores with `secret()` from the
# private repository's `modules/secret/secrets/`. A host outside Wikimedia
# keeps the same layout under this directory:
# `cassandra/<tls_cluster_name>/<tls_hostname>/<tls_hostname>.kst`,
# `cassandra/<tls_cluster_name>/truststore` and
# `cassandra/<tls_cluster_name>/rootCa.crt`.
#
# @return [Stdlib::Absolutepath] the directory
function cassandra::standalone::secrets_dir() >> Stdlib::Absolutepath {
    '/etc/puppet/private/modules/secret/secrets'
}
