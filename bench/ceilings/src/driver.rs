//! The driver ceiling: the service's Cassandra session and statements,
//! without HTTP. What it reaches is what the service could reach at best.

use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cdrs_tokio::consistency::Consistency;
use cdrs_tokio::frame::message_response::ResponseBody;
use cdrs_tokio::frame::Version;
use cdrs_tokio::query::{PreparedQuery, QueryValues};
use cdrs_tokio::statement::{StatementParams, StatementParamsBuilder};
use cdrs_tokio::types::blob::Blob;
use cdrs_tokio::types::value::Value;
use cdrs_tokio::types::ByIndex;
use kask::storage::cassandra::session::{self, Session};

/// The service's timeouts in the bench config (`query_timeout_ms`,
/// `connect_timeout_ms`): every statement is bounded the same way.
const QUERY_TIMEOUT: Duration = Duration::from_millis(2000);
const CONNECT_TIMEOUT_MS: u64 = 2000;

/// The size of every value written, as in the HTTP cases.
pub const VALUE_BYTES: usize = 1024;

struct Settings {
    host: String,
    port: u16,
    user: String,
    password: String,
    dc: String,
    keyspace: String,
    table: String,
    ttl: i32,
}

struct Ceiling {
    session: Session,
    get: PreparedQuery,
    set: PreparedQuery,
    ttl: i32,
    value: Vec<u8>,
}

pub fn main(args: &[String]) -> Result<(), String> {
    let mut s = Settings {
        host: "127.0.0.1".into(),
        port: 9042,
        user: "cassandra".into(),
        password: "cassandra".into(),
        dc: "datacenter1".into(),
        keyspace: String::new(),
        table: "values".into(),
        ttl: 86400,
    };
    let known = [
        "host", "port", "user", "password", "dc", "keyspace", "table", "ttl",
    ];
    for (name, value) in crate::options(args, &known)? {
        let bad = |_| format!("--{name}: not a number: {value:?}");
        match name.as_str() {
            "host" => s.host = value,
            "port" => s.port = value.parse().map_err(bad)?,
            "user" => s.user = value,
            "password" => s.password = value,
            "dc" => s.dc = value,
            "keyspace" => s.keyspace = value,
            "table" => s.table = value,
            "ttl" => s.ttl = value.parse().map_err(bad)?,
            _ => unreachable!(),
        }
    }
    if s.keyspace.is_empty() {
        return Err("--keyspace is required".into());
    }
    // The service's runtime: multi-threaded, one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(serve(s))
}

async fn serve(s: Settings) -> Result<(), String> {
    let ceiling = Arc::new(connect(&s).await?);
    println!("{{\"ready\": true}}");
    // Commands arrive on stdin; reading it blocks, so a plain thread does it.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            [] => continue,
            ["populate", keys, concurrency] => match (keys.parse(), concurrency.parse()) {
                (Ok(k), Ok(c)) => populate(&ceiling, k, c).await,
                _ => error(&line),
            },
            ["run", workload, concurrency, seconds, keys] => {
                match (
                    Workload::parse(workload),
                    concurrency.parse(),
                    seconds.parse::<f64>(),
                    keys.parse(),
                ) {
                    (Some(w), Ok(c), Ok(secs), Ok(k)) if c > 0 && k > 0 => {
                        run(&ceiling, w, c, Duration::from_secs_f64(secs), k).await
                    }
                    _ => error(&line),
                }
            }
            _ => error(&line),
        };
        println!("{answer}");
    }
    Ok(())
}

fn error(line: &str) -> serde_json::Value {
    serde_json::json!({ "error": format!("bad command {line:?}") })
}

/// The service's session, built by the service's own function
/// (`kask::storage::cassandra::session::connect`) from a kask configuration
/// with these settings: plain TCP, a local DC, password authentication,
/// protocol v5 (what kask negotiates with Cassandra 4.1).
async fn connect(s: &Settings) -> Result<Ceiling, String> {
    let yaml = format!(
        "cassandra:\n  hosts: [{host:?}]\n  port: {port}\n  keyspace: {ks:?}\n  table: {table:?}\n  local_dc: {dc:?}\n  protocol_version: 5\n  connect_timeout_ms: {CONNECT_TIMEOUT_MS}\n  query_timeout_ms: {query}\n  authentication:\n    username: {user:?}\n    password: {password:?}\n",
        host = s.host,
        port = s.port,
        ks = s.keyspace,
        table = s.table,
        dc = s.dc,
        query = QUERY_TIMEOUT.as_millis(),
        user = s.user,
        password = s.password,
    );
    let cfg = kask::config::Config::parse(&yaml, std::path::Path::new("(driver ceiling)"))
        .map_err(|e| e.to_string())?;
    let session = session::connect(&cfg.store, None, Version::V5)
        .await
        .map_err(|e| format!("session: {e}"))?;
    let table = cfg.store.table_name();
    let prepare = |cql: String| {
        let session = &session;
        async move {
            session
                .prepare(cql.clone())
                .await
                .map_err(|e| format!("preparing {cql:?}: {e}"))
        }
    };
    let get = prepare(format!("SELECT value FROM {table} WHERE key = ?")).await?;
    let set = prepare(format!(
        "INSERT INTO {table} (key, value) VALUES (?, ?) USING TTL ?"
    ))
    .await?;
    // Not all one byte value: a blob of a repeating pattern, as wrk sends.
    let value = (0..VALUE_BYTES).map(|i| b'a' + (i % 26) as u8).collect();
    Ok(Ceiling {
        session,
        get,
        set,
        ttl: s.ttl,
        value,
    })
}

/// The service's statement parameters: consistency, bound values, a
/// client-side timestamp, idempotent.
fn params(values: Vec<Value>) -> StatementParams {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    StatementParamsBuilder::new()
        .with_consistency(Consistency::LocalQuorum)
        .with_values(QueryValues::SimpleValues(values))
        .with_timestamp(micros)
        .idempotent(true)
        .build()
}

impl Ceiling {
    /// One GET as the service does it, down to decoding the blob; false on
    /// an error or a missing row (the HTTP side would answer 404 or 500).
    async fn get(&self, key: &str) -> bool {
        let p = params(vec![Value::from(key)]);
        let exec = self.session.exec(&self.get, &p);
        let Ok(Ok(envelope)) = tokio::time::timeout(QUERY_TIMEOUT, exec).await else {
            return false;
        };
        let Ok(ResponseBody::Result(r)) = envelope.response_body() else {
            return false;
        };
        let rows = r.into_rows().unwrap_or_default();
        let Some(row) = rows.first() else {
            return false;
        };
        match row.by_index::<Blob>(0) {
            // The service turns the blob into the response body this way.
            Ok(Some(b)) => bytes::Bytes::from(b.into_vec()).len() == VALUE_BYTES,
            _ => false,
        }
    }

    /// One POST as the service does it (the value copied into the request,
    /// as the service copies the HTTP body).
    async fn set(&self, key: &str) -> bool {
        let p = params(vec![
            Value::from(key),
            Value::from(Blob::new(self.value.clone())),
            Value::from(self.ttl),
        ]);
        let exec = self.session.exec(&self.set, &p);
        matches!(tokio::time::timeout(QUERY_TIMEOUT, exec).await, Ok(Ok(_)))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Get,
    Post,
    /// 90 % GET, 10 % POST.
    Mix,
}

impl Workload {
    fn parse(s: &str) -> Option<Workload> {
        match s {
            "get" => Some(Workload::Get),
            "post" => Some(Workload::Post),
            "mix" => Some(Workload::Mix),
            _ => None,
        }
    }
}

/// Pre-populated keys are `k<n>` for n in 0..keys: the same names the wrk
/// scripts ask the service for.
pub fn existing_key(n: u64) -> String {
    format!("k{n}")
}

/// Writes keys 0..keys, `concurrency` at a time.
async fn populate(c: &Arc<Ceiling>, keys: u64, concurrency: u64) -> serde_json::Value {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (c, next) = (c.clone(), next.clone());
            tokio::spawn(async move {
                let mut failed = 0u64;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= keys {
                        return failed;
                    }
                    // A key that fails is retried: the GET cases need them all.
                    let key = existing_key(n);
                    let mut tries = 0;
                    while !c.set(&key).await {
                        tries += 1;
                        if tries == 5 {
                            failed += 1;
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    let mut failed = 0;
    for t in tasks {
        failed += t.await.unwrap_or(1);
    }
    serde_json::json!({
        "populated": keys - failed.min(keys),
        "failed": failed,
        "seconds": started.elapsed().as_secs_f64(),
    })
}

/// A xorshift generator: enough to spread keys, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// `concurrency` tasks, each with one statement in flight, for `duration`.
/// Latency is measured around each statement; requests are counted when
/// they complete inside the window.
async fn run(
    c: &Arc<Ceiling>,
    workload: Workload,
    concurrency: u64,
    duration: Duration,
    keys: u64,
) -> serde_json::Value {
    let cpu_before = crate::cpu_ms();
    let started = Instant::now();
    let deadline = started + duration;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut rng = Rng((seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
                let mut latencies_us: Vec<u32> = Vec::with_capacity(1 << 14);
                let mut errors = 0u64;
                loop {
                    let t0 = Instant::now();
                    if t0 >= deadline {
                        break;
                    }
                    let write = match workload {
                        Workload::Get => false,
                        Workload::Post => true,
                        Workload::Mix => rng.next().is_multiple_of(10),
                    };
                    let ok = if write {
                        // Random keys, mostly new ones, as the wrk script does.
                        c.set(&format!("p{}", rng.next() % 1_000_000_000)).await
                    } else {
                        c.get(&existing_key(rng.next() % keys)).await
                    };
                    let done = Instant::now();
                    if done > deadline {
                        break;
                    }
                    latencies_us.push((done - t0).as_micros().min(u32::MAX as u128) as u32);
                    if !ok {
                        errors += 1;
                    }
                }
                (latencies_us, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok((l, e)) => {
                all.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64().min(duration.as_secs_f64());
    let cpu_ms = crate::cpu_ms() - cpu_before;
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * all.len() as f64).ceil() as usize;
        all[i.clamp(1, all.len()) - 1] as f64
    };
    serde_json::json!({
        "requests": all.len(),
        "errors": errors,
        "seconds": seconds,
        "rps": all.len() as f64 / seconds,
        "p50_us": pct(50.0),
        "p99_us": pct(99.0),
        "p999_us": pct(99.9),
        "cpu_ms": cpu_ms,
    })
}
