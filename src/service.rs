//! The front door: kask's HTTP API over a store, on a listener, until a
//! shutdown future completes. The daemon calls it with the Cassandra store
//! (connected in the background), the socket it bound (or systemd passed)
//! and the pool state it keeps; the HTTP tests call it with the in-memory
//! store and a socket on port 0. Everything about being a process (signals,
//! reload, systemd, exit codes, the pool state file) stays in
//! [`crate::daemon`].

use std::future::Future;
use std::sync::Arc;

use crate::config::Config;
use crate::http::server::{self, Listener};
use crate::http::{self, App};
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::storage::Store;

/// Serves the API under `config` with `store` on `listener`, pooled. When
/// `shutdown` completes, stops accepting connections and gives requests in
/// flight `shutdown_grace_seconds` to finish. The store is dropped when the
/// last request is done with it.
pub async fn run<S: Store>(
    config: &Config,
    store: S,
    metrics: Arc<Metrics>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) {
    let readiness = Arc::new(Readiness::default());
    serve(config, store, metrics, readiness, listener, shutdown).await
}

/// [`run`], with the readiness state the caller keeps (pooled or not,
/// draining; `/readyz` reads it).
pub(crate) async fn serve<S: Store>(
    config: &Config,
    store: S,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) {
    let (openapi, warning) =
        http::openapi::load(config.http.openapi_spec.as_deref(), &config.http.base_uri);
    if let Some(w) = warning {
        log::warn!("{w}");
    }
    let app = Arc::new(App::new(store, &config.http, metrics, openapi, readiness));
    log::info!("{}", serving(config, &listener));
    let routes = http::routes::routes(app);
    let trim = tokio::spawn(return_freed_memory());
    server::serve(
        listener,
        routes,
        shutdown,
        config.http.shutdown_grace,
        config.http.limits,
    )
    .await;
    trim.abort();
}

/// How often memory freed by the allocator is handed back to the system.
const TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// glibc keeps memory freed after a spike (large request bodies, many
/// connections) in its arenas, so resident memory stayed at half the peak
/// for good. Every [`TRIM_INTERVAL`], hand what is free back to the
/// system (`malloc_trim`, which walks every arena; it takes well under a
/// millisecond when there is little to return).
async fn return_freed_memory() {
    let mut tick = tokio::time::interval(TRIM_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only touches the allocator's own state, under
        // its locks; it is safe to call from any thread at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// "serving http://127.0.0.1:8080/v1/", for the log and the status line.
pub(crate) fn serving(config: &Config, listener: &Listener) -> String {
    match listener.local_addr() {
        Ok(addr) => format!(
            "serving {}://{addr}{}",
            listener.scheme(),
            config.http.base_uri
        ),
        Err(_) => format!("serving {}", config.http.base_uri),
    }
}
