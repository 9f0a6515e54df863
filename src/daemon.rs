//! The `kask` daemon as a process: logging in two phases, the runtime, the
//! listening socket, Cassandra reached in the background with retries, the
//! pool state and its status socket, the watchdog, SIGHUP reloads, SIGTERM
//! (draining), and the exit code. The service itself is
//! [`crate::service::run`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, HttpConfig, StoreConfig};
use crate::http::server::{Certificate, Listener};
use crate::metrics::{Metrics, StorageMetrics};
use crate::pool::{self, Instance};
use crate::readiness::Readiness;
use crate::storage::cassandra::CassandraStore;
use crate::storage::deferred::Slot;
use crate::storage::{self, Store};
use crate::{logging, service, systemd};

/// How the process ends (sysexits.h), documented in kask(8) and `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Something failed at run time (the listener could not be bound ...).
    Failure = 1,
    /// The command line was wrong.
    Usage = 64,
    /// The configuration is invalid; the units do not restart on it.
    Config = 78,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// Why the daemon could not run.
#[derive(Debug)]
pub struct Fatal {
    pub exit: Exit,
    pub message: String,
}

/// Longest wait between two attempts to reach Cassandra: when it comes
/// up, kask serves within this (plus one attempt).
const MAX_CONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// Connection attempts under way at once (see `connect_with_retry`).
const MAX_PARALLEL_ATTEMPTS: usize = 3;
/// While Cassandra stays unreachable, the same error is logged again at
/// most this long after the last time (the status line has the latest).
const CONNECT_LOG_EVERY: Duration = Duration::from_secs(60);

/// Runs the service on the configuration at `path` (which SIGHUP re-reads)
/// until SIGTERM or SIGINT. `instance` names the pool state (kask@NAME).
pub fn run(path: &Path, instance: &Instance) -> Exit {
    // Phase one: log before the configuration is known, so that its errors
    // reach the journal too.
    logging::init("kask", logging::stderr_is_journal());
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kask: {e}");
            log::error!(fatal = true; "invalid configuration, not starting: {e}");
            systemd::status(&format!("invalid configuration: {e}"));
            return Exit::Config;
        }
    };
    // Phase two: the configured name and level.
    logging::configure(&config.log.service_name, config.log.level);
    logging::set_format(config.log.format);
    for w in crate::config::unknown_key_warnings(&config, path) {
        log::warn!("{w}");
    }
    log::info!(
        "kask {} starting with {}",
        env!("CARGO_PKG_VERSION"),
        path.display()
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log::error!(fatal = true; "cannot start the runtime: {e}");
            return Exit::Failure;
        }
    };
    match runtime.block_on(serve(path.to_owned(), config, instance)) {
        Ok(()) => Exit::Ok,
        Err(f) => {
            eprintln!("kask: {}", f.message);
            log::error!(fatal = true; "{}", f.message);
            systemd::status(&f.message);
            f.exit
        }
    }
}

/// Binds first (so that a taken port fails at once), installs the signal
/// handlers, reads the pool state, says READY, and serves at once; the
/// store connects to Cassandra in the background (503 until it has).
async fn serve(path: PathBuf, config: Config, instance: &Instance) -> Result<(), Fatal> {
    let listener = Listener::new(listen(&config.http).await?, server_tls(&config.http)?);
    let metrics = Arc::new(Metrics::with_query_timeout(config.store.query_timeout));
    // Signals first: SIGHUP or SIGTERM while Cassandra is away must not
    // kill the process by their default action.
    let readiness = Arc::new(Readiness::default());
    let stop = stop_signal(readiness.clone());
    spawn_reloader(path, config.clone(), listener.certificate());
    spawn_watchdog();

    let state_file = instance.state_file();
    let (pooled, error) = pool::read_state(&state_file);
    if let Some(e) = error {
        log::error!("pool state: {e}");
    }
    readiness.set_pooled(pooled);
    let target = format!("{}:{}", config.store.hosts.join(","), config.store.port);
    let status = Arc::new(StatusLine::new(
        service::serving(&config, &listener),
        pooled,
        format!("waiting for Cassandra at {target}"),
    ));
    systemd::ready(&status.text());
    if !pooled {
        log::info!("starting depooled ({})", state_file.display());
    }

    let (store, slot) = storage::deferred::deferred(format!("connecting to Cassandra at {target}"));
    let store = Arc::new(store);
    tokio::spawn(pool::watch(state_file, readiness.clone(), {
        let status = status.clone();
        move |pooled| status.set_pooled(pooled)
    }));
    let socket = instance.socket();
    match pool::serve_status(&socket, instance.unit(), readiness.clone(), {
        let store = store.clone();
        move || store.can_serve()
    }) {
        Ok(task) => {
            tokio::spawn(task);
        }
        // Outside systemd (no RUNTIME_DIRECTORY) there is often no
        // /run/kask: expected, so not a warning.
        Err(e) => {
            let msg = format!(
                "no status socket at {}: {e}; `kask status` and `kask depool --wait` cannot see this process",
                socket.display()
            );
            if std::env::var_os("RUNTIME_DIRECTORY").is_some() {
                log::warn!("{msg}");
            } else {
                log::info!("{msg}");
            }
        }
    }
    tokio::spawn(connect_with_retry(
        config.store.clone(),
        metrics.storage.clone(),
        slot,
        status,
    ));
    service::serve(&config, store, metrics, readiness, listener, stop).await;
    log::info!("stopped");
    Ok(())
}

/// The `STATUS=` line: where kask serves, whether it is pooled, and where
/// Cassandra stands.
struct StatusLine {
    serving: String,
    state: Mutex<(bool, String)>,
}

impl StatusLine {
    fn new(serving: String, pooled: bool, cassandra: String) -> StatusLine {
        StatusLine {
            serving,
            state: Mutex::new((pooled, cassandra)),
        }
    }

    fn text(&self) -> String {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "{}; {}; {}",
            self.serving,
            if state.0 { "pooled" } else { "depooled" },
            state.1
        )
    }

    fn set_pooled(&self, pooled: bool) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 = pooled;
        systemd::status(&self.text());
    }

    fn set_cassandra(&self, cassandra: String) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = cassandra;
        systemd::status(&self.text());
    }
}

/// The listening socket: the one systemd passed, or our own.
async fn listen(cfg: &HttpConfig) -> Result<TcpListener, Fatal> {
    let fail = |message: String| Fatal {
        exit: Exit::Failure,
        message,
    };
    if let Some(l) =
        systemd::activated_listener().map_err(|e| fail(format!("socket activation: {e}")))?
    {
        let l = TcpListener::from_std(l).map_err(|e| fail(format!("socket activation: {e}")))?;
        if let Ok(addr) = l.local_addr() {
            let configured_ip = match cfg.listen_address.as_str() {
                "localhost" => Some(std::net::IpAddr::from([127, 0, 0, 1])),
                a => a.parse().ok(),
            };
            if addr.port() != cfg.listen_port || configured_ip.is_some_and(|ip| ip != addr.ip()) {
                log::warn!(
                    "serving on {addr}, the socket systemd passed; the config's {}:{} is not used (make the socket unit's ListenStream= agree)",
                    cfg.listen_address,
                    cfg.listen_port
                );
            }
        }
        return Ok(l);
    }
    TcpListener::bind((cfg.listen_address.as_str(), cfg.listen_port)).await.map_err(|e| {
        fail(format!(
            "cannot listen on {}:{}: {e} (check listen_address and listen_port, and that no other service uses the port)",
            cfg.listen_address, cfg.listen_port
        ))
    })
}

fn server_tls(cfg: &HttpConfig) -> Result<Option<rustls::ServerConfig>, Fatal> {
    match &cfg.tls {
        None => Ok(None),
        Some(t) => crate::tls::server_config(&t.cert, &t.key, t.client_ca.as_deref())
            .map(Some)
            .map_err(|e| Fatal {
                exit: Exit::Config,
                message: format!("tls: {e}"),
            }),
    }
}

/// Connects in the background and fills the store's slot once connected.
/// Until then requests get 503, and the status line and the log say why.
/// A new attempt starts every second at most (sooner at first), whether or
/// not the previous one has ended: an attempt that caught Cassandra while
/// it was starting can hang until its own timeouts, and must not hold back
/// the one that would succeed (at most [`MAX_PARALLEL_ATTEMPTS`] at once).
async fn connect_with_retry(
    cfg: StoreConfig,
    metrics: StorageMetrics,
    slot: Slot<CassandraStore>,
    status: Arc<StatusLine>,
) {
    let mut delay = Duration::from_millis(250);
    let target = format!("{}:{}", cfg.hosts.join(","), cfg.port);
    let mut logged: Option<(String, Instant, Duration)> = None;
    let mut attempts = tokio::task::JoinSet::new();
    let mut next_start = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_start && attempts.len() < MAX_PARALLEL_ATTEMPTS {
            let (cfg, metrics) = (cfg.clone(), metrics.clone());
            attempts.spawn(async move { CassandraStore::connect(&cfg, metrics).await });
            next_start = tokio::time::Instant::now() + delay;
            delay = (delay * 2).min(MAX_CONNECT_BACKOFF);
        }
        let outcome = tokio::select! {
            Some(outcome) = attempts.join_next(), if !attempts.is_empty() => outcome,
            () = tokio::time::sleep_until(next_start) => continue,
        };
        let e = match outcome {
            Ok(Ok(store)) => {
                attempts.abort_all();
                log::info!(
                    "connected to Cassandra at {} with protocol v{}",
                    cfg.hosts.join(", "),
                    store.protocol_version()
                );
                slot.fill(store);
                status.set_cassandra(format!("connected to Cassandra at {target}"));
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("connection attempt ended abnormally: {e}"),
        };
        // Logged at once, then after 1 s, 2 s, 4 s ... up to once a
        // minute while the error stays the same (the status line always
        // has the latest).
        let again = logged
            .as_ref()
            .is_none_or(|(last, at, every)| *last != e || at.elapsed() >= *every);
        if again {
            log::warn!(
                "waiting for Cassandra at {target}: {e}; answering 503 until connected, retrying every {} s at most",
                MAX_CONNECT_BACKOFF.as_secs()
            );
            let every = match &logged {
                Some((last, _, every)) if *last == e => (*every * 2).min(CONNECT_LOG_EVERY),
                _ => Duration::from_secs(1),
            };
            logged = Some((e.clone(), Instant::now(), every));
        }
        slot.waiting(e.clone());
        let wait = next_start.saturating_duration_since(tokio::time::Instant::now());
        status.set_cassandra(format!(
            "waiting for Cassandra at {target}: {e}; retrying in {} ms",
            wait.as_millis()
        ));
    }
}

/// WATCHDOG=1 from a task on the serving runtime: a stuck runtime misses them.
fn spawn_watchdog() {
    if let Some(every) = systemd::watchdog_interval() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                systemd::watchdog_ping();
            }
        });
    }
}

/// SIGTERM or SIGINT: readiness fails (draining), tell systemd, then let
/// the server drain. The handlers are installed when this is called.
fn stop_signal(readiness: Arc<Readiness>) -> impl Future<Output = ()> {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => std::future::pending::<()>().await,
        }
        readiness.start_draining();
        log::info!("stopping: no new connections; finishing requests in flight");
        systemd::stopping("stopping: finishing requests in flight");
    }
}

/// SIGHUP: re-read the file; apply what can change live (log level and
/// service name, the server's TLS certificate); refuse an invalid file and
/// keep the running configuration.
fn spawn_reloader(path: PathBuf, mut current: Config, certificate: Option<Certificate>) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            systemd::reloading();
            match Config::load(&path) {
                Err(e) => {
                    log::error!("reload refused, the running configuration stays in force: {e}");
                    systemd::ready(&format!("reload refused: {e}"));
                }
                Ok(new) => {
                    for w in crate::config::unknown_key_warnings(&new, &path) {
                        log::warn!("{w}");
                    }
                    logging::configure(&new.log.service_name, new.log.level);
                    logging::set_format(new.log.format);
                    let mut outcome = "configuration reloaded".to_string();
                    if let (Some(certificate), Some(_)) = (&certificate, &new.http.tls) {
                        match server_tls(&new.http) {
                            Ok(Some(c)) => certificate.replace(c),
                            Ok(None) => {}
                            Err(e) => {
                                log::error!(
                                    "reload: keeping the old TLS certificate: {}",
                                    e.message
                                );
                                outcome = format!(
                                    "configuration reloaded, TLS certificate kept: {}",
                                    e.message
                                );
                            }
                        }
                    }
                    let restart = current.restart_needed(&new);
                    if !restart.is_empty() {
                        log::warn!(
                            "reload: changes to {} take effect after a restart",
                            restart.join(", ")
                        );
                    }
                    log::info!("{outcome} from {}", path.display());
                    systemd::ready(&outcome);
                    current = new;
                }
            }
        }
    });
}
