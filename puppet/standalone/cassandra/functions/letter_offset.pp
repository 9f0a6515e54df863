# @summary How far the first character of an instance name is from `a`.
#
# The real module's default JMX port of an instance is 7189 plus this
# offset (instance `a`: 7189, `b`: 7190), computed from the character's
# code, so names that do not start with a lower-case letter get other
# offsets (`A`: -32). Only printable ASCII is accepted.
#
# @param name
#   The instance name.
# @return [Integer] the offset
function cassandra::letter_offset(String[1] $name) >> Integer {
    $printable = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~'
    $position = index($printable, $name[0])
    if $position =~ Undef {
        fail("Cassandra::Instance[${name}]: the name must start with a printable ASCII character (its JMX port derives from it)")
    }
    $position - index($printable, 'a')
}
