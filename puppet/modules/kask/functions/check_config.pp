# @summary Checks a kask configuration hash against `kask::config_schema()`.
#
# Fails the catalog, naming the context and the key, when a known key has a
# value of the wrong type. Unknown keys are returned: the caller refuses them
# (the daemon accepts them with a warning, as the reference did, but
# `kask --check-config --strict` refuses them).
#
# @param config
#   The configuration hash, or a section of it.
# @param context
#   What to name in messages, for example `Kask::Instance[sessions]`.
# @param prefix
#   Dotted path of the section being checked (empty at the top).
# @return [Array[String]] the dotted paths of the keys kask does not know
function kask::check_config(
  Hash $config,
  String[1] $context,
  String $prefix = '',
) >> Array[String] {
  $schema = kask::config_schema()
  $unknown = $config.map |$key, $value| {
    $path = "${prefix}${key}"
    $type = $schema[$path]
    if $type =~ Undef {
      [$path]
    } else {
      assert_type($type, $value) |$expected, $actual| {
        fail("${context}: config key '${path}' must be ${expected}, got ${actual}")
      }
      if $value =~ Hash {
        kask::check_config($value, $context, "${path}.")
      } else {
        []
      }
    }
  }
  $unknown.flatten
}
