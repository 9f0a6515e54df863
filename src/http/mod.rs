//! The HTTP layer: request -> [`routes`] -> [`crate::key`] -> [`handlers`]
//! -> [`crate::storage`]. Errors come back as [`problem`] bodies.

pub(crate) mod handlers;
pub(crate) mod openapi;
pub(crate) mod problem;
pub(crate) mod routes;
pub mod server;

use std::sync::Arc;

use bytes::Bytes;

use crate::config::HttpConfig;
use crate::json::push_json_string;
use crate::metrics::{BuildInfo, HttpMetrics, Metrics};
use crate::readiness::Readiness;

/// What the HTTP layer shares between requests.
pub(crate) struct App<S> {
    pub store: S,
    pub base_uri: String,
    pub max_value_bytes: u64,
    pub metrics: HttpMetrics,
    /// The whole registry, for `/metrics`.
    pub registry: Arc<Metrics>,
    pub healthz: Bytes,
    pub openapi: Bytes,
    /// Pool state, draining, key requests in flight (`/readyz`).
    pub readiness: Arc<Readiness>,
}

impl<S> App<S> {
    pub(crate) fn new(
        store: S,
        cfg: &HttpConfig,
        metrics: Arc<Metrics>,
        openapi: Bytes,
        readiness: Arc<Readiness>,
    ) -> App<S> {
        App {
            store,
            base_uri: cfg.base_uri.clone(),
            max_value_bytes: cfg.max_value_bytes,
            metrics: metrics.http.clone(),
            registry: metrics,
            healthz: healthz_body(&BuildInfo::current()),
            openapi,
            readiness,
        }
    }
}

/// The `/readyz` body: `{"ready":true}`, or why not, with the store's own
/// words when it is the store.
pub(crate) fn readyz_body(
    verdict: Result<(), crate::readiness::NotReady>,
    store: Result<(), String>,
) -> String {
    match verdict {
        Ok(()) => "{\"ready\":true}\n".to_string(),
        Err(reason) => {
            let mut s = String::from("{\"ready\":false,\"reason\":");
            push_json_string(&mut s, reason.as_str());
            if let (crate::readiness::NotReady::CassandraUnavailable, Err(why)) = (reason, store) {
                s.push_str(",\"detail\":");
                push_json_string(&mut s, &why);
            }
            s.push_str("}\n");
            s
        }
    }
}

fn healthz_body(build: &BuildInfo) -> Bytes {
    let mut s = String::from("{\"version\":");
    push_json_string(&mut s, build.version);
    s.push_str(",\"build_date\":");
    push_json_string(&mut s, build.build_date);
    s.push_str(",\"build_host\":");
    push_json_string(&mut s, build.build_host);
    s.push_str(",\"rust_version\":");
    push_json_string(&mut s, build.rust_version);
    s.push_str("}\n");
    Bytes::from(s)
}
