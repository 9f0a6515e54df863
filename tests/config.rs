//! The configuration contract: keys, defaults, validation rules and the
//! one-line errors an operator reads.

use std::path::Path;
use std::time::Duration;

use kask::config::*;

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    Config::parse(yaml, Path::new("/etc/kask/config.yaml"))
}

fn error(yaml: &str) -> String {
    parse(yaml).expect_err("should be refused").to_string()
}

#[test]
fn the_operators_deployment_prep_config_loads_unchanged() {
    let c = Config::load(Path::new("tests/fixtures/deployment-prep-config.yaml")).unwrap();
    assert_eq!(c.http.base_uri, "/sessions/v1/");
    assert_eq!(c.http.listen_address, "0.0.0.0");
    assert_eq!(c.http.listen_port, 8080);
    assert_eq!(c.log.service_name, "sessions");
    assert_eq!(c.store.keyspace, "sessions");
    assert_eq!(c.store.table, "values");
    assert_eq!(
        c.store.hosts,
        vec!["deployment-sessionstore02.deployment-prep.eqiad1.wikimedia.cloud"]
    );
    assert_eq!(c.store.default_ttl, 86400);
    let auth = c.store.auth.unwrap();
    assert_eq!(
        (auth.username.as_str(), auth.password.expose()),
        ("cassandra", "cassandra")
    );
    assert!(c.unknown_keys.is_empty());
}

#[test]
fn defaults() {
    for empty in ["", "---\n", "---\n# nothing\n"] {
        let c = parse(empty).unwrap();
        assert_eq!(c.log.service_name, DEFAULT_SERVICE_NAME);
        assert_eq!(c.log.level, LogLevel::Info);
        assert_eq!(c.log.format, LogFormat::Auto);
        assert_eq!(c.http.base_uri, "/v1/");
        assert_eq!(c.http.listen_address, "localhost");
        assert_eq!(c.http.listen_port, 8080);
        assert_eq!(c.http.max_value_bytes, 4 * 1024 * 1024);
        assert_eq!(c.http.tls, None);
        assert_eq!(c.http.openapi_spec, None);
        assert_eq!(c.store.hosts, vec!["localhost"]);
        assert_eq!(c.store.port, 9042);
        assert_eq!(c.store.keyspace, "kask");
        assert_eq!(c.store.table, "values");
        assert_eq!(c.store.local_dc, None);
        assert_eq!(c.store.query_timeout, Duration::from_millis(12000));
        assert_eq!(c.store.connect_timeout, Duration::from_millis(5000));
        assert_eq!(c.store.default_ttl, 86400);
        assert_eq!(c.store.auth, None);
        assert_eq!(c.store.tls, None);
        assert_eq!(c.store.protocol_version, None);
    }
}

#[test]
fn base_uri_is_normalised() {
    for (given, want) in [
        ("sessions/v1", "/sessions/v1/"),
        ("/sessions/v1", "/sessions/v1/"),
        ("sessions/v1/", "/sessions/v1/"),
        ("/sessions/v1/", "/sessions/v1/"),
        ("echoseen/v1", "/echoseen/v1/"),
    ] {
        assert_eq!(
            parse(&format!("base_uri: {given}\n"))
                .unwrap()
                .http
                .base_uri,
            want,
            "{given}"
        );
    }
}

#[test]
fn ttl_rules() {
    assert_eq!(parse("default_ttl: 0\n").unwrap().store.default_ttl, 0);
    assert_eq!(
        parse("default_ttl: 630720000\n").unwrap().store.default_ttl,
        630720000
    );
    assert_eq!(
        error("---\nservice_name: x\ndefault_ttl: -1\n"),
        "/etc/kask/config.yaml:3: default_ttl: -1 is negative; use 0 for no expiry"
    );
    assert!(error("default_ttl: 630720001\n")
        .starts_with("/etc/kask/config.yaml:1: default_ttl: 630720001 exceeds"));
}

#[test]
fn log_levels_are_case_insensitive_and_closed() {
    for (s, l) in [
        ("debug", LogLevel::Debug),
        ("INFO", LogLevel::Info),
        ("Warning", LogLevel::Warning),
        ("error", LogLevel::Error),
        ("FATAL", LogLevel::Fatal),
    ] {
        assert_eq!(parse(&format!("log_level: {s}\n")).unwrap().log.level, l);
    }
    assert_eq!(
        error("log_level: verbose\n"),
        "/etc/kask/config.yaml:1: log_level: \"verbose\" is not one of debug, info, warning, error, fatal"
    );
}

#[test]
fn log_formats() {
    for (s, f) in [
        ("auto", LogFormat::Auto),
        ("json", LogFormat::Json),
        ("JSON", LogFormat::Json),
        ("cee", LogFormat::Cee),
    ] {
        assert_eq!(parse(&format!("log_format: {s}\n")).unwrap().log.format, f);
    }
    assert_eq!(
        error("---\nlog_format: text\n"),
        "/etc/kask/config.yaml:2: log_format: \"text\" is not one of auto, json, cee"
    );
    // It applies on reload, like the level.
    let (a, b) = (parse("").unwrap(), parse("log_format: json\n").unwrap());
    assert_eq!(a.restart_needed(&b), Vec::<&str>::new());
}

#[test]
fn pairs_must_come_together() {
    assert_eq!(
        error("---\ncassandra:\n  authentication:\n    username: kask\n"),
        "/etc/kask/config.yaml:3: cassandra.authentication.password: is required when cassandra.authentication.username is set"
    );
    assert_eq!(
        error("---\ncassandra:\n  authentication:\n    password: secret\n"),
        "/etc/kask/config.yaml:3: cassandra.authentication.username: is required when cassandra.authentication.password is set"
    );
    assert!(error("tls:\n  cert: /a.pem\n").contains("tls.key: is required when tls.cert is set"));
    assert!(
        error("cassandra:\n  tls:\n    key: /k.pem\n").contains("cassandra.tls.cert: is required")
    );
    assert_eq!(
        error("cassandra:\n  tls:\n    cert: /c.pem\n    key: /k.pem\n"),
        "/etc/kask/config.yaml:2: cassandra.tls.ca: is required when cassandra.tls.cert and key are set"
    );
}

#[test]
fn cassandra_tls() {
    let c = parse("cassandra:\n  tls:\n    ca: /ca.pem\n").unwrap();
    let t = c.store.tls.unwrap();
    assert!(
        t.verify_hostname,
        "host verification is on unless turned off"
    );
    assert_eq!(t.client_cert, None);
    let c = parse("cassandra:\n  tls:\n    ca: /ca.pem\n    cert: /c.pem\n    key: /k.pem\n    enable_host_verification: false\n")
        .unwrap();
    let t = c.store.tls.unwrap();
    assert!(!t.verify_hostname);
    assert_eq!(t.client_cert, Some(("/c.pem".into(), "/k.pem".into())));
}

#[test]
fn type_errors_name_key_and_line() {
    assert_eq!(
        error("---\ncassandra:\n  hosts:\n  - a\n  port: ninety\n"),
        "/etc/kask/config.yaml:5: cassandra.port: invalid type: string \"ninety\", expected an integer"
    );
    assert!(error("listen_port: 70000\n")
        .starts_with("/etc/kask/config.yaml:1: listen_port: 70000 is not a TCP port"));
    assert!(
        error("cassandra:\n  hosts: []\n").contains("cassandra.hosts: must list at least one host")
    );
    assert!(error("cassandra:\n  keyspace: bad-name\n")
        .starts_with("/etc/kask/config.yaml:2: cassandra.keyspace: \"bad-name\""));
    assert!(error("cassandra:\n  query_timeout_ms: 0\n")
        .contains("cassandra.query_timeout_ms: 0 must be a positive"));
    assert!(error("cassandra:\n  protocol_version: 2\n")
        .contains("cassandra.protocol_version: 2 is not one of 4, 5"));
    assert!(error("cassandra:\n  protocol_version: 3\n").contains(
        "cassandra.protocol_version: 3 is no longer supported (it was for Cassandra 2.1)"
    ));
    assert!(error("max_value_bytes: 0\n").contains("max_value_bytes: 0 is out of range"));
    assert!(error("idle_timeout_seconds: 0\n")
        .contains("idle_timeout_seconds: 0 is out of range (1-3600)"));
    assert!(error("body_timeout_seconds: 3601\n")
        .contains("body_timeout_seconds: 3601 is out of range (1-3600)"));
    assert!(error("max_connections: 0\n").contains("max_connections: 0 is out of range"));
}

#[test]
fn connection_limits_and_their_defaults() {
    let d = parse("").unwrap().http.limits;
    assert_eq!(d.idle_timeout, Duration::from_secs(30));
    assert_eq!(d.body_timeout, Duration::from_secs(60));
    assert_eq!(d.max_connections, 10_000);
    let c = parse("idle_timeout_seconds: 5\nbody_timeout_seconds: 7\nmax_connections: 100\n")
        .unwrap()
        .http
        .limits;
    assert_eq!(c.idle_timeout, Duration::from_secs(5));
    assert_eq!(c.body_timeout, Duration::from_secs(7));
    assert_eq!(c.max_connections, 100);
}

#[test]
fn yaml_syntax_errors_give_the_line() {
    let e = parse("---\nbase_uri: /x\ncassandra:\n  hosts: [a\n  port: 1\n").unwrap_err();
    assert!(e.line.is_some(), "{e}");
    let e = parse("---\nbase_uri: /x\ncassandra: [a]\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/kask/config.yaml:3: cassandra: invalid type: sequence, expected a mapping"
    );
}

#[test]
fn unknown_keys_are_accepted_and_reported() {
    let c = parse("---\nbogus: 1\ncassandra:\n  hostz: [a]\n").unwrap();
    assert_eq!(
        c.unknown_keys,
        vec![
            UnknownKey {
                key: "bogus".into(),
                line: Some(2),
                suggestion: None
            },
            UnknownKey {
                key: "cassandra.hostz".into(),
                line: Some(4),
                suggestion: Some("cassandra.hosts")
            }
        ]
    );
    let w = unknown_key_warnings(&c, Path::new("/etc/kask/config.yaml"));
    assert_eq!(
        w[1],
        "/etc/kask/config.yaml:4: unknown configuration key \"cassandra.hostz\" ignored; did you mean `cassandra.hosts`?"
    );
    assert_eq!(
        w[0],
        "/etc/kask/config.yaml:2: unknown configuration key \"bogus\" ignored; check its spelling and indentation (kask(8) lists the known keys)"
    );
}

fn strict(yaml: &str) -> String {
    Config::parse_checked(
        yaml,
        Path::new("/etc/kask/config.yaml"),
        UnknownKeys::Refuse,
    )
    .expect_err("strict should refuse")
    .to_string()
}

#[test]
fn strict_refuses_unknown_keys_naming_line_and_nearest_key() {
    // A dedented `keyspace` would silently mean keyspace `kask`.
    assert_eq!(
        strict("---\ncassandra:\n  hosts: [a]\nkeyspace: sessions\n"),
        "/etc/kask/config.yaml:4: keyspace: unknown key; did you mean `cassandra.keyspace`?"
    );
    assert_eq!(
        strict("---\ncassandra:\n  authentication:\n    usernme: kask\n    password: x\n"),
        "/etc/kask/config.yaml:4: cassandra.authentication.usernme: unknown key; did you mean `cassandra.authentication.username`?"
    );
    assert_eq!(
        strict("---\ncassandra:\n  usernme: kask\n"),
        "/etc/kask/config.yaml:3: cassandra.usernme: unknown key; did you mean `cassandra.authentication.username`?"
    );
    assert_eq!(
        strict("listen_prot: 8080\n"),
        "/etc/kask/config.yaml:1: listen_prot: unknown key; did you mean `listen_port`?"
    );
    assert_eq!(
        strict("---\nservice_name: x\nfrobnicate: 1\n"),
        "/etc/kask/config.yaml:3: frobnicate: unknown key"
    );
    // The first unknown key in the file is the one named.
    assert!(strict("---\na1: 1\nb2: 2\n").starts_with("/etc/kask/config.yaml:2: a1:"));
    // Known keys pass, and the whole contract passes strict.
    Config::parse_checked(EVERY_KEY, Path::new("x"), UnknownKeys::Refuse).unwrap();
}

#[test]
fn unknown_keys_beyond_the_first_sixteen_have_no_line_but_are_all_named() {
    let yaml: String = (0..20).map(|i| format!("unknown{i}: 1\n")).collect();
    let c = parse(&yaml).unwrap();
    assert_eq!(c.unknown_keys.len(), 20);
    assert_eq!(c.unknown_keys[15].line, Some(16));
    assert_eq!(c.unknown_keys[19].key, "unknown19");
    assert_eq!(c.unknown_keys[19].line, None);
}

#[test]
fn duplicates_are_named_at_the_second_with_the_line_of_the_first() {
    assert_eq!(
        error("---\nlisten_port: 1\nbase_uri: /x\nlisten_port: 2\n"),
        "/etc/kask/config.yaml:4: listen_port: set twice; the first is at line 2"
    );
    assert_eq!(
        error("---\ncassandra:\n  port: 1\n  keyspace: k\n  port: 2\n"),
        "/etc/kask/config.yaml:5: cassandra.port: set twice; the first is at line 3"
    );
    // The same name in two sections is not a duplicate.
    parse(
        "tls:\n  cert: /c\n  key: /k\ncassandra:\n  tls:\n    ca: /a\n    cert: /c\n    key: /k\n",
    )
    .unwrap();
}

#[test]
fn yaml_1_1_booleans_are_accepted_as_the_go_original_accepted_them() {
    let verify = |v: &str| {
        parse(&format!(
            "cassandra:\n  tls:\n    ca: /ca.pem\n    enable_host_verification: {v}\n"
        ))
        .map(|c| c.store.tls.unwrap().verify_hostname)
    };
    for v in [
        "yes", "Yes", "YES", "on", "On", "ON", "y", "Y", "true", "True", "TRUE",
    ] {
        assert_eq!(verify(v), Ok(true), "{v}");
    }
    for v in [
        "no", "No", "NO", "off", "Off", "OFF", "n", "N", "false", "False", "FALSE",
    ] {
        assert_eq!(verify(v), Ok(false), "{v}");
    }
    assert_eq!(
        verify("maybe").unwrap_err().to_string(),
        "/etc/kask/config.yaml:4: cassandra.tls.enable_host_verification: \"maybe\" is not a boolean (true or false; yes/no and on/off are accepted too)"
    );
    assert!(verify("yEs").is_err());
    assert!(verify("1")
        .unwrap_err()
        .to_string()
        .contains("expected true or false"));
}

#[test]
fn no_error_echoes_a_password() {
    for yaml in [
        "---\ncassandra:\n  authentication: hunter2\n",
        "---\ncassandra:\n  authentication: [hunter2]\n",
        "---\ncassandra:\n  authentication:\n    username: u\n    password: [hunter2]\n",
        "---\ncassandra:\n  authentication:\n    username: u\n    password: {hunter2: 1}\n",
        "---\ncassandra:\n  authentication:\n    username: u\n    password:\n    - hunter2\n",
        "---\ncassandra:\n  authentication: !!binary hunter2\n",
        "---\ncassandra:\n  authentication: 'hunter2'\n",
    ] {
        let e = error(yaml);
        assert!(!e.contains("hunter2"), "{yaml:?} gave {e}");
        assert!(e.starts_with("/etc/kask/config.yaml:"), "{e}");
    }
    assert_eq!(
        error("---\ncassandra:\n  authentication: hunter2\n"),
        "/etc/kask/config.yaml:3: cassandra.authentication: invalid type: a string (not shown), expected a mapping"
    );
}

#[test]
fn no_error_names_the_key_as_a_question_mark() {
    for yaml in [
        "a: b: c\n",
        "---\n{a: 1}: 2\n",
        "---\n[a]: 2\n",
        "---\ncassandra:\n  {a: 1}: 2\n",
        "---\ncassandra:\n  hosts: [a\n  port: 1\n",
        "---\ncassandra:\n  ? : 1\n",
    ] {
        let e = parse(yaml).expect_err(yaml);
        assert!(
            !e.key.contains('?') && !e.to_string().contains(": ?"),
            "{yaml:?} gave {e}"
        );
        assert!(e.line.is_some(), "{yaml:?} gave {e}");
    }
    assert_eq!(
        error("---\ncassandra:\n  {a: 1}: 2\n"),
        "/etc/kask/config.yaml:3: cassandra: a key must be a name, not a mapping"
    );
}

#[test]
fn a_utf8_byte_order_mark_is_accepted() {
    let c = parse("\u{feff}---\nlisten_port: 8081\n").unwrap();
    assert_eq!(c.http.listen_port, 8081);
    let c = parse("\u{feff}listen_port: 8082\n").unwrap();
    assert_eq!(c.http.listen_port, 8082);
    parse("\u{feff}").unwrap();
    // Lines still count from the first line of the file.
    assert_eq!(
        error("\u{feff}---\nlisten_port: x\n"),
        "/etc/kask/config.yaml:2: listen_port: invalid type: string \"x\", expected an integer"
    );
}

#[test]
fn files_are_read_up_to_a_bound_and_as_utf8() {
    let e = Config::load(Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("/dev/zero: not a kask configuration: longer than {MAX_CONFIG_BYTES} bytes (read stopped there; a configuration is a few hundred bytes)")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, b"---\nservice_name: caf\xe9\n").unwrap();
    let e = Config::load(&path).unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("not UTF-8"), "{e}");
    // Just under the bound is read (and judged as YAML).
    let mut big = b"---\n".to_vec();
    big.resize(MAX_CONFIG_BYTES as usize - 1, b'#');
    std::fs::write(&path, &big).unwrap();
    Config::load(&path).unwrap();
}

#[test]
fn extensions() {
    let c = parse(
        "max_value_bytes: 1024\nshutdown_grace_seconds: 3\ncassandra:\n  protocol_version: 5\n  local_dc: eqiad\ntls:\n  cert: /c\n  key: /k\n  client_ca: /ca\n",
    )
    .unwrap();
    assert_eq!(c.http.max_value_bytes, 1024);
    assert_eq!(c.http.shutdown_grace, Duration::from_secs(3));
    assert_eq!(c.store.protocol_version, Some(5));
    assert_eq!(c.store.local_dc.as_deref(), Some("eqiad"));
    assert_eq!(c.http.tls.unwrap().client_ca, Some("/ca".into()));
    assert!(
        error("tls:\n  client_ca: /ca\n").contains("tls.client_ca: requires tls.cert and tls.key")
    );
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let c =
        parse("cassandra:\n  authentication:\n    username: u\n    password: hunter2\n").unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

/// Every key of the contract, each set to something other than its default.
const EVERY_KEY: &str = "---
service_name: sessions
base_uri: sessions/v1
listen_address: 0.0.0.0
listen_port: 8081
default_ttl: 3600
log_level: debug
log_format: json
openapi_spec: /etc/kask/openapi.yaml
max_value_bytes: 1024
shutdown_grace_seconds: 3
idle_timeout_seconds: 5
body_timeout_seconds: 7
max_connections: 100
tls:
  cert: /etc/kask/cert.pem
  key: /etc/kask/key.pem
  client_ca: /etc/kask/clients.pem
cassandra:
  hosts:
  - cassandra1.example.org
  port: 9043
  keyspace: sessions
  table: kv
  local_dc: eqiad
  query_timeout_ms: 1000
  connect_timeout_ms: 1000
  protocol_version: 4
  authentication:
    username: kask
    password: secret
  tls:
    ca: /etc/kask/cassandra-ca.pem
    cert: /etc/kask/cassandra.pem
    key: /etc/kask/cassandra.key
    enable_host_verification: false
";

/// The dotted keys of a YAML mapping, sections before their keys.
fn dotted_keys(yaml: &str) -> Vec<String> {
    fn walk(v: &serde_yaml::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_yaml::Value::Mapping(m) = v {
            for (k, v) in m {
                let key = format!("{prefix}{}", k.as_str().unwrap());
                out.push(key.clone());
                walk(v, &format!("{key}."), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&serde_yaml::from_str(yaml).unwrap(), "", &mut out);
    out.sort();
    out
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    v.sort();
    v
}

#[test]
fn every_key_is_read_and_listed_in_keys() {
    let c = parse(EVERY_KEY).unwrap();
    assert_eq!(c.unknown_keys, Vec::<UnknownKey>::new());
    assert_eq!(dotted_keys(EVERY_KEY), sorted(KEYS));
    // Each setting reached the configuration (none was read and dropped):
    // against the defaults, all differ. A reload applies the first two live;
    // every other change is named as needing a restart.
    let d = parse("").unwrap();
    assert_ne!(c.log.service_name, d.log.service_name);
    assert_ne!(c.log.level, d.log.level);
    assert_ne!(c.log.format, d.log.format);
    assert_eq!(
        d.restart_needed(&c),
        [
            "base_uri",
            "listen_address",
            "listen_port",
            "tls",
            "max_value_bytes",
            "openapi_spec",
            "shutdown_grace_seconds",
            "idle_timeout_seconds",
            "body_timeout_seconds",
            "max_connections",
            "cassandra.hosts",
            "cassandra.port",
            "cassandra.keyspace",
            "cassandra.table",
            "cassandra.local_dc",
            "cassandra.query_timeout_ms",
            "cassandra.connect_timeout_ms",
            "cassandra.authentication",
            "cassandra.tls",
            "cassandra.protocol_version",
            "default_ttl",
        ]
    );
    assert_eq!(c.restart_needed(&c), Vec::<&str>::new());
}

#[test]
fn new_certificate_files_apply_on_reload_but_tls_on_or_off_takes_a_restart() {
    let on = parse("tls:\n  cert: /a.pem\n  key: /a.key\n").unwrap();
    let renewed = parse("tls:\n  cert: /b.pem\n  key: /b.key\n  client_ca: /ca.pem\n").unwrap();
    let off = parse("").unwrap();
    assert_eq!(on.restart_needed(&renewed), Vec::<&str>::new());
    assert_eq!(on.restart_needed(&off), ["tls"]);
    assert_eq!(off.restart_needed(&on), ["tls"]);
}

/// Puppet's `kask::config_schema` (puppet/modules/kask/functions/
/// config_schema.pp): dotted key to type, as the file writes them.
fn puppet_schema() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/puppet/modules/kask/functions/config_schema.pp"
    );
    let text = std::fs::read_to_string(path).expect("read Puppet's config_schema.pp");
    let body = text
        .split_once("$schema = {")
        .expect("config_schema.pp has `$schema = {`")
        .1;
    let body = body.split_once("\n  }").expect("the schema hash ends").0;
    let mut out = Vec::new();
    for line in body.lines().map(str::trim).filter(|l| l.starts_with('\'')) {
        let (key, rest) = line[1..].split_once('\'').expect("a quoted key");
        let ty = rest
            .trim()
            .strip_prefix("=>")
            .expect("key => type")
            .trim()
            .trim_end_matches(',');
        out.push((key.to_string(), ty.to_string()));
    }
    assert!(out.len() > 10, "too few keys read from {path}: {out:?}");
    out
}

/// A `Pattern[/.../]` of config_schema.pp, directly or through a variable
/// defined there, as a regex.
fn puppet_pattern(ty: &str) -> regex::Regex {
    let ty = if let Some(var) = ty.strip_prefix('$') {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/puppet/modules/kask/functions/config_schema.pp"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let def = format!("${var} = ");
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&def))
            .unwrap_or_else(|| panic!("{def} in config_schema.pp"));
        line[def.len()..].to_string()
    } else {
        ty.to_string()
    };
    let re = ty
        .strip_prefix("Pattern[/")
        .and_then(|r| r.strip_suffix("/]"))
        .unwrap_or_else(|| panic!("not a Pattern: {ty}"));
    regex::Regex::new(re).unwrap()
}

/// The value that sets the dotted `key` in a one-key document.
fn document(key: &str, value: &str) -> String {
    let mut s = String::new();
    let parts: Vec<&str> = key.split('.').collect();
    for (depth, part) in parts.iter().enumerate() {
        s.push_str(&"  ".repeat(depth));
        s.push_str(part);
        s.push(':');
        s.push(if depth + 1 == parts.len() { ' ' } else { '\n' });
    }
    s.push_str(value);
    s.push('\n');
    s
}

#[test]
fn puppet_knows_the_keys_the_daemon_knows() {
    let mut puppet: Vec<String> = puppet_schema().into_iter().map(|(k, _)| k).collect();
    puppet.sort();
    assert_eq!(puppet, sorted(KEYS));
}

/// Where Puppet checks a value with a pattern, the daemon accepts the same
/// values: a catalog that compiles renders a file the daemon loads, and a
/// name the daemon would refuse fails when the catalog compiles.
#[test]
fn puppet_patterns_and_the_daemon_agree() {
    let long = "a".repeat(MAX_CQL_IDENTIFIER_LEN);
    let too_long = "a".repeat(MAX_CQL_IDENTIFIER_LEN + 1);
    let names = [
        "kask",
        "sessions",
        "echostore",
        "a",
        "A_1",
        "values",
        "1abc",
        "_x",
        "bad-name",
        "a b",
        "sessionsé",
        "",
        &long,
        &too_long,
    ];
    let levels = [
        "debug", "INFO", "Warning", "error", "fatal", "verbose", "", "info ",
    ];
    let formats = ["auto", "json", "JSON", "Cee", "text", "", "json "];
    let mut checked = 0;
    for (key, ty) in puppet_schema() {
        if !(ty.starts_with("Pattern[") || ty.starts_with('$')) {
            continue;
        }
        let re = puppet_pattern(&ty);
        let samples: &[&str] = match key.as_str() {
            "cassandra.keyspace" | "cassandra.table" => &names,
            "log_level" => &levels,
            "log_format" => &formats,
            other => panic!("a pattern for {other}: add samples for it here"),
        };
        for s in samples {
            let daemon = parse(&document(&key, &format!("{s:?}"))).is_ok();
            assert_eq!(
                re.is_match(s),
                daemon,
                "{key} = {s:?}: Puppet's {ty} says {}, the daemon says {daemon}",
                re.is_match(s)
            );
            checked += 1;
        }
    }
    assert!(checked >= names.len() * 2 + levels.len() + formats.len());
}

/// Where Puppet bounds an integer, the daemon accepts the bounds. Where the
/// two differ, it is listed here with the reason; a difference not listed,
/// or listed and gone, fails.
#[test]
fn puppet_integer_ranges_and_the_daemon_agree() {
    // (key, Puppet's range, the daemon's range, why they differ)
    let known: [(&str, &str, &str); 3] = [
        // Port 0 (the kernel picks one) is no use for a service that
        // clients and the socket unit must find.
        ("listen_port", "1-65535", "0-65535"),
        // Puppet's schema sets no upper bound; the daemon refuses more.
        ("max_value_bytes", "1-", "1-268435456"),
        ("shutdown_grace_seconds", "0-", "0-3600"),
    ];
    let daemon_accepts = |key: &str, n: i64| parse(&document(key, &n.to_string())).is_ok();
    let daemon_range = |key: &str| -> (i64, Option<i64>) {
        let lo = [-1, 0, 1, 3, 4]
            .into_iter()
            .find(|&n| daemon_accepts(key, n))
            .unwrap();
        let hi = [65_535, 630_720_000, 268_435_456, 3600, 5, 1_000_000]
            .into_iter()
            .filter(|&n| daemon_accepts(key, n) && !daemon_accepts(key, n + 1))
            .max();
        (lo, hi)
    };
    let show = |(lo, hi): (i64, Option<i64>)| match hi {
        Some(hi) => format!("{lo}-{hi}"),
        None => format!("{lo}-"),
    };
    let mut seen = Vec::new();
    for (key, ty) in puppet_schema() {
        let Some(range) = ty
            .strip_prefix("Integer[")
            .and_then(|r| r.strip_suffix(']'))
        else {
            continue;
        };
        let mut bounds = range.split(',').map(|b| b.trim().parse::<i64>().unwrap());
        let puppet = (bounds.next().unwrap(), bounds.next());
        let daemon = daemon_range(&key);
        let (p, d) = (show(puppet), show(daemon));
        match known.iter().find(|(k, _, _)| *k == key) {
            Some((_, kp, kd)) => assert_eq!(
                (p.as_str(), d.as_str()),
                (*kp, *kd),
                "{key}: the known difference changed; update this test"
            ),
            None => assert_eq!(p, d, "{key}: Puppet says {p}, the daemon {d}"),
        }
        seen.push(key);
    }
    for (k, _, _) in known {
        assert!(
            seen.iter().any(|s| s == k),
            "{k} is no longer an Integer in Puppet"
        );
    }
}

#[test]
fn a_keyspace_or_table_must_start_with_a_letter() {
    assert!(error("cassandra:\n  keyspace: 1sessions\n").starts_with(
        "/etc/kask/config.yaml:2: cassandra.keyspace: \"1sessions\" is not a valid CQL name"
    ));
    assert!(error("cassandra:\n  table: _values\n").starts_with(
        "/etc/kask/config.yaml:2: cassandra.table: \"_values\" is not a valid CQL name"
    ));
    assert_eq!(
        parse("cassandra:\n  keyspace: Sessions_2\n")
            .unwrap()
            .store
            .keyspace,
        "Sessions_2"
    );
}

#[test]
fn errors_carry_the_line_of_nested_values() {
    assert_eq!(
        error("---\ncassandra:\n  hosts:\n  - a\n  authentication:\n    username: u\n    password: [p]\n"),
        "/etc/kask/config.yaml:7: cassandra.authentication.password: invalid type: sequence, expected a string"
    );
    assert_eq!(
        error("---\ntls:\n  cert: /c\n  key: /k\n  client_ca: {}\n"),
        "/etc/kask/config.yaml:5: tls.client_ca: invalid type: map, expected a string"
    );
}

#[test]
fn load_finds_unreadable_files_parse_does_not_open_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let yaml = "---\ntls:\n  cert: /nonexistent/cert.pem\n  key: /nonexistent/key.pem\n";
    std::fs::write(&path, yaml).unwrap();
    assert!(parse(yaml).is_ok());
    let e = Config::load(&path).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (Some(3), "tls.cert"));
    assert!(
        e.message.starts_with("cannot read /nonexistent/cert.pem: "),
        "{e}"
    );
}

/// Every error about something in the file names the line and the key
/// (the missing half of a pair: the line of its section's key).
#[test]
fn every_error_in_the_file_names_line_and_key() {
    for (yaml, line, key) in [
        ("tls:\n  cert: /a.pem\n", 1, "tls.key"),
        ("---\ntls:\n  key: /k.pem\n", 2, "tls.cert"),
        ("tls:\n  client_ca: /ca\n", 1, "tls.client_ca"),
        (
            "cassandra:\n  tls:\n    key: /k.pem\n",
            2,
            "cassandra.tls.cert",
        ),
        ("cassandra:\n  hosts: []\n", 2, "cassandra.hosts"),
        ("cassandra:\n  hosts: [a, 'b c']\n", 2, "cassandra.hosts"),
        (
            "cassandra:\n  query_timeout_ms: 0\n",
            2,
            "cassandra.query_timeout_ms",
        ),
        (
            "cassandra:\n  protocol_version: 2\n",
            2,
            "cassandra.protocol_version",
        ),
        ("max_value_bytes: 0\n", 1, "max_value_bytes"),
        ("---\nlisten_port: '80'\n", 2, "listen_port"),
        ("---\nbase_uri: [a]\n", 2, "base_uri"),
        (
            "---\ncassandra:\n  port: 1\n  port: 2\n",
            4,
            "cassandra.port",
        ),
        (
            "---\ncassandra:\n  authentication: x\n",
            3,
            "cassandra.authentication",
        ),
        ("---\ncassandra:\n  {a: 1}: 2\n", 3, "cassandra"),
    ] {
        let e = parse(yaml).expect_err(yaml);
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(line), key),
            "{yaml:?} gave {e}"
        );
    }
}
