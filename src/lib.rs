//! kask: a drop-in reimplementation of Wikimedia's Kask session store — an
//! HTTP key-value service with TTLs over Apache Cassandra — as a
//! systemd-native daemon.
//!
//! Data flows one way: request -> [`http::routes`] -> [`key`] ->
//! [`http::handlers`] -> [`storage`] -> Cassandra. Errors come back the same
//! way and become problem bodies once, in the handlers. The crate's surface
//! is [`run`], the front door that the daemon and the HTTP tests both call,
//! and the modules below marked public. `docs/ARCHITECTURE.md` walks startup,
//! one request, a reload and shutdown through these modules.
//!
//! | module | what it is for |
//! |---|---|
//! | [`cli`] | the command line, and the commands that are not the daemon |
//! | [`daemon`] | the process: logging phases, socket, signals, reload, exit codes |
//! | [`service`] | the front door: the API over a store, on a listener, until shutdown |
//! | [`config`] | the YAML contract: defaults, parsing, validation, slices per layer |
//! | [`key`] | `key::parse`, the only way to make a [`key::Key`] |
//! | [`readiness`] | ready or not, and why: pooled, store, draining; requests in flight |
//! | [`pool`] | pool/depool: the state file, its watcher, the status socket, the commands |
//! | [`http`] | routes, handlers, problem bodies, OpenAPI, the accept loop |
//! | [`storage`] | the `Store` trait (for tests) and the Cassandra store |
//! | [`metrics`] | the Prometheus registry and each layer's handle |
//! | [`logging`] | JSON lines or the journal; request ids |
//! | [`json`] | JSON strings as Go writes them (problems, `/healthz`, logs) |
//! | [`systemd`] | readiness, status, watchdog, socket activation |
//! | [`tls`] | server and client TLS configurations |

pub mod cli;
pub mod config;
mod daemon;
pub mod http;
mod json;
pub mod key;
pub mod logging;
pub mod metrics;
pub mod pool;
pub mod readiness;
mod service;
pub mod storage;
mod systemd;
pub mod tls;

pub use daemon::Exit;
pub use service::run;
