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
use warp::http::{header, HeaderValue, Method, Response, StatusCode};
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
        // Only request_id() rejects a request that reaches its route.
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

/// `X-Request-ID`, read on every route. A value warp cannot read as a
/// string (bytes outside visible ASCII) rejects the request, which becomes
/// a plain 400 ([`routes`]'s `recover`).
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

/// Go's ServeMux redirect for a subtree root requested without its slash.
fn redirect(base: &str, query: Option<&str>, method: &Method) -> Reply {
    let mut location = base.to_string();
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
