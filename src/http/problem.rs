//! RFC 7807 problem bodies, byte for byte as the reference writes them:
//! JSON indented by two spaces, fields `type, title, detail, instance`, a
//! trailing newline, `Content-Type: application/json` and
//! `X-Content-Type-Options: nosniff`. The status code is not in the body.

use warp::http::{header, HeaderValue, Response, StatusCode};

use crate::json::push_json_bytes;
use warp::reply::Response as Reply;

const TYPE_PREFIX: &str = "https://www.mediawiki.org/wiki/Kask/errors/";

/// One kind of problem the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ServerError,
    /// kask has no connection to Cassandra yet (our type; the reference
    /// never answers before it has one). Sent with `Retry-After`.
    Unavailable,
}

/// `Retry-After` of a 503, in seconds: kask tries to connect every second.
pub const RETRY_AFTER_SECONDS: &str = "1";

impl Problem {
    pub fn status(self) -> StatusCode {
        match self {
            Problem::BadRequest => StatusCode::BAD_REQUEST,
            Problem::NotFound => StatusCode::NOT_FOUND,
            Problem::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Problem::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Problem::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Problem::BadRequest => (
                "bad_request",
                "Bad request",
                "The request was incorrect or malformed",
            ),
            Problem::NotFound => (
                "not_found",
                "Not found",
                "The value you requested was not found",
            ),
            Problem::PayloadTooLarge => (
                "payload_too_large",
                "Payload too large",
                "The value is larger than this service accepts",
            ),
            Problem::ServerError => (
                "server_error",
                "Internal server error",
                "The server encountered an error with your request",
            ),
            Problem::Unavailable => (
                "unavailable",
                "Service unavailable",
                "The session store is not connected to its database yet; retry later",
            ),
        }
    }

    /// The JSON body for a request whose decoded path is `instance`.
    pub fn body(self, instance: &(impl AsRef<[u8]> + ?Sized)) -> String {
        let instance = instance.as_ref();
        let (kind, title, detail) = self.parts();
        let mut s = String::with_capacity(200 + instance.len());
        s.push_str("{\n  \"type\": \"");
        s.push_str(TYPE_PREFIX);
        s.push_str(kind);
        s.push_str("\",\n  \"title\": \"");
        s.push_str(title);
        s.push_str("\",\n  \"detail\": \"");
        s.push_str(detail);
        s.push_str("\",\n  \"instance\": ");
        push_json_bytes(&mut s, instance);
        s.push_str("\n}\n");
        s
    }

    /// The whole response.
    pub fn response(self, instance: &(impl AsRef<[u8]> + ?Sized)) -> Reply {
        let mut resp = error_response(self.status(), self.body(instance), "application/json");
        if self == Problem::Unavailable {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        resp
    }
}

/// An error response as the reference's Go sends them: the given type and
/// `X-Content-Type-Options: nosniff`.
pub fn error_response(
    status: StatusCode,
    body: impl Into<bytes::Bytes>,
    content_type: &'static str,
) -> Reply {
    let mut resp = Response::new(body.into().into());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_matches_the_reference_byte_for_byte() {
        assert_eq!(
            Problem::NotFound.body("/sessions/v1/cat"),
            "{\n  \"type\": \"https://www.mediawiki.org/wiki/Kask/errors/not_found\",\n  \"title\": \"Not found\",\n  \"detail\": \"The value you requested was not found\",\n  \"instance\": \"/sessions/v1/cat\"\n}\n"
        );
    }

    #[test]
    fn headers() {
        let r = Problem::BadRequest.response("/x");
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(r.headers().get("retry-after").is_none());
    }

    #[test]
    fn unavailable_is_503_with_retry_after_under_the_same_prefix() {
        let r = Problem::Unavailable.response("/x");
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert!(Problem::Unavailable.body("/x").starts_with(
            "{\n  \"type\": \"https://www.mediawiki.org/wiki/Kask/errors/unavailable\","
        ));
    }
}
