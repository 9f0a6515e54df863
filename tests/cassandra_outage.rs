//! Cassandra goes away while kask runs, then comes back. Runs on its own
//! (`make test` runs this binary after the others), because it stops the
//! shared test Cassandra.

mod common;

use std::time::{Duration, Instant};

use common::*;

const KS: &str = "kask_test";

fn ctl(cmd: &str) {
    let st = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cassandra/ctl.sh"
    ))
    .arg(cmd)
    .status()
    .unwrap();
    assert!(st.success(), "ctl.sh {cmd} failed");
}

/// Brings Cassandra back even if the test fails half-way.
struct Restart;
impl Drop for Restart {
    fn drop(&mut self) {
        let _ = std::process::Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cassandra/ctl.sh"
        ))
        .arg("start")
        .status();
    }
}

#[test]
fn outage_gives_prompt_500s_and_the_service_recovers_by_itself() {
    require_cassandra();
    ensure_schema(KS);
    let k = Kask::start(|port| cassandra_config(port, KS, ""));
    let path = format!("/sessions/v1/outage-{}", std::process::id());
    assert_eq!(request(k.addr, "POST", &path, &[], b"before").status, 201);

    let _restart = Restart;
    ctl("stop");
    // query_timeout_ms is 2000: every answer must come within it (plus slack)
    for method in ["GET", "POST", "DELETE", "GET"] {
        let t = Instant::now();
        let r = request(k.addr, method, &path, &[], b"during");
        let took = t.elapsed();
        assert_problem(&r, 500, &server_error(&path));
        assert!(took < Duration::from_millis(3500), "{method} took {took:?}");
    }
    let m = request(k.addr, "GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("http_requests_total{code=\"500\",method=\"DELETE\"} 1"),
        "{m}"
    );
    assert!(m.contains("kask_cassandra_errors_total{"), "{m}");

    ctl("start");
    let deadline = Instant::now() + Duration::from_secs(90);
    let recovered_after = loop {
        let t = Instant::now();
        let r = request(k.addr, "GET", &path, &[], b"");
        if r.status == 200 {
            assert_eq!(
                r.body, b"before",
                "the value written before the outage is still there"
            );
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "kask did not recover within 90 s of Cassandra's return; log:\n{}",
            k.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "recovered {:?} before the deadline",
        deadline - recovered_after
    );
    assert_eq!(request(k.addr, "POST", &path, &[], b"after").status, 201);
    assert_eq!(request(k.addr, "GET", &path, &[], b"").body, b"after");
    assert!(
        k.log().contains("\"level\":\"ERROR\""),
        "the failures were logged"
    );
}

/// Issue 10: kask started while Cassandra is down answers at once (503,
/// readiness 503) and serves within 2 s of Cassandra's return, without a
/// restart.
#[test]
fn started_without_cassandra_it_answers_503_then_serves_within_2_s_of_its_return() {
    require_cassandra();
    ensure_schema(KS);
    let _restart = Restart;
    ctl("stop");
    let mut k = Kask::spawn(|port| cassandra_config(port, KS, ""));
    let path = format!("/sessions/v1/absent-{}", std::process::id());
    for method in ["GET", "POST", "DELETE"] {
        let t = Instant::now();
        let r = request(k.addr, method, &path, &[], b"v");
        let took = t.elapsed();
        assert_eq!(r.status, 503, "{method}: {}", r.text());
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(took < Duration::from_millis(100), "{method} took {took:?}");
    }
    let r = request(k.addr, "GET", "/readyz", &[], b"");
    assert_eq!(r.status, 503);
    assert!(r.text().contains("cassandra unavailable"), "{}", r.text());
    let pid = k.child.id();

    ctl("start");
    let back = Instant::now();
    let served_after = loop {
        let r = request(k.addr, "POST", &path, &[], b"after");
        if r.status == 201 {
            break back.elapsed();
        }
        assert_eq!(r.status, 503, "only 503 until connected: {}", r.text());
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not serving 10 s after Cassandra's return; log:\n{}",
            k.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("first 201 {served_after:?} after ctl.sh start returned");
    assert!(
        served_after < Duration::from_secs(2),
        "serving took {served_after:?} after Cassandra's return (at most 2 s); log:\n{}",
        k.log()
    );
    assert_eq!(k.child.id(), pid, "the same process");
    assert!(k.child.try_wait().unwrap().is_none(), "still running");
    k.wait_for("/readyz", Duration::from_secs(2));
    assert_eq!(request(k.addr, "GET", &path, &[], b"").body, b"after");
}
