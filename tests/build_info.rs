//! The build facts that build.rs sets, as `/healthz` and `kask_build_info`
//! report them: never "unknown", and well formed. (The installed package's
//! /healthz is checked by the package tests, debian/tests/smoke.)

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use kask::metrics::{BuildInfo, Metrics};

#[test]
fn build_facts_are_set() {
    let b = BuildInfo::current();
    for (name, value) in [
        ("build_date", b.build_date),
        ("build_host", b.build_host),
        ("rust_version", b.rust_version),
    ] {
        assert!(
            !value.is_empty() && value != "unknown",
            "{name} is {value:?}"
        );
    }
    assert_eq!(b.version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn build_date_is_iso8601_utc_and_not_in_the_future() {
    let d = BuildInfo::current().build_date;
    // 2026-11-25T14:30:00+00:00
    let b = d.as_bytes();
    let shape_ok = b.len() == 25
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 | 22 => *c == b':',
            19 => *c == b'+',
            _ => c.is_ascii_digit(),
        })
        && d.ends_with("+00:00");
    assert!(
        shape_ok,
        "build_date {d:?} is not YYYY-MM-DDTHH:MM:SS+00:00"
    );
    let year: u64 = d[..4].parse().unwrap();
    let now_year = 1970
        + SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 31_556_952;
    assert!(
        (2020..=now_year + 1).contains(&year),
        "build_date {d:?}: year {year} is not plausible"
    );
}

#[test]
fn rust_version_is_the_compilers() {
    let v = BuildInfo::current().rust_version;
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .expect("rustc --version");
    let now = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        format!("rustc {v}"),
        now.trim(),
        "built with another compiler than the one testing?"
    );
}

#[test]
fn kask_build_info_carries_the_facts() {
    let b = BuildInfo::current();
    let text = String::from_utf8(Metrics::new().render()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("kask_build_info{"))
        .unwrap_or_else(|| panic!("no kask_build_info in:\n{text}"));
    for (label, value) in [
        ("build_date", b.build_date),
        ("build_host", b.build_host),
        ("rust_version", b.rust_version),
        ("version", b.version),
    ] {
        assert!(line.contains(&format!("{label}=\"{value}\"")), "{line}");
    }
    assert!(line.ends_with(" 1"), "{line}");
    assert!(!line.contains("unknown"), "{line}");
}
