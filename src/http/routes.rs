//! Routing: which part of the service answers a request.
//!
//! - under the base URI `B`: the key API (instrumented);
//! - `B` without its trailing slash: 301 to `B`, as Go's ServeMux does;
//! - `/healthz`, `/metrics`, `/openapi`;
//! - anything else: Go's plain-text 404, as the reference answers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use warp::filters::path::FullPath;
use warp::http::{header, HeaderValue, Method, Response, StatusCode};
use warp::reply::Response as Reply;
use warp::Filter;

use super::handlers::{self, Body};
use super::App;
use crate::key;
use crate::logging::NO_REQUEST_ID;
use crate::storage::Store;

/// The whole service as one warp filter.
pub fn routes<S: Store>(
    app: Arc<App<S>>,
) -> impl Filter<Extract = (Reply,), Error = Infallible> + Clone {
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::any()
        .map(move || app.clone())
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::optional::<String>("x-request-id"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .then(dispatch)
        .recover(|_| async {
            Ok::<_, Infallible>(handlers::plain(
                StatusCode::BAD_REQUEST,
                "400 Bad Request\n",
            ))
        })
        .unify()
}

#[allow(clippy::too_many_arguments)]
async fn dispatch<S: Store>(
    app: Arc<App<S>>,
    method: Method,
    path: FullPath,
    query: Option<String>,
    request_id: Option<String>,
    content_length: Option<u64>,
    body: impl Body,
) -> Reply {
    let raw = path.as_str();
    if let Some(rest) = raw.strip_prefix(app.base_uri.as_str()) {
        let started = Instant::now();
        let request_id = request_id.as_deref().unwrap_or(NO_REQUEST_ID);
        let resp = match key::parse(rest, query.as_deref()) {
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
        return resp;
    }
    if raw.len() + 1 == app.base_uri.len() && app.base_uri.starts_with(raw) {
        return redirect(&app.base_uri, query.as_deref(), &method);
    }
    match raw {
        "/healthz" => with_type(app.healthz.clone(), "application/json"),
        "/metrics" => with_type(
            Bytes::from(app.registry.render()),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        "/openapi" => with_type(app.openapi.clone(), "application/x-yaml"),
        _ => handlers::plain(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
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
