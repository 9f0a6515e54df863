//! Requests go to the local data centre's nodes only.
//!
//! The driver's topology-aware strategy puts every replica of a key in the
//! query plan, the local data centre's first and the others' after them,
//! whatever the consistency level (its `allow_dc_failover_for_local_cl`
//! only governs non-replicas). The driver tries the plan's nodes in turn, so
//! with the local nodes down a LOCAL_QUORUM request was quietly coordinated
//! in the other data centre (seen against two real data centres: eqiad's
//! kask kept answering 200 from codfw's node). kask keeps to its own data
//! centre: the other data centres' nodes are dropped from every plan, and
//! a request that finds no local node fails at once.
//!
//! Without `cassandra.local_dc` every node is local and nothing is dropped.

use cdrs_tokio::cluster::{ClusterMetadata, ConnectionManager};
use cdrs_tokio::load_balancing::{
    LoadBalancingStrategy, QueryPlan, Request, TopologyAwareLoadBalancingStrategy,
};
use cdrs_tokio::transport::CdrsTransport;

pub struct LocalDcOnly<T: CdrsTransport, CM: ConnectionManager<T>>(
    TopologyAwareLoadBalancingStrategy<T, CM>,
);

impl<T: CdrsTransport, CM: ConnectionManager<T>> Default for LocalDcOnly<T, CM> {
    fn default() -> Self {
        // No remote nodes at all, and no failover for local consistency.
        LocalDcOnly(TopologyAwareLoadBalancingStrategy::new(None, false))
    }
}

impl<T: CdrsTransport, CM: ConnectionManager<T>> LoadBalancingStrategy<T, CM>
    for LocalDcOnly<T, CM>
{
    fn query_plan(
        &self,
        request: Option<Request>,
        cluster: &ClusterMetadata<T, CM>,
    ) -> QueryPlan<T, CM> {
        let mut plan = self.0.query_plan(request, cluster);
        plan.nodes.retain(|node| !node.is_remote());
        plan
    }
}

/// The driver's error when no node of a plan took the request names no
/// data centre, and says nothing of a node that refused it (the driver
/// drops an Unavailable answer when it moves on to the next node): say
/// which nodes kask was allowed to use and what may have happened.
pub fn explain(error: String, local_dc: Option<&str>) -> String {
    match local_dc {
        Some(dc) if error.ends_with("No nodes available in query plan!") => format!(
            "no node of data centre {dc} took the request: all are down, or those up refused it as unavailable (a DELETE, at EACH_QUORUM, needs a quorum in every data centre); kask never uses another data centre's nodes ({error})"
        ),
        _ => error,
    }
}
