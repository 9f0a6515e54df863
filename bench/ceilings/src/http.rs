//! The HTTP ceiling: hyper's HTTP/1.1 server on tokio's multi-threaded
//! runtime (as the service runs), answering every request with a constant.
//! Nothing else: no routing, no headers beyond the content type, no logging.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// About the size of the service's `/healthz` answer.
const BODY: &str = "{\"version\":\"0.0.0\",\"build_date\":\"1970-01-01T00:00:00Z\",\"build_host\":\"localhost\",\"rust_version\":\"rustc\"}";

pub fn main(args: &[String]) -> Result<(), String> {
    let mut listen: Option<SocketAddr> = None;
    for (name, value) in crate::options(args, &["listen"])? {
        if name == "listen" {
            listen = Some(
                value
                    .parse()
                    .map_err(|e| format!("--listen {value:?}: {e}"))?,
            );
        }
    }
    let listen = listen.ok_or("--listen is required")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(serve(listen))
}

async fn serve(listen: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("bind {listen}: {e}"))?;
    println!("listening on {listen}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(_) => continue,
        };
        // The service sets it too; without it small answers wait on Nagle.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

async fn answer(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .expect("a constant response is valid"))
}
