//! The configuration contract: the YAML file Puppet renders from Hiera.
//!
//! The file is read verbatim (Puppet's `to_yaml`, so it starts with `---`).
//! Every setting has a type that checks it as it is read ([`ListenPort`],
//! [`Ttl`], [`Keyspace`] ...), so an error carries the line serde_yaml read
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
/// The most of a configuration file that is read: the file is a few hundred
/// bytes; anything longer (`/dev/zero`, a log given by mistake) is refused
/// rather than read until memory runs out.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
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
    "log_format",
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
    /// Keys present in the file that this version does not know. The
    /// reference ignores them; we accept them too, but say so (and
    /// `--check-config --strict` refuses them).
    pub unknown_keys: Vec<UnknownKey>,
}

/// What logging needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub service_name: String,
    pub level: LogLevel,
    pub format: LogFormat,
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

/// A CQL identifier, quoted (a [`cql_name`] needs no escaping; the doubling
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

/// `log_format` (extension): what a line looks like in the journal. Outside
/// the journal lines are always JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// In the journal, `MESSAGE` is the text and the rest are fields
    /// (`LEVEL`, `REQUEST_ID` ...); elsewhere JSON lines.
    #[default]
    Auto,
    /// `MESSAGE` is the JSON line too (`msg`, `appname`, `time`, `level`,
    /// `request_id`), for rsyslog's JSON parser on the way to Logstash; the
    /// journal fields stay.
    Json,
    /// As `json`, behind the `@cee: ` cookie that rsyslog's `mmjsonparse`
    /// looks for by default.
    Cee,
}

impl LogFormat {
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(LogFormat::Auto),
            "json" => Some(LogFormat::Json),
            "cee" => Some(LogFormat::Cee),
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
        Config::load_checked(path, UnknownKeys::Warn)
    }

    /// [`Config::load`], with unknown keys warned about or refused.
    pub fn load_checked(path: &Path, unknown: UnknownKeys) -> Result<Config, ConfigError> {
        let text = read_text(path)?;
        // Every rule first, then the files: a file is only worth opening in
        // a configuration that is otherwise valid.
        let checked = read::<Unopened>(&text, path, unknown)?;
        let mut config = typed::<Readable>(&text, path)?;
        config.unknown_keys = checked.unknown_keys;
        Ok(config)
    }

    /// Validates YAML text; `file` is only used in error messages. The files
    /// it names are not opened.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        read::<Unopened>(text, file, UnknownKeys::Warn)
    }

    /// [`Config::parse`], with unknown keys warned about or refused.
    pub fn parse_checked(
        text: &str,
        file: &Path,
        unknown: UnknownKeys,
    ) -> Result<Config, ConfigError> {
        read::<Unopened>(text, file, unknown)
    }

    /// The keys whose change from `self` to `new` a reload cannot apply:
    /// they take a restart. The log level and format, the service name and
    /// the server's certificate files apply live; nothing else does. Every
    /// field is named below, without `..`: a new one does not compile until
    /// it is sorted into one kind or the other.
    pub fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        let Config {
            log:
                LogConfig {
                    service_name: _,
                    level: _,
                    format: _,
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
        .map(|u| {
            let at = match u.line {
                Some(l) => format!("{}:{l}", file.display()),
                None => file.display().to_string(),
            };
            let hint = match u.suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "check its spelling and indentation (kask(8) lists the known keys)".into(),
            };
            format!(
                "{at}: unknown configuration key {:?} ignored; {hint}",
                u.key
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

fn read<F: Files>(text: &str, file: &Path, unknown: UnknownKeys) -> Result<Config, ConfigError> {
    let unknown_keys = match is_empty_document(without_bom(text)) {
        true => Vec::new(),
        false => shape::check(without_bom(text), file, unknown)?,
    };
    let mut config = typed::<F>(text, file)?;
    config.unknown_keys = unknown_keys;
    Ok(config)
}

/// A UTF-8 byte-order mark (some editors write one) is not YAML: dropped.
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Each setting read and checked by its type.
fn typed<F: Files>(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let text = without_bom(text);
    if is_empty_document(text) {
        return Ok(Document::<F>::default().into_config());
    }
    let de = serde_yaml::Deserializer::from_str(text);
    let document: Document<F> = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        config_error(file, path, e.into_inner())
    })?;
    Ok(document.into_config())
}

/// Reads the file, at most [`MAX_CONFIG_BYTES`] of it (so that
/// `--check-config /dev/zero` ends), as UTF-8.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let error = |line, message| ConfigError {
        file: path.to_owned(),
        line,
        key: String::new(),
        message,
    };
    let cannot =
        |e: std::io::Error| error(None, format!("cannot read the configuration file: {e}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(error(
            None,
            format!(
                "not a kask configuration: longer than {MAX_CONFIG_BYTES} bytes (read stopped there; a configuration is a few hundred bytes)"
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        error(
            Some(line),
            "not UTF-8 text (a configuration is UTF-8 YAML)".into(),
        )
    })
}

fn is_empty_document(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// An error about a named key, raised inside serde (whose errors carry only
/// a message): the key travels in front of the message between two of
/// these, and [`config_error`] takes it out again. Used for the missing
/// half of a pair (the line is where the section starts) and by the shape
/// check (the line is the key's).
const KEYED: char = '\u{1}';

fn keyed<E: de::Error>(key: &str, message: &str) -> E {
    E::custom(format!("{KEYED}{key}{KEYED}{message}"))
}

fn missing<E: de::Error>(key: &str, message: &str) -> E {
    keyed(key, message)
}

/// Keys whose values may be secrets: no message quotes what they hold.
fn is_secret(key: &str) -> bool {
    key == "cassandra.authentication" || key.starts_with("cassandra.authentication.password")
}

/// `invalid type: string "hunter2", expected a mapping` without the value:
/// `invalid type: a string (not shown), expected a mapping`.
fn redact(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            if !found.contains(['"', '`']) {
                return message.to_string();
            }
            let kind = found.split([' ', '`']).next().unwrap_or("value");
            let mut m = format!("{prefix}{} (not shown)", with_article(kind));
            if !expected.is_empty() {
                m.push_str(", expected ");
                m.push_str(expected);
            }
            return m;
        }
    }
    if message.contains('"') || message.contains('`') {
        // A message of ours about the value: keep only what it is about.
        return "this value is not valid here (not shown: it may be a secret)".into();
    }
    message.to_string()
}

fn with_article(kind: &str) -> String {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

fn config_error(file: &Path, path: String, e: serde_yaml::Error) -> ConfigError {
    let line = e.location().map(|l| l.line());
    let mut message = e.to_string();
    // serde_yaml appends the position (and, for YAML syntax, more positions
    // after it); the line is in our prefix.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    let mut parts = message.split(KEYED);
    if let (Some(_), Some(key), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
        return ConfigError {
            file: file.to_owned(),
            line,
            key: key.to_string(),
            message: rest.to_string(),
        };
    }
    // serde_yaml may put the key in front too; ours is in the prefix.
    if let Some(rest) = message.strip_prefix(&format!("{path}: ")) {
        message = rest.to_string();
    }
    // Positions serde could not name (inside a key, or where the syntax
    // broke) show as `?`: name what is known, never `?`.
    let key = path
        .split('.')
        .filter(|s| !s.is_empty() && !s.starts_with('?'))
        .collect::<Vec<_>>()
        .join(".");
    if is_secret(&key) {
        message = redact(&message);
    }
    ConfigError {
        file: file.to_owned(),
        line,
        key,
        message,
    }
}

/// How `--check-config` and the daemon treat keys this version does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownKeys {
    /// Accepted with a warning each, as the reference accepts them.
    Warn,
    /// Refused (`--check-config --strict`, Puppet's `validate_cmd`): a typo
    /// or a mis-indented key must not pass silently.
    Refuse,
}

/// A key of the file this version does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Dotted: `cassandra.usernme`.
    pub key: String,
    pub line: Option<usize>,
    /// The nearest known key, dotted, if one is near.
    pub suggestion: Option<&'static str>,
}

impl UnknownKey {
    /// `unknown key; did you mean `cassandra.keyspace`?`
    pub fn describe(&self) -> String {
        match self.suggestion {
            Some(s) => format!("unknown key; did you mean `{s}`?"),
            None => "unknown key".to_string(),
        }
    }
}

/// The nearest known key to an unknown one: the same name in another
/// section (a mis-indented key), else the closest spelling, preferring the
/// same section.
pub fn nearest_key(dotted: &str) -> Option<&'static str> {
    let (section, name) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let name = name.to_ascii_lowercase();
    let limit = match name.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    KEYS.iter()
        .filter_map(|&k| {
            let (s, n) = k.rsplit_once('.').unwrap_or(("", k));
            let d = edit_distance(&name, n);
            (d <= limit).then_some(((d, s != section), k))
        })
        .min_by_key(|&(rank, _)| rank)
        .map(|(_, k)| k)
        .filter(|&k| k != dotted)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbours (`prot` for `port`) each count 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The file's keys before their values are read: a key given twice (named
/// at the second, with the line of the first), a key that is not a name,
/// and keys this version does not know (refused, or collected with their
/// lines). serde_yaml gives a position only with an error, so each of these
/// is an error raised while the key itself is read; the lines of unknown
/// keys that are only warned about come from one more pass each.
mod shape {
    use std::cell::RefCell;
    use std::fmt;
    use std::path::Path;

    use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    use super::{config_error, keyed, nearest_key, ConfigError, UnknownKey, UnknownKeys, KEYS};

    /// Lines are looked up for this many unknown keys at most; the rest are
    /// named without one.
    const MAX_UNKNOWN_LINES: usize = 16;

    /// What a pass stops at, besides the always-fatal problems.
    #[derive(Clone, Copy)]
    enum Stop<'a> {
        /// Nothing else: collect unknown keys.
        Never,
        /// The first unknown key not in this list.
        Unknown(&'a [String]),
        /// The first occurrence of this key (to name a duplicate's first line).
        First(&'a str),
    }

    struct Pass<'a> {
        stop: Stop<'a>,
        unknown: RefCell<Vec<String>>,
    }

    /// The marker of an error raised by [`Stop`] rather than by the file.
    const FOUND: &str = "\u{2}found";

    fn run(text: &str, stop: Stop) -> Result<Vec<String>, serde_yaml::Error> {
        let pass = Pass {
            stop,
            unknown: RefCell::default(),
        };
        Node {
            prefix: "",
            pass: &pass,
        }
        .deserialize(serde_yaml::Deserializer::from_str(text))?;
        Ok(pass.unknown.into_inner())
    }

    pub(super) fn check(
        text: &str,
        file: &Path,
        mode: UnknownKeys,
    ) -> Result<Vec<UnknownKey>, ConfigError> {
        let fail = |e: serde_yaml::Error| {
            let mut error = config_error(file, String::new(), e);
            if let Some(first) = error.message.strip_prefix("\u{2}twice") {
                // A second pass finds the first occurrence's line.
                let line = run(text, Stop::First(&error.key))
                    .err()
                    .and_then(|e| e.location().map(|l| l.line()));
                error.message = match line {
                    Some(l) => format!("set twice; the first is at line {l}{first}"),
                    None => format!("set twice{first}"),
                };
            }
            error
        };
        let unknown = run(text, Stop::Never).map_err(fail)?;
        let mut done: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for key in unknown {
            // The next pass stops at the first unknown key not yet placed:
            // this one.
            let line = match done.len() < MAX_UNKNOWN_LINES {
                true => match run(text, Stop::Unknown(&done)) {
                    Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| l.line()),
                    _ => None,
                },
                false => None,
            };
            done.push(key.clone());
            let u = UnknownKey {
                suggestion: nearest_key(&key),
                key,
                line,
            };
            if mode == UnknownKeys::Refuse {
                return Err(ConfigError {
                    file: file.to_owned(),
                    line: u.line,
                    key: u.key.clone(),
                    message: u.describe(),
                });
            }
            out.push(u);
        }
        Ok(out)
    }

    /// A value at `prefix`: a mapping is walked, anything else skipped.
    struct Node<'a> {
        prefix: &'a str,
        pass: &'a Pass<'a>,
    }

    impl<'de> DeserializeSeed<'de> for Node<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    macro_rules! skip {
        ($($method:ident($t:ty)),*) => {
            $(fn $method<E: de::Error>(self, _: $t) -> Result<(), E> { Ok(()) })*
        };
    }

    impl<'de> Visitor<'de> for Node<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }
        skip!(
            visit_bool(bool),
            visit_i64(i64),
            visit_u64(u64),
            visit_f64(f64),
            visit_str(&str)
        );
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
            IgnoredAny.visit_seq(seq).map(drop)
        }
        fn visit_enum<A: de::EnumAccess<'de>>(self, e: A) -> Result<(), A::Error> {
            IgnoredAny.visit_enum(e).map(drop)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen: Vec<String> = Vec::new();
            while let Some(dotted) = map.next_key_seed(Key {
                prefix: self.prefix,
                seen: &seen,
                pass: self.pass,
            })? {
                if is_section(&dotted) {
                    map.next_value_seed(Node {
                        prefix: &dotted,
                        pass: self.pass,
                    })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
                seen.push(dotted);
            }
            Ok(())
        }
    }

    /// A known key under which more keys are known.
    fn is_section(dotted: &str) -> bool {
        KEYS.iter().any(|k| {
            k.len() > dotted.len() && k.starts_with(dotted) && k.as_bytes()[dotted.len()] == b'.'
        })
    }

    /// A key of a mapping; its value is the dotted key.
    struct Key<'a> {
        prefix: &'a str,
        seen: &'a [String],
        pass: &'a Pass<'a>,
    }

    impl<'de> DeserializeSeed<'de> for Key<'_> {
        type Value = String;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl Key<'_> {
        fn name<E: de::Error>(self, name: String) -> Result<String, E> {
            let dotted = if self.prefix.is_empty() {
                name
            } else {
                format!("{}.{name}", self.prefix)
            };
            if self.seen.contains(&dotted) {
                return Err(keyed(&dotted, "\u{2}twice"));
            }
            let known = KEYS.contains(&dotted.as_str());
            match self.pass.stop {
                Stop::First(k) if k == dotted => return Err(E::custom(FOUND)),
                Stop::Unknown(done) if !known && !done.contains(&dotted) => {
                    return Err(E::custom(FOUND))
                }
                _ => {}
            }
            if !known {
                self.pass.unknown.borrow_mut().push(dotted.clone());
            }
            Ok(dotted)
        }

        fn not_a_name<E: de::Error>(self, what: &str) -> Result<String, E> {
            let at = if self.prefix.is_empty() {
                ""
            } else {
                self.prefix
            };
            Err(keyed(at, &format!("a key must be a name, not {what}")))
        }
    }

    impl<'de> Visitor<'de> for Key<'_> {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            self.name(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            self.name(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            self.name(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            self.name(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            self.name(v.to_string())
        }
        fn visit_unit<E: de::Error>(self) -> Result<String, E> {
            self.not_a_name("empty (null)")
        }
        fn visit_none<E: de::Error>(self) -> Result<String, E> {
            self.not_a_name("empty (null)")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
            self.not_a_name("a sequence")
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
            self.not_a_name("a mapping")
        }
        fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<String, A::Error> {
            self.not_a_name("a tagged value")
        }
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
    log_format: LogFormat,
    openapi_spec: OptionalString,
    #[serde(deserialize_with = "section")]
    tls: TlsSection<F>,
    #[serde(deserialize_with = "section")]
    cassandra: CassandraSection<F>,
    max_value_bytes: MaxValueBytes,
    shutdown_grace_seconds: ShutdownGrace,
    idle_timeout_seconds: IdleTimeout,
    body_timeout_seconds: BodyTimeout,
    max_connections: MaxConnections,
}

#[derive(Deserialize, Default)]
#[serde(default, expecting = "a mapping", bound = "")]
struct CassandraSection<F: Files> {
    hosts: Hosts,
    port: CqlPort,
    keyspace: Keyspace,
    table: Table,
    local_dc: OptionalString,
    query_timeout_ms: QueryTimeout,
    connect_timeout_ms: ConnectTimeout,
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
                format: self.log_format,
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
                    idle_timeout: self.idle_timeout_seconds.0,
                    body_timeout: self.body_timeout_seconds.0,
                    max_connections: self.max_connections.0 as usize,
                },
            },
            store: StoreConfig {
                hosts: c.hosts.0,
                port: c.port.0,
                keyspace: c.keyspace.0,
                table: c.table.0,
                local_dc: c.local_dc.0,
                query_timeout: c.query_timeout_ms.0,
                connect_timeout: c.connect_timeout_ms.0,
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
    // The man page's word for it.
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
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
/// With `Name(Inner) = default`, also declares the newtype and its default.
macro_rules! setting {
    ($(#[$doc:meta])* $type:ident($inner:ty) = $default:expr, $read:ident, $check:expr) => {
        $(#[$doc])*
        struct $type($inner);

        impl Default for $type {
            fn default() -> Self {
                $type($default)
            }
        }

        setting!($type, $read, $check);
    };
    ($type:ty, $read:ident, $check:expr) => {
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $read(d, $check)
            }
        }
    };
}

/// `n` if it lies in `range`, else an error naming the range.
fn in_range(n: i64, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    match u64::try_from(n) {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{n} is out of range ({}-{})",
            range.start(),
            range.end()
        )),
    }
}

fn tcp_port(p: i64) -> Result<u16, String> {
    u16::try_from(p).map_err(|_| format!("{p} is not a TCP port (0-65535)"))
}

/// A timeout in whole seconds, 1 to [`MAX_TIMEOUT_SECONDS`].
fn timeout_seconds(n: i64) -> Result<Duration, String> {
    in_range(n, 1..=MAX_TIMEOUT_SECONDS).map(Duration::from_secs)
}

/// A positive number of milliseconds (`cassandra.*_timeout_ms`).
fn timeout_ms(ms: i64) -> Result<Duration, String> {
    match u64::try_from(ms) {
        Ok(ms @ 1..) => Ok(Duration::from_millis(ms)),
        _ => Err(format!("{ms} must be a positive number of milliseconds")),
    }
}

setting!(
    /// `service_name`; empty is the default.
    ServiceName(String) = DEFAULT_SERVICE_NAME.into(),
    string,
    |s| Ok(if s.is_empty() {
        ServiceName::default()
    } else {
        ServiceName(s)
    })
);

setting!(
    /// `base_uri`, normalised.
    BaseUri(String) = DEFAULT_BASE_URI.into(),
    string,
    |s| Ok(BaseUri(normalise_base_uri(&s)))
);

setting!(
    /// `listen_address`; empty is the default.
    ListenAddress(String) = DEFAULT_LISTEN_ADDRESS.into(),
    string,
    |s| Ok(if s.is_empty() {
        ListenAddress::default()
    } else {
        ListenAddress(s)
    })
);

setting!(
    /// `listen_port`: any TCP port (0 lets the kernel choose).
    ListenPort(u16) = DEFAULT_LISTEN_PORT,
    int,
    |p| tcp_port(p).map(ListenPort)
);

setting!(
    /// `cassandra.port`: a TCP port a server can listen on.
    CqlPort(u16) = DEFAULT_CASSANDRA_PORT,
    int,
    |p| match tcp_port(p)? {
        0 => Err("0 is not a usable port".into()),
        p => Ok(CqlPort(p)),
    }
);

setting!(
    /// `default_ttl`: seconds, 0 for none, at most Cassandra's 20 years.
    Ttl(u32) = DEFAULT_TTL_SECONDS,
    int,
    |t| match t {
        t if t < 0 => Err(format!("{t} is negative; use 0 for no expiry")),
        t if t > MAX_TTL_SECONDS => Err(format!(
            "{t} exceeds Cassandra's maximum TTL of {MAX_TTL_SECONDS} seconds (20 years)"
        )),
        t => Ok(Ttl(t as u32)),
    }
);

setting!(LogLevel, string, |s| LogLevel::parse(&s).ok_or_else(
    || format!("{s:?} is not one of debug, info, warning, error, fatal")
));

setting!(LogFormat, string, |s| LogFormat::parse(&s)
    .ok_or_else(|| format!("{s:?} is not one of auto, json, cee")));

setting!(
    /// `max_value_bytes`.
    MaxValueBytes(u64) = DEFAULT_MAX_VALUE_BYTES,
    int,
    |n| in_range(n, 1..=MAX_MAX_VALUE_BYTES).map(MaxValueBytes)
);

setting!(
    /// `shutdown_grace_seconds`.
    ShutdownGrace(Duration) = Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECONDS),
    int,
    |n| in_range(n, 0..=MAX_SHUTDOWN_GRACE_SECONDS)
        .map(|n| ShutdownGrace(Duration::from_secs(n)))
);

setting!(
    /// `idle_timeout_seconds`.
    IdleTimeout(Duration) = Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECONDS),
    int,
    |n| timeout_seconds(n).map(IdleTimeout)
);

setting!(
    /// `body_timeout_seconds`.
    BodyTimeout(Duration) = Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECONDS),
    int,
    |n| timeout_seconds(n).map(BodyTimeout)
);

setting!(
    /// `max_connections`.
    MaxConnections(u64) = DEFAULT_MAX_CONNECTIONS,
    int,
    |n| in_range(n, 1..=MAX_MAX_CONNECTIONS).map(MaxConnections)
);

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
fn cql_name(name: String) -> Result<String, String> {
    if is_cql_identifier(&name) {
        Ok(name)
    } else {
        Err(format!(
            "{name:?} is not a valid CQL name (a letter, then letters, digits or underscores; {MAX_CQL_IDENTIFIER_LEN} at most)"
        ))
    }
}

setting!(
    /// `cassandra.keyspace`.
    Keyspace(String) = DEFAULT_KEYSPACE.into(),
    string,
    |name| cql_name(name).map(Keyspace)
);

setting!(
    /// `cassandra.table`.
    Table(String) = DEFAULT_TABLE.into(),
    string,
    |name| cql_name(name).map(Table)
);

/// `[A-Za-z][A-Za-z0-9_]{0,47}`.
pub fn is_cql_identifier(name: &str) -> bool {
    name.len() <= MAX_CQL_IDENTIFIER_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

setting!(
    /// `cassandra.query_timeout_ms`.
    QueryTimeout(Duration) = Duration::from_millis(DEFAULT_QUERY_TIMEOUT_MS),
    int,
    |ms| timeout_ms(ms).map(QueryTimeout)
);

setting!(
    /// `cassandra.connect_timeout_ms`.
    ConnectTimeout(Duration) = Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
    int,
    |ms| timeout_ms(ms).map(ConnectTimeout)
);

/// A boolean (`cassandra.tls.enable_host_verification`). Besides `true` and
/// `false`, the YAML 1.1 words the Go original's YAML library took: `yes`,
/// `no`, `on`, `off`, `y`, `n`, in lower, Title or UPPER case.
#[derive(Default)]
struct Flag(Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true or false (or yes/no, on/off)")
            }
            fn visit_none<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Flag, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                yaml11_bool(v).map(|b| Flag(Some(b))).ok_or_else(|| {
                    E::custom(format!(
                        "{v:?} is not a boolean (true or false; yes/no and on/off are accepted too)"
                    ))
                })
            }
        }
        d.deserialize_option(V)
    }
}

/// The YAML 1.1 booleans, exactly as YAML 1.1 spells them (`yEs` is not one).
fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Some(false)
        }
        _ => None,
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
    enable_host_verification: Flag,
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
                verify_hostname: k.enable_host_verification.0.unwrap_or(true),
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
