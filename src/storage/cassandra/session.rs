//! The driver session: built here, the one place that applies kask's
//! driver settings (the benchmark's driver ceiling builds its session with
//! [`connect`] too), and one [`Session`] type whether the connections are
//! plain or TLS.
//!
//! Who reconnects what. The driver keeps a pool per node it knows: when a
//! connection breaks it reconnects by itself, following the reconnection
//! policy set here (200 ms, doubling, up to 10 s, forever), and it sends a
//! heartbeat every 10 s on idle connections so that a dead peer is noticed.
//! What it does not do is trust a node again once its view of the cluster
//! says the node is down: after a node restart it can keep that node marked
//! down (or, learned from an event, never give it a distance) until a full
//! metadata refresh, which is how the reference failed LOCAL_QUORUM until a
//! restart. That case is kask's: [`super::health`] watches the driver's view,
//! and when a node the driver has down answers CQL again it builds a new
//! session with [`connect`] and swaps it in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cdrs_tokio::authenticators::{
    NoneAuthenticatorProvider, SaslAuthenticatorProvider, StaticPasswordAuthenticatorProvider,
};
use cdrs_tokio::cluster::connection_pool::ConnectionPoolConfigBuilder;
use cdrs_tokio::cluster::session::{RustlsSessionBuilder, SessionBuilder, TcpSessionBuilder};
use cdrs_tokio::cluster::topology::NodeState;
use cdrs_tokio::cluster::{
    ConnectionManager, NodeAddress, NodeRustlsConfigBuilder, NodeTcpConfigBuilder,
};
use cdrs_tokio::frame::{Envelope, Version};
use cdrs_tokio::load_balancing::node_distance_evaluator::{
    AllLocalNodeDistanceEvaluator, NodeDistanceEvaluator, TopologyAwareNodeDistanceEvaluator,
};
use cdrs_tokio::query::PreparedQuery;
use cdrs_tokio::retry::ExponentialReconnectionPolicy;
use cdrs_tokio::statement::StatementParams;
use cdrs_tokio::transport::CdrsTransport;
use futures_util::future::BoxFuture;
use rustls::pki_types::ServerName;

use super::ConnectError;
use crate::config::StoreConfig;

/// Topology-aware, and never another data centre's nodes (see local_dc).
type Lb<T, CM> = super::local_dc::LocalDcOnly<T, CM>;

/// Heartbeats on idle connections, so that a dead peer is noticed.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// The driver's reconnection to a node: first after this, then doubling...
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
/// ... up to this, for as long as the service runs.
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// A driver session, plain or over TLS.
pub struct Session(Box<dyn Driver>);

/// What kask asks of a session. The driver has one session type per
/// transport; this trait has one implementation for all of them, so
/// nothing above it cares which.
trait Driver: Send + Sync {
    fn exec<'a>(
        &'a self,
        query: &'a PreparedQuery,
        params: &'a StatementParams,
    ) -> BoxFuture<'a, cdrs_tokio::error::Result<Envelope>>;
    fn prepare(&self, cql: String) -> BoxFuture<'_, cdrs_tokio::error::Result<PreparedQuery>>;
    /// Each node's state and address, as the driver sees them.
    fn nodes(&self) -> Vec<(NodeState, SocketAddr)>;
}

impl<T, CM> Driver for cdrs_tokio::cluster::session::Session<T, CM, Lb<T, CM>>
where
    T: CdrsTransport + 'static,
    CM: ConnectionManager<T> + 'static,
{
    fn exec<'a>(
        &'a self,
        query: &'a PreparedQuery,
        params: &'a StatementParams,
    ) -> BoxFuture<'a, cdrs_tokio::error::Result<Envelope>> {
        // Already a boxed future in the driver: no extra allocation here.
        self.exec_with_params(query, params)
    }

    fn prepare(&self, cql: String) -> BoxFuture<'_, cdrs_tokio::error::Result<PreparedQuery>> {
        Box::pin(cdrs_tokio::cluster::session::Session::prepare(self, cql))
    }

    fn nodes(&self) -> Vec<(NodeState, SocketAddr)> {
        self.cluster_metadata()
            .nodes()
            .values()
            .map(|n| (n.state(), n.broadcast_rpc_address()))
            .collect()
    }
}

impl Session {
    /// Executes a prepared statement.
    pub fn exec<'a>(
        &'a self,
        query: &'a PreparedQuery,
        params: &'a StatementParams,
    ) -> BoxFuture<'a, cdrs_tokio::error::Result<Envelope>> {
        self.0.exec(query, params)
    }

    pub async fn prepare(&self, cql: String) -> cdrs_tokio::error::Result<PreparedQuery> {
        self.0.prepare(cql).await
    }

    /// (up, down) node counts as the driver sees them. A node not contacted
    /// yet is neither.
    pub fn node_counts(&self) -> (usize, usize) {
        self.0
            .nodes()
            .into_iter()
            .fold((0, 0), |(up, down), (state, _)| match state {
                NodeState::Up => (up + 1, down),
                NodeState::Down | NodeState::ForcedDown => (up, down + 1),
                NodeState::Unknown => (up, down),
            })
    }

    /// Addresses of the nodes the driver has down.
    pub fn down_nodes(&self) -> Vec<SocketAddr> {
        self.0
            .nodes()
            .into_iter()
            .filter(|(s, _)| matches!(s, NodeState::Down | NodeState::ForcedDown))
            .map(|(_, a)| a)
            .collect()
    }
}

/// Builds a session to the cluster of `cfg` with kask's driver settings:
/// the contact points and credentials, protocol `version`, TLS with `tls`
/// when given, topology-aware load balancing that prefers `local_dc`, the
/// connect timeout, heartbeats, reconnection policy and `TCP_NODELAY`.
/// Bounded in time: the driver retries forever on some failures (bad
/// credentials among them).
pub async fn connect(
    cfg: &StoreConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    version: Version,
) -> Result<Session, ConnectError> {
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
    let unreachable = |e: cdrs_tokio::error::Error| {
        ConnectError(format!(
            "Cassandra contact points {}: {e}",
            cfg.hosts.join(", ")
        ))
    };
    match tls {
        None => {
            let node = NodeTcpConfigBuilder::new()
                .with_contact_points(contact_points)
                .with_authenticator_provider(auth)
                .with_version(version)
                .build()
                .await
                .map_err(unreachable)?;
            build(TcpSessionBuilder::new(Lb::default(), node), cfg).await
        }
        Some(tls) => {
            // The driver takes one server name for every node; the verifier
            // (crate::tls) checks the certificate against all configured
            // host names.
            let name = ServerName::try_from(cfg.hosts[0].clone())
                .map_err(|e| ConnectError(format!("cassandra.hosts: {:?}: {e}", cfg.hosts[0])))?;
            let node = NodeRustlsConfigBuilder::new(name, tls)
                .with_contact_points(contact_points)
                .with_authenticator_provider(auth)
                .with_version(version)
                .build()
                .await
                .map_err(unreachable)?;
            build(RustlsSessionBuilder::new(Lb::default(), node), cfg).await
        }
    }
}

/// kask's settings on either kind of builder, then the session.
async fn build<T, CM, B>(builder: B, cfg: &StoreConfig) -> Result<Session, ConnectError>
where
    T: CdrsTransport + 'static,
    CM: ConnectionManager<T> + 'static,
    B: SessionBuilder<T, CM, Lb<T, CM>>,
{
    let pool = ConnectionPoolConfigBuilder::new()
        .with_connect_timeout(Some(cfg.connect_timeout))
        .with_heartbeat_interval(HEARTBEAT_INTERVAL)
        .build();
    let reconnect = Arc::new(ExponentialReconnectionPolicy::new(
        RECONNECT_FIRST,
        RECONNECT_MAX,
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
    let session = tokio::time::timeout(limit, builder.build())
        .await
        .map_err(|_| {
            ConnectError(format!(
                "no Cassandra session with {hosts} (port {}) within {} ms: check that the nodes are up, and the credentials",
                cfg.port,
                limit.as_millis()
            ))
        })?
        .map_err(|e| ConnectError(format!("Cassandra session with {hosts}: {e}")))?;
    Ok(Session(Box::new(session)))
}
