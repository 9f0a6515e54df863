# @summary One entry of `profile::kask::service_defs`.
#
# Shaped exactly like an entry of `profile::docker::runner::service_defs`,
# so that the Hiera of a Docker-era host can be pasted unchanged. `config`
# is what matters natively; `port` must equal the config's `listen_port`;
# `ensure` and `environment` keep their meaning; `pooled` (ours, optional)
# sets the instance's pool state without a restart; the other keys only made
# sense for a container and are ignored with a notice (see `profile::kask`).
type Profile::Kask::ServiceDef = Struct[{
    config                  => Hash[String[1], Data],
    Optional[port]          => Integer[1, 65535],
    Optional[ensure]        => Enum['present', 'absent'],
    Optional[environment]   => Hash[String[1], Variant[String, Numeric, Boolean]],
    Optional[pooled]        => Boolean,
    Optional[version]       => String[1],
    Optional[namespace]     => String[1],
    Optional[override_cmd]  => String,
    Optional[image_name]    => String[1],
    Optional[volume]        => Variant[Boolean, String],
    Optional[bind_mounts]   => Variant[Hash, Array],
    Optional[host_network]  => Boolean,
    Optional[runtime]       => String,
}]
