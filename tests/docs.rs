//! The documentation agrees with the program on streams and exit codes:
//! `kask --help`, the man page (docs/kask.8) and the README say the same
//! thing, and the binary does it.

use std::path::Path;
use std::process::{Command, Output};

fn kask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kask"))
        .args(args)
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run kask")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lines of a man page section, from `.SH NAME` to the next `.SH`.
fn man_section(man: &str, name: &str) -> String {
    let start = man
        .find(&format!("\n.SH {name}\n"))
        .unwrap_or_else(|| panic!("no .SH {name} in docs/kask.8"));
    let rest = &man[start + 1..];
    let end = rest[4..].find("\n.SH ").map_or(rest.len(), |i| i + 4);
    rest[..end].to_string()
}

fn numbers(s: &str) -> Vec<u32> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect()
}

#[test]
fn help_man_page_and_readme_list_the_same_exit_codes() {
    let help = String::from_utf8(kask(&["--help"]).stdout).unwrap();
    let help_line = help
        .lines()
        .find(|l| l.starts_with("Exit codes:"))
        .expect("kask --help has an 'Exit codes:' line");
    let from_help = numbers(help_line);

    let man = read("docs/kask.8");
    let section = man_section(&man, "EXIT STATUS");
    let lines: Vec<&str> = section.lines().collect();
    let from_man: Vec<u32> = lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .filter_map(|w| w[1].strip_prefix(".B "))
        .map(|n| n.trim().parse().expect("an exit code after .TP/.B"))
        .collect();

    let readme = read("README.md");
    // The list item, which may wrap over several lines.
    let item = readme
        .split("\n- ")
        .find(|item| item.starts_with("**Exit codes:**"))
        .expect("README has an **Exit codes:** item");
    let readme_line = item.split("\n\n").next().unwrap().replace('\n', " ");
    // "0 ok, 1 runtime failure (e.g. ...), 64 usage error, 78 invalid configuration"
    let from_readme: Vec<u32> = readme_line
        .split(", ")
        .filter_map(|part| numbers(part).first().copied())
        .collect();

    assert_eq!(from_help, vec![0, 1, 64, 78], "{help_line}");
    assert_eq!(from_man, from_help, "man page EXIT STATUS against --help");
    assert_eq!(
        from_readme, from_help,
        "README against --help: {readme_line}"
    );
}

#[test]
fn the_log_goes_to_stdout_and_one_error_line_to_stderr_as_documented() {
    // What the binary does outside systemd: an invalid configuration at
    // start is logged as a FATAL JSON line on stdout, and said once on
    // stderr.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "cassandra:\n  port: ninety\n").unwrap();
    let out = kask(&["--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("{\"msg\":") && l.contains("\"level\":\"FATAL\"")),
        "no FATAL JSON log line on stdout: {stdout:?}"
    );
    let err_lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(err_lines.len(), 1, "stderr: {stderr:?}");
    assert!(
        err_lines[0].starts_with("kask: ") && err_lines[0].contains("cassandra.port"),
        "{stderr:?}"
    );

    // What the documents say about it.
    let man = read("docs/kask.8");
    let logging = man_section(&man, "LOGGING");
    assert!(
        logging.contains("log to standard output, one JSON object per line"),
        "docs/kask.8 LOGGING must say the log goes to standard output: {logging}"
    );
    assert!(
        !logging.contains("per line to standard error"),
        "docs/kask.8 LOGGING still says standard error: {logging}"
    );
    assert!(
        logging.contains("Standard error carries only"),
        "docs/kask.8 LOGGING must say what goes to standard error: {logging}"
    );
    let readme = read("README.md");
    assert!(
        readme.contains("JSON lines on stdout"),
        "README must say the log goes to stdout"
    );
    let help = String::from_utf8(kask(&["--help"]).stdout).unwrap();
    assert!(help.contains("JSON lines on stdout"), "kask --help: {help}");
    assert!(
        help.contains("errors: one line on stderr"),
        "kask --help: {help}"
    );
}

#[test]
fn help_man_page_and_readme_document_pool_depool_and_readiness() {
    let help = String::from_utf8(kask(&["--help"]).stdout).unwrap();
    let man = read("docs/kask.8");
    let synopsis = man_section(&man, "SYNOPSIS");
    let pool = man_section(&man, "POOL AND DEPOOL");
    let readme = read("README.md");
    for command in ["depool", "pool", "status"] {
        assert!(
            help.contains(&format!("kask {command} [--instance NAME]")),
            "--help: {command}\n{help}"
        );
        assert!(
            synopsis.contains(&format!(".B kask {command}\n")),
            "SYNOPSIS: {command}"
        );
        assert!(
            pool.contains(&format!(".B kask {command} ")),
            "POOL AND DEPOOL: {command}"
        );
    }
    for flag in ["--wait", "--idle", "--timeout"] {
        assert!(help.contains(flag), "--help: {flag}");
        assert!(pool.contains(&flag.replace('-', "\\-")), "man: {flag}");
    }
    // Each links the page, and says how to take an instance out for good.
    assert!(readme.contains("[docs/pool-depool.md](docs/pool-depool.md)"));
    assert!(pool.contains("pool\\-depool.md"));
    assert!(help.contains("docs/pool-depool.md"));
    for text in [&readme, &pool.replace("\\-", "-")] {
        assert!(
            text.contains("systemctl disable --now kask@NAME.socket kask@NAME.service")
                || text.contains("systemctl disable --now kask@NAME.socket\n  kask@NAME.service"),
            "out for good: socket and service"
        );
    }
    assert!(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/pool-depool.md")
        .exists());
    assert!(readme.contains("`unavailable`") && man.contains(".B unavailable"));
    assert!(readme.contains("`GET /readyz`") && man.contains(".B GET /readyz"));
}
