//! The configuration contract: the YAML file Puppet renders from Hiera.
//!
//! The file is read verbatim (Puppet's `to_yaml`, so it starts with `---`).
//! Every setting has a type that checks it as it is read ([`ListenPort`],
//! [`Ttl`], [`CqlName`] ...), so an error carries the line serde_yaml read
//! it on; settings that only make sense together ([`ServerTls`], the
//! Cassandra credentials and client certificate) are checked by the type
//! of their section. The result is split into slices so that each layer
//! sees only what it needs: [`HttpConfig`] for the server, [`StoreConfig`]
//! for Cassandra, [`LogConfig`] for logging.
//!
//! Every error names the file, the line (when the key is in the file) and the
//! dotted key, so that an operator — or Puppet's `validate_cmd` — gets one
//! actionable line.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
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
/// Upper bound for `shutdown_grace_seconds`.
pub const MAX_SHUTDOWN_GRACE_SECONDS: u64 = 3600;
/// `idle_timeout_seconds` (extension): how long a connection may sit idle
/// between requests, or take to send a request's headers (or a TLS
/// handshake); one timer in the HTTP library.
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u64 = 30;
/// `body_timeout_seconds` (extension): how long a client may take to send
/// a request body.
pub const DEFAULT_BODY_TIMEOUT_SECONDS: u64 = 60;
/// Upper bound for both timeouts.
pub const MAX_TIMEOUT_SECONDS: u64 = 3600;
/// `max_connections` (extension): connections served at once; more are
/// answered 503 and closed. Below the units' `LimitNOFILE` (65536), with
/// room for Cassandra's connections and the journal.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
/// Upper bound for `max_connections`.
pub const MAX_MAX_CONNECTIONS: u64 = 1_000_000;
/// The longest keyspace or table name Cassandra accepts.
pub const MAX_CQL_IDENTIFIER_LEN: usize = 48;

/// Every key the file may hold, dotted; a section is listed before its keys.
/// `tests/config.rs` holds the parser and Puppet's `kask::config_schema` to
/// this list.
pub const KEYS: &[&str] = &[
    "service_name",
    "base_uri",
    "listen_address",
    "listen_port",
    "default_ttl",
    "log_level",
    "openapi_spec",
    "max_value_bytes",
    "shutdown_grace_seconds",
    "idle_timeout_seconds",
    "body_timeout_seconds",
    "max_connections",
    "tls",
    "tls.cert",
    "tls.key",
    "tls.client_ca",
    "cassandra",
    "cassandra.hosts",
    "cassandra.port",
    "cassandra.keyspace",
    "cassandra.table",
    "cassandra.local_dc",
    "cassandra.query_timeout_ms",
    "cassandra.connect_timeout_ms",
    "cassandra.protocol_version",
    "cassandra.authentication",
    "cassandra.authentication.username",
    "cassandra.authentication.password",
    "cassandra.tls",
    "cassandra.tls.ca",
    "cassandra.tls.cert",
    "cassandra.tls.key",
    "cassandra.tls.enable_host_verification",
];

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
    pub limits: Limits,
}

/// What one client may hold (extensions `idle_timeout_seconds`,
/// `body_timeout_seconds`, `max_connections`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
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

impl StoreConfig {
    /// `"keyspace"."table"`, as every statement names it. The names are
    /// quoted so that their case is kept as written.
    pub fn table_name(&self) -> String {
        format!("{}.{}", quote(&self.keyspace), quote(&self.table))
    }

    /// `"keyspace"`.
    pub fn keyspace_name(&self) -> String {
        quote(&self.keyspace)
    }
}

/// A CQL identifier, quoted (a [`CqlName`] needs no escaping; the doubling
/// keeps any other string safe too).
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    #[default]
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
    /// Reads and validates the file at `path`. Every file it names (TLS
    /// certificates and keys) must be readable now: a missing certificate is
    /// a configuration error, found before the service runs.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: None,
            key: String::new(),
            message: format!("cannot read the configuration file: {e}"),
        })?;
        // Every rule first, then the files: a file is only worth opening in
        // a configuration that is otherwise valid.
        read::<Unopened>(&text, path)?;
        read::<Readable>(&text, path)
    }

    /// Validates YAML text; `file` is only used in error messages. The files
    /// it names are not opened.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        read::<Unopened>(text, file)
    }

    /// The keys whose change from `self` to `new` a reload cannot apply:
    /// they take a restart. The log level, the service name and the server's
    /// certificate files apply live; so does nothing else. Every field is
    /// named below, without `..`: a new one does not compile until it is
    /// sorted into one kind or the other.
    pub fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        let Config {
            log:
                LogConfig {
                    service_name: _,
                    level: _,
                },
            http:
                HttpConfig {
                    base_uri,
                    listen_address,
                    listen_port,
                    tls,
                    max_value_bytes,
                    openapi_spec,
                    shutdown_grace,
                    limits,
                },
            store:
                StoreConfig {
                    hosts,
                    port,
                    keyspace,
                    table,
                    local_dc,
                    query_timeout,
                    connect_timeout,
                    auth,
                    tls: cassandra_tls,
                    protocol_version,
                    default_ttl,
                },
            unknown_keys: _,
        } = self;
        let (h, s) = (&new.http, &new.store);
        [
            ("base_uri", *base_uri != h.base_uri),
            ("listen_address", *listen_address != h.listen_address),
            ("listen_port", *listen_port != h.listen_port),
            // New certificate files apply live; TLS on or off does not.
            ("tls", tls.is_some() != h.tls.is_some()),
            ("max_value_bytes", *max_value_bytes != h.max_value_bytes),
            ("openapi_spec", *openapi_spec != h.openapi_spec),
            (
                "shutdown_grace_seconds",
                *shutdown_grace != h.shutdown_grace,
            ),
            (
                "idle_timeout_seconds",
                limits.idle_timeout != h.limits.idle_timeout,
            ),
            (
                "body_timeout_seconds",
                limits.body_timeout != h.limits.body_timeout,
            ),
            (
                "max_connections",
                limits.max_connections != h.limits.max_connections,
            ),
            ("cassandra.hosts", *hosts != s.hosts),
            ("cassandra.port", *port != s.port),
            ("cassandra.keyspace", *keyspace != s.keyspace),
            ("cassandra.table", *table != s.table),
            ("cassandra.local_dc", *local_dc != s.local_dc),
            (
                "cassandra.query_timeout_ms",
                *query_timeout != s.query_timeout,
            ),
            (
                "cassandra.connect_timeout_ms",
                *connect_timeout != s.connect_timeout,
            ),
            ("cassandra.authentication", *auth != s.auth),
            ("cassandra.tls", *cassandra_tls != s.tls),
            (
                "cassandra.protocol_version",
                *protocol_version != s.protocol_version,
            ),
            ("default_ttl", *default_ttl != s.default_ttl),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
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

// ---------------------------------------------------------------------------
// Reading: the file's layout, each setting's type, and serde's errors turned
// into ConfigError.

fn read<F: Files>(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let mut unknown_keys = Vec::new();
    let document: Document<F> = if is_empty_document(text) {
        Document::default()
    } else {
        let de = serde_yaml::Deserializer::from_str(text);
        // Sections are read as options: they show up as `?` segments in
        // serde_ignored's paths.
        let mut record =
            |path: serde_ignored::Path<'_>| unknown_keys.push(path.to_string().replace(".?", ""));
        let ignored = serde_ignored::Deserializer::new(de, &mut record);
        serde_path_to_error::deserialize(ignored).map_err(|e| {
            let path = e.path().to_string();
            config_error(file, path, e.into_inner())
        })?
    };
    let mut config = document.into_config();
    config.unknown_keys = unknown_keys;
    Ok(config)
}

fn is_empty_document(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// A rule about a key that is *not* in the file (the missing half of a
/// pair) names that key in its message behind this marker, since serde's
/// errors carry only a message; [`config_error`] takes it out again and
/// gives no line: the key has none.
const MISSING_KEY: char = '\u{1}';

fn missing<E: de::Error>(key: &str, message: &str) -> E {
    E::custom(format!("{MISSING_KEY}{key}{MISSING_KEY}{message}"))
}

fn config_error(file: &Path, path: String, e: serde_yaml::Error) -> ConfigError {
    let line = e.location().map(|l| l.line());
    let mut message = e.to_string();
    // serde_yaml appends the position (and, for YAML syntax, more positions
    // after it); the line is in our prefix.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let mut parts = message.split(MISSING_KEY);
    if let (Some(_), Some(key), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
        return ConfigError {
            file: file.to_owned(),
            line: None,
            key: key.to_string(),
            message: rest.to_string(),
        };
    }
    // serde_yaml may put the key in front too; ours is in the prefix.
    if let Some(rest) = message.strip_prefix(&format!("{path}: ")) {
        message = rest.to_string();
    }
    ConfigError {
        file: file.to_owned(),
        line,
        key: if path == "." { String::new() } else { path },
        message,
    }
}

/// The file's layout. Absent keys (and `null`) take their defaults.
#[derive(Deserialize, Default)]
#[serde(default, expecting = "a mapping", bound = "")]
struct Document<F: Files> {
    service_name: ServiceName,
    base_uri: BaseUri,
    listen_address: ListenAddress,
    listen_port: ListenPort,
    default_ttl: Ttl,
    log_level: LogLevel,
    openapi_spec: OptionalString,
    #[serde(deserialize_with = "section")]
    tls: TlsSection<F>,
    #[serde(deserialize_with = "section")]
    cassandra: CassandraSection<F>,
    max_value_bytes: MaxValueBytes,
    shutdown_grace_seconds: ShutdownGrace,
    idle_timeout_seconds: Seconds<IdleTimeout>,
    body_timeout_seconds: Seconds<BodyTimeout>,
    max_connections: MaxConnections,
}

#[derive(Deserialize, Default)]
#[serde(default, expecting = "a mapping", bound = "")]
struct CassandraSection<F: Files> {
    hosts: Hosts,
    port: CqlPort,
    keyspace: CqlName<Keyspace>,
    table: CqlName<Table>,
    local_dc: OptionalString,
    query_timeout_ms: Millis<QueryTimeout>,
    connect_timeout_ms: Millis<ConnectTimeout>,
    #[serde(deserialize_with = "section")]
    authentication: Authentication,
    #[serde(deserialize_with = "section")]
    tls: CassandraTlsSection<F>,
    protocol_version: ProtocolVersion,
}

impl<F: Files> Document<F> {
    fn into_config(self) -> Config {
        let c = self.cassandra;
        Config {
            log: LogConfig {
                service_name: self.service_name.0,
                level: self.log_level,
            },
            http: HttpConfig {
                base_uri: self.base_uri.0,
                listen_address: self.listen_address.0,
                listen_port: self.listen_port.0,
                tls: self.tls.0,
                max_value_bytes: self.max_value_bytes.0,
                openapi_spec: self.openapi_spec.0.map(PathBuf::from),
                shutdown_grace: self.shutdown_grace_seconds.0,
                limits: Limits {
                    idle_timeout: self.idle_timeout_seconds.duration,
                    body_timeout: self.body_timeout_seconds.duration,
                    max_connections: self.max_connections.0 as usize,
                },
            },
            store: StoreConfig {
                hosts: c.hosts.0,
                port: c.port.0,
                keyspace: c.keyspace.name,
                table: c.table.name,
                local_dc: c.local_dc.0,
                query_timeout: c.query_timeout_ms.duration,
                connect_timeout: c.connect_timeout_ms.duration,
                auth: c.authentication.0,
                tls: c.tls.0,
                protocol_version: c.protocol_version.0,
                default_ttl: self.default_ttl.0,
            },
            unknown_keys: Vec::new(),
        }
    }
}

/// A section (`tls:`, `cassandra:` ...): absent or `null` is empty.
fn section<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

// Settings read from one scalar. Each check runs inside serde_yaml's visit of
// the value, so that an error carries the value's line.

/// An integer setting: `null` is the default, anything else is checked.
fn int<'de, D, T>(d: D, check: fn(i64) -> Result<T, String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default,
{
    d.deserialize_option(Scalar { check })
}

/// A string setting: `null` is the default, anything else is checked.
fn string<'de, D, T>(d: D, check: fn(String) -> Result<T, String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default,
{
    d.deserialize_option(Scalar { check })
}

/// Visits one scalar of type `R` and checks it into a `T`.
struct Scalar<R, T> {
    check: fn(R) -> Result<T, String>,
}

impl<'de, T: Default> Visitor<'de> for Scalar<i64, T> {
    type Value = T;
    // serde's own word for it, as operators have seen in its messages.
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("i64")
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_i64(self)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.check)(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
        }
    }
}

impl<'de, T: Default> Visitor<'de> for Scalar<String, T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_string(self)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.check)(v.to_string()).map_err(E::custom)
    }
}

/// Implements `Deserialize` for a setting through [`int`] or [`string`].
macro_rules! setting {
    ($type:ty, $read:ident, $check:expr) => {
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $read(d, $check)
            }
        }
    };
}

/// `service_name`; empty is the default.
struct ServiceName(String);

impl Default for ServiceName {
    fn default() -> Self {
        ServiceName(DEFAULT_SERVICE_NAME.into())
    }
}

setting!(ServiceName, string, |s| Ok(if s.is_empty() {
    ServiceName::default()
} else {
    ServiceName(s)
}));

/// `base_uri`, normalised.
struct BaseUri(String);

impl Default for BaseUri {
    fn default() -> Self {
        BaseUri(DEFAULT_BASE_URI.into())
    }
}

setting!(BaseUri, string, |s| Ok(BaseUri(normalise_base_uri(&s))));

/// `listen_address`; empty is the default.
struct ListenAddress(String);

impl Default for ListenAddress {
    fn default() -> Self {
        ListenAddress(DEFAULT_LISTEN_ADDRESS.into())
    }
}

setting!(ListenAddress, string, |s| Ok(if s.is_empty() {
    ListenAddress::default()
} else {
    ListenAddress(s)
}));

/// `listen_port`: any TCP port (0 lets the kernel choose).
struct ListenPort(u16);

impl Default for ListenPort {
    fn default() -> Self {
        ListenPort(DEFAULT_LISTEN_PORT)
    }
}

setting!(ListenPort, int, |p| tcp_port(p).map(ListenPort));

fn tcp_port(p: i64) -> Result<u16, String> {
    u16::try_from(p).map_err(|_| format!("{p} is not a TCP port (0-65535)"))
}

/// `cassandra.port`: a TCP port a server can listen on.
struct CqlPort(u16);

impl Default for CqlPort {
    fn default() -> Self {
        CqlPort(DEFAULT_CASSANDRA_PORT)
    }
}

setting!(CqlPort, int, |p| match tcp_port(p)? {
    0 => Err("0 is not a usable port".into()),
    p => Ok(CqlPort(p)),
});

/// `default_ttl`: seconds, 0 for none, at most Cassandra's 20 years.
struct Ttl(u32);

impl Default for Ttl {
    fn default() -> Self {
        Ttl(DEFAULT_TTL_SECONDS)
    }
}

setting!(Ttl, int, |t| match t {
    t if t < 0 => Err(format!("{t} is negative; use 0 for no expiry")),
    t if t > MAX_TTL_SECONDS => Err(format!(
        "{t} exceeds Cassandra's maximum TTL of {MAX_TTL_SECONDS} seconds (20 years)"
    )),
    t => Ok(Ttl(t as u32)),
});

setting!(LogLevel, string, |s| LogLevel::parse(&s).ok_or_else(
    || format!("{s:?} is not one of debug, info, warning, error, fatal")
));

/// `max_value_bytes`.
struct MaxValueBytes(u64);

impl Default for MaxValueBytes {
    fn default() -> Self {
        MaxValueBytes(DEFAULT_MAX_VALUE_BYTES)
    }
}

setting!(MaxValueBytes, int, |n| match u64::try_from(n) {
    Ok(n @ 1..=MAX_MAX_VALUE_BYTES) => Ok(MaxValueBytes(n)),
    _ => Err(format!("{n} is out of range (1-{MAX_MAX_VALUE_BYTES})")),
});

/// `shutdown_grace_seconds`.
struct ShutdownGrace(Duration);

impl Default for ShutdownGrace {
    fn default() -> Self {
        ShutdownGrace(Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECONDS))
    }
}

setting!(ShutdownGrace, int, |n| match u64::try_from(n) {
    Ok(n @ 0..=MAX_SHUTDOWN_GRACE_SECONDS) => Ok(ShutdownGrace(Duration::from_secs(n))),
    _ => Err(format!(
        "{n} is out of range (0-{MAX_SHUTDOWN_GRACE_SECONDS})"
    )),
});

/// A timeout in whole seconds, 1 to [`MAX_TIMEOUT_SECONDS`]; `K` gives
/// its default.
struct Seconds<K> {
    duration: Duration,
    kind: std::marker::PhantomData<K>,
}

trait DefaultSeconds {
    const SECONDS: u64;
}

struct IdleTimeout;
impl DefaultSeconds for IdleTimeout {
    const SECONDS: u64 = DEFAULT_IDLE_TIMEOUT_SECONDS;
}

struct BodyTimeout;
impl DefaultSeconds for BodyTimeout {
    const SECONDS: u64 = DEFAULT_BODY_TIMEOUT_SECONDS;
}

impl<K: DefaultSeconds> Default for Seconds<K> {
    fn default() -> Self {
        Seconds::new(K::SECONDS)
    }
}

impl<K> Seconds<K> {
    fn new(n: u64) -> Self {
        Seconds {
            duration: Duration::from_secs(n),
            kind: std::marker::PhantomData,
        }
    }
}

impl<'de, K: DefaultSeconds> Deserialize<'de> for Seconds<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int(d, |n| match u64::try_from(n) {
            Ok(n @ 1..=MAX_TIMEOUT_SECONDS) => Ok(Seconds::new(n)),
            _ => Err(format!("{n} is out of range (1-{MAX_TIMEOUT_SECONDS})")),
        })
    }
}

/// `max_connections`.
struct MaxConnections(u64);

impl Default for MaxConnections {
    fn default() -> Self {
        MaxConnections(DEFAULT_MAX_CONNECTIONS)
    }
}

setting!(MaxConnections, int, |n| match u64::try_from(n) {
    Ok(n @ 1..=MAX_MAX_CONNECTIONS) => Ok(MaxConnections(n)),
    _ => Err(format!("{n} is out of range (1-{MAX_MAX_CONNECTIONS})")),
});

/// A string whose empty value means "not set" (`openapi_spec`,
/// `cassandra.local_dc`).
#[derive(Default)]
struct OptionalString(Option<String>);

setting!(OptionalString, string, |s| Ok(OptionalString(
    Some(s).filter(|s| !s.is_empty())
)));

/// `cassandra.hosts`: at least one, each a name or an address.
struct Hosts(Vec<String>);

impl Default for Hosts {
    fn default() -> Self {
        Hosts(vec![DEFAULT_CASSANDRA_HOST.to_string()])
    }
}

impl<'de> Deserialize<'de> for Hosts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Hosts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_none<E: de::Error>(self) -> Result<Hosts, E> {
                Ok(Hosts::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Hosts, D::Error> {
                d.deserialize_seq(self)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Hosts, A::Error> {
                let mut hosts = Vec::new();
                while let Some(h) = seq.next_element::<String>()? {
                    hosts.push(h);
                }
                if hosts.is_empty() {
                    return Err(de::Error::custom("must list at least one host"));
                }
                if let Some(bad) = hosts
                    .iter()
                    .find(|h| h.trim().is_empty() || h.contains(char::is_whitespace))
                {
                    return Err(de::Error::custom(format!(
                        "{bad:?} is not a host name or address"
                    )));
                }
                Ok(Hosts(hosts))
            }
        }
        d.deserialize_option(List)
    }
}

/// `cassandra.keyspace` and `cassandra.table`: a CQL identifier as the
/// grammar has it unquoted (a letter, then letters, digits or underscores),
/// no longer than Cassandra accepts. It is quoted in CQL all the same, so
/// that its case is kept.
struct CqlName<W> {
    name: String,
    which: PhantomData<W>,
}

/// Which name, for its default.
trait NameDefault {
    const DEFAULT: &'static str;
}
struct Keyspace;
struct Table;
impl NameDefault for Keyspace {
    const DEFAULT: &'static str = DEFAULT_KEYSPACE;
}
impl NameDefault for Table {
    const DEFAULT: &'static str = DEFAULT_TABLE;
}

impl<W: NameDefault> Default for CqlName<W> {
    fn default() -> Self {
        CqlName {
            name: W::DEFAULT.to_string(),
            which: PhantomData,
        }
    }
}

impl<'de, W: NameDefault> Deserialize<'de> for CqlName<W> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string(d, |name| {
            if is_cql_identifier(&name) {
                Ok(CqlName {
                    name,
                    which: PhantomData,
                })
            } else {
                Err(format!(
                    "{name:?} is not a valid CQL name (a letter, then letters, digits or underscores; {MAX_CQL_IDENTIFIER_LEN} at most)"
                ))
            }
        })
    }
}

/// `[A-Za-z][A-Za-z0-9_]{0,47}`.
pub fn is_cql_identifier(name: &str) -> bool {
    name.len() <= MAX_CQL_IDENTIFIER_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A positive number of milliseconds (`cassandra.*_timeout_ms`).
struct Millis<W> {
    duration: Duration,
    which: PhantomData<W>,
}

trait MillisDefault {
    const DEFAULT: u64;
}
struct QueryTimeout;
struct ConnectTimeout;
impl MillisDefault for QueryTimeout {
    const DEFAULT: u64 = DEFAULT_QUERY_TIMEOUT_MS;
}
impl MillisDefault for ConnectTimeout {
    const DEFAULT: u64 = DEFAULT_CONNECT_TIMEOUT_MS;
}

impl<W: MillisDefault> Default for Millis<W> {
    fn default() -> Self {
        Millis {
            duration: Duration::from_millis(W::DEFAULT),
            which: PhantomData,
        }
    }
}

impl<'de, W: MillisDefault> Deserialize<'de> for Millis<W> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int(d, |ms| match u64::try_from(ms) {
            Ok(ms @ 1..) => Ok(Millis {
                duration: Duration::from_millis(ms),
                which: PhantomData,
            }),
            _ => Err(format!("{ms} must be a positive number of milliseconds")),
        })
    }
}

/// `cassandra.protocol_version`: unset negotiates.
#[derive(Default)]
struct ProtocolVersion(Option<u8>);

setting!(ProtocolVersion, int, |v| {
    match v {
    4..=5 => Ok(ProtocolVersion(Some(v as u8))),
    3 => Err("3 is no longer supported (it was for Cassandra 2.1); use 4 or 5, or leave it out to negotiate".to_string()),
    v => Err(format!("{v} is not one of 4, 5")),
}
});

// Files named by the configuration. Whether they are opened while the file is
// read is a type parameter: `Config::load` opens them (a missing certificate
// is found before the service runs), `Config::parse` does not.

trait Files: Default {
    /// Whether files are opened (and their contents checked).
    const OPEN: bool;
    fn check<K: FileKind>(path: &Path) -> Result<(), String>;
}

#[derive(Default)]
struct Readable;

impl Files for Readable {
    const OPEN: bool = true;
    fn check<K: FileKind>(path: &Path) -> Result<(), String> {
        std::fs::File::open(path)
            .map(drop)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        K::check(path)
    }
}

#[derive(Default)]
struct Unopened;

impl Files for Unopened {
    const OPEN: bool = false;
    fn check<K: FileKind>(_: &Path) -> Result<(), String> {
        Ok(())
    }
}

/// What a named file must hold: a certificate or key that is not PEM is a
/// configuration error found by `--check-config`, not at the first
/// connection (or never, for a Cassandra CA that is retried for ever).
trait FileKind {
    fn check(path: &Path) -> Result<(), String>;
}
/// PEM certificates (a certificate chain, or CAs).
struct Certs;
/// A PEM private key.
struct Key;
impl FileKind for Certs {
    fn check(path: &Path) -> Result<(), String> {
        crate::tls::check_certs(path)
    }
}
impl FileKind for Key {
    fn check(path: &Path) -> Result<(), String> {
        crate::tls::check_key(path)
    }
}

/// A file the configuration names; empty means "not set".
struct FileName<F, K> {
    path: Option<PathBuf>,
    files: PhantomData<(F, K)>,
}

impl<F, K> Default for FileName<F, K> {
    fn default() -> Self {
        FileName {
            path: None,
            files: PhantomData,
        }
    }
}

impl<'de, F: Files, K: FileKind> Deserialize<'de> for FileName<F, K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string(d, |s| {
            let path = Some(PathBuf::from(s)).filter(|p| !p.as_os_str().is_empty());
            if let Some(p) = &path {
                F::check::<K>(p)?;
            }
            Ok(FileName {
                path,
                files: PhantomData,
            })
        })
    }
}

// Sections whose keys must come together. Each type checks its pairs once
// the section is read; the messages name the full keys.

/// Both of a pair, or neither. `a` and `b` are the dotted keys.
fn pair<E: de::Error, X, Y>(
    a: (&str, Option<X>),
    b: (&str, Option<Y>),
) -> Result<Option<(X, Y)>, E> {
    match (a.1, b.1) {
        (Some(x), Some(y)) => Ok(Some((x, y))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(missing(b.0, &format!("is required when {} is set", a.0))),
        (None, Some(_)) => Err(missing(a.0, &format!("is required when {} is set", b.0))),
    }
}

/// `tls`: the server's certificate and key, and optionally a client CA.
#[derive(Default)]
struct TlsSection<F>(Option<ServerTls>, PhantomData<F>);

#[derive(Deserialize, Default)]
#[serde(default, expecting = "a mapping", bound = "")]
struct TlsKeys<F: Files> {
    cert: FileName<F, Certs>,
    key: FileName<F, Key>,
    client_ca: FileName<F, Certs>,
}

impl<'de, F: Files> Deserialize<'de> for TlsSection<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = TlsKeys::<F>::deserialize(d)?;
        let tls = pair::<D::Error, _, _>(("tls.cert", k.cert.path), ("tls.key", k.key.path))?;
        if tls.is_none() && k.client_ca.path.is_some() {
            return Err(missing("tls.client_ca", "requires tls.cert and tls.key"));
        }
        Ok(TlsSection(
            tls.map(|(cert, key)| ServerTls {
                cert,
                key,
                client_ca: k.client_ca.path,
            }),
            PhantomData,
        ))
    }
}

/// `cassandra.authentication`.
#[derive(Default)]
struct Authentication(Option<Credentials>);

#[derive(Deserialize, Default)]
#[serde(default, expecting = "a mapping")]
struct AuthenticationKeys {
    username: OptionalString,
    password: OptionalString,
}

impl<'de> Deserialize<'de> for Authentication {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = AuthenticationKeys::deserialize(d)?;
        let credentials = pair::<D::Error, _, _>(
            ("cassandra.authentication.username", k.username.0),
            ("cassandra.authentication.password", k.password.0),
        )?;
        Ok(Authentication(credentials.map(|(username, password)| {
            Credentials {
                username,
                password: Secret::new(password),
            }
        })))
    }
}

/// `cassandra.tls`: a CA turns TLS on; a client certificate needs it.
#[derive(Default)]
struct CassandraTlsSection<F>(Option<ClientTls>, PhantomData<F>);

#[derive(Deserialize, Default)]
#[serde(default, expecting = "a mapping", bound = "")]
struct CassandraTlsKeys<F: Files> {
    ca: FileName<F, Certs>,
    cert: FileName<F, Certs>,
    key: FileName<F, Key>,
    enable_host_verification: Option<bool>,
}

impl<'de, F: Files> Deserialize<'de> for CassandraTlsSection<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = CassandraTlsKeys::<F>::deserialize(d)?;
        let client_cert = pair::<D::Error, _, _>(
            ("cassandra.tls.cert", k.cert.path),
            ("cassandra.tls.key", k.key.path),
        )?;
        let tls = match (k.ca.path, client_cert) {
            (Some(ca), client_cert) => Some(ClientTls {
                ca,
                client_cert,
                verify_hostname: k.enable_host_verification.unwrap_or(true),
            }),
            (None, Some(_)) => {
                return Err(missing(
                    "cassandra.tls.ca",
                    "is required when cassandra.tls.cert and key are set",
                ))
            }
            (None, None) => None,
        };
        // Each file holds what it should; together they must also make a
        // client configuration (a key that is not the certificate's).
        if let (true, Some(t)) = (F::OPEN, &tls) {
            let cert = t
                .client_cert
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path()));
            if let Err(e) = crate::tls::client_config(&t.ca, cert, &[], t.verify_hostname) {
                let key = match (&e.path, &t.client_cert) {
                    (Some(p), Some((c, _))) if p == c => "cassandra.tls.cert",
                    (Some(p), Some((_, k))) if p == k => "cassandra.tls.key",
                    (Some(p), _) if p == &t.ca => "cassandra.tls.ca",
                    (None, Some(_)) => "cassandra.tls.key",
                    _ => "cassandra.tls",
                };
                return Err(missing(key, &e.to_string()));
            }
        }
        Ok(CassandraTlsSection(tls, PhantomData))
    }
}
