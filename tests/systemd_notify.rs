//! kask as systemd sees it, without systemd: a NOTIFY_SOCKET this test owns
//! (READY, STATUS, WATCHDOG, RELOADING, STOPPING) and a listening socket
//! passed the way systemd passes it (`systemd-socket-activate`). The real
//! systemd runs in tests/package/e2e.sh.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const KS: &str = "kask_test";

struct Notify {
    sock: UnixDatagram,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    seen: Vec<String>,
}

impl Notify {
    fn new() -> Notify {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Notify {
            sock,
            _dir: dir,
            path,
            seen: Vec::new(),
        }
    }

    /// Waits until a message containing `what` arrives; returns it.
    fn wait_for(&mut self, what: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self.seen.iter().find(|m| m.contains(what)) {
                return m.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {what:?} within {within:?}; seen: {:?}",
                self.seen
            );
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }

    /// Collects every message that arrives during `d`.
    fn drain_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }

    fn count(&self, what: &str) -> usize {
        self.seen.iter().filter(|m| m.contains(what)).count()
    }
}

fn config(dir: &tempfile::TempDir, port: u16, cassandra_port: u16) -> std::path::PathBuf {
    let path = dir.path().join("config.yaml");
    let yaml = cassandra_config(port, KS, "shutdown_grace_seconds: 2\n")
        .replace("port: 9042", &format!("port: {cassandra_port}"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A child that is stopped (SIGTERM, then SIGKILL) even when the test
/// fails half-way, so that no test leaves a process behind. kask processes
/// started through another program (systemd-socket-activate forks one) are
/// found by their config file, which is unique to the test.
struct Guard(Child, std::path::PathBuf);

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
            std::thread::sleep(Duration::from_millis(500));
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
        for pid in pids_running(&self.1) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// PIDs of processes whose command line mentions `marker`.
fn pids_running(marker: &std::path::Path) -> Vec<i32> {
    let marker = marker.to_string_lossy().into_owned();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&marker))
                .unwrap_or(false)
        })
        .collect()
}

fn spawn(cmd: &mut Command, config: &std::path::Path) -> Guard {
    // Pool state and status socket beside the config, not in /var/lib/kask.
    let dir = config.parent().unwrap();
    let child = cmd
        .env("STATE_DIRECTORY", dir)
        .env("RUNTIME_DIRECTORY", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Guard(child, config.to_owned())
}

#[test]
fn ready_status_watchdog_reload_stopping_exit_zero() {
    require_cassandra();
    ensure_schema(KS);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(&dir, port, 9042);
    let mut n = Notify::new();
    let mut child = spawn(
        Command::new(env!("CARGO_BIN_EXE_kask"))
            .arg("--config")
            .arg(&cfg)
            .env("NOTIFY_SOCKET", &n.path)
            .env("WATCHDOG_USEC", "1000000"),
        &cfg,
    );
    let ready = n.wait_for("READY=1", Duration::from_secs(60));
    assert!(
        ready.contains(&format!(
            "STATUS=serving http://127.0.0.1:{port}/sessions/v1/"
        )),
        "{ready}"
    );
    // It really serves once it said so.
    let r = request(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "GET",
        "/healthz",
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    // WATCHDOG=1 every half interval: several within 2 s.
    n.drain_for(Duration::from_secs(2));
    assert!(n.count("WATCHDOG=1") >= 3, "{:?}", n.seen);

    // SIGHUP: RELOADING=1, then READY=1 again; a broken file is refused.
    let pid = Pid::from_raw(child.id() as i32);
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("log_level: info", "log_level: debug"),
    )
    .unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    n.wait_for("RELOADING=1", Duration::from_secs(5));
    n.wait_for("STATUS=configuration reloaded", Duration::from_secs(5));
    std::fs::write(&cfg, "log_level: shouting\n").unwrap();
    kill(pid, Signal::SIGHUP).unwrap();
    let refused = n.wait_for("reload refused", Duration::from_secs(5));
    assert!(
        refused.contains("READY=1") && refused.contains("log_level"),
        "{refused}"
    );
    assert_eq!(
        request(
            format!("127.0.0.1:{port}").parse().unwrap(),
            "GET",
            "/healthz",
            &[],
            b""
        )
        .status,
        200
    );

    kill(pid, Signal::SIGTERM).unwrap();
    n.wait_for("STOPPING=1", Duration::from_secs(5));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// Issue 10: with Cassandra unreachable, READY=1 as soon as kask listens,
/// the status line says why it waits, key requests get 503 at once,
/// readiness fails, SIGHUP does not kill it, and it keeps retrying.
#[test]
fn unreachable_cassandra_ready_at_once_503_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port(); // nothing listens there
    let port = free_port();
    let cfg = config(&dir, port, closed);
    let mut n = Notify::new();
    let started = Instant::now();
    let mut child = spawn(
        Command::new(env!("CARGO_BIN_EXE_kask"))
            .arg("--config")
            .arg(&cfg)
            .env("NOTIFY_SOCKET", &n.path),
        &cfg,
    );
    let ready = n.wait_for("READY=1", Duration::from_secs(5));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "READY=1 after {took:?}");
    assert!(
        ready.contains(&format!("STATUS=serving http://127.0.0.1:{port}/sessions/v1/; pooled; waiting for Cassandra at {}:{closed}", cassandra_host())),
        "{ready}"
    );
    let status = n.wait_for("retrying in", Duration::from_secs(10));
    assert!(
        status.contains("Connection refused") || status.contains("refused"),
        "the status says why: {status}"
    );

    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    for method in ["GET", "POST", "DELETE"] {
        let t = Instant::now();
        let r = request(addr, method, "/sessions/v1/k", &[], b"v");
        let took = t.elapsed();
        assert_eq!(r.status, 503, "{method}: {}", r.text());
        assert!(took < Duration::from_millis(100), "{method} took {took:?}");
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(
            r.text(),
            problem(
                "unavailable",
                "Service unavailable",
                "The session store is not connected to its database yet; retry later",
                "/sessions/v1/k"
            )
        );
    }
    let r = request(addr, "GET", "/readyz", &[], b"");
    assert_eq!(r.status, 503);
    assert!(
        r.text().contains("\"reason\":\"cassandra unavailable\""),
        "{}",
        r.text()
    );
    assert_eq!(request(addr, "GET", "/healthz", &[], b"").status, 200);
    let m = request(addr, "GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("http_requests_total{code=\"503\",method=\"POST\"} 1"),
        "{m}"
    );
    assert!(m.contains("\nkask_ready 0\n"), "{m}");

    // SIGHUP before Cassandra was reached: reloaded, not killed.
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    n.wait_for("STATUS=configuration reloaded", Duration::from_secs(5));
    n.drain_for(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "kask must keep retrying, not exit"
    );
    assert!(n.count("retrying in") >= 2, "{:?}", n.seen);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn serves_on_a_socket_passed_by_systemd_socket_activate() {
    require_cassandra();
    ensure_schema(KS);
    let dir = tempfile::tempdir().unwrap();
    let passed = free_port();
    let configured = free_port(); // kask must not bind this one
    let cfg = config(&dir, configured, 9042);
    let child = spawn(
        Command::new("systemd-socket-activate")
            .arg("-l")
            .arg(format!("127.0.0.1:{passed}"))
            .arg(env!("CARGO_BIN_EXE_kask"))
            .arg("--config")
            .arg(&cfg),
        &cfg,
    );
    let addr = format!("127.0.0.1:{passed}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The socket exists before kask is even started: the first request
    // starts it and waits in the backlog until it is ready.
    let r = request(addr, "POST", "/sessions/v1/activated", &[], b"yes");
    assert_eq!(r.status, 201);
    assert_eq!(
        request(addr, "GET", "/sessions/v1/activated", &[], b"").body,
        b"yes"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", configured)).is_err(),
        "kask bound its own port too"
    );
    drop(child);
    let left = pids_running(&cfg);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
