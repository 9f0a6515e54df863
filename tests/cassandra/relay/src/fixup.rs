//! The two things cdrs-tokio needs from a node that Cassandra 2.1 lacks.
//!
//! Requests are recognised by their query text (the driver's exact
//! statements, compared case- and whitespace-insensitively); the matching
//! result is then fixed on its way back. Bodies here are always uncompressed
//! and of protocol v3, the only version a 2.1 node and the driver share.

use cassandra_protocol::frame::message_result::{
    BodyResResultRows, ColSpec, ColType, ColTypeOption, ResResultBody, RowsMetadataFlags, TableSpec,
};
use cassandra_protocol::frame::{Serialize, Version};
use cassandra_protocol::types::CBytes;
use serde_json::{Map, Value};
use std::io::Cursor;
use std::net::IpAddr;

/// A result that has to be fixed before the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixup {
    /// Rows of `system.schema_keyspaces` to be turned into
    /// `(keyspace_name, replication)` rows of `system_schema.keyspaces`.
    Keyspaces,
    /// Rows of `system.local` that need a `broadcast_address` column.
    Local,
}

const KEYSPACES_QUERY: &str =
    "select keyspace_name, tojson(replication) as replication from system_schema.keyspaces";
const KEYSPACES_REWRITTEN: &str =
    "SELECT keyspace_name, strategy_class, strategy_options FROM system.schema_keyspaces";
const ONE_KEYSPACE: &str = "where keyspace_name = ?";
const LOCAL_QUERY: &str = "select * from system.local";

/// What to do with a QUERY whose text is `query`: `None` to pass it on as it
/// is, else the fix its result needs and, if the query itself has to change,
/// its replacement.
pub fn classify(query: &str) -> Option<(Fixup, Option<String>)> {
    let normal = query
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(';')
        .trim_end()
        .to_ascii_lowercase();
    if let Some(rest) = normal.strip_prefix(KEYSPACES_QUERY) {
        let rewritten = match rest.trim() {
            "" => KEYSPACES_REWRITTEN.to_owned(),
            ONE_KEYSPACE => format!("{KEYSPACES_REWRITTEN} WHERE keyspace_name = ?"),
            _ => return None,
        };
        return Some((Fixup::Keyspaces, Some(rewritten)));
    }
    if normal == LOCAL_QUERY || normal == "select * from system.local where key = 'local'" {
        return Some((Fixup::Local, None));
    }
    None
}

/// Reads the query text at the start of a QUERY body (a `[long string]`).
pub fn query_text(body: &[u8]) -> Option<&str> {
    let len = i32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    let text = body.get(4..4 + usize::try_from(len).ok()?)?;
    std::str::from_utf8(text).ok()
}

/// The QUERY body with its text replaced and its parameters (consistency,
/// bound values, paging ...) kept byte for byte.
pub fn replace_query_text(body: &[u8], new_text: &str) -> Option<Vec<u8>> {
    let old_len = query_text(body)?.len();
    let params = &body[4 + old_len..];
    let mut out = Vec::with_capacity(4 + new_text.len() + params.len());
    out.extend_from_slice(&(new_text.len() as i32).to_be_bytes());
    out.extend_from_slice(new_text.as_bytes());
    out.extend_from_slice(params);
    Some(out)
}

/// The replication map as Cassandra 3+'s `toJson(replication)` gives it:
/// the strategy class under `"class"`, then the strategy's options.
pub fn replication_json(strategy_class: &str, strategy_options: &str) -> Result<String, String> {
    let options: Value = serde_json::from_str(strategy_options)
        .map_err(|e| format!("strategy_options {strategy_options:?}: {e}"))?;
    let Value::Object(options) = options else {
        return Err(format!(
            "strategy_options {strategy_options:?} is not a JSON object"
        ));
    };
    let mut replication = Map::new();
    replication.insert("class".into(), Value::String(strategy_class.into()));
    replication.extend(options);
    Ok(Value::Object(replication).to_string())
}

/// Fixes a RESULT body. `Ok(None)` means there is nothing to change (not a
/// rows result, or the node already has what the driver wants).
pub fn fix_result(
    fixup: Fixup,
    body: &[u8],
    tracing: bool,
    broadcast_address: IpAddr,
) -> Result<Option<Vec<u8>>, String> {
    // A traced response starts with the 16-byte tracing session id.
    let prefix_len = if tracing { 16 } else { 0 };
    let (prefix, result) = body
        .split_at_checked(prefix_len)
        .ok_or("result shorter than its tracing id")?;
    let mut cursor = Cursor::new(result);
    let parsed = ResResultBody::from_cursor(&mut cursor, Version::V3).map_err(|e| e.to_string())?;
    let ResResultBody::Rows(rows) = parsed else {
        return Ok(None);
    };
    if rows.metadata.flags.contains(RowsMetadataFlags::NO_METADATA) {
        return Ok(None);
    }
    let fixed = match fixup {
        Fixup::Keyspaces => keyspaces_rows(rows)?,
        Fixup::Local => match local_rows(rows, broadcast_address) {
            Some(rows) => rows,
            None => return Ok(None),
        },
    };
    let mut out = prefix.to_vec();
    out.extend(ResResultBody::Rows(fixed).serialize_to_vec(Version::V3));
    Ok(Some(out))
}

fn column(rows: &BodyResResultRows, name: &str) -> Result<usize, String> {
    rows.metadata
        .col_specs
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| format!("no column {name} in the node's answer"))
}

fn text(cell: &CBytes, name: &str) -> Result<String, String> {
    let bytes = cell.as_slice().ok_or_else(|| format!("{name} is null"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{name} is not UTF-8"))
}

fn varchar(name: &str, table_spec: Option<TableSpec>) -> ColSpec {
    ColSpec {
        table_spec,
        name: name.into(),
        col_type: ColTypeOption {
            id: ColType::Varchar,
            value: None,
        },
    }
}

fn keyspaces_rows(rows: BodyResResultRows) -> Result<BodyResResultRows, String> {
    let name = column(&rows, "keyspace_name")?;
    let class = column(&rows, "strategy_class")?;
    let options = column(&rows, "strategy_options")?;
    let rows_content = rows
        .rows_content
        .iter()
        .map(|row| {
            let json = replication_json(
                &text(&row[class], "strategy_class")?,
                &text(&row[options], "strategy_options")?,
            )?;
            Ok(vec![row[name].clone(), CBytes::new(json.into_bytes())])
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut metadata = rows.metadata;
    metadata.flags = RowsMetadataFlags::GLOBAL_TABLE_SPACE
        | (metadata.flags & RowsMetadataFlags::HAS_MORE_PAGES);
    metadata.columns_count = 2;
    metadata.new_metadata_id = None;
    metadata.global_table_spec = Some(TableSpec {
        ks_name: "system_schema".into(),
        table_name: "keyspaces".into(),
    });
    metadata.col_specs = vec![varchar("keyspace_name", None), varchar("replication", None)];
    Ok(BodyResResultRows {
        metadata,
        rows_content,
        ..rows
    })
}

fn local_rows(mut rows: BodyResResultRows, address: IpAddr) -> Option<BodyResResultRows> {
    if rows
        .metadata
        .col_specs
        .iter()
        .any(|c| c.name == "broadcast_address")
    {
        return None;
    }
    let table_spec = if rows
        .metadata
        .flags
        .contains(RowsMetadataFlags::GLOBAL_TABLE_SPACE)
    {
        None
    } else {
        Some(TableSpec {
            ks_name: "system".into(),
            table_name: "local".into(),
        })
    };
    rows.metadata.col_specs.push(ColSpec {
        table_spec,
        name: "broadcast_address".into(),
        col_type: ColTypeOption {
            id: ColType::Inet,
            value: None,
        },
    });
    rows.metadata.columns_count += 1;
    let octets = match address {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    for row in &mut rows.rows_content {
        row.push(CBytes::new(octets.clone()));
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cassandra_protocol::frame::message_result::RowsMetadata;
    use cassandra_protocol::types::rows::Row;
    use cassandra_protocol::types::IntoRustByName;

    fn rows_body(columns: &[(&str, ColType)], rows: Vec<Vec<CBytes>>) -> Vec<u8> {
        let body = BodyResResultRows {
            metadata: RowsMetadata {
                flags: RowsMetadataFlags::GLOBAL_TABLE_SPACE,
                columns_count: columns.len() as i32,
                paging_state: None,
                new_metadata_id: None,
                global_table_spec: Some(TableSpec {
                    ks_name: "system".into(),
                    table_name: "t".into(),
                }),
                col_specs: columns
                    .iter()
                    .map(|(name, id)| ColSpec {
                        table_spec: None,
                        name: (*name).into(),
                        col_type: ColTypeOption {
                            id: *id,
                            value: None,
                        },
                    })
                    .collect(),
            },
            rows_count: rows.len() as i32,
            rows_content: rows,
            protocol_version: Version::V3,
        };
        ResResultBody::Rows(body).serialize_to_vec(Version::V3)
    }

    fn text_cell(s: &str) -> CBytes {
        CBytes::new(s.as_bytes().to_vec())
    }

    fn decode_rows(body: &[u8]) -> Vec<Row> {
        ResResultBody::from_cursor(&mut Cursor::new(body), Version::V3)
            .unwrap()
            .into_rows()
            .unwrap()
    }

    #[test]
    fn recognises_the_driver_queries_and_nothing_else() {
        let all = classify(
            "SELECT keyspace_name, toJson(replication) AS replication FROM system_schema.keyspaces",
        );
        assert_eq!(
            all,
            Some((Fixup::Keyspaces, Some(KEYSPACES_REWRITTEN.to_owned())))
        );
        let one = classify(
            "SELECT keyspace_name, toJson(replication) AS replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
        )
        .unwrap();
        assert_eq!(one.0, Fixup::Keyspaces);
        assert_eq!(
            one.1.unwrap(),
            "SELECT keyspace_name, strategy_class, strategy_options FROM system.schema_keyspaces WHERE keyspace_name = ?"
        );
        assert_eq!(
            classify("select *\n  FROM system.local ;"),
            Some((Fixup::Local, None))
        );
        assert_eq!(classify("SELECT * FROM system.peers"), None);
        assert_eq!(classify("SELECT * FROM system.local_other"), None);
        assert_eq!(classify("SELECT value FROM ks.t WHERE key = ?"), None);
    }

    #[test]
    fn replaces_query_text_and_keeps_parameters() {
        let params = [0x00, 0x06, 0x01, 0x00, 0x01, 0, 0, 0, 2, b'k', b's'];
        let mut body = 5i32.to_be_bytes().to_vec();
        body.extend_from_slice(b"hello");
        body.extend_from_slice(&params);
        assert_eq!(query_text(&body), Some("hello"));
        let new = replace_query_text(&body, "bye").unwrap();
        assert_eq!(query_text(&new), Some("bye"));
        assert_eq!(&new[7..], &params);
        assert_eq!(query_text(&[0, 0, 0, 9, b'x']), None, "truncated text");
    }

    #[test]
    fn replication_json_puts_the_class_beside_the_options() {
        let json = replication_json(
            "org.apache.cassandra.locator.NetworkTopologyStrategy",
            r#"{"datacenter1":"3"}"#,
        )
        .unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                "datacenter1": "3"
            })
        );
        assert!(replication_json("x", "[1]").is_err());
        assert!(replication_json("x", "not json").is_err());
    }

    #[test]
    fn keyspace_rows_become_replication_rows() {
        let body = rows_body(
            &[
                ("keyspace_name", ColType::Varchar),
                ("strategy_class", ColType::Varchar),
                ("strategy_options", ColType::Varchar),
            ],
            vec![vec![
                text_cell("kask"),
                text_cell("org.apache.cassandra.locator.SimpleStrategy"),
                text_cell(r#"{"replication_factor":"1"}"#),
            ]],
        );
        let fixed = fix_result(Fixup::Keyspaces, &body, false, [127, 0, 0, 1].into())
            .unwrap()
            .unwrap();
        let rows = decode_rows(&fixed);
        assert_eq!(rows.len(), 1);
        let name: String = rows[0].get_r_by_name("keyspace_name").unwrap();
        let replication: String = rows[0].get_r_by_name("replication").unwrap();
        assert_eq!(name, "kask");
        let replication: Value = serde_json::from_str(&replication).unwrap();
        assert_eq!(
            replication["class"],
            "org.apache.cassandra.locator.SimpleStrategy"
        );
        assert_eq!(replication["replication_factor"], "1");
    }

    #[test]
    fn local_row_gains_broadcast_address_and_keeps_its_columns() {
        let body = rows_body(
            &[("key", ColType::Varchar), ("data_center", ColType::Varchar)],
            vec![vec![text_cell("local"), text_cell("datacenter1")]],
        );
        let mut traced = vec![0xab; 16];
        traced.extend_from_slice(&body);
        let fixed = fix_result(Fixup::Local, &traced, true, [127, 0, 0, 2].into())
            .unwrap()
            .unwrap();
        assert_eq!(&fixed[..16], &[0xab; 16], "tracing id kept in front");
        let rows = decode_rows(&fixed[16..]);
        let address: IpAddr = rows[0].get_r_by_name("broadcast_address").unwrap();
        let dc: String = rows[0].get_r_by_name("data_center").unwrap();
        assert_eq!(address, IpAddr::from([127, 0, 0, 2]));
        assert_eq!(dc, "datacenter1");
    }

    #[test]
    fn local_row_that_has_the_column_is_left_alone() {
        let body = rows_body(
            &[("broadcast_address", ColType::Inet)],
            vec![vec![CBytes::new(vec![10, 0, 0, 1])]],
        );
        assert_eq!(
            fix_result(Fixup::Local, &body, false, [127, 0, 0, 1].into()),
            Ok(None)
        );
    }

    #[test]
    fn non_rows_results_are_left_alone() {
        let void = 1i32.to_be_bytes();
        assert_eq!(
            fix_result(Fixup::Local, &void, false, [127, 0, 0, 1].into()),
            Ok(None)
        );
    }
}
