//! The Cassandra store: three statements prepared once, executed with bound
//! values on one driver session.
//!
//! - get: `SELECT value ... WHERE key = ?` at LOCAL_QUORUM
//! - set: `INSERT ... (key, value) VALUES (?, ?) USING TTL ?` at LOCAL_QUORUM,
//!   with a client-side timestamp
//! - delete: `DELETE ... WHERE key = ?` at EACH_QUORUM
//!
//! The schema is the reference's, so data written by either is readable by
//! the other: `key text PRIMARY KEY, value blob` (the DDL is
//! `crate::cli::schema`'s, for `--print-schema`).
//!
//! | file | what |
//! |---|---|
//! | this one | the store: statements, the `Store` impl, rebuilds |
//! | [`session`] | the driver session and kask's driver settings |
//! | [`probe`] | protocol version by `OPTIONS`, without the driver |
//! | [`health`] | watching the driver's view of the nodes; when to rebuild |

mod health;
mod local_dc;
mod probe;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use cdrs_tokio::consistency::Consistency;
use cdrs_tokio::frame::message_response::ResponseBody;
use cdrs_tokio::frame::{Envelope, Version};
use cdrs_tokio::query::{PreparedQuery, QueryValues};
use cdrs_tokio::statement::{StatementParams, StatementParamsBuilder};
use cdrs_tokio::types::blob::Blob;
use cdrs_tokio::types::value::Value;
use cdrs_tokio::types::ByIndex;
use tokio::task::JoinHandle;

use self::health::{Cluster, Nodes};
use self::session::Session;
use super::{Op, Store, StoreError};
use crate::config::StoreConfig;
use crate::key::Key;
use crate::metrics::StorageMetrics;

/// Why the session could not be built. The message says what to check.
#[derive(Debug)]
pub struct ConnectError(pub String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// The store. Its health supervisor runs from [`CassandraStore::connect`]
/// until the store is dropped.
pub struct CassandraStore {
    shared: Arc<Shared>,
    supervisor: JoinHandle<()>,
}

/// What the store and its supervisor share.
struct Shared {
    /// Replaced whole when the session is rebuilt.
    live: ArcSwap<Live>,
    cfg: StoreConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    version: Version,
    ttl: i32,
    metrics: StorageMetrics,
}

/// A session with its prepared statements.
struct Live {
    session: Session,
    get: PreparedQuery,
    set: PreparedQuery,
    delete: PreparedQuery,
}

impl CassandraStore {
    /// Connects, negotiates the protocol version, prepares the statements
    /// and starts watching node health.
    pub async fn connect(
        cfg: &StoreConfig,
        metrics: StorageMetrics,
    ) -> Result<CassandraStore, ConnectError> {
        let tls = match &cfg.tls {
            None => None,
            Some(t) => Some(Arc::new(
                crate::tls::client_config(
                    &t.ca,
                    t.client_cert
                        .as_ref()
                        .map(|(c, k)| (c.as_path(), k.as_path())),
                    &cfg.hosts,
                    t.verify_hostname,
                )
                .map_err(|e| ConnectError(format!("cassandra.tls: {e}")))?,
            )),
        };
        let version = probe::negotiate(cfg, tls.clone()).await?;
        probe::check_login(cfg, tls.clone()).await?;
        let live = Live::connect(cfg, tls.clone(), version).await?;
        let shared = Arc::new(Shared {
            live: ArcSwap::from_pointee(live),
            cfg: cfg.clone(),
            tls,
            version,
            ttl: cfg.default_ttl as i32,
            metrics,
        });
        shared.nodes();
        let supervisor = tokio::spawn(health::supervise(shared.clone()));
        Ok(CassandraStore { shared, supervisor })
    }

    /// The protocol version in use.
    pub fn protocol_version(&self) -> u8 {
        u8::from(self.shared.version)
    }

    async fn run(
        &self,
        op: Op,
        statement: fn(&Live) -> &PreparedQuery,
        params: StatementParams,
    ) -> Result<Envelope, StoreError> {
        let started = Instant::now();
        let live = self.shared.live.load();
        let exec = live.session.exec(statement(&live), &params);
        let result = match tokio::time::timeout(self.shared.cfg.query_timeout, exec).await {
            Err(_) => Err(StoreError::Timeout),
            Ok(Err(e)) => Err(StoreError::Failed(local_dc::explain(
                e.to_string(),
                self.shared.cfg.local_dc.as_deref(),
            ))),
            Ok(Ok(envelope)) => Ok(envelope),
        };
        let error = result.as_ref().err().map(|e| match e {
            StoreError::Timeout => "timeout",
            StoreError::Failed(_) | StoreError::Unavailable(_) => "error",
        });
        self.shared
            .metrics
            .observe(op.as_str(), started.elapsed(), error);
        result
    }
}

impl Drop for CassandraStore {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl Live {
    /// A new session with the three statements prepared on it.
    async fn connect(
        cfg: &StoreConfig,
        tls: Option<Arc<rustls::ClientConfig>>,
        version: Version,
    ) -> Result<Live, ConnectError> {
        let session = session::connect(cfg, tls, version).await?;
        let table = cfg.table_name();
        let prepare = |cql: String| {
            let session = &session;
            async move {
                tokio::time::timeout(cfg.query_timeout, session.prepare(cql.clone()))
                    .await
                    .map_err(|_| ConnectError(format!("preparing `{cql}` timed out")))?
                    .map_err(|e| {
                        ConnectError(format!(
                            "preparing `{cql}` failed: {e} (does the table exist? `kask --print-schema` prints the CQL that creates it)"
                        ))
                    })
            }
        };
        let get = prepare(format!("SELECT value FROM {table} WHERE key = ?")).await?;
        let set = prepare(format!(
            "INSERT INTO {table} (key, value) VALUES (?, ?) USING TTL ?"
        ))
        .await?;
        let delete = prepare(format!("DELETE FROM {table} WHERE key = ?")).await?;
        Ok(Live {
            session,
            get,
            set,
            delete,
        })
    }
}

impl Shared {
    /// The driver's view of the nodes, published as metrics.
    fn nodes(&self) -> Nodes {
        let (up, down) = self.live.load().session.node_counts();
        self.metrics.set_nodes(up, down);
        Nodes { up, down }
    }
}

impl Cluster for Shared {
    fn nodes(&self) -> Nodes {
        Shared::nodes(self)
    }

    async fn candidates(&self, nodes: Nodes) -> Vec<SocketAddr> {
        let mut out = self.live.load().session.down_nodes();
        if nodes.up == 0 {
            for h in &self.cfg.hosts {
                if let Ok(addrs) = tokio::net::lookup_host((h.as_str(), self.cfg.port)).await {
                    out.extend(addrs);
                }
            }
        }
        out
    }

    async fn answers(&self, addr: SocketAddr) -> bool {
        let host = addr.ip().to_string();
        let answer = probe::probe(&host, addr.port(), self.tls.clone());
        matches!(
            tokio::time::timeout(self.cfg.connect_timeout, answer).await,
            Ok(Ok(_))
        )
    }

    async fn rebuild(&self) -> Result<Nodes, String> {
        let live = Live::connect(&self.cfg, self.tls.clone(), self.version)
            .await
            .map_err(|e| e.to_string())?;
        self.live.store(Arc::new(live));
        Ok(Shared::nodes(self))
    }
}

fn params(consistency: Consistency, values: Vec<Value>) -> StatementParams {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    StatementParamsBuilder::new()
        .with_consistency(consistency)
        .with_values(QueryValues::SimpleValues(values))
        .with_timestamp(micros)
        .idempotent(true)
        .build()
}

impl Store for CassandraStore {
    async fn get(&self, key: &Key) -> Result<Option<Bytes>, StoreError> {
        let p = params(
            Consistency::LocalQuorum,
            vec![Value::Some(key.as_bytes().to_vec())],
        );
        let envelope = self.run(Op::Get, |l| &l.get, p).await?;
        let body = envelope
            .response_body()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        let rows = match body {
            ResponseBody::Result(r) => r.into_rows().unwrap_or_default(),
            _ => return Err(StoreError::Failed("unexpected response to SELECT".into())),
        };
        match rows.first() {
            None => Ok(None),
            Some(row) => {
                let blob: Option<Blob> = row
                    .by_index(0)
                    .map_err(|e| StoreError::Failed(e.to_string()))?;
                // A row whose value is null (possible only if written by
                // another client) is treated as absent.
                Ok(blob.map(|b| Bytes::from(b.into_vec())))
            }
        }
    }

    async fn set(&self, key: &Key, value: Vec<u8>) -> Result<(), StoreError> {
        let p = params(
            Consistency::LocalQuorum,
            vec![
                Value::Some(key.as_bytes().to_vec()),
                Value::from(Blob::new(value)),
                Value::from(self.shared.ttl),
            ],
        );
        self.run(Op::Set, |l| &l.set, p).await.map(|_| ())
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        let p = params(
            Consistency::EachQuorum,
            vec![Value::Some(key.as_bytes().to_vec())],
        );
        self.run(Op::Delete, |l| &l.delete, p).await.map(|_| ())
    }

    /// Not while the driver has every node it knows down (a node it has
    /// not contacted yet counts as neither); the health supervisor
    /// rebuilds the session when one answers again.
    fn can_serve(&self) -> Result<(), String> {
        let (up, down) = self.shared.live.load().session.node_counts();
        if up == 0 && down > 0 {
            Err(format!("all {down} Cassandra nodes are down"))
        } else {
            Ok(())
        }
    }
}
