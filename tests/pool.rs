//! Pool and depool against the real daemon and the real Cassandra: the
//! state file and the status socket in the process's own directory
//! (`STATE_DIRECTORY`, `RUNTIME_DIRECTORY`, as systemd sets them). The same
//! under a real systemd, with load, is tests/pool/nspawn.sh.

mod common;

use std::time::{Duration, Instant};

use common::*;

const KS: &str = "kask_test";

fn out(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn readyz(k: &Kask) -> (u16, String) {
    let r = request(k.addr, "GET", "/readyz", &[], b"");
    (r.status, r.text())
}

#[test]
fn depool_drains_persists_across_a_restart_and_pool_restores() {
    require_cassandra();
    ensure_schema(KS);
    let mut k = Kask::start(|port| cassandra_config(port, KS, ""));
    let path = format!("/sessions/v1/pool-{}", std::process::id());
    assert_eq!(readyz(&k).0, 200);

    let st = k.kask(&["status"]);
    assert!(st.status.success(), "{}", out(&st));
    let text = String::from_utf8_lossy(&st.stdout).into_owned();
    assert!(
        text.contains("pooled: yes") && text.contains("ready: yes"),
        "{text}"
    );

    // depool: readiness fails at once; requests are still served.
    let t = Instant::now();
    let d = k.kask(&["depool"]);
    assert!(d.status.success(), "{}", out(&d));
    assert!(
        String::from_utf8_lossy(&d.stdout).contains("kask: depooled"),
        "{}",
        out(&d)
    );
    let (code, body) = readyz(&k);
    assert_eq!(code, 503, "readiness right after `kask depool` returned");
    assert_eq!(body, "{\"ready\":false,\"reason\":\"depooled\"}\n");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(request(k.addr, "POST", &path, &[], b"v").status, 201);
    assert_eq!(request(k.addr, "GET", &path, &[], b"").status, 200);
    let m = request(k.addr, "GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("\nkask_pooled 0\n") && m.contains("\nkask_ready 0\n"),
        "{m}"
    );
    assert_eq!(
        std::fs::read_to_string(k.dir.path().join("kask.pool")).unwrap(),
        "depooled\n"
    );

    // --wait: returns once no request came for --idle seconds.
    let t = Instant::now();
    let w = k.kask(&["depool", "--wait", "--idle", "1", "--timeout", "10"]);
    let took = t.elapsed();
    assert!(w.status.success(), "{}", out(&w));
    assert!(
        String::from_utf8_lossy(&w.stdout).contains("drained"),
        "{}",
        out(&w)
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // ... and fails after --timeout while requests keep coming.
    let addr = k.addr;
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let load = std::thread::spawn({
        let busy = busy.clone();
        let path = path.clone();
        move || {
            let mut n = 0;
            while busy.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(request(addr, "GET", &path, &[], b"").status, 200);
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            n
        }
    });
    let t = Instant::now();
    let w = k.kask(&["depool", "--wait", "--idle", "2", "--timeout", "2"]);
    let took = t.elapsed();
    busy.store(false, std::sync::atomic::Ordering::Relaxed);
    let served = load.join().unwrap();
    assert_eq!(w.status.code(), Some(1), "{}", out(&w));
    assert!(
        String::from_utf8_lossy(&w.stderr).contains("NOT drained"),
        "{}",
        out(&w)
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(served >= 10, "{served} requests served while depooled");

    // The state survives a restart: the new process starts depooled.
    k.restart();
    let (code, body) = readyz(&k);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("depooled"), "{body}");

    // pool: ready again (once connected).
    let p = k.kask(&["pool"]);
    assert!(p.status.success(), "{}", out(&p));
    k.wait_for("/readyz", Duration::from_secs(30));
    assert_eq!(
        std::fs::read_to_string(k.dir.path().join("kask.pool")).unwrap(),
        "pooled\n"
    );
    drop(k);
}

#[test]
fn the_commands_say_when_the_daemon_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let kask = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kask"))
            .args(args)
            .env("STATE_DIRECTORY", dir.path())
            .env("RUNTIME_DIRECTORY", dir.path())
            .output()
            .unwrap()
    };
    let s = kask(&["status", "--instance", "x"]);
    assert_eq!(s.status.code(), Some(1), "{}", out(&s));
    let e = String::from_utf8_lossy(&s.stderr).into_owned();
    assert!(
        e.contains("kask@x: not running") && e.contains("pooled: yes"),
        "{e}"
    );
    let d = kask(&["depool", "--instance", "x", "--wait"]);
    assert!(d.status.success(), "{}", out(&d));
    assert!(
        String::from_utf8_lossy(&d.stdout).contains("will start depooled"),
        "{}",
        out(&d)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("kask@x.pool")).unwrap(),
        "depooled\n"
    );
    let s = kask(&["status", "--instance", "x"]);
    assert!(
        String::from_utf8_lossy(&s.stderr).contains("pooled: no"),
        "{}",
        out(&s)
    );
}
