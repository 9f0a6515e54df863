//! Two data centres, active/active, as Wikimedia runs kask: a ring of real
//! Cassandra 4.1 nodes in DCs `eqiad` and `codfw` (one node each,
//! GossipingPropertyFileSnitch, on its own loopback network: the shared
//! one's third octet + 3), the keyspace replicated to both, and one kask per
//! data centre with its `local_dc`, logged in as a least-privilege role.
//!
//! Shown here, from the servers' side where it matters: a value written in
//! one data centre is read in the other; each kask's requests are
//! coordinated by its own data centre's node (Cassandra's per-table
//! coordinator counts, `system_views`); with eqiad down, eqiad's kask
//! answers 500 at once and sends nothing to codfw, while codfw's keeps
//! serving GET and POST and refuses DELETE (EACH_QUORUM) with a prompt 500.
//! The two kasks are configured alike, so this one outage shows both what
//! a kask does when its own data centre is down and when the other is.
//! Runs on its own (`make test` runs it after the other tests); brings its
//! ring up and takes it down, however the test ends.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

const KS: &str = "kask_dc";
const TOPOLOGY: &str = "eqiad:1,codfw:1";
/// kask's role, from `kask --print-schema`: may read and write its table,
/// nothing else. Its login is read at LOCAL_QUORUM, unlike the default
/// superuser's (QUORUM over every data centre), so it works with the other
/// data centre down.
const ROLE: (&str, &str) = ("kask", KASK_ROLE_PASSWORD);
/// A second superuser for the test's own queries, for the same reason.
const ADMIN: (&str, &str) = ("kask_admin", "kask-admin-dc-test-password");
/// kask's query timeout here: longer than Cassandra's own write timeout
/// (2 s), so that what bounds a DELETE is the server's answer.
const QUERY_TIMEOUT_MS: u64 = 5000;

/// The ring: `.state/cassandra-dc`, on the shared network's third octet + 3.
fn ring() -> OwnCluster {
    OwnCluster::new("cassandra-dc", 3, &[("KASK_CASSANDRA_TOPOLOGY", TOPOLOGY)])
}

fn ctl(args: &[&str]) -> Output {
    ring().ctl(args)
}

/// Statements on node `node` as the test's superuser (not `cassandra`,
/// whose login fails while a data centre is down); returns the rows.
fn admin_cql(node: u8, statements: &[&str]) -> String {
    let node = node.to_string();
    let mut args = vec![
        "cql",
        "--node",
        &node,
        "--user",
        ADMIN.0,
        "--password",
        ADMIN.1,
    ];
    args.extend_from_slice(statements);
    String::from_utf8(ctl(&args).stdout).unwrap()
}

/// How many reads and writes of kask's table node `node` has coordinated
/// since it started (Cassandra's own metrics, `system_views`).
fn coordinated(node: u8) -> (u64, u64) {
    let rows = admin_cql(
        node,
        &[
            &format!("SELECT count FROM system_views.coordinator_read_latency WHERE keyspace_name = '{KS}' AND table_name = 'values'"),
            &format!("SELECT count FROM system_views.coordinator_write_latency WHERE keyspace_name = '{KS}' AND table_name = 'values'"),
        ],
    );
    let counts: Vec<u64> = rows.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(
        counts.len(),
        2,
        "coordinator counts of node {node}: {rows:?}"
    );
    (counts[0], counts[1])
}

fn kask_config(port: u16, dc: &str, node: u8, user: (&str, &str)) -> String {
    format!(
        "---\nservice_name: kask-{dc}\nbase_uri: sessions/v1\nlisten_address: 127.0.0.1\nlisten_port: {port}\nlog_level: info\n\
         cassandra:\n  hosts:\n  - {host}\n  port: 9042\n  keyspace: {KS}\n  table: values\n  local_dc: {dc}\n\
         \x20 query_timeout_ms: {QUERY_TIMEOUT_MS}\n  connect_timeout_ms: 2000\n  authentication:\n    username: {user}\n    password: {password}\n",
        host = ring().addr(node),
        user = user.0,
        password = user.1,
    )
}

/// One request, timed.
fn timed(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (Response, Duration) {
    let t = Instant::now();
    let r = request(addr, method, path, &[], body);
    (r, t.elapsed())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("/sessions/v1/{prefix}-{}-{nanos:x}", std::process::id())
}

/// Schema and kask's role (`kask --print-schema`) and the test's
/// superuser, idempotently (the ring keeps its data between runs).
fn set_up_schema() {
    let mut statements = schema_statements(KS, "eqiad:1,codfw:1");
    statements.extend([
        // The ring keeps its data between runs: the password of now.
        format!("ALTER ROLE {} WITH PASSWORD = '{}'", ROLE.0, ROLE.1),
        format!(
            "CREATE ROLE IF NOT EXISTS {} WITH PASSWORD = '{}' AND LOGIN = true AND SUPERUSER = true",
            ADMIN.0, ADMIN.1
        ),
        format!("ALTER ROLE {} WITH PASSWORD = '{}'", ADMIN.0, ADMIN.1),
    ]);
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    let mut args = vec!["cql"];
    args.extend_from_slice(&refs);
    ctl(&args);
}

#[test]
fn two_data_centres_active_active() {
    let started = Instant::now();
    let _down = ring().down_on_drop();
    ctl(&["up"]);
    let up_took = started.elapsed();
    set_up_schema();

    let eqiad = Kask::start(|port| kask_config(port, "eqiad", 1, ROLE));
    let codfw = Kask::start(|port| kask_config(port, "codfw", 2, ROLE));
    eprintln!(
        "ring up in {up_took:?}; both kasks serving {:?} after the start",
        started.elapsed()
    );

    // A value written in eqiad is read in codfw (LOCAL_QUORUM there: the
    // replication between data centres is asynchronous) and the other way.
    for (from, to, name) in [
        (&eqiad, &codfw, "eqiad -> codfw"),
        (&codfw, &eqiad, "codfw -> eqiad"),
    ] {
        let path = unique("dc-replication");
        let value = format!("written in {name} at {:?}", Instant::now()).into_bytes();
        assert_eq!(request(from.addr, "POST", &path, &[], &value).status, 201);
        let t = Instant::now();
        loop {
            let r = request(to.addr, "GET", &path, &[], b"");
            if r.status == 200 {
                assert_eq!(r.body, value);
                break;
            }
            assert_eq!(r.status, 404, "{name}: {}", r.text());
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{name}: not replicated within 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!(
            "{name}: readable in the other data centre {:?} after the 201",
            t.elapsed()
        );
        // DELETE is EACH_QUORUM: once it answered, no data centre has it.
        assert_eq!(request(to.addr, "DELETE", &path, &[], b"").status, 204);
        assert_eq!(request(from.addr, "GET", &path, &[], b"").status, 404);
    }

    // Each kask's requests are coordinated by its own data centre's node:
    // the servers' per-table coordinator counts move by exactly what each
    // kask was sent.
    let before = (coordinated(1), coordinated(2));
    let (mut sent_eqiad, mut sent_codfw) = ((0, 0), (0, 0));
    for i in 0..20 {
        let path = unique(&format!("dc-local-{i}"));
        assert_eq!(request(eqiad.addr, "POST", &path, &[], b"e").status, 201);
        assert_eq!(request(eqiad.addr, "GET", &path, &[], b"").status, 200);
        sent_eqiad.0 += 1;
        sent_eqiad.1 += 1;
        if i % 2 == 0 {
            let path = unique(&format!("dc-local-codfw-{i}"));
            assert_eq!(request(codfw.addr, "POST", &path, &[], b"c").status, 201);
            assert_eq!(request(codfw.addr, "GET", &path, &[], b"").status, 200);
            assert_eq!(request(codfw.addr, "DELETE", &path, &[], b"").status, 204);
            sent_codfw.0 += 1;
            sent_codfw.1 += 2;
        }
    }
    let after = (coordinated(1), coordinated(2));
    let moved = |b: (u64, u64), a: (u64, u64)| (a.0 - b.0, a.1 - b.1);
    assert_eq!(
        (moved(before.0, after.0), moved(before.1, after.1)),
        (sent_eqiad, sent_codfw),
        "(reads, writes) coordinated by eqiad's node and by codfw's node, against what each kask was sent"
    );
    eprintln!(
        "coordinated (reads, writes): eqiad's node {:?}, codfw's node {:?}: each kask's own",
        sent_eqiad, sent_codfw
    );

    // eqiad goes down. The two kasks are configured alike, so one outage
    // shows both sides (a node restart costs more than the rest of the test):
    // eqiad's kask, whose data centre is down, and codfw's, whose data
    // centre is up while the other is down.
    let written_before = unique("dc-before-outage");
    assert_eq!(
        request(eqiad.addr, "POST", &written_before, &[], b"kept").status,
        201
    );
    let t = Instant::now();
    ctl(&["stop-node", "1"]);
    let killed = Instant::now();
    eprintln!("eqiad's node killed in {:?}", t.elapsed());

    // eqiad's kask answers 500 at once, and codfw's node coordinates none
    // of its requests: no quiet failover to the other data centre.
    let eqiad_refuses = |what: &str| {
        let codfw_before = coordinated(2);
        let started = Instant::now();
        let (mut worst, mut count) = (Duration::ZERO, 0);
        while started.elapsed() < Duration::from_secs(3) {
            for method in ["GET", "POST", "DELETE"] {
                let path = unique("dc-eqiad-down");
                let (r, t) = timed(eqiad.addr, method, &path, b"y");
                assert_problem(&r, 500, &server_error(&path));
                worst = worst.max(t);
                count += 1;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(worst < Duration::from_secs(1), "a 500 took {worst:?}");
        assert_eq!(
            coordinated(2),
            codfw_before,
            "eqiad's kask sent requests to codfw's node while eqiad was down"
        );
        let log = eqiad.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("\"level\":\"ERROR\""))
            .unwrap_or_default();
        assert!(
            line.contains("no node of data centre eqiad took the request"),
            "{line}"
        );
        eprintln!(
            "eqiad down ({what}): {count} requests to eqiad's kask, all 500, slowest {worst:?}; codfw's node coordinated none of them"
        );
    };
    eqiad_refuses("just killed");

    // A kask that starts now in codfw logs in: its role is read in its own
    // data centre. One that logs in as the default superuser cannot start.
    let t = Instant::now();
    let restarted = Kask::start(|port| kask_config(port, "codfw", 2, ROLE));
    let path = unique("dc-restarted");
    assert_eq!(
        request(restarted.addr, "POST", &path, &[], b"r").status,
        201
    );
    eprintln!(
        "eqiad down: a new codfw kask (role {}) serving {:?} after its start",
        ROLE.0,
        t.elapsed()
    );
    drop(restarted);
    let superuser = superuser_start_fails();
    eprintln!("eqiad down: a kask logging in as cassandra does not start: {superuser}");
    let refused = ring().ctl_fails(&["cql", "--node", "2", "SELECT now() FROM system.local"]);
    assert!(
        refused.contains("Unable to perform authentication"),
        "{refused}"
    );

    // codfw's kask keeps serving GET and POST (LOCAL_QUORUM); its DELETE
    // (EACH_QUORUM) gets a 500: after Cassandra's write timeout while codfw's
    // node still thinks eqiad's is up, then at once (Unavailable).
    let mut worst_read_write = Duration::ZERO;
    let mut slow_deletes = Vec::new();
    let refused_path = loop {
        let path = unique("dc-other-down");
        let (r, t1) = timed(codfw.addr, "POST", &path, b"v");
        assert_eq!(r.status, 201, "POST in codfw with eqiad down: {}", r.text());
        let (r, t2) = timed(codfw.addr, "GET", &path, b"");
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &b"v"[..]),
            "GET in codfw with eqiad down"
        );
        worst_read_write = worst_read_write.max(t1).max(t2);
        let (r, t) = timed(codfw.addr, "DELETE", &path, b"");
        assert_problem(&r, 500, &server_error(&path));
        assert!(
            t < Duration::from_millis(3000),
            "DELETE with eqiad down took {t:?}"
        );
        if t < Duration::from_millis(500) {
            break path;
        }
        slow_deletes.push(t);
        // A write timeout: the local replica took the delete (the other
        // data centre gets it as a hint when it is back).
        assert_eq!(
            request(codfw.addr, "GET", &path, &[], b"").status,
            404,
            "a DELETE that timed out was applied locally"
        );
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "codfw's node did not mark eqiad's down within 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "eqiad down: GET/POST in codfw all fine (slowest {worst_read_write:?}); DELETE 500 after {slow_deletes:?} for {} request(s), then at once from {:?} after the kill",
        slow_deletes.len(),
        killed.elapsed()
    );
    // The log says which nodes kask may use, not just "no nodes".
    assert!(
        codfw
            .log()
            .contains("no node of data centre codfw took the request"),
        "{}",
        codfw.log()
    );
    // A DELETE refused as Unavailable removed nothing; what was written
    // in eqiad before the outage is read in codfw.
    assert_eq!(
        request(codfw.addr, "GET", &refused_path, &[], b"").body,
        b"v"
    );
    assert_eq!(
        request(codfw.addr, "GET", &written_before, &[], b"").body,
        b"kept"
    );
    let max_fast_delete = (0..5)
        .map(|_| timed(codfw.addr, "DELETE", &refused_path, b""))
        .inspect(|(r, _)| assert_eq!(r.status, 500))
        .map(|(_, t)| t)
        .max()
        .unwrap();
    eprintln!("eqiad down: five more DELETEs in codfw, slowest 500 in {max_fast_delete:?}");
    assert!(max_fast_delete < Duration::from_secs(1));

    // And eqiad's kask still refuses, now that the driver has its node down.
    eqiad_refuses("a while later");
    eprintln!("whole test {:?}", started.elapsed());
}

/// Starts a codfw kask logging in as `cassandra` while eqiad is down and
/// returns the reason it gives for not starting.
fn superuser_start_fails() -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        kask_config(free_port(), "codfw", 2, ("cassandra", "cassandra")),
    )
    .unwrap();
    let log_path = dir.path().join("kask.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kask"))
        .arg("--config")
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let t = Instant::now();
    let found = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("waiting for Cassandra")) {
            break Some(line.to_string());
        }
        if t.elapsed() > Duration::from_secs(20) || child.try_wait().unwrap().is_some() {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    let line = found.unwrap_or_else(|| {
        panic!(
            "a kask logging in as cassandra with eqiad down: no 'waiting for Cassandra' line; log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    });
    assert!(
        line.contains("consistency level QUORUM") || line.contains("credentials"),
        "{line}"
    );
    line
}
