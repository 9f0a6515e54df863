//! The HTTP layer: request -> [`routes`] -> [`crate::key`] -> [`handlers`]
//! -> [`crate::storage`]. Errors come back as [`problem`] bodies.

pub(crate) mod handlers;
pub(crate) mod openapi;
pub(crate) mod problem;
pub(crate) mod routes;
pub mod server;
mod wire;

use std::sync::Arc;

use bytes::Bytes;

use crate::config::HttpConfig;
use crate::json::push_json_string;
use crate::metrics::{BuildInfo, HttpMetrics, Metrics};

/// What the HTTP layer shares between requests.
pub(crate) struct App<S> {
    pub store: S,
    pub base_uri: String,
    pub max_value_bytes: u64,
    /// How long a client may take to send a body.
    pub body_timeout: std::time::Duration,
    pub metrics: HttpMetrics,
    /// The whole registry, for `/metrics`.
    pub registry: Arc<Metrics>,
    pub healthz: Bytes,
    pub openapi: Bytes,
}

impl<S> App<S> {
    pub(crate) fn new(store: S, cfg: &HttpConfig, metrics: Arc<Metrics>, openapi: Bytes) -> App<S> {
        App {
            store,
            base_uri: cfg.base_uri.clone(),
            max_value_bytes: cfg.max_value_bytes,
            body_timeout: cfg.limits.body_timeout,
            metrics: metrics.http.clone(),
            registry: metrics,
            healthz: healthz_body(&BuildInfo::current()),
            openapi,
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
