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
fn pairs_must_come_together() {
    assert_eq!(
        error("---\ncassandra:\n  authentication:\n    username: kask\n"),
        "/etc/kask/config.yaml: cassandra.authentication.password: is required when cassandra.authentication.username is set"
    );
    assert_eq!(
        error("---\ncassandra:\n  authentication:\n    password: secret\n"),
        "/etc/kask/config.yaml: cassandra.authentication.username: is required when cassandra.authentication.password is set"
    );
    assert!(error("tls:\n  cert: /a.pem\n").contains("tls.key: is required when tls.cert is set"));
    assert!(
        error("cassandra:\n  tls:\n    key: /k.pem\n").contains("cassandra.tls.cert: is required")
    );
    assert_eq!(
        error("cassandra:\n  tls:\n    cert: /c.pem\n    key: /k.pem\n"),
        "/etc/kask/config.yaml: cassandra.tls.ca: is required when cassandra.tls.cert and key are set"
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
        "/etc/kask/config.yaml:5: cassandra.port: invalid type: string \"ninety\", expected i64"
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
    assert_eq!(c.unknown_keys, vec!["bogus", "cassandra.hostz"]);
    let w = unknown_key_warnings(&c, Path::new("/etc/kask/config.yaml"));
    assert!(
        w[1].contains("unknown configuration key \"cassandra.hostz\""),
        "{w:?}"
    );
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

#[test]
fn line_of_finds_nested_keys() {
    let text = "---\nbase_uri: /x\ncassandra:\n  hosts:\n  - a\n  authentication:\n    username: u\n    password: p\ntls:\n  cert: c\n";
    assert_eq!(line_of(text, "base_uri"), Some(2));
    assert_eq!(line_of(text, "cassandra.authentication.password"), Some(8));
    assert_eq!(line_of(text, "tls.cert"), Some(10));
    assert_eq!(line_of(text, "cassandra.port"), None);
}
