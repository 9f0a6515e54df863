//! The command line: what `kask` was asked to do, and the commands that
//! are not the daemon (checking a configuration, printing the schema or the
//! OpenAPI spec). Go-style single-dash long flags are accepted too
//! (`-config FILE`), as the reference's operators type them.

use std::path::{Path, PathBuf};

mod schema;

use crate::config::{Config, UnknownKeys, DEFAULT_CONFIG_PATH};
use crate::daemon::{self, Exit};
use crate::pool::{self, Drain, Instance};

pub(crate) const USAGE: &str = "\
kask — a drop-in Kask session store (HTTP key-value with TTL over Apache Cassandra)

Usage:
  kask [--config FILE]                  run the service
  kask --check-config [--strict] [FILE] validate a configuration; no network
  kask --print-schema [--config FILE] [--replication DC:RF[,DC:RF...]]
                                        print the CQL that creates the keyspace, the table
                                        and kask's least-privilege role
  kask --print-openapi [--config FILE]  print the OpenAPI spec served at /openapi
  kask depool [--instance NAME] [--wait [--idle SECONDS] [--timeout SECONDS]]
                                        take an instance out of service: /readyz fails,
                                        requests are still served; --wait returns once no
                                        request came for --idle seconds (default 5), or
                                        fails after --timeout (default 60)
  kask pool [--instance NAME]           put it back in service
  kask status [--instance NAME]         pooled, ready, requests in flight
  kask --version | --help

Options:
  --config FILE, -config FILE  the YAML configuration (default: /etc/kask/config.yaml)
  --strict                     with --check-config: refuse unknown keys (for Puppet's
                               validate_cmd), naming the nearest known key
  --replication LIST           data centres and replication factors for --print-schema
                               (default: cassandra.local_dc, or datacenter1, with 3)
  --instance NAME              the instance kask@NAME (default: kask.service); for the
                               daemon, the name of its pool state
                               (/var/lib/kask/kask@NAME.pool); see docs/pool-depool.md

Exit codes: 0 ok, 1 runtime failure, 64 usage error, 78 invalid configuration.
  (pool, depool, status: 1 if the daemon did not take the state, is not running
  for status, or did not drain within --timeout)
Logs: the journal under systemd, else JSON lines on stdout; errors: one line on stderr.
Signals: SIGTERM/SIGINT stop gracefully; SIGHUP reloads the configuration.
See kask(8).
";

/// Runs the command the arguments (after the program name) ask for.
pub fn main<I: IntoIterator<Item = String>>(args: I) -> Exit {
    let command = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kask: {e}\n(kask --help lists the options)");
            return Exit::Usage;
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            Exit::Ok
        }
        Command::Version => {
            println!("kask {}", env!("CARGO_PKG_VERSION"));
            Exit::Ok
        }
        Command::Check { config, strict } => match load_checked(
            &config,
            match strict {
                true => UnknownKeys::Refuse,
                false => UnknownKeys::Warn,
            },
        ) {
            Ok(c) => {
                for w in crate::config::unknown_key_warnings(&c, &config) {
                    eprintln!("kask: warning: {w}");
                }
                println!("kask: {}: configuration is valid", config.display());
                Exit::Ok
            }
            Err(exit) => exit,
        },
        Command::PrintSchema {
            config,
            replication,
        } => print_schema(config, replication),
        Command::PrintOpenapi { config } => {
            let cfg = match optional_config(config) {
                Ok(c) => c,
                Err(exit) => return exit,
            };
            let (doc, warning) =
                crate::http::openapi::load(cfg.http.openapi_spec.as_deref(), &cfg.http.base_uri);
            if let Some(w) = warning {
                eprintln!("kask: warning: {w}");
            }
            print!("{}", String::from_utf8_lossy(&doc));
            Exit::Ok
        }
        Command::Run { config, instance } => daemon::run(&config, &instance),
        Command::Pool {
            instance,
            pooled,
            drain,
        } => report(pool::set(&instance, pooled, drain)),
        Command::Status { instance } => report(pool::status(&instance)),
    }
}

/// Prints a pool command's outcome: stdout and 0, or stderr and 1.
fn report(outcome: Result<String, String>) -> Exit {
    match outcome {
        Ok(text) => {
            println!("{}", text.trim_end());
            Exit::Ok
        }
        Err(text) => {
            eprintln!("{}", text.trim_end());
            Exit::Failure
        }
    }
}

/// Loads a configuration, printing the one-line error an operator needs.
fn load(path: &Path) -> Result<Config, Exit> {
    load_checked(path, UnknownKeys::Warn)
}

fn load_checked(path: &Path, unknown: UnknownKeys) -> Result<Config, Exit> {
    Config::load_checked(path, unknown).map_err(|e| {
        eprintln!("kask: {e}");
        Exit::Config
    })
}

/// The given file, or the default one if it exists, or built-in defaults.
fn optional_config(path: Option<PathBuf>) -> Result<Config, Exit> {
    match path {
        Some(p) => load(&p),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => load(Path::new(DEFAULT_CONFIG_PATH)),
        None => Ok(Config::parse("", Path::new("(defaults)")).expect("the defaults are valid")),
    }
}

fn print_schema(config: Option<PathBuf>, replication: Option<String>) -> Exit {
    let cfg = match optional_config(config) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let replication = match replication {
        Some(r) => match schema::parse_replication(&r) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kask: {e}");
                return Exit::Usage;
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
    print!("{}", schema::schema(&cfg.store, &replication));
    Exit::Ok
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Run {
        config: PathBuf,
        instance: Instance,
    },
    /// `kask pool` (pooled) and `kask depool`.
    Pool {
        instance: Instance,
        pooled: bool,
        drain: Option<Drain>,
    },
    Status {
        instance: Instance,
    },
    Check {
        config: PathBuf,
        /// `--strict`: unknown keys are errors.
        strict: bool,
    },
    PrintSchema {
        config: Option<PathBuf>,
        replication: Option<String>,
    },
    PrintOpenapi {
        config: Option<PathBuf>,
    },
    Version,
    Help,
}

/// Parses the arguments after the program name.
pub(crate) fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut config: Option<PathBuf> = None;
    let mut replication = None;
    let mut instance = Instance::default();
    let mut wait = false;
    let mut idle: Option<u64> = None;
    let mut timeout: Option<u64> = None;
    let mut mode: Option<&'static str> = None;
    let mut positional: Option<PathBuf> = None;
    let mut strict = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--flag=value` and `-flag=value`
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let name = flag.trim_start_matches('-');
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{what} needs a value"))
        };
        match (flag.starts_with('-'), name) {
            (true, "config" | "c") => config = Some(value("--config")?.into()),
            (true, "replication") => replication = Some(value("--replication")?),
            (true, "instance") => instance = Instance::parse(&value("--instance")?)?,
            (true, "wait") => wait = true,
            (true, "idle") => idle = Some(seconds("--idle", &value("--idle")?)?),
            (true, "timeout") => timeout = Some(seconds("--timeout", &value("--timeout")?)?),
            (true, "check-config") => set_mode(&mut mode, "check-config")?,
            (true, "strict") => strict = true,
            (true, "print-schema") => set_mode(&mut mode, "print-schema")?,
            (true, "print-openapi") => set_mode(&mut mode, "print-openapi")?,
            (true, "version" | "V") => return Ok(Command::Version),
            (true, "help" | "h") => return Ok(Command::Help),
            (true, _) => return Err(format!("unknown option {arg}")),
            (false, "pool") if mode.is_none() && positional.is_none() => {
                set_mode(&mut mode, "pool")?
            }
            (false, "depool") if mode.is_none() && positional.is_none() => {
                set_mode(&mut mode, "depool")?
            }
            (false, "status") if mode.is_none() && positional.is_none() => {
                set_mode(&mut mode, "status")?
            }
            (false, _) if positional.is_none() && mode.is_some() => positional = Some(arg.into()),
            (false, _) => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    if positional.is_some() && config.is_some() {
        return Err(
            "give the configuration file once, either as --config FILE or as the argument".into(),
        );
    }
    let pool_command = matches!(mode, Some("pool" | "depool" | "status"));
    if pool_command && (config.is_some() || positional.is_some()) {
        return Err(format!(
            "{} takes no configuration file: --instance NAME names the instance",
            mode.unwrap_or_default()
        ));
    }
    let config = config.or(positional);
    if strict && mode != Some("check-config") {
        return Err("--strict goes with --check-config".into());
    }
    if replication.is_some() && mode != Some("print-schema") {
        return Err("--replication goes with --print-schema".into());
    }
    if instance.0.is_some() && !(pool_command || mode.is_none()) {
        return Err("--instance goes with the daemon, pool, depool and status".into());
    }
    if (wait || idle.is_some() || timeout.is_some()) && mode != Some("depool") {
        return Err("--wait, --idle and --timeout go with depool".into());
    }
    if (idle.is_some() || timeout.is_some()) && !wait {
        return Err("--idle and --timeout go with --wait".into());
    }
    let default = || PathBuf::from(DEFAULT_CONFIG_PATH);
    Ok(match mode {
        None => Command::Run {
            config: config.unwrap_or_else(default),
            instance,
        },
        Some("pool") => Command::Pool {
            instance,
            pooled: true,
            drain: None,
        },
        Some("depool") => Command::Pool {
            instance,
            pooled: false,
            drain: wait.then(|| Drain {
                idle: std::time::Duration::from_secs(idle.unwrap_or(5)),
                timeout: std::time::Duration::from_secs(timeout.unwrap_or(60)),
            }),
        },
        Some("status") => Command::Status { instance },
        Some("check-config") => Command::Check {
            config: config.unwrap_or_else(default),
            strict,
        },
        Some("print-schema") => Command::PrintSchema {
            config,
            replication,
        },
        Some(_) => Command::PrintOpenapi { config },
    })
}

fn seconds(flag: &str, v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| format!("{flag} {v:?}: a whole number of seconds"))
}

fn set_mode(mode: &mut Option<&'static str>, m: &'static str) -> Result<(), String> {
    match mode {
        Some(old) if *old != m => Err(format!("--{old} and --{m} cannot be combined")),
        _ => {
            *mode = Some(m);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn config_flag_spellings() {
        for args in [
            &["--config", "/x"][..],
            &["-config", "/x"],
            &["--config=/x"],
            &["-config=/x"],
        ] {
            assert_eq!(
                p(args),
                Ok(Command::Run {
                    config: "/x".into(),
                    instance: Instance::default(),
                }),
                "{args:?}"
            );
        }
        assert_eq!(
            p(&[]),
            Ok(Command::Run {
                config: DEFAULT_CONFIG_PATH.into(),
                instance: Instance::default(),
            })
        );
    }

    #[test]
    fn modes() {
        assert_eq!(
            p(&["--check-config", "/x"]),
            Ok(Command::Check {
                config: "/x".into(),
                strict: false,
            })
        );
        assert_eq!(
            p(&["--check-config", "--config", "/x"]),
            Ok(Command::Check {
                config: "/x".into(),
                strict: false,
            })
        );
        for args in [
            &["--check-config", "--strict", "/x"][..],
            &["--strict", "--check-config", "/x"],
            &["-check-config", "-strict", "-config", "/x"],
        ] {
            assert_eq!(
                p(args),
                Ok(Command::Check {
                    config: "/x".into(),
                    strict: true,
                }),
                "{args:?}"
            );
        }
        assert!(p(&["--strict"]).is_err());
        assert!(p(&["--print-schema", "--strict"]).is_err());
        assert_eq!(
            p(&["--print-schema", "--config", "/x", "--replication", "a:3"]),
            Ok(Command::PrintSchema {
                config: Some("/x".into()),
                replication: Some("a:3".into())
            })
        );
        assert_eq!(p(&["--version"]), Ok(Command::Version));
        assert_eq!(p(&["-h"]), Ok(Command::Help));
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["stray"]).is_err());
        assert!(p(&["--config"]).is_err());
        assert!(p(&["--check-config", "--print-schema"]).is_err());
    }

    #[test]
    fn pool_commands() {
        let x = || Instance::parse("x").unwrap();
        assert_eq!(
            p(&["--config", "/etc/x/config.yaml", "--instance", "x"]),
            Ok(Command::Run {
                config: "/etc/x/config.yaml".into(),
                instance: x()
            })
        );
        assert_eq!(
            p(&["pool"]),
            Ok(Command::Pool {
                instance: Instance::default(),
                pooled: true,
                drain: None
            })
        );
        let Ok(Command::Pool {
            instance,
            pooled: false,
            drain: Some(d),
        }) = p(&[
            "depool",
            "--instance",
            "x",
            "--wait",
            "--idle",
            "2",
            "--timeout=30",
        ])
        else {
            panic!("depool --wait");
        };
        assert_eq!(instance, x());
        assert_eq!((d.idle.as_secs(), d.timeout.as_secs()), (2, 30));
        assert!(matches!(
            p(&["depool", "--wait"]),
            Ok(Command::Pool { drain: Some(d), .. }) if d.idle.as_secs() == 5 && d.timeout.as_secs() == 60
        ));
        assert_eq!(
            p(&["status", "--instance=x"]),
            Ok(Command::Status { instance: x() })
        );
        for bad in [
            &["pool", "--wait"][..],
            &["depool", "--idle", "3"],
            &["depool", "--wait", "--idle", "soon"],
            &["status", "--config", "/x"],
            &["pool", "depool"],
            &["--check-config", "--instance", "x"],
            &["depool", "--instance", "../etc"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
