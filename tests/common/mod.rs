//! Shared by the black-box tests: a raw HTTP/1.1 client (so that tests see
//! status, headers and body bytes exactly as sent) and helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` as raw bytes and reads `count` responses from the same
/// connection (more than one for pipelining).
pub fn raw(addr: SocketAddr, request: &[u8], count: usize) -> Vec<Response> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).expect("write");
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < count {
        if let Some((resp, used)) = parse(&buf) {
            buf.drain(..used);
            out.push(resp);
            continue;
        }
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk).expect("read");
        assert!(
            n > 0,
            "connection closed after {} responses; have {:?}",
            out.len(),
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    out
}

/// One request, one response; `Connection: close` is not sent, so keep-alive
/// is exercised too.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes, 1).remove(0)
}

fn parse(buf: &[u8]) -> Option<(Response, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header");
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap())
        .unwrap_or(0);
    if buf.len() < end + len {
        return None;
    }
    let body = buf[end..end + len].to_vec();
    Some((
        Response {
            status,
            headers,
            body,
        },
        end + len,
    ))
}

/// The problem body the contract specifies, byte for byte.
pub fn problem(kind: &str, title: &str, detail: &str, instance: &str) -> String {
    format!(
        "{{\n  \"type\": \"https://www.mediawiki.org/wiki/Kask/errors/{kind}\",\n  \"title\": \"{title}\",\n  \"detail\": \"{detail}\",\n  \"instance\": \"{instance}\"\n}}\n"
    )
}

pub fn not_found(instance: &str) -> String {
    problem(
        "not_found",
        "Not found",
        "The value you requested was not found",
        instance,
    )
}

pub fn bad_request(instance: &str) -> String {
    problem(
        "bad_request",
        "Bad request",
        "The request was incorrect or malformed",
        instance,
    )
}

pub fn server_error(instance: &str) -> String {
    problem(
        "server_error",
        "Internal server error",
        "The server encountered an error with your request",
        instance,
    )
}

pub fn assert_problem(r: &Response, status: u16, body: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.text(), body);
}
