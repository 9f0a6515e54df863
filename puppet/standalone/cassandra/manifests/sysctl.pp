# @summary Kernel settings for Cassandra, as the real `cassandra::sysctl`.
#
# @param vm_dirty_background_bytes
#   `vm.dirty_background_bytes`: start writing dirty pages back at this size.
class cassandra::sysctl (
    Integer[0] $vm_dirty_background_bytes = 0,
) {
    file { '/etc/sysctl.d/70-cassandra.conf':
        ensure  => file,
        owner   => 'root',
        group   => 'root',
        mode    => '0444',
        content => "# Managed by Puppet (cassandra::sysctl)\nvm.dirty_background_bytes = ${vm_dirty_background_bytes}\n",
    }
    exec { 'cassandra sysctl':
        command     => '/sbin/sysctl --load=/etc/sysctl.d/70-cassandra.conf',
        refreshonly => true,
        subscribe   => File['/etc/sysctl.d/70-cassandra.conf'],
    }
}
