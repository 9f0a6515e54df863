//! Shared by the black-box tests: a raw HTTP/1.1 client (so that tests see
//! status, headers and body bytes exactly as sent) and helpers.
#![allow(dead_code)]

pub mod memory;

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

/// A `kask` process running the real binary on a config of ours; stopped
/// (SIGTERM, then waited for) when dropped.
pub struct Kask {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Kask {
    /// Starts kask with `yaml` (which must contain `listen_port: {port}`
    /// placeholders replaced already) and waits until /readyz answers 200:
    /// it serves, and it is connected to Cassandra.
    pub fn start(yaml_with_port: impl Fn(u16) -> String) -> Kask {
        let mut k = Kask::spawn(yaml_with_port);
        k.wait_for("/readyz", Duration::from_secs(60));
        k
    }

    /// Starts kask and waits only until it answers /healthz (alive; it may
    /// not be connected to Cassandra yet). Its pool state and status socket
    /// live in its own directory (`STATE_DIRECTORY`, `RUNTIME_DIRECTORY`),
    /// which [`Kask::kask`] passes to the pool commands too.
    pub fn spawn(yaml_with_port: impl Fn(u16) -> String) -> Kask {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml_with_port(port)).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Kask::launch(dir.path());
        let mut k = Kask { child, addr, dir };
        k.wait_for("/healthz", Duration::from_secs(60));
        k
    }

    fn launch(dir: &std::path::Path) -> std::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("kask.log"))
            .unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_kask"))
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .env("STATE_DIRECTORY", dir)
            .env("RUNTIME_DIRECTORY", dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start kask")
    }

    /// Stops the process (SIGTERM) and starts it again on the same port,
    /// configuration and state directory; waits until it is alive.
    pub fn restart(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        self.child = Kask::launch(self.dir.path());
        self.wait_for("/healthz", Duration::from_secs(60));
    }

    /// Runs `kask ARGS` (pool, depool, status) against this process's
    /// state directory and socket.
    pub fn kask(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_kask"))
            .args(args)
            .env("STATE_DIRECTORY", self.dir.path())
            .env("RUNTIME_DIRECTORY", self.dir.path())
            .output()
            .expect("run kask")
    }

    /// Waits until GET `path` answers 200.
    pub fn wait_for(&mut self, path: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "kask exited with {status} before it was ready; log:\n{}",
                    self.log()
                );
            }
            if let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)) {
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let _ = s.write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && &buf == b"HTTP/1.1 200" {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "kask: no 200 on {path} in {within:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kask.log")).unwrap_or_default()
    }
}

impl Drop for Kask {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The loopback network of the shared test Cassandra: node N listens on
/// `<net>.N`. `KASK_CASSANDRA_NET` moves it (tests/cassandra/ctl.sh reads the
/// same variable), so that two checkouts can each run their own.
pub fn cassandra_net() -> String {
    std::env::var("KASK_CASSANDRA_NET").unwrap_or_else(|_| "127.0.0".to_string())
}

/// The loopback network of a Cassandra of a test's own (a ring, two data
/// centres, TLS, another version): the shared one's third octet plus
/// `offset`, so that one variable moves every cluster of a checkout.
pub fn own_net(offset: u8) -> String {
    let net = cassandra_net();
    let (prefix, third) = net.rsplit_once('.').expect("KASK_CASSANDRA_NET is a.b.c");
    let third: u8 = third.parse().expect("KASK_CASSANDRA_NET is a.b.c");
    format!("{prefix}.{}", third + offset)
}

/// The address of the shared test Cassandra's first node.
pub fn cassandra_host() -> String {
    format!("{}.1", cassandra_net())
}

/// The local test Cassandra (`make cassandra-up`): fail loudly if absent.
pub fn require_cassandra() {
    let host = cassandra_host();
    let addr: SocketAddr = format!("{host}:9042").parse().unwrap();
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
        panic!(
            "FAIL (not skipped): no Cassandra on {addr}. These tests need the real one: run `make cassandra-up` (`make test` does it)."
        );
    }
}

/// Runs one CQL statement with the Python driver (tests/cassandra/ctl.sh cql)
/// and returns its output rows.
pub fn cql(statement: &str) -> String {
    let out = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cassandra/ctl.sh"
    ))
    .arg("cql")
    .arg(statement)
    .output()
    .expect("run ctl.sh cql");
    assert!(
        out.status.success(),
        "cql {statement:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs one CQL statement logged in as `user`; the caller judges the result.
pub fn cql_as(user: &str, password: &str, statement: &str) -> std::process::Output {
    std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cassandra/ctl.sh"
    ))
    .args(["cql", "--user", user, "--password", password, statement])
    .output()
    .expect("run ctl.sh cql")
}

/// The password of the least-privilege role the storage tests run kask as
/// (`kask --print-schema` prints a placeholder in its place).
pub const KASK_ROLE_PASSWORD: &str = "kask-test-password";

/// `kask --print-schema` for `keyspace` and `replication` (DC:RF,...): the
/// keyspace, the table and the `kask` role with its grants, the role's
/// password placeholder filled in with [`KASK_ROLE_PASSWORD`].
pub fn schema_statements(keyspace: &str, replication: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        format!("cassandra:\n  keyspace: {keyspace}\n  table: values\n  authentication:\n    username: kask\n    password: secret\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kask"))
        .args(["--print-schema", "--replication", replication, "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("secret"),
        "--print-schema printed the password: {text}"
    );
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replace("'<password>'", &format!("'{KASK_ROLE_PASSWORD}'")))
        .collect()
}

/// The keyspace and table of the storage tests, created from
/// `kask --print-schema` (so that its output is tested against the real
/// Cassandra too).
pub fn ensure_schema(keyspace: &str) {
    static DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap();
    if done.iter().any(|k| k == keyspace) {
        return;
    }
    // nextest runs each test in its own process, and concurrent CREATEs of
    // one table make Cassandra fail with a schema ID mismatch: serialise
    // the schema set-up across processes with a file lock.
    let lock_file = std::fs::File::create(
        std::env::temp_dir().join(format!("kask-test-schema-{keyspace}.lock")),
    )
    .unwrap();
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("lock the schema set-up");
    for stmt in schema_statements(keyspace, "datacenter1:1") {
        cql(&stmt);
    }
    done.push(keyspace.to_string());
}

/// The native protocol version the storage tests ask for
/// (`KASK_TEST_PROTOCOL`, 4 or 5), or `None` to let kask negotiate.
pub fn test_protocol() -> Option<u8> {
    std::env::var("KASK_TEST_PROTOCOL")
        .ok()
        .map(|v| v.parse().expect("KASK_TEST_PROTOCOL is 4 or 5"))
}

/// A config for the local Cassandra; `extra` is appended at top level.
pub fn cassandra_config(port: u16, keyspace: &str, extra: &str) -> String {
    let protocol = test_protocol()
        .map(|v| format!("  protocol_version: {v}\n"))
        .unwrap_or_default();
    format!(
        "---\nservice_name: kask-test\nbase_uri: sessions/v1\nlisten_address: 127.0.0.1\nlisten_port: {port}\nlog_level: info\n\
         cassandra:\n  hosts:\n  - {host}\n  port: 9042\n  keyspace: {keyspace}\n  table: values\n  local_dc: datacenter1\n  query_timeout_ms: 2000\n  connect_timeout_ms: 2000\n  authentication:\n    username: kask\n    password: {KASK_ROLE_PASSWORD}\n{protocol}{extra}",
        host = cassandra_host()
    )
}

/// A Cassandra cluster of a test's own: tests/cassandra/ctl.sh with its
/// state in `.state/<name>` and its loopback network `own_net(offset)`.
/// `settings` (KASK_CASSANDRA_TOPOLOGY, _TLS, ...) go to `up`; the other
/// verbs read them from the cluster's state.
pub struct OwnCluster {
    pub state: std::path::PathBuf,
    pub net: String,
    settings: Vec<(String, String)>,
}

impl OwnCluster {
    pub fn new(name: &str, offset: u8, settings: &[(&str, &str)]) -> OwnCluster {
        OwnCluster {
            state: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".state")
                .join(name),
            net: own_net(offset),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The address of node `node`.
    pub fn addr(&self, node: u8) -> String {
        format!("{}.{node}", self.net)
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cassandra/ctl.sh"
        ));
        c.args(args)
            .env("KASK_CASSANDRA_NET", &self.net)
            .env("KASK_CASSANDRA_STATE", &self.state);
        if args.first() == Some(&"up") {
            c.envs(self.settings.iter().map(|(k, v)| (k, v)));
        }
        c
    }

    /// Runs ctl.sh; a failure fails the test (never skips it) with what
    /// ctl.sh said, e.g. which prerequisite is missing.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        let out = self
            .command(args)
            .output()
            .expect("run tests/cassandra/ctl.sh");
        assert!(
            out.status.success(),
            "FAIL (not skipped): ctl.sh {args:?} ({}) exited {}: {}{}",
            self.state.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs ctl.sh expecting it to fail; returns what it wrote to stderr.
    pub fn ctl_fails(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .output()
            .expect("run tests/cassandra/ctl.sh");
        assert!(!out.status.success(), "ctl.sh {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A guard that takes the cluster down when dropped, however the test
    /// ends.
    pub fn down_on_drop(&self) -> DownOnDrop {
        DownOnDrop(self.command(&["down"]))
    }
}

pub struct DownOnDrop(std::process::Command);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let _ = self.0.status();
    }
}
