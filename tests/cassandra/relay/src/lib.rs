//! `kask-cql-relay` — **test infrastructure only, never part of the service.**
//!
//! kask's tests run against a real Apache Cassandra 2.1 (the only one these
//! machines can fetch), while the service's driver, cdrs-tokio, expects two
//! things 2.1 lacks. This relay sits in front of one node, listens on the
//! address clients use, and passes every CQL frame through byte for byte,
//! except:
//!
//! 1. `SELECT keyspace_name, toJson(replication) AS replication FROM
//!    system_schema.keyspaces [WHERE keyspace_name = ?]`: 2.1 has neither the
//!    table nor `toJson`. The relay rewrites the query, on the same stream, to
//!    read `system.schema_keyspaces`, and turns each answer row's
//!    `strategy_class` and `strategy_options` into the replication JSON.
//! 2. `SELECT * FROM system.local`: 2.1's row has no `broadcast_address`
//!    column, without which the driver never builds a session; the relay adds
//!    it (the node's own address).
//!
//! Both fixes are applied in line as frames flow, so neither query ever waits
//! for the other. Frames of protocol versions other than 3 are never touched:
//! the node answers them itself, so a client's version negotiation (try v4,
//! fall back to v3) sees exactly what the node says. When the node goes away
//! the relay closes its clients' connections; while it is down, a client is
//! accepted and closed at once.
//!
//! Modules, in the order data flows:
//! - [`frame`]: split a byte stream into frames (header + body), rebuild one.
//! - [`fixup`]: recognise the two queries, rewrite a query, fix a result.
//! - [`relay`]: accept loop and the two pumps of each connection.

pub mod fixup;
pub mod frame;
pub mod relay;

pub use relay::{serve, Config};
