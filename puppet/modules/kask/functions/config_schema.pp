# @summary The configuration keys kask knows, with their types.
#
# Keys are dotted paths into the configuration hash (`cassandra.tls.ca`).
# A key whose type is a `Hash` is a section: the keys inside it are checked
# too. The daemon is the final judge (`kask --check-config --strict` runs
# before a file is replaced, and refuses unknown keys); these types catch
# mistakes when the catalog compiles,
# where the message can name the instance and the key.
#
# @return [Hash[String[1], Type]] dotted key path to the type its value must have
function kask::config_schema() >> Hash[String[1], Type] {
  $identifier = Pattern[/\A[A-Za-z][A-Za-z0-9_]{0,47}\z/]
  $schema = {
    'service_name'                           => String[1],
    'base_uri'                               => String,
    'listen_address'                         => String[1],
    'listen_port'                            => Integer[1, 65535],
    'default_ttl'                            => Integer[0, 630720000],
    'log_level'                              => Pattern[/\A(?i:debug|info|warning|error|fatal)\z/],
    'log_format'                             => Pattern[/\A(?i:auto|json|cee)\z/],
    'openapi_spec'                           => String,
    'max_value_bytes'                        => Integer[1],
    'shutdown_grace_seconds'                 => Integer[0],
    'idle_timeout_seconds'                   => Integer[1, 3600],
    'body_timeout_seconds'                   => Integer[1, 3600],
    'max_connections'                        => Integer[1, 1000000],
    'tls'                                    => Hash[String[1], Data],
    'tls.cert'                               => Stdlib::Absolutepath,
    'tls.key'                                => Stdlib::Absolutepath,
    'tls.client_ca'                          => Stdlib::Absolutepath,
    'cassandra'                              => Hash[String[1], Data],
    'cassandra.hosts'                        => Array[String[1], 1],
    'cassandra.port'                         => Integer[1, 65535],
    'cassandra.keyspace'                     => $identifier,
    'cassandra.table'                        => $identifier,
    'cassandra.local_dc'                     => String,
    'cassandra.query_timeout_ms'             => Integer[1],
    'cassandra.connect_timeout_ms'           => Integer[1],
    'cassandra.protocol_version'             => Integer[4, 5],
    'cassandra.authentication'               => Hash[String[1], Data],
    'cassandra.authentication.username'      => String[1],
    'cassandra.authentication.password'      => String[1],
    'cassandra.tls'                          => Hash[String[1], Data],
    'cassandra.tls.ca'                       => Stdlib::Absolutepath,
    'cassandra.tls.cert'                     => Stdlib::Absolutepath,
    'cassandra.tls.key'                      => Stdlib::Absolutepath,
    'cassandra.tls.enable_host_verification' => Boolean,
  }
  $schema
}
