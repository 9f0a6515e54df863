//! The `kask` daemon as a process: logging in two phases, the runtime, the
//! listening socket, Cassandra reached with retries, the watchdog, SIGHUP
//! reloads, SIGTERM, and the exit code. The service itself is
//! [`crate::service::run`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, HttpConfig, StoreConfig};
use crate::http::server::{Certificate, Listener};
use crate::metrics::{Metrics, StorageMetrics};
use crate::storage::cassandra::CassandraStore;
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

/// Longest wait between two attempts to reach Cassandra at startup.
const MAX_CONNECT_BACKOFF: Duration = Duration::from_secs(30);

/// Runs the service on the configuration at `path` (which SIGHUP re-reads)
/// until SIGTERM or SIGINT.
pub fn run(path: &Path) -> Exit {
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
    match runtime.block_on(serve(path.to_owned(), config)) {
        Ok(()) => Exit::Ok,
        Err(f) => {
            eprintln!("kask: {}", f.message);
            log::error!(fatal = true; "{}", f.message);
            systemd::status(&f.message);
            f.exit
        }
    }
}

/// Binds first (so that a taken port fails at once), then reaches
/// Cassandra, then serves.
async fn serve(path: PathBuf, config: Config) -> Result<(), Fatal> {
    let listener = Listener::new(listen(&config.http).await?, server_tls(&config.http)?);
    let metrics = Arc::new(Metrics::with_query_timeout(config.store.query_timeout));
    let mut stop = std::pin::pin!(stop_signal());
    let store = tokio::select! {
        store = connect_with_retry(&config.store, metrics.storage.clone()) => store,
        () = &mut stop => {
            log::info!("stopped before Cassandra was reached");
            return Ok(());
        }
    };
    log::info!(
        "connected to Cassandra at {} with protocol v{}",
        config.store.hosts.join(", "),
        store.protocol_version()
    );
    spawn_watchdog();
    spawn_reloader(path, config.clone(), listener.certificate());
    service::run(&config, store, metrics, listener, stop).await;
    log::info!("stopped");
    Ok(())
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

async fn connect_with_retry(cfg: &StoreConfig, metrics: StorageMetrics) -> CassandraStore {
    let mut delay = Duration::from_secs(1);
    let target = format!("{}:{}", cfg.hosts.join(","), cfg.port);
    loop {
        systemd::status(&format!("connecting to Cassandra at {target}"));
        match CassandraStore::connect(cfg, metrics.clone()).await {
            Ok(store) => return store,
            Err(e) => {
                let msg = format!(
                    "waiting for Cassandra at {target}: {e}, retrying in {}s",
                    delay.as_secs()
                );
                log::warn!("{msg}");
                systemd::status(&msg);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_CONNECT_BACKOFF);
            }
        }
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

/// SIGTERM or SIGINT: tell systemd, then let the server drain.
fn stop_signal() -> impl Future<Output = ()> {
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
