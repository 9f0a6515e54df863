//! The Cassandra store: one cdrs-tokio session, three statements prepared
//! once, executed with bound values.
//!
//! - get: `SELECT value ... WHERE key = ?` at LOCAL_QUORUM
//! - set: `INSERT ... (key, value) VALUES (?, ?) USING TTL ?` at LOCAL_QUORUM,
//!   with a client-side timestamp
//! - delete: `DELETE ... WHERE key = ?` at EACH_QUORUM
//!
//! The schema is the reference's, so data written by either is readable by
//! the other: `key text PRIMARY KEY, value blob`.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cdrs_tokio::authenticators::{
    NoneAuthenticatorProvider, SaslAuthenticatorProvider, StaticPasswordAuthenticatorProvider,
};
use cdrs_tokio::cluster::connection_pool::ConnectionPoolConfigBuilder;
use cdrs_tokio::cluster::session::{
    RustlsSessionBuilder, Session, SessionBuilder, TcpSessionBuilder,
};
use cdrs_tokio::cluster::topology::NodeState;
use cdrs_tokio::cluster::{
    ConnectionManager, NodeAddress, NodeRustlsConfigBuilder, NodeTcpConfigBuilder,
    RustlsConnectionManager, TcpConnectionManager,
};
use cdrs_tokio::consistency::Consistency;
use cdrs_tokio::frame::message_response::ResponseBody;
use cdrs_tokio::frame::{Envelope, Version};
use cdrs_tokio::load_balancing::node_distance_evaluator::{
    AllLocalNodeDistanceEvaluator, NodeDistanceEvaluator, TopologyAwareNodeDistanceEvaluator,
};
use cdrs_tokio::query::{PreparedQuery, QueryValues};
use cdrs_tokio::retry::ExponentialReconnectionPolicy;
use cdrs_tokio::statement::{StatementParams, StatementParamsBuilder};
use cdrs_tokio::transport::{CdrsTransport, TransportRustls, TransportTcp};
use cdrs_tokio::types::blob::Blob;
use cdrs_tokio::types::value::Value;
use cdrs_tokio::types::ByIndex;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Op, Store, StoreError};
use crate::config::StoreConfig;
use crate::key::Key;
use crate::metrics::StorageMetrics;

mod local_dc;

/// Topology-aware, and never another data centre's nodes (see local_dc).
type Lb<T, CM> = local_dc::LocalDcOnly<T, CM>;
type TcpSession =
    Session<TransportTcp, TcpConnectionManager, Lb<TransportTcp, TcpConnectionManager>>;
type TlsSession =
    Session<TransportRustls, RustlsConnectionManager, Lb<TransportRustls, RustlsConnectionManager>>;

/// The session, plain or over TLS (two types in the driver).
enum Sessions {
    Tcp(TcpSession),
    Tls(TlsSession),
}

impl Sessions {
    async fn exec(
        &self,
        q: &PreparedQuery,
        params: &StatementParams,
    ) -> cdrs_tokio::error::Result<Envelope> {
        match self {
            Sessions::Tcp(s) => s.exec_with_params(q, params).await,
            Sessions::Tls(s) => s.exec_with_params(q, params).await,
        }
    }

    async fn prepare(&self, cql: String) -> cdrs_tokio::error::Result<PreparedQuery> {
        match self {
            Sessions::Tcp(s) => s.prepare(cql).await,
            Sessions::Tls(s) => s.prepare(cql).await,
        }
    }

    /// Addresses of the nodes the driver does not consider up.
    fn down_nodes(&self) -> Vec<SocketAddr> {
        fn down<I: Iterator<Item = (NodeState, SocketAddr)>>(nodes: I) -> Vec<SocketAddr> {
            nodes
                .filter(|(s, _)| matches!(s, NodeState::Down | NodeState::ForcedDown))
                .map(|(_, a)| a)
                .collect()
        }
        match self {
            Sessions::Tcp(s) => down(
                s.cluster_metadata()
                    .nodes()
                    .values()
                    .map(|n| (n.state(), n.broadcast_rpc_address())),
            ),
            Sessions::Tls(s) => down(
                s.cluster_metadata()
                    .nodes()
                    .values()
                    .map(|n| (n.state(), n.broadcast_rpc_address())),
            ),
        }
    }

    /// (up, down) node counts as the driver sees them.
    fn node_states(&self) -> (usize, usize) {
        fn count<I: Iterator<Item = NodeState>>(states: I) -> (usize, usize) {
            states.fold((0, 0), |(up, down), s| match s {
                NodeState::Up => (up + 1, down),
                NodeState::Down | NodeState::ForcedDown => (up, down + 1),
                // not contacted yet: neither
                NodeState::Unknown => (up, down),
            })
        }
        match self {
            Sessions::Tcp(s) => count(s.cluster_metadata().nodes().values().map(|n| n.state())),
            Sessions::Tls(s) => count(s.cluster_metadata().nodes().values().map(|n| n.state())),
        }
    }
}

/// Why the session could not be built. The message says what to check.
#[derive(Debug)]
pub struct ConnectError(pub String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// A session with its prepared statements; replaced whole when the session
/// is rebuilt.
struct Inner {
    session: Sessions,
    get: PreparedQuery,
    set: PreparedQuery,
    delete: PreparedQuery,
}

pub struct CassandraStore {
    inner: ArcSwap<Inner>,
    cfg: StoreConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    version: Version,
    ttl: i32,
    metrics: StorageMetrics,
}

/// How often [`CassandraStore::maintain`] looks at node health.
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// The longest wait between two session rebuilds that did not help.
pub const MAX_REBUILD_PAUSE: Duration = Duration::from_secs(60);

/// What `--print-schema` prints in place of the role's password: kask never
/// writes a real one anywhere but its own connection.
pub const PASSWORD_PLACEHOLDER: &str = "<password>";

/// The CQL that creates the keyspace and the table, and a least-privilege
/// login role for kask, for `--print-schema`. `replication` lists (data
/// centre, replication factor) pairs. The role is the configured
/// `cassandra.authentication.username`, or `kask`: it may log in, read and
/// write (MODIFY covers INSERT and DELETE) this one table, and nothing else.
pub fn schema(cfg: &StoreConfig, replication: &[(String, u32)]) -> String {
    let dcs: Vec<String> = replication
        .iter()
        .map(|(dc, rf)| format!("'{}': {rf}", dc.replace('\'', "''")))
        .collect();
    let role = quote(cfg.auth.as_ref().map_or("kask", |a| a.username.as_str()));
    let table = format!("{}.{}", quote(&cfg.keyspace), quote(&cfg.table));
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', {dcs}}};\n\
         CREATE TABLE IF NOT EXISTS {table} (key text PRIMARY KEY, value blob);\n\
         CREATE ROLE IF NOT EXISTS {role} WITH PASSWORD = '{PASSWORD_PLACEHOLDER}' AND LOGIN = true;\n\
         GRANT SELECT ON TABLE {table} TO {role};\n\
         GRANT MODIFY ON TABLE {table} TO {role};\n",
        ks = quote(&cfg.keyspace),
        dcs = dcs.join(", "),
    )
}

/// A CQL identifier, always quoted (config validation allows only letters,
/// digits and underscores, but quoting keeps case as written).
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl CassandraStore {
    /// Connects, negotiates the protocol version and prepares the statements.
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
        // Always probed, even with the version configured: the probe says
        // why a contact point cannot be used (TLS settings among the
        // reasons), where the driver retries without saying.
        let negotiated = negotiate(cfg, tls.clone()).await?;
        let version = match cfg.protocol_version {
            Some(5) => Version::V5,
            Some(_) => Version::V4,
            None => negotiated,
        };
        let inner = build(cfg, tls.clone(), version).await?;
        let store = CassandraStore {
            inner: ArcSwap::from_pointee(inner),
            cfg: cfg.clone(),
            tls,
            version,
            ttl: cfg.default_ttl as i32,
            metrics,
        };
        store.report_nodes();
        Ok(store)
    }

    /// The protocol version in use.
    pub fn protocol_version(&self) -> u8 {
        u8::from(self.version)
    }

    /// Watches node health for as long as the service runs. The driver can
    /// keep a node marked down after it came back (the reference's 2022-09
    /// and 2023-01 incidents were this, with another driver). When a node
    /// the driver calls down accepts connections again, or no node is up
    /// while a contact point answers, the session is rebuilt and swapped in:
    /// no restart, and requests in flight finish on the old one.
    pub async fn maintain(self: Arc<Self>) {
        // After a rebuild that did not bring a node back, wait longer before
        // the next one (a node may answer CQL and still be unusable).
        let mut pause = HEALTH_CHECK_INTERVAL;
        loop {
            tokio::time::sleep(pause).await;
            let (up, down) = self.report_nodes();
            if down == 0 {
                pause = HEALTH_CHECK_INTERVAL;
                continue;
            }
            let mut candidates = self.inner.load().session.down_nodes();
            if up == 0 {
                candidates.extend(self.contact_points().await);
            }
            let mut back = None;
            for addr in candidates {
                // A CQL answer, not just a TCP accept, counts as "back".
                let host = addr.ip().to_string();
                let answer = probe(&host, addr.port(), self.tls.clone());
                if let Ok(Ok(_)) = tokio::time::timeout(self.cfg.connect_timeout, answer).await {
                    back = Some(addr);
                    break;
                }
            }
            let Some(addr) = back else { continue };
            log::warn!(
                "Cassandra at {addr} answers again but the driver has it down ({up} up, {down} down); rebuilding the session"
            );
            match build(&self.cfg, self.tls.clone(), self.version).await {
                Ok(inner) => {
                    self.inner.store(Arc::new(inner));
                    let (now_up, now_down) = self.report_nodes();
                    log::info!("Cassandra session rebuilt: {now_up} node(s) up, {now_down} down");
                    pause = if now_up > up {
                        HEALTH_CHECK_INTERVAL
                    } else {
                        (pause * 2).min(MAX_REBUILD_PAUSE)
                    };
                }
                Err(e) => {
                    log::warn!("rebuilding the Cassandra session failed, will retry: {e}");
                    pause = (pause * 2).min(MAX_REBUILD_PAUSE);
                }
            }
        }
    }

    async fn contact_points(&self) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for h in &self.cfg.hosts {
            if let Ok(addrs) = tokio::net::lookup_host((h.as_str(), self.cfg.port)).await {
                out.extend(addrs);
            }
        }
        out
    }

    /// Publishes the driver's view of node health as metrics; returns
    /// (up, down).
    pub fn report_nodes(&self) -> (usize, usize) {
        let (up, down) = self.inner.load().session.node_states();
        self.metrics.set_nodes(up, down);
        (up, down)
    }

    async fn run(
        &self,
        op: Op,
        statement: fn(&Inner) -> &PreparedQuery,
        params: StatementParams,
    ) -> Result<Envelope, StoreError> {
        let started = Instant::now();
        let inner = self.inner.load();
        let exec = inner.session.exec(statement(&inner), &params);
        let result = match tokio::time::timeout(self.cfg.query_timeout, exec).await {
            Err(_) => Err(StoreError::Timeout),
            Ok(Err(e)) => Err(StoreError::Failed(local_dc::explain(
                e.to_string(),
                self.cfg.local_dc.as_deref(),
            ))),
            Ok(Ok(envelope)) => Ok(envelope),
        };
        self.metrics
            .observe(op, started.elapsed(), result.as_ref().err());
        result
    }
}

/// Builds a session and prepares the three statements.
async fn build(
    cfg: &StoreConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    version: Version,
) -> Result<Inner, ConnectError> {
    let contact_points: Vec<NodeAddress> = cfg
        .hosts
        .iter()
        .map(|h| NodeAddress::from(format!("{h}:{}", cfg.port)))
        .collect();
    let auth: Arc<dyn SaslAuthenticatorProvider + Send + Sync> = match &cfg.auth {
        Some(c) => Arc::new(StaticPasswordAuthenticatorProvider::new(
            &c.username,
            &c.password.expose().to_string(),
        )),
        None => Arc::new(NoneAuthenticatorProvider),
    };
    let hosts = cfg.hosts.join(", ");
    let session = match tls {
        None => {
            let node = NodeTcpConfigBuilder::new()
                .with_contact_points(contact_points)
                .with_authenticator_provider(auth)
                .with_version(version)
                .build()
                .await
                .map_err(|e| ConnectError(format!("Cassandra contact points {hosts}: {e}")))?;
            let builder = TcpSessionBuilder::new(Lb::default(), node);
            Sessions::Tcp(finish(builder, cfg).await?)
        }
        Some(tls) => {
            let name = ServerName::try_from(cfg.hosts[0].clone())
                .map_err(|e| ConnectError(format!("cassandra.hosts: {:?}: {e}", cfg.hosts[0])))?;
            let node = NodeRustlsConfigBuilder::new(name, tls)
                .with_contact_points(contact_points)
                .with_authenticator_provider(auth)
                .with_version(version)
                .build()
                .await
                .map_err(|e| ConnectError(format!("Cassandra contact points {hosts}: {e}")))?;
            let builder = RustlsSessionBuilder::new(Lb::default(), node);
            Sessions::Tls(finish(builder, cfg).await?)
        }
    };

    let table = format!("{}.{}", quote(&cfg.keyspace), quote(&cfg.table));
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
    Ok(Inner {
        session,
        get,
        set,
        delete,
    })
}

/// Applies kask's session settings to either kind of builder and builds
/// the session, bounded in time: the driver retries forever on some
/// failures (bad credentials among them).
async fn finish<T, CM, B>(
    builder: B,
    cfg: &StoreConfig,
) -> Result<Session<T, CM, Lb<T, CM>>, ConnectError>
where
    T: CdrsTransport + 'static,
    CM: ConnectionManager<T> + 'static,
    B: SessionBuilder<T, CM, Lb<T, CM>>,
{
    let pool = ConnectionPoolConfigBuilder::new()
        .with_connect_timeout(Some(cfg.connect_timeout))
        .with_heartbeat_interval(Duration::from_secs(10))
        .build();
    let reconnect = Arc::new(ExponentialReconnectionPolicy::new(
        Duration::from_millis(200),
        Duration::from_secs(10),
        usize::MAX,
    ));
    let distance: Box<dyn NodeDistanceEvaluator + Send + Sync> = match &cfg.local_dc {
        Some(dc) => Box::new(TopologyAwareNodeDistanceEvaluator::new(dc.clone())),
        None => Box::new(AllLocalNodeDistanceEvaluator),
    };
    let builder = builder
        .with_node_distance_evaluator(distance)
        .with_connection_pool_config(pool)
        .with_reconnection_policy(reconnect)
        .with_tcp_nodelay(true);
    let hosts = cfg.hosts.join(", ");
    let limit = cfg.connect_timeout * 2;
    tokio::time::timeout(limit, builder.build())
        .await
        .map_err(|_| {
            ConnectError(format!(
                "no Cassandra session with {hosts} (port {}) within {} ms: check that the nodes are up, and the credentials",
                cfg.port,
                limit.as_millis()
            ))
        })?
        .map_err(|e| ConnectError(format!("Cassandra session with {hosts}: {e}")))
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
        let p = params(Consistency::LocalQuorum, vec![Value::from(key.as_str())]);
        let envelope = self.run(Op::Get, |i| &i.get, p).await?;
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
                Value::from(key.as_str()),
                Value::from(Blob::new(value)),
                Value::from(self.ttl),
            ],
        );
        self.run(Op::Set, |i| &i.set, p).await.map(|_| ())
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        let p = params(Consistency::EachQuorum, vec![Value::from(key.as_str())]);
        self.run(Op::Delete, |i| &i.delete, p).await.map(|_| ())
    }
}

/// Asks the first reachable contact point which protocol versions it
/// speaks (an OPTIONS frame in v4, which every Cassandra since 2.2 reads)
/// and picks the highest that kask handles: v5 where the server lists it
/// (Cassandra 4.x and 5.x), v4 otherwise (3.x lists nothing).
async fn negotiate(
    cfg: &StoreConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Version, ConnectError> {
    let mut last = String::new();
    for host in &cfg.hosts {
        match tokio::time::timeout(cfg.connect_timeout, probe(host, cfg.port, tls.clone())).await {
            Ok(Ok(Ok(v))) => return Ok(v),
            Ok(Ok(Err(e))) => return Err(ConnectError(format!("{host}:{}: {e}", cfg.port))),
            Ok(Err(e)) => {
                let client_cert = cfg.tls.as_ref().is_some_and(|t| t.client_cert.is_some());
                let wait = cfg.connect_timeout;
                let explained = crate::tls::explain_cassandra_error(
                    &e,
                    host,
                    cfg.port,
                    tls.clone(),
                    client_cert,
                    wait,
                )
                .await;
                let why = explained.unwrap_or_else(|| e.to_string());
                last = format!("{host}:{}: {why}", cfg.port);
            }
            Err(_) => {
                last = format!(
                    "{host}:{}: no answer within {} ms",
                    cfg.port,
                    cfg.connect_timeout.as_millis()
                )
            }
        }
    }
    Err(ConnectError(format!(
        "cannot use any Cassandra contact point ({last})"
    )))
}

const OPTIONS_V4: [u8; 9] = [0x04, 0, 0, 0, 0x05, 0, 0, 0, 0];
const OPCODE_ERROR: u8 = 0x00;
const OPCODE_SUPPORTED: u8 = 0x06;
/// A SUPPORTED answer is a few hundred bytes; anything larger is not one.
const MAX_SUPPORTED_BODY: usize = 64 * 1024;

/// Sends OPTIONS and reads the answer: an I/O error when the node cannot be
/// asked, `Ok(Err(..))` when it answered and kask cannot talk to it.
async fn probe(
    host: &str,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> std::io::Result<Result<Version, String>> {
    async fn ask<S: AsyncReadExt + AsyncWriteExt + Unpin>(
        mut s: S,
    ) -> std::io::Result<([u8; 9], Vec<u8>)> {
        s.write_all(&OPTIONS_V4).await?;
        let mut header = [0u8; 9];
        s.read_exact(&mut header).await?;
        let len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
        let mut body = vec![0u8; len.min(MAX_SUPPORTED_BODY)];
        s.read_exact(&mut body).await?;
        Ok((header, body))
    }
    let tcp = TcpStream::connect((host, port)).await?;
    let (header, body) = match tls {
        None => ask(tcp).await?,
        Some(cfg) => {
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            ask(tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await?)
            .await?
        }
    };
    Ok(choose_version(&header, &body))
}

/// The version to speak, from the server's answer to a v4 OPTIONS.
fn choose_version(header: &[u8; 9], body: &[u8]) -> Result<Version, String> {
    let server = header[0] & 0x7f;
    if server < 4 || header[4] == OPCODE_ERROR {
        return Err(format!(
            "the server does not speak native protocol v4 (it answered in v{server}): \
             Cassandra 2.1 and older are not supported; kask needs Cassandra 2.2 or newer, \
             and is tested on 4.1 and 5.0"
        ));
    }
    if header[4] != OPCODE_SUPPORTED {
        return Err(format!(
            "the server answered OPTIONS with opcode {:#04x}, not SUPPORTED",
            header[4]
        ));
    }
    let v5 = supported_versions(body)
        .unwrap_or_default()
        .iter()
        .any(|v| v == "5/v5");
    Ok(if v5 { Version::V5 } else { Version::V4 })
}

/// The PROTOCOL_VERSIONS entry of a SUPPORTED body (a string multimap), if
/// the server sends one (Cassandra 4.0 and newer do).
fn supported_versions(body: &[u8]) -> Option<Vec<String>> {
    fn u16_at(b: &[u8], at: &mut usize) -> Option<usize> {
        let v = u16::from_be_bytes([*b.get(*at)?, *b.get(*at + 1)?]) as usize;
        *at += 2;
        Some(v)
    }
    fn string(b: &[u8], at: &mut usize) -> Option<String> {
        let len = u16_at(b, at)?;
        let s = std::str::from_utf8(b.get(*at..*at + len)?)
            .ok()?
            .to_string();
        *at += len;
        Some(s)
    }
    let mut at = 0;
    for _ in 0..u16_at(body, &mut at)? {
        let key = string(body, &mut at)?;
        let values = (0..u16_at(body, &mut at)?)
            .map(|_| string(body, &mut at))
            .collect::<Option<Vec<_>>>()?;
        if key == "PROTOCOL_VERSIONS" {
            return Some(values);
        }
    }
    None
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

    /// Cassandra 4.1.5's answer to a v4 OPTIONS, as read off a real node.
    const SUPPORTED_41: &[u8] = b"\x00\x03\x00\x11PROTOCOL_VERSIONS\x00\x04\x00\x043/v3\x00\x044/v4\x00\x045/v5\x00\t6/v6-beta\x00\x0bCOMPRESSION\x00\x02\x00\x06snappy\x00\x03lz4\x00\x0bCQL_VERSION\x00\x01\x00\x053.4.6";
    const HEADER_SUPPORTED_V4: [u8; 9] = [0x84, 0, 0, 0, 0x06, 0, 0, 0, 0x66];

    #[test]
    fn version_choice() {
        // Cassandra 4.x/5.x lists v5: speak it.
        assert_eq!(
            choose_version(&HEADER_SUPPORTED_V4, SUPPORTED_41),
            Ok(Version::V5)
        );
        assert_eq!(
            supported_versions(SUPPORTED_41).unwrap(),
            ["3/v3", "4/v4", "5/v5", "6/v6-beta"]
        );
        // Cassandra 3.x lists no versions (or only beta v5): v4.
        let no_versions = b"\x00\x01\x00\x0bCQL_VERSION\x00\x01\x00\x053.4.4";
        assert_eq!(
            choose_version(&HEADER_SUPPORTED_V4, no_versions),
            Ok(Version::V4)
        );
        let beta = b"\x00\x01\x00\x11PROTOCOL_VERSIONS\x00\x02\x00\x044/v4\x00\x0a5/v5-beta";
        assert_eq!(choose_version(&HEADER_SUPPORTED_V4, beta), Ok(Version::V4));
        // A truncated body is no list, not a panic.
        assert_eq!(
            choose_version(&HEADER_SUPPORTED_V4, &SUPPORTED_41[..30]),
            Ok(Version::V4)
        );
        // Cassandra 2.1: a protocol error, answered in v3.
        let old = choose_version(&[0x83, 0, 0, 0, 0x00, 0, 0, 0, 0], b"").unwrap_err();
        assert!(
            old.contains("Cassandra 2.1 and older are not supported"),
            "{old}"
        );
    }
}
