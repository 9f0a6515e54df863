//! The accept loop: HTTP/1.1 (keep-alive, pipelining) over plain TCP or
//! TLS, on a listener the caller owns (bound by us, or passed by systemd),
//! until the caller's shutdown future completes. Then the listener closes,
//! idle connections close, and in-flight requests get a grace period.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use warp::Filter;

/// A TLS configuration that a reload may replace; new connections use the
/// newest one, established ones keep theirs.
pub type SharedTls = Arc<RwLock<Arc<rustls::ServerConfig>>>;

/// How long a client may take to send its request headers, or to finish
/// a TLS handshake.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `filter` on `listener` until `shutdown` completes, then waits up
/// to `grace` for in-flight requests.
pub async fn serve<F>(
    listener: TcpListener,
    tls: Option<SharedTls>,
    filter: F,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    F: Filter<Extract = (warp::reply::Response,), Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let graceful = GracefulShutdown::new();
    let service = warp::service(filter);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    log::error!("accepting a connection failed: {e}; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(service.clone());
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .keep_alive(true)
            .pipeline_flush(true);
        match &tls {
            None => {
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), svc));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        log::debug!("connection from {peer}: {e}");
                    }
                });
            }
            Some(tls) => {
                let acceptor = TlsAcceptor::from(tls.read().unwrap().clone());
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream =
                        match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                log::info!("TLS handshake with {peer} failed: {e}");
                                return;
                            }
                            Err(_) => {
                                log::info!("TLS handshake with {peer} timed out");
                                return;
                            }
                        };
                    let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), svc));
                    if let Err(e) = conn.await {
                        log::debug!("connection from {peer}: {e}");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        log::warn!(
            "requests still running after the {} s grace period were cut off",
            grace.as_secs()
        );
    }
}
