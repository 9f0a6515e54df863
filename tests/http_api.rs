//! The HTTP contract, over a real socket, with the in-memory store standing
//! in for Cassandra (this proves the HTTP layer, not storage: storage is
//! tested against a real Cassandra in tests/cassandra_api.rs).

mod common;

use common::memory::{start, Server};
use common::*;

fn sessions() -> Server {
    start("base_uri: sessions/v1\nmax_value_bytes: 1024\n")
}

#[test]
fn round_trip_overwrite_delete() {
    let s = sessions();
    let r = request(
        s.addr,
        "POST",
        "/sessions/v1/cat",
        &[("Content-Type", "application/octet-stream")],
        b"meow",
    );
    assert_eq!(r.status, 201);
    assert!(r.body.is_empty());
    let r = request(s.addr, "GET", "/sessions/v1/cat", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"meow");
    assert_eq!(
        request(s.addr, "POST", "/sessions/v1/cat", &[], b"purr").status,
        201
    );
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/cat", &[], b"").body,
        b"purr"
    );
    let r = request(s.addr, "DELETE", "/sessions/v1/cat", &[], b"");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_problem(
        &request(s.addr, "GET", "/sessions/v1/cat", &[], b""),
        404,
        &not_found("/sessions/v1/cat"),
    );
    // deleting what is not there is fine
    assert_eq!(
        request(s.addr, "DELETE", "/sessions/v1/cat", &[], b"").status,
        204
    );
}

#[test]
fn key_parsing_table() {
    let s = sessions();
    assert_eq!(
        request(s.addr, "POST", "/sessions/v1/foo%3Fbar", &[], b"v").status,
        201
    );
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/foo%3Fbar", &[], b"").body,
        b"v"
    );
    assert_eq!(
        request(
            s.addr,
            "POST",
            "/sessions/v1/enwiki%3AMWSession%3Aabc",
            &[],
            b"s"
        )
        .status,
        201
    );
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/enwiki:MWSession:abc", &[], b"").body,
        b"s"
    );
    assert_eq!(
        request(s.addr, "POST", "/sessions/v1/cat%20dog", &[], b"w").status,
        201
    );
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/cat%20dog", &[], b"").body,
        b"w"
    );

    assert_problem(
        &request(s.addr, "GET", "/sessions/v1/cat/dog", &[], b""),
        404,
        &not_found("/sessions/v1/cat/dog"),
    );
    assert_problem(
        &request(s.addr, "GET", "/sessions/v1/cat%2Fdog", &[], b""),
        404,
        &not_found("/sessions/v1/cat/dog"),
    );
    assert_problem(
        &request(s.addr, "GET", "/sessions/v1/", &[], b""),
        404,
        &not_found("/sessions/v1/"),
    );
    assert_problem(
        &request(s.addr, "GET", "/sessions/v1/foo?bar", &[], b""),
        400,
        &bad_request("/sessions/v1/foo"),
    );
    // a bare trailing `?` is not a query string
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/foo%3Fbar?", &[], b"").status,
        200
    );
    // the prefix is stripped once: a second base inside the rest is just a longer path
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/foo/sessions/v1/bar", &[], b"").status,
        404
    );
    // not UTF-8 once decoded, or a broken escape: 400, never 500
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/%ff%fe", &[], b"").status,
        400
    );
    assert_eq!(
        request(s.addr, "POST", "/sessions/v1/%zz", &[], b"x").status,
        400
    );
}

#[test]
fn base_without_slash_redirects_and_other_paths_are_go_404s() {
    let s = sessions();
    let r = request(s.addr, "GET", "/sessions/v1", &[], b"");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sessions/v1/"));
    assert_eq!(
        r.text(),
        "<a href=\"/sessions/v1/\">Moved Permanently</a>.\n\n"
    );
    // Paths are compared whole, as Go's ServeMux does.
    for path in [
        "/healthz/",
        "/metricsx",
        "/openapi/x",
        "/sessions",
        "/sessions/v",
    ] {
        let r = request(s.addr, "GET", path, &[], b"");
        assert_eq!(
            (r.status, r.text().as_str()),
            (404, "404 page not found\n"),
            "{path}"
        );
    }
    let r = request(s.addr, "GET", "/elsewhere", &[], b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text(), "404 page not found\n");
}

#[test]
fn methods() {
    let s = sessions();
    assert_problem(
        &request(s.addr, "POST", "/sessions/v1/e", &[], b""),
        400,
        &bad_request("/sessions/v1/e"),
    );
    assert_problem(
        &request(s.addr, "PUT", "/sessions/v1/k", &[], b"v"),
        400,
        &bad_request("/sessions/v1/k"),
    );
    assert_problem(
        &request(s.addr, "PATCH", "/sessions/v1/k", &[], b"v"),
        400,
        &bad_request("/sessions/v1/k"),
    );
    assert_eq!(
        request(s.addr, "OPTIONS", "/sessions/v1/k", &[], b"").status,
        400
    );
}

#[test]
fn value_size_limit() {
    let s = sessions();
    let at = vec![7u8; 1024];
    assert_eq!(
        request(s.addr, "POST", "/sessions/v1/big", &[], &at).status,
        201
    );
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/big", &[], b"").body,
        at
    );
    let over = vec![7u8; 1025];
    let r = request(s.addr, "POST", "/sessions/v1/big", &[], &over);
    assert_problem(
        &r,
        413,
        &problem(
            "payload_too_large",
            "Payload too large",
            "The value is larger than this service accepts",
            "/sessions/v1/big",
        ),
    );
    // A huge declared length is refused before any of the body is sent.
    let r = raw(
        s.addr,
        b"POST /sessions/v1/huge HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n",
        1,
    );
    assert_eq!(r[0].status, 413);
    // A chunked body is cut off as soon as it passes the limit.
    let mut req =
        b"POST /sessions/v1/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    req.extend_from_slice(format!("{:x}\r\n", 1025).as_bytes());
    req.extend_from_slice(&over);
    req.extend_from_slice(b"\r\n");
    assert_eq!(raw(s.addr, &req, 1)[0].status, 413);
    assert_eq!(
        request(s.addr, "GET", "/sessions/v1/chunked", &[], b"").status,
        404
    );
}

#[test]
fn binary_values_with_every_byte_survive() {
    let s = sessions();
    let v: Vec<u8> = (0..=255u8).collect();
    assert_eq!(
        request(s.addr, "POST", "/sessions/v1/bin", &[], &v).status,
        201
    );
    assert_eq!(request(s.addr, "GET", "/sessions/v1/bin", &[], b"").body, v);
}

#[test]
fn storage_failures_are_500_problems_and_counted_as_500() {
    let s = sessions();
    s.store.set_failing(true);
    assert_problem(
        &request(s.addr, "GET", "/sessions/v1/k", &[], b""),
        500,
        &server_error("/sessions/v1/k"),
    );
    assert_problem(
        &request(s.addr, "POST", "/sessions/v1/k", &[], b"v"),
        500,
        &server_error("/sessions/v1/k"),
    );
    assert_problem(
        &request(s.addr, "DELETE", "/sessions/v1/k", &[], b""),
        500,
        &server_error("/sessions/v1/k"),
    );
    let m = request(s.addr, "GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("http_requests_total{code=\"500\",method=\"DELETE\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("http_requests_total{code=\"204\",method=\"DELETE\"} 0\n"),
        "{m}"
    );
}

#[test]
fn every_series_alerting_reads_exists_from_the_start_at_zero() {
    let s = sessions();
    let m = request(s.addr, "GET", "/metrics", &[], b"").text();
    for (method, code) in kask::metrics::PRESET_HTTP_SERIES {
        let labels = format!("code=\"{code}\",method=\"{method}\"");
        for line in [
            format!("http_requests_total{{{labels}}} 0\n"),
            format!("http_request_duration_seconds_count{{{labels}}} 0\n"),
            format!("http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 0\n"),
        ] {
            assert!(m.contains(&line), "{line} in {m}");
        }
    }
    for op in ["get", "set", "delete"] {
        for kind in ["timeout", "error"] {
            let line =
                format!("kask_cassandra_errors_total{{kind=\"{kind}\",operation=\"{op}\"}} 0\n");
            assert!(m.contains(&line), "{line} in {m}");
        }
        let line =
            format!("kask_cassandra_request_duration_seconds_count{{operation=\"{op}\"}} 0\n");
        assert!(m.contains(&line), "{line} in {m}");
    }
    // Past the 12 s query timeout: a request that ran into it is counted
    // below the top bucket, not only in +Inf.
    assert!(
        m.contains(
            "http_request_duration_seconds_bucket{code=\"500\",method=\"GET\",le=\"15\"} 0\n"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "kask_cassandra_request_duration_seconds_bucket{operation=\"get\",le=\"15\"} 0\n"
        ),
        "{m}"
    );
}

#[test]
fn pipelined_requests_on_one_connection() {
    let s = sessions();
    let req = b"POST /sessions/v1/p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /sessions/v1/p HTTP/1.1\r\nHost: x\r\n\r\nDELETE /sessions/v1/p HTTP/1.1\r\nHost: x\r\n\r\nGET /sessions/v1/p HTTP/1.1\r\nHost: x\r\n\r\n";
    let rs = raw(s.addr, req, 4);
    let statuses: Vec<u16> = rs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 200, 204, 404]);
    assert_eq!(rs[1].body, b"hi");
}

#[test]
fn healthz_metrics_openapi() {
    let s = sessions();
    let h = request(s.addr, "GET", "/healthz", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
    for k in ["version", "build_date", "build_host", "rust_version"] {
        assert!(v.get(k).is_some(), "{k} in {v}");
    }
    request(s.addr, "GET", "/sessions/v1/nothing", &[], b"");
    let m = request(s.addr, "GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    let m = m.text();
    assert!(
        m.contains("http_requests_total{code=\"404\",method=\"GET\"} 1"),
        "{m}"
    );
    assert!(
        m.contains(
            "http_request_duration_seconds_bucket{code=\"404\",method=\"GET\",le=\"0.0025\"}"
        ),
        "{m}"
    );
    assert!(m.contains("kask_build_info{"), "{m}");
    assert!(!m.contains("method=\"GET\",le=\"0.0025\"} 0\nhttp_requests_total{code=\"200\""));
    // /healthz and /metrics themselves are not counted
    assert!(
        m.contains("http_requests_total{code=\"200\",method=\"GET\"} 0\n"),
        "{m}"
    );
    let o = request(s.addr, "GET", "/openapi", &[], b"");
    assert_eq!(o.status, 200);
    assert_eq!(o.header("content-type"), Some("application/x-yaml"));
    assert!(o.text().contains("/sessions/v1/{key}:"));
}

#[test]
fn readyz_follows_the_store_and_healthz_stays_alive() {
    let s = sessions();
    let r = request(s.addr, "GET", "/readyz", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), "{\"ready\":true}\n");
    let m = request(s.addr, "GET", "/metrics", &[], b"").text();
    assert!(m.contains("\nkask_ready 1\n"), "{m}");
    assert!(m.contains("\nkask_pooled 1\n"), "{m}");

    s.store.set_failing(true);
    let r = request(s.addr, "GET", "/readyz", &[], b"");
    assert_eq!(r.status, 503);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["reason"], "cassandra unavailable");
    assert!(v["detail"].is_string(), "{v}");
    // Liveness does not change with the store.
    assert_eq!(request(s.addr, "GET", "/healthz", &[], b"").status, 200);
    let m = request(s.addr, "GET", "/metrics", &[], b"").text();
    assert!(m.contains("\nkask_ready 0\n"), "{m}");
    // Readiness probes are not key requests and not counted as such.
    assert!(!m.contains("code=\"503\""), "{m}");

    s.store.set_failing(false);
    assert_eq!(request(s.addr, "GET", "/readyz", &[], b"").status, 200);
    assert_eq!(request(s.addr, "GET", "/readyz/", &[], b"").status, 404);
}
