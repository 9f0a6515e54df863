//! TLS to Cassandra, end to end, against a real Cassandra 4.1 node with
//! `client_encryption_options` (PEM files made by ctl.sh: a CA, a node
//! certificate naming `node1.cassandra.test` only, a client certificate,
//! and a second CA that signed nothing the node uses), on its own loopback
//! network (the shared one's third octet + 2).
//!
//! kask runs in a mount namespace of its own where /etc/hosts is a file of
//! the test's, mapping `node1.cassandra.test` (and `wrong.cassandra.test`)
//! to the node's address: the host name resolves to an IP, the driver
//! connects by IP, and the name is still checked. This is what broke
//! verification in production for the reference. The machine's /etc/hosts
//! is never touched.
//!
//! Every wrong setting must give one log line that says what to fix.
//! Runs on its own (`make test` runs it after the other tests); brings its
//! node up, and down however the test ends.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;

const KS: &str = "kask_tls";
const NAME: &str = "node1.cassandra.test";
/// kask's least-privilege role (`kask --print-schema`).
const ROLE: (&str, &str) = ("kask", KASK_ROLE_PASSWORD);

/// The node: `.state/cassandra-tls`, on the shared network's third octet
/// + 2; `mode` is given to `up`.
fn cluster(mode: &str) -> OwnCluster {
    OwnCluster::new("cassandra-tls", 2, &[("KASK_CASSANDRA_TLS", mode)])
}

fn node_ip() -> String {
    cluster("").addr(1)
}

fn tls_file(name: &str) -> PathBuf {
    cluster("").state.join("tls").join(name)
}

/// The node, in TLS mode `mode` (`on` or `client-auth`), with kask's schema
/// and role; taken down on drop. Holds a lock: the two tests of this file
/// share the node's state directory and never run at once.
struct Node {
    cluster: OwnCluster,
    // Before the lock: the node is down before the next test may start.
    _down: DownOnDrop,
    _lock: nix::fcntl::Flock<std::fs::File>,
    /// The test's /etc/hosts for kask.
    hosts: tempfile::TempDir,
}

impl Node {
    fn up(mode: &'static str) -> Node {
        for tool in ["unshare", "mount"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .is_ok_and(|o| o.status.success()),
                "FAIL (not skipped): {tool} (util-linux) is needed to give kask its own /etc/hosts: install util-linux (make deps)"
            );
        }
        let cluster = cluster(mode);
        std::fs::create_dir_all(&cluster.state).unwrap();
        let lock = std::fs::File::create(cluster.state.with_extension("lock")).unwrap();
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("lock the TLS node's state");
        let t = Instant::now();
        // The TLS mode sticks to the node's data: another mode needs a
        // fresh node (and makes fresh certificates).
        let have = std::fs::read_to_string(cluster.state.join("tls-mode")).unwrap_or_default();
        if !have.trim().is_empty() && have.trim() != mode {
            cluster.ctl(&["wipe"]);
        }
        cluster.ctl(&["up"]);
        let node = Node {
            _down: cluster.down_on_drop(),
            cluster,
            _lock: lock,
            hosts: tempfile::tempdir().unwrap(),
        };
        std::fs::write(
            node.hosts.path().join("hosts"),
            format!(
                "127.0.0.1 localhost\n{} {NAME} wrong.cassandra.test\n",
                node_ip()
            ),
        )
        .unwrap();
        node.schema();
        eprintln!("TLS node ({mode}) up with schema in {:?}", t.elapsed());
        node
    }

    fn cql(&self, statements: &[&str]) -> String {
        let mut args = vec!["cql"];
        args.extend_from_slice(statements);
        String::from_utf8(self.cluster.ctl(&args).stdout).unwrap()
    }

    fn schema(&self) {
        let mut statements = schema_statements(KS, "datacenter1:1");
        // The node keeps its data between runs: the password of now.
        statements.push(format!(
            "ALTER ROLE {} WITH PASSWORD = '{}'",
            ROLE.0, ROLE.1
        ));
        let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
        self.cql(&refs);
    }

    /// Starts kask on `tls` (the YAML lines under `cassandra:` after
    /// `hosts`), with the node given as `host`, in its own mount namespace
    /// with the test's /etc/hosts.
    fn kask(&self, host: &str, tls: &str) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "---\nservice_name: kask-tls\nbase_uri: sessions/v1\nlisten_address: 127.0.0.1\nlisten_port: {port}\n\
                 cassandra:\n  hosts:\n  - {host}\n  keyspace: {KS}\n  local_dc: datacenter1\n  query_timeout_ms: 5000\n  connect_timeout_ms: 2000\n\
                 \x20 authentication:\n    username: {}\n    password: {}\n{tls}",
                ROLE.0, ROLE.1
            ),
        )
        .unwrap();
        let log_path = dir.path().join("kask.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$0" /etc/hosts && exec "$@""#)
            .arg(self.hosts.path().join("hosts"))
            .arg(env!("CARGO_BIN_EXE_kask"))
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start kask under unshare");
        Run {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            log_path,
            _dir: dir,
        }
    }
}

/// A kask process (the `unshare` and `sh` before it exec into kask, so the
/// child's pid is kask's); stopped on drop.
struct Run {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits until kask serves, and checks it works against the node.
    fn serves(&mut self) -> Duration {
        let t = Instant::now();
        loop {
            let log = self.log();
            // kask serves (503) before it is connected; this line says it is.
            if log.contains("\"connected to Cassandra at ") {
                break;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("kask exited ({status}) instead of serving; log:\n{log}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "kask does not serve after 30 s; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let took = t.elapsed();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = format!("/sessions/v1/tls-{}-{nanos:x}", std::process::id());
        assert_eq!(
            request(self.addr, "POST", &path, &[], b"over TLS").status,
            201
        );
        let r = request(self.addr, "GET", &path, &[], b"");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"over TLS"[..]));
        assert_eq!(request(self.addr, "DELETE", &path, &[], b"").status, 204);
        took
    }

    /// Waits for two attempts to reach Cassandra to fail, and returns the
    /// one line they logged: each attempt must say the same, once, and say
    /// it on one line.
    fn refused(&mut self) -> String {
        let t = Instant::now();
        let lines = loop {
            let log = self.log();
            let attempts: Vec<String> = log
                .lines()
                .filter(|l| !l.contains("\"level\":\"INFO\""))
                .map(String::from)
                .collect();
            if attempts.len() >= 2 {
                break attempts;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("kask exited ({status}); log:\n{log}");
            }
            assert!(
                !log.contains("\"connected to Cassandra at "),
                "kask connected although it should not have; log:\n{log}"
            );
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no two failed attempts within 20 s; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let messages: Vec<String> = lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
                let msg = v["msg"].as_str().unwrap().to_string();
                // The attempts differ only in the pause announced.
                msg.split(", retrying in ").next().unwrap().to_string()
            })
            .collect();
        assert!(
            messages.iter().all(|m| m == &messages[0]),
            "each failed attempt must log the same one line; got:\n{}",
            lines.join("\n")
        );
        assert!(!self.log().contains("connected to Cassandra at "));
        messages[0].clone()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

fn ca(path: &Path) -> String {
    format!("  tls:\n    ca: {}\n", path.display())
}

fn assert_says(line: &str, what: &[&str]) {
    for w in what {
        assert!(line.contains(w), "the log line should say {w:?}: {line}");
    }
    eprintln!("  one line: {line}");
}

/// The server's side: kask's connections are TLS ones.
fn assert_kask_uses_tls(node: &Node) {
    let rows = node.cql(&[&format!(
        "SELECT username, ssl_enabled, ssl_protocol FROM system_views.clients WHERE username = '{}' ALLOW FILTERING",
        ROLE.0
    )]);
    assert!(!rows.trim().is_empty(), "no connection of kask on the node");
    for row in rows.lines() {
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols[1], "True", "a kask connection without TLS: {row}");
    }
    eprintln!(
        "  the node sees kask's connections as TLS: {}",
        rows.lines().next().unwrap()
    );
}

#[test]
fn server_certificates_and_names() {
    let started = Instant::now();
    let node = Node::up("on");
    let ca_ok = ca(&tls_file("ca.pem"));

    // The CA, and the node named as its certificate names it: a name that
    // resolves to the node's IP, to which the driver connects.
    let mut k = node.kask(NAME, &ca_ok);
    let t = k.serves();
    eprintln!(
        "host {NAME} (resolving to {}), ca.pem: serving in {t:?}",
        node_ip()
    );
    assert_kask_uses_tls(&node);
    drop(k);

    // A certificate from another CA is refused, named or not.
    let other_ca = ca(&tls_file("other-ca.pem"));
    let line = node.kask(NAME, &other_ca).refused();
    assert_says(
        &line,
        &[
            "UnknownIssuer",
            "set cassandra.tls.ca to the CA that signed the nodes' certificates",
        ],
    );
    let line = node
        .kask(
            &node_ip(),
            &format!("{other_ca}    enable_host_verification: false\n"),
        )
        .refused();
    assert_says(&line, &["set cassandra.tls.ca"]);

    // A name the certificate does not carry, and the bare IP (the node's
    // certificate has no IP in it, as in production), are refused...
    let line = node.kask("wrong.cassandra.test", &ca_ok).refused();
    assert_says(
        &line,
        &[
            "not valid for name \"wrong.cassandra.test\"",
            "list the nodes in cassandra.hosts by a name their certificates carry",
        ],
    );
    let line = node.kask(&node_ip(), &ca_ok).refused();
    assert_says(
        &line,
        &[
            &format!("not valid for name \"{}\"", node_ip()),
            "cassandra.hosts",
        ],
    );
    // ... unless the name check is turned off; the chain is still checked.
    let mut k = node.kask(
        &node_ip(),
        &format!("{ca_ok}    enable_host_verification: false\n"),
    );
    let t = k.serves();
    eprintln!(
        "host {} with enable_host_verification: false: serving in {t:?}",
        node_ip()
    );
    drop(k);

    // No TLS at all towards a TLS-only node.
    let line = node.kask(NAME, "").refused();
    assert_says(&line, &["set cassandra.tls.ca"]);
    eprintln!("whole test {:?}", started.elapsed());
}

#[test]
fn client_certificates() {
    let started = Instant::now();
    let node = Node::up("client-auth");
    let ca_ok = ca(&tls_file("ca.pem"));
    let client = format!(
        "{ca_ok}    cert: {}\n    key: {}\n",
        tls_file("client.pem").display(),
        tls_file("client-key.pem").display()
    );

    let mut k = node.kask(NAME, &client);
    let t = k.serves();
    eprintln!("client certificate signed by the nodes' CA: serving in {t:?}");
    assert_kask_uses_tls(&node);
    drop(k);

    // Without a client certificate.
    let line = node.kask(NAME, &ca_ok).refused();
    assert_says(
        &line,
        &[
            "requires a client certificate",
            "set cassandra.tls.cert and cassandra.tls.key",
        ],
    );

    // With one the node does not trust.
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let stranger = rcgen::CertificateParams::new(vec!["kask-client".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.path().join("stranger.pem"), stranger.pem()).unwrap();
    std::fs::write(dir.path().join("stranger-key.pem"), key.serialize_pem()).unwrap();
    let line = node
        .kask(
            NAME,
            &format!(
                "{ca_ok}    cert: {}\n    key: {}\n",
                dir.path().join("stranger.pem").display(),
                dir.path().join("stranger-key.pem").display()
            ),
        )
        .refused();
    assert_says(
        &line,
        &[
            "refused the client certificate in cassandra.tls.cert",
            "truststore",
        ],
    );

    // A key that is not the certificate's: a configuration error, found
    // before any connection, as one line naming file, line and key.
    let mut run = node.kask(
        NAME,
        &format!(
            "{ca_ok}    cert: {}\n    key: {}\n",
            tls_file("client.pem").display(),
            tls_file("node1-key.pem").display()
        ),
    );
    let status = run.child.wait().unwrap();
    assert_eq!(status.code(), Some(78), "log:\n{}", run.log());
    let log = run.log();
    let line = log
        .lines()
        .find(|l| l.starts_with("kask: "))
        .unwrap_or_else(|| panic!("no error line; log:\n{log}"));
    // The key is named; the line is not (the check needs both files, so
    // it runs once the section is read).
    assert_says(line, &[": cassandra.tls.key: ", "does not match"]);
    eprintln!("whole test {:?}", started.elapsed());
}
