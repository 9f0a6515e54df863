//! The `kask` command: a thin front end over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kask::cli::{self, Command, EXIT_CONFIG, EXIT_FAILURE, EXIT_USAGE};
use kask::config::{Config, DEFAULT_CONFIG_PATH};
use kask::{logging, service, systemd};

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kask: {e}\n(kask --help lists the options)");
            return code(EXIT_USAGE);
        }
    };
    match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            code(0)
        }
        Command::Version => {
            println!("kask {}", env!("CARGO_PKG_VERSION"));
            code(0)
        }
        Command::Check { config } => match load(&config) {
            Ok(c) => {
                for w in kask::config::unknown_key_warnings(&c, &config) {
                    eprintln!("kask: warning: {w}");
                }
                println!("kask: {}: configuration is valid", config.display());
                code(0)
            }
            Err(c) => code(c),
        },
        Command::PrintSchema {
            config,
            replication,
        } => print_schema(config, replication),
        Command::PrintOpenapi { config } => {
            let cfg = match optional_config(config) {
                Ok(c) => c,
                Err(c) => return code(c),
            };
            let (doc, warning) =
                kask::http::openapi::load(cfg.http.openapi_spec.as_deref(), &cfg.http.base_uri);
            if let Some(w) = warning {
                eprintln!("kask: warning: {w}");
            }
            print!("{}", String::from_utf8_lossy(&doc));
            code(0)
        }
        Command::Run { config } => run(config),
    }
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(c as u8)
}

/// Loads a configuration, printing the one-line error an operator needs.
fn load(path: &Path) -> Result<Config, i32> {
    Config::load(path).map_err(|e| {
        eprintln!("kask: {e}");
        EXIT_CONFIG
    })
}

/// The given file, or the default one if it exists, or built-in defaults.
fn optional_config(path: Option<PathBuf>) -> Result<Config, i32> {
    match path {
        Some(p) => load(&p),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => load(Path::new(DEFAULT_CONFIG_PATH)),
        None => Ok(Config::parse("", Path::new("(defaults)")).expect("the defaults are valid")),
    }
}

fn print_schema(config: Option<PathBuf>, replication: Option<String>) -> ExitCode {
    let cfg = match optional_config(config) {
        Ok(c) => c,
        Err(c) => return code(c),
    };
    let replication = match replication {
        Some(r) => match cli::parse_replication(&r) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kask: {e}");
                return code(EXIT_USAGE);
            }
        },
        None => vec![(
            cfg.store
                .local_dc
                .clone()
                .unwrap_or_else(|| "datacenter1".into()),
            3,
        )],
    };
    print!(
        "{}",
        kask::storage::cassandra::schema(&cfg.store, &replication)
    );
    code(0)
}

fn run(path: PathBuf) -> ExitCode {
    // Phase one: log before the configuration is known, so that its errors
    // reach the journal too.
    logging::init("kask", logging::stderr_is_journal());
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kask: {e}");
            log::error!(fatal = true; "invalid configuration, not starting: {e}");
            systemd::status(&format!("invalid configuration: {e}"));
            return code(EXIT_CONFIG);
        }
    };
    // Phase two: the configured name and level.
    logging::configure(&config.log.service_name, config.log.level);
    for w in kask::config::unknown_key_warnings(&config, &path) {
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
            return code(EXIT_FAILURE);
        }
    };
    match runtime.block_on(service::run(path, config)) {
        Ok(()) => code(0),
        Err(f) => {
            eprintln!("kask: {}", f.message);
            log::error!(fatal = true; "{}", f.message);
            systemd::status(&f.message);
            code(f.code)
        }
    }
}
