//! The accept loop: HTTP/1.1 (keep-alive, pipelining) over plain TCP or
//! TLS, on a listener the caller owns (bound by us, or passed by systemd),
//! until the caller's shutdown future completes. Then the listener closes,
//! idle connections close, and in-flight requests get a grace period.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use warp::Filter;

/// How long a client may take to send its request headers, or to finish
/// a TLS handshake.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where connections come from: a bound TCP socket (ours, or the one
/// systemd passed), with TLS when the configuration asks for it.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<Certificate>,
}

impl Listener {
    /// `tls`: the server's certificate, or `None` for plain HTTP.
    pub fn new(tcp: TcpListener, tls: Option<rustls::ServerConfig>) -> Listener {
        Listener {
            tcp,
            tls: tls.map(|c| Certificate(Arc::new(RwLock::new(Arc::new(c))))),
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// A handle on the TLS certificate, for a reload to replace it.
    pub fn certificate(&self) -> Option<Certificate> {
        self.tls.clone()
    }
}

/// The TLS configuration of a [`Listener`], replaceable while it serves: new
/// connections use the newest one, established ones keep theirs.
#[derive(Clone)]
pub struct Certificate(Arc<RwLock<Arc<rustls::ServerConfig>>>);

impl Certificate {
    pub fn replace(&self, config: rustls::ServerConfig) {
        *self.0.write().unwrap() = Arc::new(config);
    }

    fn current(&self) -> Arc<rustls::ServerConfig> {
        self.0.read().unwrap().clone()
    }
}

/// Serves `filter` on `listener` until `shutdown` completes, then waits up
/// to `grace` for in-flight requests.
pub async fn serve<F>(
    listener: Listener,
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
    let Listener { tcp, tls } = listener;
    let graceful = GracefulShutdown::new();
    let service = warp::service(filter);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
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
                let acceptor = TlsAcceptor::from(tls.current());
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
    drop(tcp);
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
