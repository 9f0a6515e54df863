//! Logging: JSON lines as the reference writes them, or native journal
//! entries under systemd.
//!
//! JSON lines carry, in this order, `msg`, `appname`, `time` (RFC 3339),
//! `level` (`DEBUG|INFO|WARNING|ERROR|FATAL`) and, on request-scoped lines,
//! `request_id`. Journal entries carry `MESSAGE`, `PRIORITY`,
//! `SYSLOG_IDENTIFIER` (the service name), `LEVEL` and `REQUEST_ID`; with
//! `log_format: json` their `MESSAGE` is the JSON line itself (with `cee`,
//! behind rsyslog's `@cee: ` cookie), so that rsyslog can forward it to
//! Logstash as fields (docs/logging.md).
//!
//! Logging starts in two phases: [`init`] before the configuration is read
//! (so configuration errors are logged too), [`configure`] once it is known
//! and again on reload. Request-scoped lines pass the id as a key-value:
//! `log::error!(request_id = id; "...")`. Fatal lines add `fatal = true`.

use std::io::Write;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::config::{LogFormat, LogLevel};
use crate::json::push_json_string;

/// The id logged for requests without an `X-Request-ID` header.
pub const NO_REQUEST_ID: &str = "00000000-0000-0000-0000-000000000000";

struct Logger {
    sink: Sink,
    appname: RwLock<String>,
    fatal_only: std::sync::atomic::AtomicBool,
    /// [`LogFormat`] as a number, for the journal's `MESSAGE`.
    format: std::sync::atomic::AtomicU8,
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
                    let mut line = json_line(
                        record,
                        &logger.appname.read().unwrap(),
                        &buf.timestamp_millis().to_string(),
                    );
                    line.push('\n');
                    buf.write_all(line.as_bytes())
                })
                .build(),
        )
    };
    let logger: &'static Logger = Box::leak(Box::new(Logger {
        sink,
        appname: RwLock::new(appname.to_string()),
        fatal_only: Default::default(),
        format: Default::default(),
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

/// Applies `log_format` (at start and on reload).
pub fn set_format(format: LogFormat) {
    if let Some(logger) = LOGGER.get() {
        logger
            .format
            .store(format as u8, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One line as the reference writes it, without the newline: `msg`,
/// `appname`, `time`, `level` and, on request-scoped lines, `request_id`.
fn json_line(record: &Record, appname: &str, time: &str) -> String {
    let mut line = String::with_capacity(160);
    line.push_str("{\"msg\":");
    push_json_string(&mut line, &record.args().to_string());
    line.push_str(",\"appname\":");
    push_json_string(&mut line, appname);
    line.push_str(",\"time\":\"");
    line.push_str(time);
    line.push_str("\",\"level\":\"");
    line.push_str(level_name(record));
    line.push('"');
    if let Some(id) = record.key_values().get("request_id".into()) {
        line.push_str(",\"request_id\":");
        push_json_string(&mut line, &id.to_string());
    }
    line.push('}');
    line
}

/// The journal's `MESSAGE` in each format.
fn journal_message(record: &Record, appname: &str, format: u8, now: SystemTime) -> String {
    let json = || json_line(record, appname, &rfc3339_millis(now));
    match format {
        f if f == LogFormat::Json as u8 => format!("MESSAGE={}", json()),
        f if f == LogFormat::Cee as u8 => format!("MESSAGE=@cee: {}", json()),
        _ => format!("MESSAGE={}", record.args()),
    }
}

/// `2026-12-03T07:05:27.123Z`, as env_logger writes the JSON lines' `time`.
fn rfc3339_millis(t: SystemTime) -> String {
    match jiff::Timestamp::try_from(t) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Failed requests (Cassandra errors and timeouts, each a 500): at most
/// [`FAILED_REQUEST_LINES`] lines per [`FAILED_REQUEST_WINDOW`]; the rest are
/// counted and the count logged once the window ends. A 23 s outage used to
/// write close to a million lines; `http_requests_total{code="500"}` still
/// counts every one.
pub static FAILED_REQUESTS: Throttle = Throttle::new(
    "failed requests",
    FAILED_REQUEST_WINDOW,
    FAILED_REQUEST_LINES,
);
/// See [`FAILED_REQUESTS`].
pub const FAILED_REQUEST_WINDOW: Duration = Duration::from_secs(5);
/// See [`FAILED_REQUESTS`].
pub const FAILED_REQUEST_LINES: u32 = 10;

/// Limits one kind of log line to `max` per `window`. Lines held back are
/// counted, and the count is logged once, when the window ends (or, outside
/// a tokio runtime, with the next line let through).
pub struct Throttle {
    what: &'static str,
    window: Duration,
    max: u32,
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    /// When the current window began; `None` before the first line.
    start: Option<Instant>,
    logged: u32,
    held: u64,
    flush_scheduled: bool,
}

impl Throttle {
    pub const fn new(what: &'static str, window: Duration, max: u32) -> Throttle {
        Throttle {
            what,
            window,
            max,
            state: Mutex::new(ThrottleState {
                start: None,
                logged: 0,
                held: 0,
                flush_scheduled: false,
            }),
        }
    }

    /// Whether to log this line now. A line held back is counted.
    pub fn admit(&'static self) -> bool {
        let (admit, report, schedule) = self.decide(Instant::now());
        if let Some(n) = report {
            self.report(n);
        }
        if let Some(at) = schedule {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(async move {
                        tokio::time::sleep_until(at.into()).await;
                        self.flush();
                    });
                }
                Err(_) => self.state.lock().unwrap().flush_scheduled = false,
            }
        }
        admit
    }

    /// The bookkeeping of [`Throttle::admit`] at `now`: whether to log, a
    /// count of lines held back in an earlier window not yet reported, and
    /// when to report this window's, if a report must be scheduled.
    fn decide(&self, now: Instant) -> (bool, Option<u64>, Option<Instant>) {
        let mut s = self.state.lock().unwrap();
        let mut report = None;
        if s.start.is_none_or(|start| now >= start + self.window) {
            if s.held > 0 && !s.flush_scheduled {
                report = Some(std::mem::take(&mut s.held));
            }
            s.start = Some(now);
            s.logged = 0;
        }
        if s.logged < self.max {
            s.logged += 1;
            return (true, report, None);
        }
        s.held += 1;
        let start = s.start.unwrap_or(now);
        let schedule = (!s.flush_scheduled).then(|| {
            s.flush_scheduled = true;
            start + self.window
        });
        (false, report, schedule)
    }

    /// The end of a window with lines held back.
    fn flush(&self) {
        let held = {
            let mut s = self.state.lock().unwrap();
            s.flush_scheduled = false;
            std::mem::take(&mut s.held)
        };
        if held > 0 {
            self.report(held);
        }
    }

    fn report(&self, held: u64) {
        log::error!(
            "{held} more {} not logged one by one (at most {} lines per {} s; the metrics count every one)",
            self.what,
            self.max,
            self.window.as_secs()
        );
    }
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
                let appname = self.appname.read().unwrap().clone();
                let format = self.format.load(std::sync::atomic::Ordering::Relaxed);
                let message = journal_message(record, &appname, format, SystemTime::now());
                let ident = format!("SYSLOG_IDENTIFIER={appname}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn throttle_lets_the_first_lines_of_a_window_through_and_counts_the_rest() {
        let t = Throttle::new("failed requests", Duration::from_secs(5), 3);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(t.decide(at(0)), (true, None, None));
        assert_eq!(t.decide(at(1)), (true, None, None));
        assert_eq!(t.decide(at(2)), (true, None, None));
        // The fourth is held back, and the report of the window scheduled
        // for its end, once.
        assert_eq!(t.decide(at(3)), (false, None, Some(at(5000))));
        assert_eq!(t.decide(at(4)), (false, None, None));
        assert_eq!(t.state.lock().unwrap().held, 2);
        // The scheduled report says 2 and starts counting afresh.
        t.flush();
        assert_eq!(t.state.lock().unwrap().held, 0);
        // A new window lets lines through again.
        assert_eq!(t.decide(at(5000)), (true, None, None));
        // Without a scheduled report (no runtime), the count comes with the
        // first line of the next window.
        for _ in 0..2 {
            t.decide(at(5001));
        }
        for ms in [5002, 5003] {
            assert_eq!(t.decide(at(ms)), (false, None, Some(at(10_000))));
            // What admit() does when it cannot schedule.
            t.state.lock().unwrap().flush_scheduled = false;
        }
        assert_eq!(t.decide(at(10_002)), (true, Some(2), None));
    }

    fn with_record<T>(request_id: Option<&str>, f: impl FnOnce(&Record) -> T) -> T {
        let kvs: Vec<(&str, &str)> = request_id
            .map(|id| ("request_id", id))
            .into_iter()
            .collect();
        let args = format_args!("GET /v1/k: \"quoted\"");
        let record = Record::builder()
            .level(Level::Error)
            .args(args)
            .key_values(&kvs)
            .build();
        f(&record)
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
        assert_eq!(rfc3339_millis(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(at(951_782_400, 7)),
            "2000-02-29T00:00:00.007Z"
        );
        assert_eq!(
            rfc3339_millis(at(1_796_281_527, 123)),
            "2026-12-03T07:05:27.123Z"
        );
        assert_eq!(
            rfc3339_millis(at(4_107_542_399, 999)),
            "2100-02-28T23:59:59.999Z"
        );
    }

    #[test]
    fn journal_message_in_each_format() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_281_527);
        let json = r#"{"msg":"GET /v1/k: \"quoted\"","appname":"sessions","time":"2026-12-03T07:05:27.000Z","level":"ERROR","request_id":"abc-1"}"#;
        with_record(Some("abc-1"), |r| {
            assert_eq!(
                journal_message(r, "sessions", LogFormat::Auto as u8, now),
                "MESSAGE=GET /v1/k: \"quoted\""
            );
            assert_eq!(
                journal_message(r, "sessions", LogFormat::Json as u8, now),
                format!("MESSAGE={json}")
            );
            assert_eq!(
                journal_message(r, "sessions", LogFormat::Cee as u8, now),
                format!("MESSAGE=@cee: {json}")
            );
        });
        with_record(None, |r| {
            assert!(!journal_message(r, "kask", LogFormat::Json as u8, now).contains("request_id"));
        });
    }
}
