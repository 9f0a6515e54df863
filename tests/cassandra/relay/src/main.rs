//! `kask-cql-relay --listen ADDR:PORT --node ADDR:PORT [--broadcast-address IP]`
//!
//! Test infrastructure only (see the crate docs): a CQL relay in front of one
//! Cassandra 2.1 node. Exit codes: 64 usage error, 1 cannot listen.

use kask_cql_relay::{serve, Config};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

const USAGE: &str =
    "usage: kask-cql-relay --listen ADDR:PORT --node ADDR:PORT [--broadcast-address IP]";

fn parse_args() -> Result<(SocketAddr, Config), String> {
    let mut listen = None;
    let mut node: Option<SocketAddr> = None;
    let mut broadcast: Option<IpAddr> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::net::AddrParseError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().map_err(bad)?),
            "--node" => node = Some(value.parse().map_err(bad)?),
            "--broadcast-address" => broadcast = Some(value.parse().map_err(bad)?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let listen = listen.ok_or("--listen is required")?;
    let node = node.ok_or("--node is required")?;
    // The node's address is what its peers know it by: the right value for
    // the `broadcast_address` the driver wants from system.local.
    let broadcast_address = broadcast.unwrap_or(node.ip());
    Ok((
        listen,
        Config {
            node,
            broadcast_address,
        },
    ))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let (listen, config) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("kask-cql-relay: {e}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("kask-cql-relay: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "kask-cql-relay: listening on {listen}, forwarding to {}",
        config.node
    );
    match serve(listener, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kask-cql-relay: {e}");
            ExitCode::from(1)
        }
    }
}
