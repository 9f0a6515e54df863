# @summary One keyspace of `profile::kask::schema::keyspaces`.
#
# `table` is kask's `cassandra.table` (default `values`); `user` and
# `password` are kask's `cassandra.authentication`, for the least-privilege
# role that kask logs in with. Without them no role is made (kask then
# logs in as whoever its configuration says, for example the superuser of a
# test cluster).
type Profile::Kask::Keyspace = Struct[{
    Optional[table]    => Pattern[/\A[A-Za-z][A-Za-z0-9_]{0,47}\z/],
    Optional[user]     => String[1],
    Optional[password] => String[1],
}]
