//! Routing: which part of the service answers a request. The routes, tried
//! in this order:
//!
//! - under the base URI `B`: the key API (instrumented);
//! - `B` without its trailing slash: 301 to `B`, as Go's ServeMux does;
//! - `/healthz` (alive), `/readyz` (ready for traffic), `/metrics`,
//!   `/openapi`;
//! - anything else: Go's plain-text 404, as the reference answers.
//!
//! Paths are compared whole and raw, as Go's ServeMux compares them (warp's
//! own segment filters would also take `/healthz/`): [`under`] for the key
//! API, a match in [`rest`] for the others.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::future;
use warp::filters::path::FullPath;
use warp::http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use warp::reply::Response as Reply;
use warp::{Filter, Rejection};

use super::handlers::{self, Body};
use super::App;
use crate::key;
use crate::logging::NO_REQUEST_ID;
use crate::storage::Store;

/// The whole service as one warp filter: the key API, and the rest.
pub(crate) fn routes<S: Store>(
    app: Arc<App<S>>,
) -> impl Filter<Extract = (Reply,), Error = Infallible> + Clone {
    let keys = under(app.base_uri.as_str().into())
        .and(warp::method())
        .and(query())
        .and(request_id())
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then({
            let app = app.clone();
            move |path, method, query, id, length, body| {
                key_api(app.clone(), path, method, query, id, length, body)
            }
        });
    let rest = warp::path::full()
        .and(request_id())
        .and(warp::method())
        .and(query())
        .map(
            move |path: FullPath, _, method: Method, query: Option<String>| {
                rest(&app, path.as_str(), &method, query.as_deref())
            },
        );
    keys.or(rest)
        .unify()
        // Only request_id() could reject a request that reaches its route,
        // and front() has made every X-Request-ID readable: not reached.
        .recover(|_| async {
            Ok::<_, Infallible>(handlers::plain(
                StatusCode::BAD_REQUEST,
                "400 Bad Request\n",
            ))
        })
        .unify()
}

/// Everything outside the base URI: its redirect, the three fixed paths, and
/// Go's 404. One match rather than a warp route each: each warp route adds
/// a level of futures to every request, and these need no extraction of
/// their own.
fn rest<S: Store>(app: &App<S>, path: &str, method: &Method, query: Option<&str>) -> Reply {
    let base = app.base_uri.as_str();
    if path.len() + 1 == base.len() && base.starts_with(path) {
        return redirect(base, query, method);
    }
    match path {
        "/healthz" => with_type(app.healthz.clone(), "application/json"),
        "/readyz" => readyz(app),
        "/metrics" => {
            let ready = app.readiness.check(app.store.can_serve().is_ok()).is_ok();
            app.registry.set_readiness(ready, app.readiness.pooled());
            with_type(
                Bytes::from(app.registry.render()),
                "text/plain; version=0.0.4; charset=utf-8",
            )
        }
        "/openapi" => with_type(app.openapi.clone(), "application/x-yaml"),
        _ => handlers::plain(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

/// What is answered before routing, as Go's net/http and ServeMux answer
/// it, or `None` to route the request:
///
/// - a request target that is not a path (`host:443`, `CONNECT a:1`,
///   `OPTIONS *`), or a path with a broken `%` escape: a bare 400 with
///   `Connection: close`, which the server writes out as Go answers a
///   request it cannot parse (plain text "400 Bad Request");
/// - a path with `//`, `.` or `..` segments (also encoded): 301 to the
///   cleaned path, query kept.
///
/// An `X-Request-ID` with bytes outside visible ASCII is accepted, as the
/// reference accepts it: those bytes are rewritten as `\xNN` for the logs.
pub(crate) fn front<B>(req: &mut Request<B>) -> Option<Reply> {
    static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    if let Some(id) = req.headers_mut().get_mut(&X_REQUEST_ID) {
        if id.to_str().is_err() {
            *id = readable(id.as_bytes());
        }
    }
    let path = req.uri().path();
    let (escapes_valid, unclean) = scan(path.as_bytes());
    if !path.starts_with('/') || !escapes_valid {
        let mut resp = Response::new(Default::default());
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Some(resp);
    }
    if !unclean {
        return None;
    }
    let clean = cleaned(path)?;
    Some(redirect(&clean, req.uri().query(), req.method()))
}

/// One pass over a raw path: whether every `%` is followed by two hex
/// digits, and whether it may need cleaning (`//`, `/.`, or an encoded `/`
/// or `.`).
fn scan(path: &[u8]) -> (bool, bool) {
    let mut unclean = false;
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'/' => unclean |= matches!(path.get(i + 1), Some(b'/' | b'.')),
            b'%' => {
                let (Some(&h), Some(&l)) = (path.get(i + 1), path.get(i + 2)) else {
                    return (false, unclean);
                };
                if !h.is_ascii_hexdigit() || !l.is_ascii_hexdigit() {
                    return (false, unclean);
                }
                unclean |= h == b'2' && matches!(l, b'e' | b'E' | b'f' | b'F');
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    (true, unclean)
}

/// `bytes` with those outside visible ASCII written as `\xNN`.
fn readable(bytes: &[u8]) -> HeaderValue {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        match b {
            b' '..=b'~' => s.push(b as char),
            b => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    HeaderValue::from_str(&s).expect("visible ASCII")
}

/// The path Go's ServeMux redirects `raw` to, if it is not clean: decoded,
/// `path.Clean`ed (a trailing slash kept), and escaped again as Go's
/// `url.URL` escapes a path.
fn cleaned(raw: &str) -> Option<String> {
    let path = key::percent_decode(raw.as_bytes())?;
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut clean = Vec::with_capacity(path.len());
    for s in &segments {
        clean.push(b'/');
        clean.extend_from_slice(s);
    }
    if clean.is_empty() || (path.ends_with(b"/") && clean != b"/") {
        clean.push(b'/');
    }
    if clean == path {
        return None;
    }
    let mut out = String::with_capacity(clean.len());
    for &b in &clean {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b as char),
            b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'='
            | b'@' => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    Some(out)
}

/// 200 when ready for traffic, else 503 naming the reason. Cheap: atomics
/// and the driver's view of the nodes, no round trip to Cassandra.
fn readyz<S: Store>(app: &App<S>) -> Reply {
    let store = app.store.can_serve();
    let verdict = app.readiness.check(store.is_ok());
    let status = if verdict.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut resp = with_type(
        Bytes::from(super::readyz_body(verdict, store)),
        "application/json",
    );
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A raw path under `base` (which ends in `/`).
fn under(base: Arc<str>) -> impl Filter<Extract = (FullPath,), Error = Rejection> + Clone {
    warp::path::full().and_then(move |path: FullPath| {
        future::ready(if path.as_str().starts_with(&*base) {
            Ok(path)
        } else {
            Err(warp::reject::not_found())
        })
    })
}

/// The raw query string, if there is one.
fn query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

/// `X-Request-ID`, read on every route; [`front`] has made any value
/// readable.
fn request_id() -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Copy {
    warp::header::optional::<String>("x-request-id")
}

/// The key API: the key parsed once, then the method's handler; counted and
/// timed in the metrics.
async fn key_api<S: Store>(
    app: Arc<App<S>>,
    path: FullPath,
    method: Method,
    query: Option<String>,
    request_id: Option<String>,
    content_length: Option<u64>,
    body: impl Body,
) -> Reply {
    let started = Instant::now();
    let _in_flight = app.readiness.request();
    let raw = path.as_str();
    let request_id = request_id.as_deref().unwrap_or(NO_REQUEST_ID);
    let resp = match key::parse(&raw[app.base_uri.len()..], query.as_deref()) {
        Err(e) => handlers::key_error(e, &handlers::instance(raw)),
        Ok(key) => {
            let req = handlers::Request {
                key: &key,
                path: raw,
                request_id,
            };
            match method {
                Method::GET => handlers::get(&app, req).await,
                Method::POST => handlers::post(&app, req, content_length, body).await,
                Method::DELETE => handlers::delete(&app, req).await,
                _ => handlers::unsupported(&method, req),
            }
        }
    };
    app.metrics
        .observe(method.as_str(), resp.status().as_u16(), started.elapsed());
    resp
}

fn with_type(body: Bytes, content_type: &'static str) -> Reply {
    let mut resp = Response::new(body.into());
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Go's ServeMux redirect: for a subtree root requested without its
/// slash, and for a path that is not clean.
fn redirect(to: &str, query: Option<&str>, method: &Method) -> Reply {
    let mut location = to.to_string();
    if let Some(q) = query {
        location.push('?');
        location.push_str(q);
    }
    let body = if method == Method::GET || method == Method::HEAD {
        format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            html_escape(&location)
        )
    } else {
        String::new()
    };
    let has_body = !body.is_empty();
    let mut resp = Response::new(body.into());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    if has_body {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    resp
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_made_readable() {
        assert_eq!(readable(b"caf\xc3\xa9\t1"), "caf\\xc3\\xa9\\x091");
    }

    #[test]
    fn scan_finds_broken_escapes_and_paths_to_clean() {
        assert_eq!(
            scan(b"/sessions/v1/enwiki%3AMWSession%3Aabc"),
            (true, false)
        );
        assert_eq!(scan(b"/a/b.c/%41"), (true, false));
        for unclean in [
            &b"//a"[..],
            b"/a/./b",
            b"/a/..",
            b"/a%2Fb",
            b"/%2e",
            b"/a/.",
        ] {
            assert_eq!(scan(unclean), (true, true), "{unclean:?}");
        }
        for broken in [&b"/a%zz"[..], b"/a%4", b"/%", b"/%%41"] {
            assert!(!scan(broken).0, "{broken:?}");
        }
    }

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        let c = |p: &str| {
            if scan(p.as_bytes()).1 {
                cleaned(p)
            } else {
                None
            }
        };
        assert_eq!(c("/sessions/v1/cat"), None);
        assert_eq!(c("/sessions/v1/enwiki%3AMWSession%3Aabc"), None);
        assert_eq!(c("/sessions/v1/cat%2Fdog"), None);
        assert_eq!(c("//sessions/v1/cat").as_deref(), Some("/sessions/v1/cat"));
        assert_eq!(c("/sessions/./v1/cat").as_deref(), Some("/sessions/v1/cat"));
        assert_eq!(
            c("/sessions/x/../v1/cat").as_deref(),
            Some("/sessions/v1/cat")
        );
        assert_eq!(c("/sessions/v1//").as_deref(), Some("/sessions/v1/"));
        assert_eq!(c("/sessions/v1/."), Some("/sessions/v1".into()));
        assert_eq!(c("/.."), Some("/".into()));
        assert_eq!(c("/a%2F%2Fb").as_deref(), Some("/a/b"));
        assert_eq!(c("/a/%2e%2E/b%20c!").as_deref(), Some("/b%20c%21"));
        assert_eq!(c("/x//%ff").as_deref(), Some("/x/%FF"));
    }
}
