//! The three operations, on a parsed [`Key`]. Each turns a storage result
//! into a response; storage errors become 500 problems here, once.

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use warp::http::{header, HeaderValue, Method, Response, StatusCode};
use warp::reply::Response as Reply;

use super::problem::Problem;
use super::App;
use crate::key::{Key, KeyError};
use crate::logging::FAILED_REQUESTS;
use crate::storage::{Store, StoreError};

/// A request body as warp streams it.
pub trait Body: Stream<Item = Result<Self::Chunk, warp::Error>> + Send + Unpin {
    type Chunk: Buf + Send;
}

impl<T, C> Body for T
where
    T: Stream<Item = Result<C, warp::Error>> + Send + Unpin,
    C: Buf + Send,
{
    type Chunk = C;
}

/// What every handler knows about its request.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub key: &'a Key,
    /// The raw request path; decoded only when a problem body needs it.
    pub path: &'a str,
    pub request_id: &'a str,
}

impl Request<'_> {
    /// The decoded request path, as problem bodies carry it.
    pub fn instance(&self) -> Instance {
        instance(self.path)
    }
}

/// A decoded request path: bytes, which need not be UTF-8 (problem bodies
/// escape what is not, as Go does); shown in logs with U+FFFD for those.
pub struct Instance(Vec<u8>);

impl AsRef<[u8]> for Instance {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// The decoded request path, for problem bodies (the reference uses Go's
/// already-decoded `URL.Path`).
pub fn instance(raw: &str) -> Instance {
    Instance(crate::key::percent_decode(raw.as_bytes()).unwrap_or_else(|| raw.as_bytes().to_vec()))
}

pub fn key_error(e: KeyError, instance: &Instance) -> Reply {
    match e {
        KeyError::NotFound => Problem::NotFound.response(instance),
        KeyError::BadRequest => Problem::BadRequest.response(instance),
    }
}

pub async fn get<S: Store>(app: &App<S>, req: Request<'_>) -> Reply {
    match app.store.get(req.key).await {
        Ok(Some(value)) => {
            let mut resp = Response::new(value.into());
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            resp
        }
        Ok(None) => Problem::NotFound.response(&req.instance()),
        Err(e @ StoreError::Unavailable(_)) => unavailable("GET", req, &e),
        Err(e) => {
            if FAILED_REQUESTS.admit() {
                log::error!(request_id = req.request_id; "GET {}: reading from Cassandra failed: {e}", &req.instance());
            }
            Problem::ServerError.response(&req.instance())
        }
    }
}

pub async fn post<S: Store>(
    app: &App<S>,
    req: Request<'_>,
    content_length: Option<u64>,
    body: impl Body,
) -> Reply {
    let max = app.max_value_bytes;
    if content_length.is_some_and(|n| n > max) {
        log::info!(request_id = req.request_id; "POST {}: value of {} bytes refused (max_value_bytes is {max})", req.path, content_length.unwrap_or(0));
        return Problem::PayloadTooLarge.response(&req.instance());
    }
    let read = tokio::time::timeout(app.body_timeout, read_body(body, content_length, max));
    let value = match read.await {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => return p.response(&req.instance()),
        Err(_) => {
            log::info!(request_id = req.request_id; "POST {}: body not received within {} s (body_timeout_seconds)", req.path, app.body_timeout.as_secs());
            return plain(StatusCode::REQUEST_TIMEOUT, "408 Request Timeout");
        }
    };
    if value.is_empty() {
        log::info!(request_id = req.request_id; "POST {}: empty body refused", &req.instance());
        return Problem::BadRequest.response(&req.instance());
    }
    match app.store.set(req.key, value).await {
        Ok(()) => empty(StatusCode::CREATED),
        Err(e @ StoreError::Unavailable(_)) => unavailable("POST", req, &e),
        Err(e) => {
            if FAILED_REQUESTS.admit() {
                log::error!(request_id = req.request_id; "POST {}: writing to Cassandra failed, value not stored: {e}", &req.instance());
            }
            Problem::ServerError.response(&req.instance())
        }
    }
}

/// Reads at most `max` bytes; more is a 413 without reading the rest.
async fn read_body(
    mut body: impl Body,
    content_length: Option<u64>,
    max: u64,
) -> Result<Vec<u8>, Problem> {
    let mut value = Vec::with_capacity(content_length.unwrap_or(0).min(max) as usize);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| Problem::BadRequest)?;
        if (value.len() + chunk.remaining()) as u64 > max {
            return Err(Problem::PayloadTooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            value.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(value)
}

pub async fn delete<S: Store>(app: &App<S>, req: Request<'_>) -> Reply {
    match app.store.delete(req.key).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(e @ StoreError::Unavailable(_)) => unavailable("DELETE", req, &e),
        Err(e) => {
            if FAILED_REQUESTS.admit() {
                log::error!(request_id = req.request_id; "DELETE {}: deleting from Cassandra failed: {e}", &req.instance());
            }
            Problem::ServerError.response(&req.instance())
        }
    }
}

/// No connection to Cassandra yet: 503 at once. Logged at debug only: the
/// daemon's log and status line already say why, once.
fn unavailable(method: &str, req: Request<'_>, e: &StoreError) -> Reply {
    log::debug!(request_id = req.request_id; "{method} {}: 503: {e}", &req.instance());
    Problem::Unavailable.response(&req.instance())
}

/// PUT and every other method: 400, body unread (the reference never
/// supported them). Logged at info: it is the client's mistake.
pub fn unsupported(method: &Method, req: Request<'_>) -> Reply {
    log::info!(request_id = req.request_id; "{method} {}: unsupported method", &req.instance());
    Problem::BadRequest.response(&req.instance())
}

pub fn empty(status: StatusCode) -> Reply {
    let mut resp = Response::new(Bytes::new().into());
    *resp.status_mut() = status;
    resp
}

/// Go's plain-text error responses (`http.Error`).
pub fn plain(status: StatusCode, text: &'static str) -> Reply {
    super::problem::error_response(status, text, "text/plain; charset=utf-8")
}
