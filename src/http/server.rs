//! The accept loop: HTTP/1.1 (keep-alive, pipelining) over plain TCP or
//! TLS, on a listener the caller owns (bound by us, or passed by systemd),
//! until the caller's shutdown future completes. Then the listener closes,
//! idle connections close, and in-flight requests get a grace period.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use warp::Filter;

use super::wire::{Wire, TOO_MANY_CONNECTIONS};
use crate::config::Limits;

/// How many refusals (beyond `max_connections`) may be in flight at once;
/// past that, a new connection is closed without a word.
const MAX_REFUSING: usize = 64;
/// How long a refusal may take to write.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// At shutdown, how long connections are still served, each answer with
/// `Connection: close`, before the idle ones are closed. A client that sends
/// on a keep-alive connection at the very moment the server closes it gets
/// no answer at all (it cannot tell whether a POST was stored); in this
/// window every busy connection instead gets its answer and a clean close.
/// Only connections idle for the whole window are closed under a client.
const DRAIN: Duration = Duration::from_secs(1);

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
/// to `grace` for in-flight requests. `limits` bounds what one client can
/// hold: connections, idle and header time (body time is the handlers').
pub async fn serve<F>(
    listener: Listener,
    filter: F,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    limits: Limits,
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
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSING));
    let idle = limits.idle_timeout;
    let closing = Arc::new(AtomicBool::new(false));
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
        // Beyond max_connections: refuse at once, rather than let the new
        // connection (and, past the descriptor limit, everyone) starve.
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            refuse(stream, &refusals);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = Front(TowerToHyperService::new(service.clone()), closing.clone());
        let mut builder = http1::Builder::new();
        // No pipeline_flush: with it, hyper never sees its write buffer as
        // full, so a client that pipelines without reading grows memory
        // without bound, and some responses are never flushed. Without
        // it, hyper answers one request at a time and reads the next only
        // once the previous response is handed to the socket.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(idle)
            .title_case_headers(true)
            // A client may shut its side once its request is sent, and
            // still gets the answer.
            .half_close(true)
            .keep_alive(true);
        // Counted from now: a shutdown waits for this connection, whatever
        // stage its task has reached.
        let watcher = graceful.watcher();
        let acceptor = tls.as_ref().map(|tls| TlsAcceptor::from(tls.current()));
        tokio::spawn(async move {
            let served = match acceptor {
                None => {
                    watcher
                        .watch(builder.serve_connection(Wire::new(stream), svc))
                        .await
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(idle, acceptor.accept(stream)).await {
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
                    watcher
                        .watch(builder.serve_connection(Wire::new(stream), svc))
                        .await
                }
            };
            if let Err(e) = served {
                log::debug!("connection from {peer}: {e}");
            }
            drop(permit);
        });
    }
    drop(tcp);
    // Every answer from now on closes its connection; wait for the busy
    // ones to take theirs (or for none to be left), then close the rest.
    closing.store(true, Ordering::Relaxed);
    let drain = DRAIN.min(grace);
    let start = tokio::time::Instant::now();
    while start.elapsed() < drain && connections.available_permits() < limits.max_connections {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let grace = grace.saturating_sub(start.elapsed());
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

/// Answers a connection over the limit with a plain 503 and closes it,
/// within [`REFUSAL_TIMEOUT`]; when [`MAX_REFUSING`] refusals are already
/// being written, closes it at once.
fn refuse(mut stream: tokio::net::TcpStream, refusals: &Arc<Semaphore>) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
            stream.write_all(TOO_MANY_CONNECTIONS).await?;
            stream.shutdown().await
        })
        .await;
        drop(permit);
    });
}

/// Answers what [`super::routes::front`] answers before warp sees the
/// request (warp panics on a target that is not a path). Once the server
/// is closing (the flag), every answer says `Connection: close`.
#[derive(Clone)]
struct Front<S>(S, Arc<AtomicBool>);

impl<S, B> hyper::service::Service<hyper::Request<B>> for Front<S>
where
    S: hyper::service::Service<
        hyper::Request<B>,
        Response = warp::reply::Response,
        Error = Infallible,
    >,
{
    type Response = warp::reply::Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<
        std::future::Ready<Result<warp::reply::Response, Infallible>>,
        futures_util::future::Either<
            S::Future,
            futures_util::future::MapOk<
                S::Future,
                fn(warp::reply::Response) -> warp::reply::Response,
            >,
        >,
    >;

    fn call(&self, mut req: hyper::Request<B>) -> Self::Future {
        use futures_util::future::{Either, TryFutureExt};
        let closing = self.1.load(Ordering::Relaxed);
        match super::routes::front(&mut req) {
            None if closing => {
                Either::Right(Either::Right(self.0.call(req).map_ok(close as fn(_) -> _)))
            }
            None => Either::Right(Either::Left(self.0.call(req))),
            Some(resp) if closing => Either::Left(std::future::ready(Ok(close(resp)))),
            Some(resp) => Either::Left(std::future::ready(Ok(resp))),
        }
    }
}

/// The answer, with `Connection: close` (hyper then closes the connection
/// once it is written).
fn close(mut resp: warp::reply::Response) -> warp::reply::Response {
    resp.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    resp
}
