//! The CQL that creates kask's keyspace and table, for `kask
//! --print-schema`: the reference's schema, so that either implementation
//! reads what the other wrote, and a least-privilege login role for kask.
//! Operators (or Puppet) run it once; the service itself never creates or
//! alters anything.

use crate::config::StoreConfig;

/// What `--print-schema` prints in place of the role's password: kask never
/// writes a real one anywhere but its own connection.
pub const PASSWORD_PLACEHOLDER: &str = "<password>";

/// `replication` lists (data centre, replication factor) pairs. The role is
/// the configured `cassandra.authentication.username`, or `kask`: it may
/// log in, read and write (MODIFY covers INSERT and DELETE) this one table,
/// and nothing else.
pub fn schema(cfg: &StoreConfig, replication: &[(String, u32)]) -> String {
    let dcs: Vec<String> = replication
        .iter()
        .map(|(dc, rf)| format!("'{}': {rf}", dc.replace('\'', "''")))
        .collect();
    let role = cfg.auth.as_ref().map_or("kask", |a| a.username.as_str());
    let role = format!("\"{}\"", role.replace('"', "\"\""));
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', {dcs}}};\n\
         CREATE TABLE IF NOT EXISTS {table} (key text PRIMARY KEY, value blob);\n\
         CREATE ROLE IF NOT EXISTS {role} WITH PASSWORD = '{PASSWORD_PLACEHOLDER}' AND LOGIN = true;\n\
         GRANT SELECT ON TABLE {table} TO {role};\n\
         GRANT MODIFY ON TABLE {table} TO {role};\n",
        ks = cfg.keyspace_name(),
        table = cfg.table_name(),
        dcs = dcs.join(", "),
    )
}

/// Parses `eqiad:3,codfw:3`.
pub fn parse_replication(s: &str) -> Result<Vec<(String, u32)>, String> {
    s.split(',')
        .map(|part| {
            let (dc, rf) = part
                .split_once(':')
                .ok_or_else(|| format!("--replication: {part:?} is not DC:RF"))?;
            let rf: u32 = rf
                .trim()
                .parse()
                .map_err(|_| format!("--replication: {rf:?} is not a number"))?;
            let dc = dc.trim();
            if dc.is_empty() || rf == 0 {
                return Err(format!(
                    "--replication: {part:?} needs a data centre name and a factor of at least 1"
                ));
            }
            Ok((dc.to_string(), rf))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn schema_quotes_names_and_lists_dcs() {
        let cfg = Config::parse(
            "cassandra:\n  keyspace: sessions\n  table: values\n",
            Path::new("t"),
        )
        .unwrap();
        let cql = schema(&cfg.store, &[("eqiad".into(), 3), ("codfw".into(), 3)]);
        assert_eq!(
            cql,
            "CREATE KEYSPACE IF NOT EXISTS \"sessions\" WITH replication = {'class': 'NetworkTopologyStrategy', 'eqiad': 3, 'codfw': 3};\n\
             CREATE TABLE IF NOT EXISTS \"sessions\".\"values\" (key text PRIMARY KEY, value blob);\n\
             CREATE ROLE IF NOT EXISTS \"kask\" WITH PASSWORD = '<password>' AND LOGIN = true;\n\
             GRANT SELECT ON TABLE \"sessions\".\"values\" TO \"kask\";\n\
             GRANT MODIFY ON TABLE \"sessions\".\"values\" TO \"kask\";\n"
        );
    }

    #[test]
    fn replication_lists() {
        assert_eq!(
            parse_replication("eqiad:3,codfw:2"),
            Ok(vec![("eqiad".into(), 3), ("codfw".into(), 2)])
        );
        assert!(parse_replication("eqiad").is_err());
        assert!(parse_replication("eqiad:0").is_err());
    }
}
