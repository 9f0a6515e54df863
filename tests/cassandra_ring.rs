//! The lesson of the reference's incidents (2022-09, 2023-01): after a
//! Cassandra node was restarted, the service kept a stale view of it until
//! it was restarted itself. Here a ring of three real nodes (its own, on
//! the network after the shared test node's, 127.0.1.1-3 by default) loses one node and gets it
//! back; kask must carry on with two, and use the third again by itself.
//! Runs on its own (`make test` runs it after the other tests).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// The ring's own loopback network (`KASK_CASSANDRA_RING_NET`, or the
/// shared one's next).
fn net() -> String {
    std::env::var("KASK_CASSANDRA_RING_NET").unwrap_or_else(|_| own_net(1))
}
const KS: &str = "kask_ring";

fn ring(args: &[&str]) -> std::process::Output {
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cassandra/ctl.sh"
    ))
    .args(args)
    .env("KASK_CASSANDRA_NODES", "3")
    .env("KASK_CASSANDRA_NET", net())
    .env(
        "KASK_CASSANDRA_STATE",
        concat!(env!("CARGO_MANIFEST_DIR"), "/.state/cassandra-ring"),
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "ctl.sh {args:?} (ring) failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stops the ring when the test ends, however it ends.
struct Ring;

impl Drop for Ring {
    fn drop(&mut self) {
        let _ = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cassandra/ctl.sh"
        ))
        .arg("down")
        .env("KASK_CASSANDRA_NET", net())
        .env(
            "KASK_CASSANDRA_STATE",
            concat!(env!("CARGO_MANIFEST_DIR"), "/.state/cassandra-ring"),
        )
        .status();
    }
}

fn nodes(k: &Kask) -> (u32, u32) {
    let m = request(k.addr, "GET", "/metrics", &[], b"").text();
    let get = |state: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("kask_cassandra_nodes{{state=\"{state}\"}} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (get("up"), get("down"))
}

/// Sends a POST and a GET; true if both worked.
fn round_trip(k: &Kask, i: u32) -> bool {
    let path = format!("/sessions/v1/ring-{i}");
    request(k.addr, "POST", &path, &[], b"v").status == 201
        && request(k.addr, "GET", &path, &[], b"").status == 200
}

/// Keeps traffic flowing until `cond` holds (or panics after `within`).
fn until(k: &Kask, what: &str, within: Duration, cond: impl Fn((u32, u32)) -> bool) -> Duration {
    let start = Instant::now();
    let mut i = 0;
    loop {
        if cond(nodes(k)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?}; nodes (up, down) = {:?}; log:\n{}",
            nodes(k),
            k.log()
        );
        i += 1;
        let _ = round_trip(k, i);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_node_that_comes_back_is_used_again_without_a_restart() {
    let _ring = Ring;
    ring(&["up"]);
    for stmt in schema_statements(KS, "datacenter1:3") {
        ring(&["cql", &stmt]);
    }
    let k = Kask::start(|port| {
        cassandra_config(port, KS, "").replace(
            &format!("  - {}\n", cassandra_host()),
            &format!("  - {}.1\n", net()),
        )
    });

    let t = until(
        &k,
        "all three nodes up",
        Duration::from_secs(60),
        |(up, down)| up == 3 && down == 0,
    );
    eprintln!("three nodes up after {t:?}");
    for i in 0..20 {
        assert!(
            round_trip(&k, 1000 + i),
            "round trip {i} with the whole ring"
        );
    }

    ring(&["stop-node", "3"]);
    let t = until(
        &k,
        "node 3 seen down",
        Duration::from_secs(90),
        |(up, down)| up == 2 && down == 1,
    );
    eprintln!("node 3 seen down after {t:?}");
    // With two of three replicas LOCAL_QUORUM holds. On Cassandra 4.1 some
    // requests right after the kill can still fail, until the other nodes
    // have convicted node 3 themselves (gossip, ~20 s); seen in this test
    // under load, not yet explained (see the closing note of 2026-12-03;
    // longer auth caches on the nodes did not help).
    // So: within 45 s, 20 round trips in a row must work, and how many
    // failed before is printed.
    let start = Instant::now();
    let (mut in_a_row, mut failed, mut i) = (0, 0, 0);
    while in_a_row < 20 {
        i += 1;
        if round_trip(&k, 2000 + i) {
            in_a_row += 1;
        } else {
            in_a_row = 0;
            failed += 1;
            assert!(
                start.elapsed() < Duration::from_secs(45),
                "with node 3 down, round trips still fail after {:?} ({failed} failed); log:\n{}",
                start.elapsed(),
                k.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    eprintln!(
        "with node 3 down: 20 round trips in a row after {:?}, {failed} failed before",
        start.elapsed()
    );

    ring(&["start-node", "3"]);
    let t = until(
        &k,
        "node 3 used again",
        Duration::from_secs(120),
        |(up, down)| up == 3 && down == 0,
    );
    let how = if k.log().contains("rebuilding the session") {
        "kask rebuilt its session"
    } else {
        "the driver reconnected by itself"
    };
    eprintln!("node 3 up again in kask's view {t:?} after it was restarted ({how})");
    for i in 0..20 {
        assert!(
            round_trip(&k, 3000 + i),
            "round trip {i} after node 3 came back"
        );
    }
}
