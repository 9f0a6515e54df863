//! The binary as an operator (or Puppet's validate_cmd) meets it: exit codes
//! and the exact one-line messages.

use std::process::{Command, Output};

fn kask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kask"))
        .args(args)
        .output()
        .unwrap()
}

fn write(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let o = kask(&["--version"]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("kask {}\n", env!("CARGO_PKG_VERSION"))
    );
    let o = kask(&["-version"]);
    assert!(o.status.success());
    let o = kask(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for word in [
        "--config",
        "--check-config",
        "--print-schema",
        "Exit codes",
        "SIGHUP",
    ] {
        assert!(help.contains(word), "{word} in --help");
    }
}

#[test]
fn usage_errors_exit_64() {
    let o = kask(&["--bogus"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).starts_with("kask: unknown option --bogus\n"));
}

#[test]
fn check_config_accepts_the_operators_sample() {
    let o = kask(&[
        "--check-config",
        "tests/fixtures/deployment-prep-config.yaml",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Puppet passes the file as `-config FILE` too
    let o = kask(&[
        "--check-config",
        "-config",
        "tests/fixtures/deployment-prep-config.yaml",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn check_config_names_file_line_and_key_and_exits_78() {
    let (_d, p) =
        write("---\nbase_uri: /sessions/v1\ncassandra:\n  hosts:\n  - a\n  port: 99999\n");
    let o = kask(&["--check-config", &p]);
    assert_eq!(o.status.code(), Some(78));
    assert_eq!(
        stderr(&o),
        format!("kask: {p}:6: cassandra.port: 99999 is not a TCP port (0-65535)\n")
    );

    let (_d, p) = write("---\ndefault_ttl: -5\n");
    let o = kask(&["--check-config", &p]);
    assert_eq!(o.status.code(), Some(78));
    assert_eq!(
        stderr(&o),
        format!("kask: {p}:2: default_ttl: -5 is negative; use 0 for no expiry\n")
    );

    let o = kask(&["--check-config", "/nonexistent/kask.yaml"]);
    assert_eq!(o.status.code(), Some(78));
    assert!(
        stderr(&o).starts_with("kask: /nonexistent/kask.yaml: cannot read the configuration file:")
    );
}

#[test]
fn check_config_finds_missing_certificate_files() {
    let (_d, p) = write("---\ncassandra:\n  tls:\n    ca: /nonexistent/ca.pem\n");
    let o = kask(&["--check-config", &p]);
    assert_eq!(o.status.code(), Some(78));
    assert!(
        stderr(&o).starts_with(&format!(
            "kask: {p}:4: cassandra.tls.ca: cannot read /nonexistent/ca.pem: "
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_config_finds_certificate_files_that_are_not_what_they_claim() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let n = not_pem.display();
    let (_d, p) = write(&format!("---\ncassandra:\n  tls:\n    ca: {n}\n"));
    let o = kask(&["--check-config", &p]);
    assert_eq!(o.status.code(), Some(78));
    assert_eq!(
        stderr(&o),
        format!("kask: {p}:4: cassandra.tls.ca: {n}: contains no PEM certificate\n")
    );
}

#[test]
fn check_config_warns_about_unknown_keys_but_accepts_them() {
    let (_d, p) = write("---\nlisten_prot: 8080\n");
    let o = kask(&["--check-config", &p]);
    assert!(o.status.success());
    assert_eq!(
        stderr(&o),
        format!("kask: warning: {p}:2: unknown configuration key \"listen_prot\" ignored; did you mean `listen_port`?\n")
    );
}

#[test]
fn check_config_strict_refuses_unknown_keys_with_line_and_nearest_key() {
    // Puppet's validate_cmd runs `--check-config --strict`: a dedented
    // `keyspace` would otherwise pass and silently mean keyspace `kask`.
    let (_d, p) = write("---\ncassandra:\n  hosts:\n  - a\nkeyspace: sessions\n");
    let o = kask(&["--check-config", "--strict", &p]);
    assert_eq!(o.status.code(), Some(78));
    assert_eq!(
        stderr(&o),
        format!("kask: {p}:5: keyspace: unknown key; did you mean `cassandra.keyspace`?\n")
    );
    assert!(o.stdout.is_empty());
    // Without --strict: a warning with the same line, exit 0.
    let o = kask(&["--check-config", &p]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stderr(&o),
        format!("kask: warning: {p}:5: unknown configuration key \"keyspace\" ignored; did you mean `cassandra.keyspace`?\n")
    );
    // A valid file passes --strict.
    let o = kask(&[
        "--check-config",
        "--strict",
        "tests/fixtures/deployment-prep-config.yaml",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(kask(&["--strict"]).status.code(), Some(64));
}

#[test]
fn check_config_refuses_endless_files_with_a_bounded_read() {
    let start = std::time::Instant::now();
    let o = kask(&["--check-config", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(78));
    assert_eq!(
        stderr(&o),
        "kask: /dev/zero: not a kask configuration: longer than 1048576 bytes (read stopped there; a configuration is a few hundred bytes)\n"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let o = kask(&["--check-config", "/dev/urandom"]);
    assert_eq!(o.status.code(), Some(78));
    assert!(
        stderr(&o).contains("longer than 1048576 bytes"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_config_error_never_echoes_the_password_on_stderr_or_in_the_log() {
    let (_d, p) = write("---\ncassandra:\n  authentication: s3cr3t-pw\n");
    for args in [
        &["--check-config", p.as_str()][..],
        &["--config", p.as_str()],
    ] {
        let o = kask(args);
        assert_eq!(o.status.code(), Some(78), "{args:?}");
        let (out, err) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
        assert!(
            err.contains(&format!("{p}:3: cassandra.authentication: invalid type: a string (not shown), expected a mapping")),
            "{err}"
        );
        assert!(
            !err.contains("s3cr3t") && !out.contains("s3cr3t"),
            "{args:?}: {out}{err}"
        );
    }
}

#[test]
fn running_with_a_bad_config_exits_78_without_touching_the_network() {
    let (_d, p) = write("---\nlog_level: loud\n");
    let o = kask(&["--config", &p]);
    assert_eq!(o.status.code(), Some(78));
    assert!(stderr(&o).contains(&format!("kask: {p}:2: log_level: \"loud\" is not one of")));
}

#[test]
fn print_schema() {
    // The role is the configured user; its real password is never printed.
    let (_d, p) = write(
        "---\ncassandra:\n  keyspace: sessions\n  local_dc: eqiad\n  authentication:\n    username: sessionstore\n    password: s3cret-pw\n",
    );
    let o = kask(&["--print-schema", "--config", &p]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "CREATE KEYSPACE IF NOT EXISTS \"sessions\" WITH replication = {'class': 'NetworkTopologyStrategy', 'eqiad': 3};\n\
         CREATE TABLE IF NOT EXISTS \"sessions\".\"values\" (key text PRIMARY KEY, value blob);\n\
         CREATE ROLE IF NOT EXISTS \"sessionstore\" WITH PASSWORD = '<password>' AND LOGIN = true;\n\
         GRANT SELECT ON TABLE \"sessions\".\"values\" TO \"sessionstore\";\n\
         GRANT MODIFY ON TABLE \"sessions\".\"values\" TO \"sessionstore\";\n"
    );
    let o = kask(&[
        "--print-schema",
        "--config",
        &p,
        "--replication",
        "eqiad:3,codfw:3",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("'eqiad': 3, 'codfw': 3}"));
    assert_eq!(
        kask(&["--print-schema", "--config", &p, "--replication", "eqiad"])
            .status
            .code(),
        Some(64)
    );
}

#[test]
fn print_openapi_never_leaks_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.yaml");
    std::fs::write(
        &spec,
        "paths:\n  {{- .BaseURI -}}{key}: {}\nx-leak: '{{ .Cassandra.Authentication.Password }}'\n",
    )
    .unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "base_uri: sessions/v1\nopenapi_spec: {}\ncassandra:\n  authentication:\n    username: u\n    password: hunter2\n",
            spec.display()
        ),
    )
    .unwrap();
    let o = kask(&["--print-openapi", "--config", cfg.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("  /sessions/v1/{key}: {}"), "{out}");
    assert!(!out.contains("hunter2"));
}
