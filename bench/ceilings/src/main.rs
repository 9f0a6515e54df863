//! The two ceilings of kask's benchmark (`make bench`, see bench/README.md).
//! Test infrastructure only: nothing here is part of the service.
//!
//! - `driver`: cdrs-tokio 9.0.2 straight to Cassandra, with the session the
//!   service builds (same load balancing, pool, reconnection, nodelay, auth,
//!   protocol v3) and the service's two statements at LOCAL_QUORUM. It is
//!   its own load generator: N tasks, each with one statement in flight.
//!   It reads commands on stdin, one per line, and answers one JSON line
//!   each, so that one session serves the whole run, as in the service.
//! - `hyper`: a bare hyper HTTP/1.1 server answering every request with a
//!   constant JSON body: the most the service's `/healthz` could reach.

mod driver;
mod http;

use std::process::ExitCode;

const USAGE: &str = "usage:
  kask-bench-ceilings hyper --listen ADDR:PORT
  kask-bench-ceilings driver [--host H] [--port P] [--user U] [--password P]
                             [--dc DC] --keyspace KS [--table T] [--ttl SECONDS]
      then, on stdin, one command per line:
        populate <keys> <concurrency>
        run <get|post|mix> <concurrency> <seconds> <keys>
      each answered by one JSON line on stdout.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("hyper") => http::main(&args[1..]),
        Some("driver") => driver::main(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kask-bench-ceilings: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--name value` pairs; every name must be one of `known`.
fn options(args: &[String], known: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(name) = it.next() {
        let bare = name
            .strip_prefix("--")
            .filter(|n| known.contains(n))
            .ok_or_else(|| format!("unknown option {name:?}\n{USAGE}"))?;
        let value = it
            .next()
            .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?;
        out.push((bare.to_string(), value.clone()));
    }
    Ok(out)
}

/// This process's CPU time (user + system) so far, in milliseconds.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the file: 11 and 12 counted
    // from the state field (3), which follows ") ".
    (ticks(11) + ticks(12)) * 1000.0 / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    // Linux fixes USER_HZ at 100 for /proc on every architecture we run on.
    100.0
}
