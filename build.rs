//! Build facts for `/healthz` and `kask_build_info`: every way of building
//! kask (`cargo build`, `make`, `dpkg-buildpackage`) runs this script, and
//! `metrics::BuildInfo` reads what it sets.
//!
//! - `KASK_BUILD_DATE`: `SOURCE_DATE_EPOCH` when it is set (dpkg-buildpackage
//!   sets it from debian/changelog, so that two builds give the same bytes),
//!   else the time of the build; ISO 8601 in UTC, as `date -u -Iseconds`.
//! - `KASK_BUILD_HOST`: the machine's host name, or `KASK_BUILD_HOST` from
//!   the environment (to rebuild bit for bit on another machine).
//! - `KASK_RUST_VERSION`: what the compiler says, e.g. `1.85.0 (4d91de4e4 2025-02-17)`.
//!
//! A fact that cannot be found fails the build instead of becoming "unknown".

use std::env;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    // The date of a build is the date of its sources: rerun when they change.
    for path in ["build.rs", "src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    for var in ["SOURCE_DATE_EPOCH", "KASK_BUILD_HOST"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let epoch = match env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => s.trim().parse::<i64>().unwrap_or_else(|_| {
            panic!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds since 1970")
        }),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is before 1970")
            .as_secs() as i64,
    };
    println!("cargo:rustc-env=KASK_BUILD_DATE={}", iso8601_utc(epoch));
    println!("cargo:rustc-env=KASK_BUILD_HOST={}", build_host());
    println!("cargo:rustc-env=KASK_RUST_VERSION={}", rust_version());
}

fn build_host() -> String {
    let host = env::var("KASK_BUILD_HOST")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() || host.contains(['\n', '"', '\\']) {
        panic!("no usable host name ({host:?}): set KASK_BUILD_HOST");
    }
    host
}

fn rust_version() -> String {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {rustc} --version: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.85.0 (4d91de4e4 2025-02-17)" -> "1.85.0 (4d91de4e4 2025-02-17)"
    match text.trim().strip_prefix("rustc ") {
        Some(v) if out.status.success() && !v.is_empty() => v.to_string(),
        _ => panic!("{rustc} --version printed {text:?}"),
    }
}

/// Seconds since 1970 as `2026-11-25T14:30:00+00:00`.
fn iso8601_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's days-to-civil algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
