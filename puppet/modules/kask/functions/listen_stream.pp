# @summary The `ListenStream=` of an instance's socket unit, from its config.
#
# The package's `kask@.socket` holds the listening socket and passes it to
# the daemon, so the socket must bind what the config says: `listen_address`
# (default `localhost`) and `listen_port` (default 8080). systemd binds
# addresses, not names: `localhost` becomes `127.0.0.1`, `::` and `0.0.0.0`
# stay wildcards, and any other host name fails the catalog.
#
# @param config
#   The instance's configuration hash.
# @param context
#   What to name in the failure message.
# @return [String] for example `0.0.0.0:8080` or `[::1]:8081`
function kask::listen_stream(Hash $config, String[1] $context) >> String {
  $port = $config['listen_port'].lest || { 8080 }
  $address = $config['listen_address'].lest || { 'localhost' }
  case $address {
    'localhost': { "127.0.0.1:${port}" }
    Stdlib::IP::Address::V4::Nosubnet: { "${address}:${port}" }
    Stdlib::IP::Address::V6::Nosubnet: { "[${address}]:${port}" }
    default: {
      fail("${context}: listen_address '${address}' is a host name; the socket unit kask@<name>.socket binds it, so give an IP address")
    }
  }
}
