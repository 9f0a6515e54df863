//! Logging: JSON lines as the reference writes them, or native journal
//! entries under systemd.
//!
//! JSON lines carry, in this order, `msg`, `appname`, `time` (RFC 3339),
//! `level` (`DEBUG|INFO|WARNING|ERROR|FATAL`) and, on request-scoped lines,
//! `request_id`. Journal entries carry `MESSAGE`, `PRIORITY`,
//! `SYSLOG_IDENTIFIER` (the service name), `LEVEL` and `REQUEST_ID`.
//!
//! Logging starts in two phases: [`init`] before the configuration is read
//! (so configuration errors are logged too), [`configure`] once it is known
//! and again on reload. Request-scoped lines pass the id as a key-value:
//! `log::error!(request_id = id; "...")`. Fatal lines add `fatal = true`.

use std::io::Write;
use std::sync::{OnceLock, RwLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::config::LogLevel;
use crate::json::push_json_string;

/// The id logged for requests without an `X-Request-ID` header.
pub const NO_REQUEST_ID: &str = "00000000-0000-0000-0000-000000000000";

struct Logger {
    sink: Sink,
    appname: RwLock<String>,
    fatal_only: std::sync::atomic::AtomicBool,
}

enum Sink {
    Json(env_logger::Logger),
    Journal,
}

static LOGGER: OnceLock<&'static Logger> = OnceLock::new();

/// Installs the process logger. `journal` selects native journal entries.
pub fn init(appname: &str, journal: bool) {
    let sink = if journal {
        Sink::Journal
    } else {
        Sink::Json(
            env_logger::Builder::new()
                .filter_level(LevelFilter::Trace)
                .target(env_logger::Target::Stdout)
                .format(|buf, record| {
                    let logger = LOGGER.get().expect("logger installed");
                    let mut line = String::with_capacity(160);
                    line.push_str("{\"msg\":");
                    push_json_string(&mut line, &record.args().to_string());
                    line.push_str(",\"appname\":");
                    push_json_string(&mut line, &logger.appname.read().unwrap());
                    line.push_str(",\"time\":\"");
                    line.push_str(&buf.timestamp_millis().to_string());
                    line.push_str("\",\"level\":\"");
                    line.push_str(level_name(record));
                    line.push('"');
                    if let Some(id) = record.key_values().get("request_id".into()) {
                        line.push_str(",\"request_id\":");
                        push_json_string(&mut line, &id.to_string());
                    }
                    line.push_str("}\n");
                    buf.write_all(line.as_bytes())
                })
                .build(),
        )
    };
    let logger: &'static Logger = Box::leak(Box::new(Logger {
        sink,
        appname: RwLock::new(appname.to_string()),
        fatal_only: Default::default(),
    }));
    if LOGGER.set(logger).is_ok() {
        let _ = log::set_logger(logger);
        log::set_max_level(LevelFilter::Info);
    }
}

/// Applies the configured name and level (at start and on reload).
pub fn configure(appname: &str, level: LogLevel) {
    if let Some(logger) = LOGGER.get() {
        *logger.appname.write().unwrap() = appname.to_string();
        logger.fatal_only.store(
            level == LogLevel::Fatal,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    log::set_max_level(match level {
        LogLevel::Debug => LevelFilter::Debug,
        LogLevel::Info => LevelFilter::Info,
        LogLevel::Warning => LevelFilter::Warn,
        LogLevel::Error | LogLevel::Fatal => LevelFilter::Error,
    });
}

/// Whether stderr is connected to the journal (systemd sets
/// `JOURNAL_STREAM=<dev>:<inode>` for it).
pub fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    use std::os::fd::AsFd;
    match nix::sys::stat::fstat(std::io::stderr().as_fd()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

fn is_fatal(record: &Record) -> bool {
    record.key_values().get("fatal".into()).is_some()
}

fn level_name(record: &Record) -> &'static str {
    if is_fatal(record) {
        return "FATAL";
    }
    match record.level() {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug | Level::Trace => "DEBUG",
    }
}

fn priority(record: &Record) -> &'static str {
    if is_fatal(record) {
        return "PRIORITY=2";
    }
    match record.level() {
        Level::Error => "PRIORITY=3",
        Level::Warn => "PRIORITY=4",
        Level::Info => "PRIORITY=6",
        Level::Debug | Level::Trace => "PRIORITY=7",
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if self.fatal_only.load(std::sync::atomic::Ordering::Relaxed) && !is_fatal(record) {
            return;
        }
        match &self.sink {
            Sink::Json(l) => l.log(record),
            Sink::Journal => {
                let message = format!("MESSAGE={}", record.args());
                let ident = format!("SYSLOG_IDENTIFIER={}", self.appname.read().unwrap());
                let level = format!("LEVEL={}", level_name(record));
                let mut fields = vec![
                    message.as_str(),
                    priority(record),
                    ident.as_str(),
                    level.as_str(),
                ];
                let id = record
                    .key_values()
                    .get("request_id".into())
                    .map(|v| format!("REQUEST_ID={v}"));
                if let Some(id) = &id {
                    fields.push(id);
                }
                let _ = systemd::journal::send(&fields);
            }
        }
    }

    fn flush(&self) {
        if let Sink::Json(l) = &self.sink {
            l.flush();
        }
    }
}
