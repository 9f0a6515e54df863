//! Everything about being a systemd service, and nothing else: readiness
//! and status notifications, the watchdog, and socket activation. Outside
//! systemd (no `NOTIFY_SOCKET`, no `LISTEN_FDS`) every function is a no-op.

use std::os::fd::{FromRawFd, RawFd};
use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the service is ready, with a status line.
pub fn ready(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A status line for `systemctl status`.
pub fn status(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Status(status)]);
}

/// Start of a reload (`RELOADING=1` with the monotonic timestamp systemd
/// wants for `Type=notify-reload`); end it with [`ready`].
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    let _ = sd_notify::notify(&states);
}

pub fn stopping(status: &str) {
    let _ = sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// The interval at which to send `WATCHDOG=1`, if systemd asked for them:
/// half the configured timeout.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

pub fn watchdog_ping() {
    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
}

/// The first listening socket systemd passed (`LISTEN_FDS`), if any.
pub fn activated_listener() -> std::io::Result<Option<std::net::TcpListener>> {
    let mut fds = sd_notify::listen_fds()?;
    let Some(fd) = fds.next() else {
        return Ok(None);
    };
    // SAFETY: systemd hands this descriptor to us alone; we take ownership.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd as RawFd) };
    listener.set_nonblocking(true)?;
    Ok(Some(listener))
}
