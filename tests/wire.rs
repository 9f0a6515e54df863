//! What a hostile or clumsy client can send, over real sockets, against
//! kask's front door (the in-memory store stands in for Cassandra): every
//! request gets an HTTP answer, in the reference's format for that case;
//! nothing a client sends grows memory or descriptors without bound; no
//! panic is reachable from the network.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::memory::{start, Server};
use common::*;

/// Panics anywhere in this process (the server's tasks included).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
}

fn sessions(extra: &str) -> Server {
    count_panics();
    start(&format!(
        "base_uri: sessions/v1\nmax_value_bytes: 1024\n{extra}"
    ))
}

/// Sends `request`, closes the write side if asked, and reads everything
/// until the server closes or `wait` passes.
fn exchange(addr: SocketAddr, request: &[u8], half_close: bool, wait: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(wait)).unwrap();
    let _ = s.write_all(request);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut out = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    out
}

/// Go's net/http answer to a request it cannot parse.
fn go_error(status: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{status}").into_bytes()
}

fn head(bytes: &[u8]) -> String {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |p| p + 4);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The table: raw request bytes, and what must come back.
#[test]
fn malformed_and_odd_requests_table() {
    enum Want {
        /// Exactly these bytes, then close.
        Exactly(Vec<u8>),
        /// A response with this status line.
        Status(&'static str),
    }
    use Want::*;
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(2_000_000)
    );
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        (
            "bad request line",
            b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n".to_vec(),
            Exactly(go_error("400 Bad Request")),
        ),
        (
            "garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            Exactly(go_error("400 Bad Request")),
        ),
        (
            "request line of 70,000 bytes",
            long_line.into_bytes(),
            Exactly(go_error("414 URI Too Long")),
        ),
        (
            "200 headers",
            many_headers.into_bytes(),
            Exactly(go_error("431 Request Header Fields Too Large")),
        ),
        (
            "a header of 2 MB",
            huge_header.into_bytes(),
            Exactly(go_error("431 Request Header Fields Too Large")),
        ),
        (
            "authority form, CONNECT",
            b"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n".to_vec(),
            Exactly(go_error("400 Bad Request")),
        ),
        (
            "authority form, GET",
            b"GET host:443 HTTP/1.1\r\nHost: host\r\n\r\n".to_vec(),
            Exactly(go_error("400 Bad Request")),
        ),
        (
            "asterisk form",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Exactly(go_error("400 Bad Request")),
        ),
        (
            "a broken escape, as Go: plain 400 and close",
            b"GET /sessions/v1/bad%zzescape HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Exactly(go_error("400 Bad Request")),
        ),
        (
            "a broken escape outside the base URI",
            b"GET /x%4 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Exactly(go_error("400 Bad Request")),
        ),
        (
            "non-ASCII X-Request-ID on /healthz",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: caf\xc3\xa9\r\n\r\n".to_vec(),
            Status("HTTP/1.1 200 OK"),
        ),
        (
            "non-ASCII X-Request-ID on a POST",
            b"POST /sessions/v1/rid HTTP/1.1\r\nHost: x\r\nX-Request-ID: \xff\xfe\r\nContent-Length: 1\r\n\r\nv"
                .to_vec(),
            Status("HTTP/1.1 201 Created"),
        ),
        (
            "a stray CRLF after a POST body",
            b"POST /sessions/v1/crlf HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\n".to_vec(),
            Status("HTTP/1.1 201 Created"),
        ),
    ];
    let s = sessions("");
    let mut failures = Vec::new();
    for (name, req, want) in &cases {
        let started = Instant::now();
        let got = exchange(s.addr, req, true, Duration::from_secs(5));
        let took = started.elapsed();
        let ok = match want {
            Exactly(bytes) => &got == bytes,
            Status(line) => head(&got).starts_with(&format!("{line}\r\n")),
        };
        // Answers come at once, not after a timeout.
        if !ok || took > Duration::from_secs(3) {
            failures.push(format!(
                "{name}: after {took:?} got {:?}",
                String::from_utf8_lossy(&got[..got.len().min(300)])
            ));
        }
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a request panicked");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Paths with `//`, `.` or `..` segments: Go's ServeMux answers 301 to the
/// cleaned path (query kept; a body only for GET and HEAD).
#[test]
fn unclean_paths_redirect_to_the_clean_one() {
    let s = sessions("");
    for (target, location) in [
        ("/sessions//v1/cat", "/sessions/v1/cat"),
        ("/sessions/v1/./cat", "/sessions/v1/cat"),
        ("/sessions/x/../v1/cat?q=1", "/sessions/v1/cat?q=1"),
        ("/sessions/v1/a%2F%2Fb", "/sessions/v1/a/b"),
        ("//healthz", "/healthz"),
    ] {
        let r = request(s.addr, "GET", target, &[], b"");
        assert_eq!(r.status, 301, "{target}");
        assert_eq!(r.header("location"), Some(location), "{target}");
        assert_eq!(
            r.text(),
            format!(
                "<a href=\"{}\">Moved Permanently</a>.\n\n",
                location.replace('&', "&amp;")
            ),
            "{target}"
        );
    }
    let r = request(s.addr, "POST", "/sessions//v1/cat", &[], b"v");
    assert_eq!((r.status, r.body.len()), (301, 0));
    assert_eq!(r.header("location"), Some("/sessions/v1/cat"));
}

#[test]
fn healthz_is_indented_json_without_a_final_newline() {
    let s = sessions("");
    let r = request(s.addr, "GET", "/healthz", &[], b"");
    let t = r.text();
    assert!(t.starts_with("{\n  \"version\": \""), "{t}");
    assert!(t.ends_with("\"\n}"), "{t}");
}

/// Go escapes each byte of the decoded path that is not UTF-8 as \ufffd.
#[test]
fn problem_instance_escapes_invalid_utf8_as_go_does() {
    let s = sessions("");
    let r = request(s.addr, "GET", "/sessions/v1/a%FFb", &[], b"");
    assert_problem(&r, 400, &bad_request("/sessions/v1/a\\ufffdb"));
}

#[test]
fn header_names_are_written_in_title_case_as_go_writes_them() {
    let s = sessions("");
    let got = exchange(
        s.addr,
        b"GET /sessions/v1/none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        false,
        Duration::from_secs(5),
    );
    let h = head(&got);
    for name in [
        "Content-Type: ",
        "X-Content-Type-Options: ",
        "Content-Length: ",
        "Date: ",
    ] {
        assert!(h.contains(&format!("\r\n{name}")), "{name} in {h}");
    }
}

#[test]
fn unknown_methods_collapse_into_one_metric_label() {
    let s = sessions("");
    for i in 0..50 {
        let r = request(s.addr, &format!("MADEUP{i}"), "/sessions/v1/k", &[], b"");
        assert_eq!(r.status, 400);
    }
    request(s.addr, "PUT", "/sessions/v1/k", &[], b"");
    let m = request(s.addr, "GET", "/metrics", &[], b"").text();
    assert!(!m.contains("MADEUP"), "{m}");
    assert!(
        m.contains("http_requests_total{code=\"400\",method=\"other\"} 50"),
        "{m}"
    );
    assert!(
        m.contains("http_requests_total{code=\"400\",method=\"PUT\"} 1"),
        "{m}"
    );
}

/// `Expect: 100-continue` and a length over the limit: 413 and close, and
/// a client that writes the whole body before reading still gets the 413
/// (not a reset).
#[test]
fn oversized_body_sent_anyway_still_gets_its_413() {
    let s = sessions("");
    let body = vec![b'x'; 32 * 1024 * 1024];
    let mut req = format!(
        "POST /sessions/v1/big HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The whole body goes through (kask reads and discards it while it
    // closes), rather than a broken pipe half-way.
    c.write_all(&req).expect("the body is written whole");
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert!(
        head(&got).starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{:?}",
        head(&got)
    );
}

/// Resident memory of this process (the test and the server in it), KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// One client pipelines 300 GETs of a 1 MiB value without reading: kask
/// answers one at a time and waits for the client, so memory stays flat
/// (it used to hold about one value per queued request); then every
/// answer arrives.
#[test]
fn pipelining_without_reading_does_not_grow_memory() {
    let s = start("base_uri: sessions/v1\nmax_value_bytes: 2000000\n");
    let value = vec![b'v'; 1 << 20];
    assert_eq!(
        request(s.addr, "POST", "/sessions/v1/big", &[], &value).status,
        201
    );
    let before = rss_kib();
    let n = 300;
    let one = b"GET /sessions/v1/big HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_nonblocking(true).unwrap();
    let all: Vec<u8> = one.repeat(n);
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while sent < all.len() && Instant::now() < deadline {
        match c.write(&all[sent..]) {
            Ok(k) => sent += k,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert_eq!(sent, all.len(), "the requests are small and fit the socket");
    std::thread::sleep(Duration::from_secs(3));
    let during = rss_kib();
    assert!(
        during < before + 64 * 1024,
        "RSS grew from {before} KiB to {during} KiB with {n} pipelined GETs unread"
    );
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let want = n * value.len();
    let mut total = 0usize;
    let mut chunk = vec![0u8; 1 << 20];
    while total < want {
        let k = c.read(&mut chunk).unwrap();
        assert!(k > 0);
        total += k;
    }
}

/// Bodies have a deadline (`body_timeout_seconds`): 50 clients that send
/// all but the last byte of a body and stall get a 408 and are closed.
#[test]
fn stalled_bodies_time_out() {
    let s = sessions("body_timeout_seconds: 1\n");
    let fds = open_fds();
    let clients: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(
                b"POST /sessions/v1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
            )
            .unwrap();
            c.write_all(&[b'x'; 999]).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    for mut c in clients {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        assert!(
            head(&got).starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{:?}",
            head(&got)
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        open_fds() <= fds + 2,
        "descriptors: {fds} before, {} after",
        open_fds()
    );
}

/// An idle keep-alive connection is closed after `idle_timeout_seconds`.
#[test]
fn idle_connections_are_closed() {
    let s = sessions("idle_timeout_seconds: 1\n");
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert!(head(&got).starts_with("HTTP/1.1 200 OK\r\n"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
}

/// Beyond `max_connections`, new connections are answered 503 at once and
/// closed, while the ones within the limit are served; descriptors stay
/// flat however many are refused.
#[test]
fn connections_beyond_the_limit_are_refused_early() {
    let s = sessions("max_connections: 5\n");
    let held: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let fds = open_fds();
    for _ in 0..300 {
        let got = exchange(
            s.addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            false,
            Duration::from_secs(5),
        );
        assert!(
            head(&got).starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{:?}",
            head(&got)
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        open_fds() <= fds + 2,
        "descriptors: {fds} before, {} after",
        open_fds()
    );
    // A connection within the limit is served.
    let mut first = &held[0];
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let k = first.read(&mut buf).unwrap();
    assert!(buf[..k].starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(request(s.addr, "GET", "/healthz", &[], b"").status, 200);
}

/// A bounded, seeded fuzz of the request path: valid requests mutated
/// (bytes flipped, inserted, deleted, cut; lines duplicated), each on its
/// own connection. Whatever comes back must be an HTTP/1.1 response; a
/// request whose head is complete and has no body must get one; nothing
/// may panic; kask must still serve afterwards. KASK_FUZZ_CASES (default
/// 10000) and KASK_FUZZ_SEED run it longer or elsewhere by hand.
#[test]
fn fuzz_the_request_path() {
    let s = sessions("idle_timeout_seconds: 2\nbody_timeout_seconds: 2\n");
    let cases: usize = std::env::var("KASK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut seed: u64 = std::env::var("KASK_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6b61_736b);
    eprintln!("fuzz: seed {seed}, {cases} cases");
    let mut next = move || {
        // xorshift64*
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let corpus: [&[u8]; 8] = [
        b"GET /sessions/v1/k HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"DELETE /sessions/v1/k%20x HTTP/1.1\r\nHost: x\r\nX-Request-ID: 1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /sessions/v1 HTTP/1.0\r\n\r\n",
        b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        b"PUT /sessions/v1/%E2%98%83 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz",
    ];
    let special: [&[u8]; 12] = [
        b" ",
        b"\r\n",
        b"\n",
        b"%",
        b"%zz",
        b":",
        b"\0",
        b"\xff",
        b"/",
        b"//",
        b"HTTP/1.1",
        b"0",
    ];
    let mut answered = 0;
    let mut silent_but_allowed = 0;
    let started = Instant::now();
    for case in 0..cases {
        let mut req = corpus[(next() % corpus.len() as u64) as usize].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % (req.len() as u64 + 1)) as usize;
            match next() % 6 {
                0 if at < req.len() => req[at] = next() as u8,
                1 => {
                    let sp = special[(next() % special.len() as u64) as usize];
                    req.splice(at..at, sp.iter().copied());
                }
                2 if at < req.len() => {
                    req.remove(at);
                }
                3 => req.truncate(at),
                4 => {
                    let end = (at + (next() % 64) as usize).min(req.len());
                    let copy = req[at..end].to_vec();
                    req.splice(at..at, copy);
                }
                _ => req.insert(at.min(req.len()), next() as u8),
            }
        }
        let got = exchange(s.addr, &req, true, Duration::from_secs(5));
        let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
        let complete_without_body = req.windows(4).any(|w| w == b"\r\n\r\n")
            && !text.contains("content-length")
            && !text.contains("transfer-encoding");
        if got.is_empty() {
            assert!(
                !complete_without_body,
                "case {case}: no answer to {:?}",
                String::from_utf8_lossy(&req)
            );
            silent_but_allowed += 1;
        } else {
            assert!(
                (got.starts_with(b"HTTP/1.1 ") || got.starts_with(b"HTTP/1.0 "))
                    && got.windows(4).any(|w| w == b"\r\n\r\n"),
                "case {case}: {:?} got {:?}",
                String::from_utf8_lossy(&req),
                String::from_utf8_lossy(&got)
            );
            answered += 1;
        }
    }
    eprintln!(
        "fuzz: {cases} cases in {:?}: {answered} answered, {silent_but_allowed} incomplete requests closed without an answer",
        started.elapsed()
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a request panicked");
    assert_eq!(request(s.addr, "GET", "/healthz", &[], b"").status, 200);
}

/// A request sent on a kept-alive connection just after the server began to
/// stop (a restart under load) gets its answer, with `Connection: close`,
/// instead of a connection closed under it: the client could not tell
/// whether its POST was stored. (Seen in the package's test: 1 of 20,000
/// requests lost across a restart.)
#[test]
fn a_request_sent_as_the_server_stops_gets_its_answer() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = common::memory::start_until(
        "base_uri: sessions/v1\nshutdown_grace_seconds: 5\n",
        async move {
            let _ = stopped.await;
        },
    );
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let get = b"GET /healthz HTTP/1.1\r\nHost: k\r\n\r\n";
    s.write_all(get).unwrap();
    let mut first = [0u8; 4096];
    let n = s.read(&mut first).unwrap();
    assert!(
        head(&first[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        head(&first[..n])
    );
    // The connection is now idle and kept alive; the server starts to stop.
    stop.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(get).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = head(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("Connection: close"),
        "the request sent while the server stopped got {text:?}"
    );
}
