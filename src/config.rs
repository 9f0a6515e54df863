//! The configuration contract: the YAML file Puppet renders from Hiera.
//!
//! The file is read verbatim (Puppet's `to_yaml`, so it starts with `---`).
//! Parsing happens once, here; the result is split into slices so that each
//! layer sees only what it needs: [`HttpConfig`] for the server, [`StoreConfig`]
//! for Cassandra, [`LogConfig`] for logging.
//!
//! Every error names the file, the line (when the key is in the file) and the
//! dotted key, so that an operator — or Puppet's `validate_cmd` — gets one
//! actionable line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where the service looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/kask/config.yaml";
/// `service_name`: the `appname` of every log line.
pub const DEFAULT_SERVICE_NAME: &str = "kask";
/// `base_uri`: where the key space is mounted.
pub const DEFAULT_BASE_URI: &str = "/v1/";
/// `listen_address`.
pub const DEFAULT_LISTEN_ADDRESS: &str = "localhost";
/// `listen_port`.
pub const DEFAULT_LISTEN_PORT: u16 = 8080;
/// `default_ttl`, in seconds: one day.
pub const DEFAULT_TTL_SECONDS: u32 = 86_400;
/// Cassandra refuses TTLs above 20 years; we refuse them at load time instead
/// of failing every write.
pub const MAX_TTL_SECONDS: i64 = 630_720_000;
/// `cassandra.hosts`.
pub const DEFAULT_CASSANDRA_HOST: &str = "localhost";
/// `cassandra.port`.
pub const DEFAULT_CASSANDRA_PORT: u16 = 9042;
/// `cassandra.keyspace`.
pub const DEFAULT_KEYSPACE: &str = "kask";
/// `cassandra.table`.
pub const DEFAULT_TABLE: &str = "values";
/// `cassandra.query_timeout_ms`.
pub const DEFAULT_QUERY_TIMEOUT_MS: u64 = 12_000;
/// `cassandra.connect_timeout_ms`.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// `max_value_bytes` (extension): the largest value a POST may store, 4 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: u64 = 4 * 1024 * 1024;
/// Upper bound for `max_value_bytes`: Cassandra's largest native frame.
pub const MAX_MAX_VALUE_BYTES: u64 = 256 * 1024 * 1024;
/// `shutdown_grace_seconds` (extension): how long in-flight requests may run
/// after SIGTERM.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 10;
/// The longest keyspace or table name Cassandra accepts.
pub const MAX_CQL_IDENTIFIER_LEN: usize = 48;

/// The whole, validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub log: LogConfig,
    pub http: HttpConfig,
    pub store: StoreConfig,
    /// Keys present in the file that this version does not know, dotted.
    /// The reference ignores them; we accept them too, but say so.
    pub unknown_keys: Vec<String>,
}

/// What logging needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub service_name: String,
    pub level: LogLevel,
}

/// What the HTTP layer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Normalised: always starts and ends with `/`.
    pub base_uri: String,
    pub listen_address: String,
    pub listen_port: u16,
    pub tls: Option<ServerTls>,
    pub max_value_bytes: u64,
    pub openapi_spec: Option<PathBuf>,
    pub shutdown_grace: Duration,
}

/// Server-side TLS (`tls.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Extension `tls.client_ca`: when set, clients must present a
    /// certificate signed by this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// What the storage layer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub hosts: Vec<String>,
    pub port: u16,
    pub keyspace: String,
    pub table: String,
    pub local_dc: Option<String>,
    pub query_timeout: Duration,
    pub connect_timeout: Duration,
    pub auth: Option<Credentials>,
    pub tls: Option<ClientTls>,
    /// Extension `cassandra.protocol_version`: 4 or 5; `None` negotiates (v5
    /// where the server lists it, as Cassandra 4.x and 5.x do, else v4).
    pub protocol_version: Option<u8>,
    /// `default_ttl` in seconds; 0 means no expiry.
    pub default_ttl: u32,
}

/// Cassandra password authentication.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// A string that never shows itself in logs or debug output.
#[derive(Clone, PartialEq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// TLS towards Cassandra (`cassandra.tls.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientTls {
    pub ca: PathBuf,
    /// Client certificate and key, for Cassandra's `require_client_auth`.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `enable_host_verification`: check the certificate's name against the
    /// configured host name. The chain is verified regardless.
    pub verify_hostname: bool,
}

/// `log_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(LogLevel::Debug),
            "info" => Some(LogLevel::Info),
            "warning" => Some(LogLevel::Warning),
            "error" => Some(LogLevel::Error),
            "fatal" => Some(LogLevel::Fatal),
            _ => None,
        }
    }
}

/// A configuration problem, rendered as one line:
/// `FILE:LINE: KEY: MESSAGE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: None,
            key: String::new(),
            message: format!("cannot read the configuration file: {e}"),
        })?;
        let config = Config::parse(&text, path)?;
        config.check_files(&text, path)?;
        Ok(config)
    }

    /// Every file the configuration names must be readable now: a missing
    /// certificate is a configuration error, found before the service runs.
    fn check_files(&self, text: &str, file: &Path) -> Result<(), ConfigError> {
        let mut files: Vec<(&str, &Path)> = Vec::new();
        if let Some(t) = &self.http.tls {
            files.push(("tls.cert", &t.cert));
            files.push(("tls.key", &t.key));
            if let Some(ca) = &t.client_ca {
                files.push(("tls.client_ca", ca));
            }
        }
        if let Some(t) = &self.store.tls {
            files.push(("cassandra.tls.ca", &t.ca));
            if let Some((c, k)) = &t.client_cert {
                files.push(("cassandra.tls.cert", c));
                files.push(("cassandra.tls.key", k));
            }
        }
        for (key, f) in &files {
            if let Err(e) = std::fs::File::open(f) {
                return Err(ConfigError {
                    file: file.to_owned(),
                    line: line_of(text, key),
                    key: key.to_string(),
                    message: format!("cannot read {}: {e}", f.display()),
                });
            }
        }
        // The files towards Cassandra must also be what they claim to be (a
        // CA, a certificate and its key), or every connection would fail.
        if let Some(t) = &self.store.tls {
            let cert = t
                .client_cert
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path()));
            if let Err(e) = crate::tls::client_config(&t.ca, cert, &[], t.verify_hostname) {
                let key = files
                    .iter()
                    .find(|(k, f)| k.starts_with("cassandra.") && e.path.as_deref() == Some(*f))
                    .map_or("cassandra.tls", |(k, _)| k);
                return Err(ConfigError {
                    file: file.to_owned(),
                    line: line_of(text, key),
                    key: key.to_string(),
                    message: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Validates YAML text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let mut unknown_keys = Vec::new();
        let raw: Raw = if is_empty_document(text) {
            Raw::default()
        } else {
            let de = serde_yaml::Deserializer::from_str(text);
            // Option fields show up as `?` segments in serde_ignored's paths.
            let mut record = |path: serde_ignored::Path<'_>| {
                unknown_keys.push(path.to_string().replace(".?", ""))
            };
            let ignored = serde_ignored::Deserializer::new(de, &mut record);
            serde_path_to_error::deserialize(ignored).map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner();
                let line = inner.location().map(|l| l.line());
                let message = yaml_message(&inner, &key);
                ConfigError {
                    file: file.to_owned(),
                    line,
                    key: if key == "." { String::new() } else { key },
                    message,
                }
            })?
        };
        let v = Validator { text, file };
        let mut config = v.validate(raw)?;
        config.unknown_keys = unknown_keys;
        Ok(config)
    }
}

fn is_empty_document(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// serde_yaml appends " at line N column M" to its messages; the line is
/// already in our prefix, so keep only the substance.
fn yaml_message(e: &serde_yaml::Error, key: &str) -> String {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => &msg[..],
    };
    let msg = msg
        .strip_prefix(key)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(msg);
    // Our internal struct names mean nothing to an operator.
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("struct Raw") {
        out.push_str(&rest[..i]);
        out.push_str("a mapping");
        rest =
            rest[i + "struct Raw".len()..].trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    }
    out.push_str(rest);
    out
}

// The file as written. Every field is optional; defaults and rules are
// applied by the validator so that each message can name its key and line.
#[derive(Deserialize, Default)]
struct Raw {
    service_name: Option<String>,
    base_uri: Option<String>,
    listen_address: Option<String>,
    listen_port: Option<i64>,
    default_ttl: Option<i64>,
    log_level: Option<String>,
    openapi_spec: Option<String>,
    tls: Option<RawServerTls>,
    cassandra: Option<RawCassandra>,
    max_value_bytes: Option<i64>,
    shutdown_grace_seconds: Option<i64>,
}

#[derive(Deserialize, Default)]
struct RawServerTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawCassandra {
    hosts: Option<Vec<String>>,
    port: Option<i64>,
    keyspace: Option<String>,
    table: Option<String>,
    local_dc: Option<String>,
    query_timeout_ms: Option<i64>,
    connect_timeout_ms: Option<i64>,
    authentication: Option<RawAuth>,
    tls: Option<RawClientTls>,
    protocol_version: Option<i64>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawClientTls {
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    enable_host_verification: Option<bool>,
}

struct Validator<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Validator<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: line_of(self.text, key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn port(&self, key: &str, v: Option<i64>, default: u16) -> Result<u16, ConfigError> {
        match v {
            None => Ok(default),
            Some(p) => u16::try_from(p)
                .map_err(|_| self.err(key, format!("{p} is not a TCP port (0-65535)"))),
        }
    }

    fn positive_ms(
        &self,
        key: &str,
        v: Option<i64>,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(Duration::from_millis(default)),
            Some(ms) if ms > 0 => Ok(Duration::from_millis(ms as u64)),
            Some(ms) => Err(self.err(
                key,
                format!("{ms} must be a positive number of milliseconds"),
            )),
        }
    }

    fn identifier(
        &self,
        key: &str,
        v: Option<String>,
        default: &str,
    ) -> Result<String, ConfigError> {
        let name = v.unwrap_or_else(|| default.to_string());
        let valid = !name.is_empty()
            && name.len() <= MAX_CQL_IDENTIFIER_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if valid {
            Ok(name)
        } else {
            Err(self.err(
                key,
                format!(
                    "{name:?} is not a valid Cassandra name (1-{MAX_CQL_IDENTIFIER_LEN} letters, digits or underscores)"
                ),
            ))
        }
    }

    /// Two keys that must be given together, or not at all.
    fn pair(
        &self,
        a: (&str, Option<String>),
        b: (&str, Option<String>),
    ) -> Result<Option<(String, String)>, ConfigError> {
        match (non_empty(a.1), non_empty(b.1)) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(self.err(b.0, format!("is required when {} is set", a.0))),
            (None, Some(_)) => Err(self.err(a.0, format!("is required when {} is set", b.0))),
        }
    }

    fn validate(&self, raw: Raw) -> Result<Config, ConfigError> {
        let level = match raw.log_level {
            None => LogLevel::Info,
            Some(s) => LogLevel::parse(&s).ok_or_else(|| {
                self.err(
                    "log_level",
                    format!("{s:?} is not one of debug, info, warning, error, fatal"),
                )
            })?,
        };
        let service_name =
            non_empty(raw.service_name).unwrap_or_else(|| DEFAULT_SERVICE_NAME.into());

        let default_ttl = match raw.default_ttl {
            None => DEFAULT_TTL_SECONDS,
            Some(t) if t < 0 => {
                return Err(self.err(
                    "default_ttl",
                    format!("{t} is negative; use 0 for no expiry"),
                ))
            }
            Some(t) if t > MAX_TTL_SECONDS => {
                return Err(self.err(
                    "default_ttl",
                    format!(
                    "{t} exceeds Cassandra's maximum TTL of {MAX_TTL_SECONDS} seconds (20 years)"
                ),
                ))
            }
            Some(t) => t as u32,
        };

        let max_value_bytes = match raw.max_value_bytes {
            None => DEFAULT_MAX_VALUE_BYTES,
            Some(n) if n >= 1 && n as u64 <= MAX_MAX_VALUE_BYTES => n as u64,
            Some(n) => {
                return Err(self.err(
                    "max_value_bytes",
                    format!("{n} is out of range (1-{MAX_MAX_VALUE_BYTES})"),
                ))
            }
        };
        let shutdown_grace = match raw.shutdown_grace_seconds {
            None => Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECONDS),
            Some(n) if (0..=3600).contains(&n) => Duration::from_secs(n as u64),
            Some(n) => {
                return Err(self.err(
                    "shutdown_grace_seconds",
                    format!("{n} is out of range (0-3600)"),
                ))
            }
        };

        let tls = raw.tls.unwrap_or_default();
        let server_tls = self
            .pair(("tls.cert", tls.cert), ("tls.key", tls.key))?
            .map(|(cert, key)| ServerTls {
                cert: cert.into(),
                key: key.into(),
                client_ca: non_empty(tls.client_ca.clone()).map(PathBuf::from),
            });
        if server_tls.is_none() && non_empty(tls.client_ca).is_some() {
            return Err(self.err("tls.client_ca", "requires tls.cert and tls.key"));
        }

        let http = HttpConfig {
            base_uri: normalise_base_uri(raw.base_uri.as_deref().unwrap_or(DEFAULT_BASE_URI)),
            listen_address: non_empty(raw.listen_address)
                .unwrap_or_else(|| DEFAULT_LISTEN_ADDRESS.into()),
            listen_port: self.port("listen_port", raw.listen_port, DEFAULT_LISTEN_PORT)?,
            tls: server_tls,
            max_value_bytes,
            openapi_spec: non_empty(raw.openapi_spec).map(PathBuf::from),
            shutdown_grace,
        };

        let c = raw.cassandra.unwrap_or_default();
        let hosts = match c.hosts {
            None => vec![DEFAULT_CASSANDRA_HOST.to_string()],
            Some(h) if h.is_empty() => {
                return Err(self.err("cassandra.hosts", "must list at least one host"))
            }
            Some(h) => {
                if let Some(bad) = h
                    .iter()
                    .find(|h| h.trim().is_empty() || h.contains(char::is_whitespace))
                {
                    return Err(self.err(
                        "cassandra.hosts",
                        format!("{bad:?} is not a host name or address"),
                    ));
                }
                h
            }
        };
        let auth = c.authentication.unwrap_or_default();
        let auth = self
            .pair(
                ("cassandra.authentication.username", auth.username),
                ("cassandra.authentication.password", auth.password),
            )?
            .map(|(username, password)| Credentials {
                username,
                password: Secret::new(password),
            });

        let ctls = c.tls.unwrap_or_default();
        let client_cert = self.pair(
            ("cassandra.tls.cert", ctls.cert),
            ("cassandra.tls.key", ctls.key),
        )?;
        let client_tls = match non_empty(ctls.ca) {
            Some(ca) => Some(ClientTls {
                ca: ca.into(),
                client_cert: client_cert.map(|(c, k)| (c.into(), k.into())),
                verify_hostname: ctls.enable_host_verification.unwrap_or(true),
            }),
            None if client_cert.is_some() => {
                return Err(self.err(
                    "cassandra.tls.ca",
                    "is required when cassandra.tls.cert and key are set",
                ))
            }
            None => None,
        };
        let protocol_version = match c.protocol_version {
            None => None,
            Some(v @ 4..=5) => Some(v as u8),
            Some(3) => {
                return Err(self.err(
                    "cassandra.protocol_version",
                    "3 is no longer supported (it was for Cassandra 2.1); use 4 or 5, or leave it out to negotiate",
                ))
            }
            Some(v) => {
                return Err(self.err(
                    "cassandra.protocol_version",
                    format!("{v} is not one of 4, 5"),
                ))
            }
        };

        let store = StoreConfig {
            hosts,
            port: self.port("cassandra.port", c.port, DEFAULT_CASSANDRA_PORT)?,
            keyspace: self.identifier("cassandra.keyspace", c.keyspace, DEFAULT_KEYSPACE)?,
            table: self.identifier("cassandra.table", c.table, DEFAULT_TABLE)?,
            local_dc: non_empty(c.local_dc),
            query_timeout: self.positive_ms(
                "cassandra.query_timeout_ms",
                c.query_timeout_ms,
                DEFAULT_QUERY_TIMEOUT_MS,
            )?,
            connect_timeout: self.positive_ms(
                "cassandra.connect_timeout_ms",
                c.connect_timeout_ms,
                DEFAULT_CONNECT_TIMEOUT_MS,
            )?,
            auth,
            tls: client_tls,
            protocol_version,
            default_ttl,
        };
        if store.port == 0 {
            return Err(self.err("cassandra.port", "0 is not a usable port"));
        }

        Ok(Config {
            log: LogConfig {
                service_name,
                level,
            },
            http,
            store,
            unknown_keys: Vec::new(),
        })
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Adds a trailing `/` if missing, then a leading `/` if missing:
/// `sessions/v1` becomes `/sessions/v1/`.
pub fn normalise_base_uri(uri: &str) -> String {
    let mut s = uri.to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    if !s.starts_with('/') {
        s.insert(0, '/');
    }
    s
}

/// Finds the 1-based line of a dotted key in block-style YAML (as Puppet's
/// `to_yaml` writes it). Returns `None` when the key is not in the file.
pub fn line_of(text: &str, dotted: &str) -> Option<usize> {
    let mut wanted = dotted.split('.').peekable();
    let mut current = wanted.next()?;
    // Indentation of the mapping we are searching in; None = any (top level
    // is whatever the first key uses).
    let mut parent_indent: Option<usize> = None;
    let mut level_indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(p) = parent_indent {
            if indent <= p {
                return None; // left the parent mapping without finding the key
            }
        }
        let level = *level_indent.get_or_insert(indent);
        if indent != level {
            continue;
        }
        let key = trimmed
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        if trimmed.contains(':') && key == current {
            match wanted.next() {
                None => return Some(i + 1),
                Some(next) => {
                    current = next;
                    parent_indent = Some(indent);
                    level_indent = None;
                }
            }
        }
    }
    None
}

/// Unknown keys as one warning each, ready to log.
pub fn unknown_key_warnings(config: &Config, file: &Path) -> Vec<String> {
    config
        .unknown_keys
        .iter()
        .map(|k| {
            format!(
                "{}: unknown configuration key {k:?} ignored (check its spelling; see kask(8) for the known keys)",
                file.display()
            )
        })
        .collect()
}
