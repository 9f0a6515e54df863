//! Pool and depool: an instance's administrative state, kept where only
//! root and the kask group can change it, and applied to the running
//! daemon at once (docs/pool-depool.md).
//!
//! - The state is a file, `/var/lib/kask/<unit>.pool` (`kask.pool` for the
//!   default instance, `kask@NAME.pool` for `kask@NAME`), holding `pooled`
//!   or `depooled`. No file means pooled. `kask pool` / `kask depool` write
//!   it (atomically, by rename), and so may Puppet: one mechanism. The
//!   directory is the units' `StateDirectory=` (mode 0770, kask:kask), so it
//!   survives restarts and reboots, and only root and the kask group can
//!   write it.
//! - The daemon reads the file at start (before it says READY) and then
//!   every [`POLL`]: a change is in force within that time. Polling, not
//!   inotify: Puppet and the CLI both replace the file by rename, which a
//!   watch on the file misses, and a stat-and-read of a few bytes five
//!   times a second costs nothing.
//! - What the daemon alone knows (ready or not, requests in flight, when
//!   it last saw one) it tells over a unix socket, `/run/kask/<unit>.sock`
//!   (the units' `RuntimeDirectory=`, mode 0750; the socket 0660), to
//!   `kask status` and `kask depool --wait`. The socket only reports; it
//!   changes nothing. Never over the network.
//!
//! `STATE_DIRECTORY` and `RUNTIME_DIRECTORY` (which systemd sets from those
//! unit settings) move both places, for the daemon and the commands alike.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::readiness::Readiness;

/// How often the daemon reads the state file.
pub const POLL: Duration = Duration::from_millis(200);

/// An instance: the default one (`kask.service`) or `kask@NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instance(pub Option<String>);

impl Instance {
    /// The unit's name without `.service`: `kask` or `kask@NAME`.
    pub fn unit(&self) -> String {
        match &self.0 {
            None => "kask".to_string(),
            Some(name) => format!("kask@{name}"),
        }
    }

    /// A name systemd would accept for an instance, and nothing that could
    /// leave the directory.
    pub fn parse(name: &str) -> Result<Instance, String> {
        let ok = !name.is_empty()
            && name.len() <= 200
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:\\".contains(&b));
        if ok {
            Ok(Instance(Some(name.to_string())))
        } else {
            Err(format!(
                "--instance {name:?}: not an instance name (letters, digits, - _ . : \\)"
            ))
        }
    }

    pub fn state_file(&self) -> PathBuf {
        state_dir().join(format!("{}.pool", self.unit()))
    }

    pub fn socket(&self) -> PathBuf {
        runtime_dir().join(format!("{}.sock", self.unit()))
    }
}

fn dir_from_env(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        // systemd lists several directories with ':'; the units give one.
        Some(v) if !v.is_empty() => PathBuf::from(
            v.to_string_lossy()
                .split(':')
                .next()
                .unwrap_or(default)
                .to_string(),
        ),
        _ => PathBuf::from(default),
    }
}

pub fn state_dir() -> PathBuf {
    dir_from_env("STATE_DIRECTORY", "/var/lib/kask")
}

pub fn runtime_dir() -> PathBuf {
    dir_from_env("RUNTIME_DIRECTORY", "/run/kask")
}

/// What a state file says. Anything but `pooled` or `depooled` (and
/// whitespace) is an error, which the daemon treats as depooled.
pub fn parse_state(text: &str) -> Result<bool, String> {
    match text.trim() {
        "pooled" => Ok(true),
        "depooled" => Ok(false),
        other => Err(format!("{other:?} is neither \"pooled\" nor \"depooled\"")),
    }
}

/// Reads the state: no file is pooled; an unreadable or unclear file is
/// depooled, with the reason (traffic is not sent on a guess).
pub fn read_state(path: &Path) -> (bool, Option<String>) {
    match std::fs::read_to_string(path) {
        Ok(text) => match parse_state(&text) {
            Ok(pooled) => (pooled, None),
            Err(e) => (
                false,
                Some(format!("{}: {e}; treated as depooled", path.display())),
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (true, None),
        Err(e) => (
            false,
            Some(format!("{}: {e}; treated as depooled", path.display())),
        ),
    }
}

/// Writes the state by rename, so that a reader sees the old or the new
/// file, never half of one. Creates the directory (0770) if needed.
pub fn write_state(path: &Path, pooled: bool) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o770)
            .create(dir)?;
    }
    let tmp = dir.join(format!(
        ".{}.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("pool"),
        std::process::id()
    ));
    let text = if pooled { "pooled\n" } else { "depooled\n" };
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself survives a crash once the directory is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Applies the state file to `readiness` every [`POLL`], for as long as
/// the daemon runs; `changed(pooled)` after each change.
pub async fn watch(path: PathBuf, readiness: Arc<Readiness>, changed: impl Fn(bool) + Send) {
    let mut last_error: Option<String> = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let p = path.clone();
        let Ok((pooled, error)) = tokio::task::spawn_blocking(move || read_state(&p)).await else {
            continue;
        };
        if error != last_error {
            if let Some(e) = &error {
                log::error!("pool state: {e}");
            }
            last_error = error;
        }
        if readiness.set_pooled(pooled) != pooled {
            log::info!(
                "{} (state file {})",
                if pooled {
                    "pooled: ready for traffic when Cassandra is"
                } else {
                    "depooled: readiness fails, requests still served"
                },
                path.display()
            );
            changed(pooled);
        }
    }
}

/// What the daemon reports on its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub unit: String,
    pub pooled: bool,
    /// `None`: ready; else the reason.
    pub not_ready: Option<String>,
    pub in_flight: usize,
    pub requests: u64,
    /// Milliseconds since the last key request; `None`: none since start.
    pub idle_ms: Option<u64>,
}

impl Status {
    fn render(&self) -> String {
        format!(
            "unit={}\npooled={}\nready={}\nreason={}\nin_flight={}\nrequests={}\nidle_ms={}\n",
            self.unit,
            yes_no(self.pooled),
            yes_no(self.not_ready.is_none()),
            self.not_ready.as_deref().unwrap_or(""),
            self.in_flight,
            self.requests,
            self.idle_ms
                .map_or_else(|| "none".to_string(), |v| v.to_string())
        )
    }

    fn parse(text: &str) -> Result<Status, String> {
        let get = |k: &str| -> Result<&str, String> {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .ok_or_else(|| format!("the daemon's answer has no {k}: {text:?}"))
        };
        let num = |k: &str| -> Result<u64, String> {
            get(k)?
                .parse()
                .map_err(|_| format!("the daemon's {k} is not a number: {text:?}"))
        };
        let ready = get("ready")? == "yes";
        Ok(Status {
            unit: get("unit")?.to_string(),
            pooled: get("pooled")? == "yes",
            not_ready: (!ready).then(|| get("reason").unwrap_or("").to_string()),
            in_flight: num("in_flight")? as usize,
            requests: num("requests")?,
            idle_ms: match get("idle_ms")? {
                "none" => None,
                _ => Some(num("idle_ms")?),
            },
        })
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Serves [`Status`] on the unix socket `path` until the task is dropped:
/// one answer per connection. `store` says whether the store can serve.
/// The socket is 0660: root and the kask group.
pub fn serve_status(
    path: &Path,
    unit: String,
    readiness: Arc<Readiness>,
    store: impl Fn() -> Result<(), String> + Send + Sync + 'static,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use std::os::unix::fs::PermissionsExt;
    // A socket left by a process that died: nobody answers on it.
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    let path = path.to_owned();
    Ok(async move {
        let _remove = RemoveOnDrop(path);
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let status = Status {
                unit: unit.clone(),
                pooled: readiness.pooled(),
                not_ready: readiness
                    .check(store().is_ok())
                    .err()
                    .map(|r| r.as_str().to_string()),
                in_flight: readiness.in_flight(),
                requests: readiness.requests(),
                idle_ms: readiness.idle().map(|d| d.as_millis() as u64),
            };
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    conn.write_all(status.render().as_bytes()),
                )
                .await;
            });
        }
    })
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Asks the daemon of `instance` for its [`Status`]. `Ok(None)`: it is not
/// running (nobody listens on the socket).
pub fn query(instance: &Instance) -> Result<Option<Status>, String> {
    let path = instance.socket();
    let mut conn = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut text = String::new();
    conn.read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Status::parse(&text).map(Some)
}

/// What `kask depool --wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    /// No key request for this long...
    pub idle: Duration,
    /// ... within this long, or the command fails.
    pub timeout: Duration,
}

/// `kask pool` / `kask depool`: writes the state, then waits (up to 2 s)
/// for the running daemon to report it; with `drain`, then waits for the
/// requests to stop. Prints what happened; the exit code is the caller's.
pub fn set(instance: &Instance, pooled: bool, drain: Option<Drain>) -> Result<String, String> {
    let file = instance.state_file();
    let unit = instance.unit();
    write_state(&file, pooled).map_err(|e| {
        format!(
            "cannot write {}: {e} (pool and depool need root or the kask group)",
            file.display()
        )
    })?;
    let word = if pooled { "pooled" } else { "depooled" };
    let deadline = Instant::now() + Duration::from_secs(2);
    let applied = loop {
        match query(instance)? {
            None => {
                return Ok(format!(
                    "{unit}: {word} ({}); it is not running and will start {word}",
                    file.display()
                ))
            }
            Some(s) if s.pooled == pooled => break s,
            Some(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Some(_) => {
                return Err(format!(
                    "{unit}: wrote {word} to {}, but the running daemon did not take it within 2 s",
                    file.display()
                ))
            }
        }
    };
    let mut out = format!(
        "{unit}: {word}; readiness: {}",
        applied.not_ready.as_deref().unwrap_or("ready")
    );
    let Some(drain) = drain else {
        return Ok(out);
    };
    let started = Instant::now();
    loop {
        let Some(s) = query(instance)? else {
            out.push_str("; not running any more, nothing to drain");
            return Ok(out);
        };
        let idle = s.idle_ms.map(Duration::from_millis);
        if s.in_flight == 0 && idle.is_none_or(|d| d >= drain.idle) {
            out.push_str(&format!(
                "; drained: no request for {} s",
                drain.idle.as_secs_f64()
            ));
            return Ok(out);
        }
        if started.elapsed() >= drain.timeout {
            return Err(format!(
                "{out}; NOT drained after {} s: {} in flight, last request {} ago",
                drain.timeout.as_secs(),
                s.in_flight,
                idle.map_or_else(|| "never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `kask status`: the daemon's view, or the state file's if it is not
/// running. `Err` when it is not running (the text says so too).
pub fn status(instance: &Instance) -> Result<String, String> {
    let unit = instance.unit();
    let file = instance.state_file();
    match query(instance)? {
        Some(s) => Ok(format!(
            "{unit}: running\npooled: {}\nready: {}\nin flight: {}\nlast request: {}\nrequests since start: {}\n",
            yes_no(s.pooled),
            match &s.not_ready {
                None => "yes".to_string(),
                Some(r) => format!("no ({r})"),
            },
            s.in_flight,
            match s.idle_ms {
                None => "none since start".to_string(),
                Some(0) if s.in_flight > 0 => "now".to_string(),
                Some(ms) => format!("{:.1} s ago", ms as f64 / 1000.0),
            },
            s.requests
        )),
        None => {
            let (pooled, error) = read_state(&file);
            Err(format!(
                "{unit}: not running (no daemon on {})\npooled: {} ({}{})",
                instance.socket().display(),
                yes_no(pooled),
                file.display(),
                error.map(|e| format!(": {e}")).unwrap_or_default()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_names() {
        assert_eq!(Instance::default().unit(), "kask");
        assert_eq!(
            Instance::parse("sessionstore").unwrap().unit(),
            "kask@sessionstore"
        );
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(Instance::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn state_file_words() {
        assert_eq!(parse_state("pooled\n"), Ok(true));
        assert_eq!(parse_state(" depooled "), Ok(false));
        assert!(parse_state("yes").is_err());
        assert!(parse_state("").is_err());
    }

    #[test]
    fn read_write_and_fail_safe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("kask.pool");
        assert_eq!(read_state(&path), (true, None), "no file: pooled");
        write_state(&path, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "depooled\n");
        assert_eq!(read_state(&path), (false, None));
        write_state(&path, true).unwrap();
        assert_eq!(read_state(&path), (true, None));
        std::fs::write(&path, "maybe\n").unwrap();
        let (pooled, why) = read_state(&path);
        assert!(!pooled, "an unclear file is depooled");
        assert!(why.unwrap().contains("maybe"));
        // No temporary file left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn status_round_trip() {
        for s in [
            Status {
                unit: "kask@x".into(),
                pooled: false,
                not_ready: Some("depooled".into()),
                in_flight: 3,
                requests: 10,
                idle_ms: Some(0),
            },
            Status {
                unit: "kask".into(),
                pooled: true,
                not_ready: None,
                in_flight: 0,
                requests: 0,
                idle_ms: None,
            },
        ] {
            assert_eq!(Status::parse(&s.render()), Ok(s));
        }
        assert!(Status::parse("unit=x\n").is_err());
    }

    #[tokio::test]
    async fn the_watcher_applies_the_file_within_a_poll() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kask.pool");
        let readiness = Arc::new(Readiness::new(true));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = tokio::spawn(watch(path.clone(), readiness.clone(), {
            let seen = seen.clone();
            move |p| seen.lock().unwrap().push(p)
        }));
        write_state(&path, false).unwrap();
        let t = Instant::now();
        while readiness.pooled() {
            assert!(t.elapsed() < Duration::from_secs(2), "not applied");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            t.elapsed() <= POLL + Duration::from_millis(300),
            "{:?}",
            t.elapsed()
        );
        std::fs::remove_file(&path).unwrap();
        while !readiness.pooled() {
            assert!(t.elapsed() < Duration::from_secs(4), "no file is pooled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        assert_eq!(*seen.lock().unwrap(), vec![false, true]);
    }

    #[tokio::test]
    async fn the_socket_reports_and_only_reports() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("kask.sock");
        let readiness = Arc::new(Readiness::new(true));
        let server = serve_status(&sock, "kask".into(), readiness.clone(), || {
            Err("connecting".into())
        })
        .unwrap();
        let task = tokio::spawn(server);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
            0o660
        );
        let _busy = readiness.request();
        let sock2 = sock.clone();
        let text = tokio::task::spawn_blocking(move || {
            let mut c = std::os::unix::net::UnixStream::connect(sock2).unwrap();
            let mut t = String::new();
            c.read_to_string(&mut t).unwrap();
            t
        })
        .await
        .unwrap();
        let s = Status::parse(&text).unwrap();
        assert_eq!(s.not_ready.as_deref(), Some("cassandra unavailable"));
        assert_eq!((s.pooled, s.in_flight, s.requests), (true, 1, 1));
        task.abort();
        let _ = task.await;
        assert!(
            !sock.exists(),
            "the socket is removed when the daemon stops"
        );
    }
}
