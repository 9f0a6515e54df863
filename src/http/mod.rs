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
use crate::readiness::Readiness;

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
            body_timeout: cfg.limits.body_timeout,
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

/// As the reference writes it: indented by two spaces, no final newline.
fn healthz_body(build: &BuildInfo) -> Bytes {
    let mut s = String::from("{");
    for (i, (name, value)) in [
        ("version", build.version),
        ("build_date", build.build_date),
        ("build_host", build.build_host),
        ("rust_version", build.rust_version),
    ]
    .into_iter()
    .enumerate()
    {
        s.push_str(if i == 0 { "\n  \"" } else { ",\n  \"" });
        s.push_str(name);
        s.push_str("\": ");
        push_json_string(&mut s, value);
    }
    s.push_str("\n}");
    Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_is_indented_without_a_final_newline_as_the_reference_writes_it() {
        let b = BuildInfo {
            version: "1.0",
            build_date: "2026-12-03T07:00:00+00:00",
            build_host: "h<",
            rust_version: "1.85.0",
        };
        assert_eq!(
            healthz_body(&b),
            "{\n  \"version\": \"1.0\",\n  \"build_date\": \"2026-12-03T07:00:00+00:00\",\n  \"build_host\": \"h\\u003c\",\n  \"rust_version\": \"1.85.0\"\n}"
        );
    }
}
