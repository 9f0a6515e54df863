//! Readiness: whether a load balancer should send this instance requests.
//! Liveness (`/healthz`) is only "the process answers"; readiness is the
//! administrative pool state, the store, and shutdown taken together:
//!
//! | draining | pooled | store can serve | `/readyz` |
//! |---|---|---|---|
//! | yes | any | any | 503 `draining` |
//! | no | no | any | 503 `depooled` |
//! | no | yes | no | 503 `cassandra unavailable` |
//! | no | yes | yes | 200 |
//!
//! A depooled or draining instance still serves every key request it gets
//! (a balancer drains it without errors). The counters of key requests in
//! flight and of the last one seen are what `kask depool --wait` watches.
//! Plain atomics: the HTTP layer reads them on every request.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Why an instance is not ready, as `/readyz`, `kask status` and the
/// systemd status line name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    Draining,
    Depooled,
    CassandraUnavailable,
}

impl NotReady {
    pub fn as_str(self) -> &'static str {
        match self {
            NotReady::Draining => "draining",
            NotReady::Depooled => "depooled",
            NotReady::CassandraUnavailable => "cassandra unavailable",
        }
    }
}

/// The decision of the table above.
pub fn decide(draining: bool, pooled: bool, store_can_serve: bool) -> Result<(), NotReady> {
    if draining {
        Err(NotReady::Draining)
    } else if !pooled {
        Err(NotReady::Depooled)
    } else if !store_can_serve {
        Err(NotReady::CassandraUnavailable)
    } else {
        Ok(())
    }
}

/// The shared state: set by the daemon (pool state, shutdown), counted by
/// the HTTP layer (key requests), read by `/readyz`, `/metrics` and the
/// control socket.
#[derive(Debug)]
pub struct Readiness {
    pooled: AtomicBool,
    draining: AtomicBool,
    in_flight: AtomicUsize,
    /// Key requests seen since start.
    requests: AtomicU64,
    /// When the last key request ended (or started, if one is in flight),
    /// in milliseconds after `epoch`; 0: none yet.
    last_ms: AtomicU64,
    epoch: Instant,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness::new(true)
    }
}

impl Readiness {
    pub fn new(pooled: bool) -> Readiness {
        Readiness {
            pooled: AtomicBool::new(pooled),
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    pub fn pooled(&self) -> bool {
        self.pooled.load(Ordering::Relaxed)
    }

    /// Sets the administrative state; returns the previous one.
    pub fn set_pooled(&self, pooled: bool) -> bool {
        self.pooled.swap(pooled, Ordering::Relaxed)
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// From SIGTERM on: not ready, for good.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn check(&self, store_can_serve: bool) -> Result<(), NotReady> {
        decide(self.draining(), self.pooled(), store_can_serve)
    }

    /// Counts a key request until the guard is dropped.
    pub fn request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self)
    }

    fn touch(&self) {
        // +1 so that a request in the first millisecond is not "none yet".
        let ms = self.epoch.elapsed().as_millis() as u64 + 1;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// How long no key request was seen: zero while one is in flight,
    /// `None` if there was none since start.
    pub fn idle(&self) -> Option<Duration> {
        if self.in_flight() > 0 {
            return Some(Duration::ZERO);
        }
        match self.last_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(
                self.epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms - 1)),
            ),
        }
    }
}

/// A key request in flight (see [`Readiness::request`]).
pub struct InFlight<'a>(&'a Readiness);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_in_order_of_precedence() {
        for draining in [false, true] {
            for pooled in [false, true] {
                for store in [false, true] {
                    let want = if draining {
                        Err(NotReady::Draining)
                    } else if !pooled {
                        Err(NotReady::Depooled)
                    } else if !store {
                        Err(NotReady::CassandraUnavailable)
                    } else {
                        Ok(())
                    };
                    assert_eq!(
                        decide(draining, pooled, store),
                        want,
                        "{draining} {pooled} {store}"
                    );
                }
            }
        }
        assert_eq!(
            NotReady::CassandraUnavailable.as_str(),
            "cassandra unavailable"
        );
    }

    #[test]
    fn depool_pool_and_drain() {
        let r = Readiness::new(true);
        assert_eq!(r.check(true), Ok(()));
        assert_eq!(r.check(false), Err(NotReady::CassandraUnavailable));
        assert!(r.set_pooled(false));
        assert_eq!(r.check(true), Err(NotReady::Depooled));
        assert!(!r.set_pooled(true));
        assert_eq!(r.check(true), Ok(()));
        r.start_draining();
        assert_eq!(r.check(true), Err(NotReady::Draining));
        // Pooling again does not undo draining.
        r.set_pooled(true);
        assert_eq!(r.check(true), Err(NotReady::Draining));
    }

    #[test]
    fn in_flight_and_idle() {
        let r = Readiness::new(false);
        assert_eq!(r.idle(), None, "no request yet");
        assert_eq!(r.in_flight(), 0);
        let a = r.request();
        let b = r.request();
        assert_eq!(r.in_flight(), 2);
        assert_eq!(r.idle(), Some(Duration::ZERO));
        drop(a);
        assert_eq!(r.in_flight(), 1);
        assert_eq!(r.idle(), Some(Duration::ZERO), "one still in flight");
        drop(b);
        assert_eq!(r.in_flight(), 0);
        assert_eq!(r.requests(), 2);
        std::thread::sleep(Duration::from_millis(30));
        let idle = r.idle().unwrap();
        assert!(idle >= Duration::from_millis(25), "{idle:?}");
        assert!(idle < Duration::from_secs(5), "{idle:?}");
        let _c = r.request();
        assert_eq!(r.idle(), Some(Duration::ZERO));
    }
}
