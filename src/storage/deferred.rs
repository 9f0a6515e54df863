//! A store that exists before its database answers: kask listens and
//! answers at once, and the daemon connects in the background. Until the
//! real store is [`Slot::fill`]ed, every operation fails with
//! [`StoreError::Unavailable`] (the HTTP layer's 503), without trying;
//! afterwards each one goes to the real store, whose own failures stay
//! what they were (500 within the query timeout).
//!
//! One exception: while the *first* connection attempt is still under way
//! (a restart, or the first request of a socket-activated start, with
//! Cassandra up: a fraction of a second), requests wait for its outcome,
//! up to [`FIRST_ATTEMPT_WAIT`], instead of getting 503: a restart loses
//! no request. Once an attempt has failed, the answer is immediate.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;

use super::{Store, StoreError};
use crate::key::Key;

/// The store handed to the HTTP layer.
pub struct Deferred<S> {
    inner: Arc<Inner<S>>,
}

/// The daemon's side: says why there is no store yet, then fills it.
pub struct Slot<S> {
    inner: Arc<Inner<S>>,
}

/// How long a request waits for the outcome of the first connection
/// attempt (well under MediaWiki's 3 s client timeout).
pub const FIRST_ATTEMPT_WAIT: Duration = Duration::from_secs(2);

struct Inner<S> {
    store: OnceLock<S>,
    /// Why there is no store yet (the last connection error).
    waiting: Mutex<String>,
    /// True once the first attempt ended, either way.
    attempted: tokio::sync::watch::Sender<bool>,
}

/// An empty store and the slot that fills it.
pub fn deferred<S>(waiting: impl Into<String>) -> (Deferred<S>, Slot<S>) {
    let inner = Arc::new(Inner {
        store: OnceLock::new(),
        waiting: Mutex::new(waiting.into()),
        attempted: tokio::sync::watch::Sender::new(false),
    });
    (
        Deferred {
            inner: inner.clone(),
        },
        Slot { inner },
    )
}

impl<S> Slot<S> {
    /// Records why the store is not there yet.
    pub fn waiting(&self, why: impl Into<String>) {
        *self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner()) = why.into();
        self.inner.attempted.send_replace(true);
    }

    /// From now on, requests go to `store`. A second store is dropped.
    pub fn fill(&self, store: S) {
        let _ = self.inner.store.set(store);
        self.inner.attempted.send_replace(true);
    }
}

impl<S> Deferred<S> {
    /// The real store, once there is one.
    pub fn get_ref(&self) -> Option<&S> {
        self.inner.store.get()
    }

    /// The real store; during the first attempt, after waiting for it.
    async fn store(&self) -> Result<&S, StoreError> {
        if let Some(s) = self.inner.store.get() {
            return Ok(s);
        }
        let mut attempted = self.inner.attempted.subscribe();
        let _ = tokio::time::timeout(FIRST_ATTEMPT_WAIT, attempted.wait_for(|done| *done)).await;
        self.inner.store.get().ok_or_else(|| self.unavailable())
    }

    fn unavailable(&self) -> StoreError {
        StoreError::Unavailable(
            self.inner
                .waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

impl<S: Store> Store for Deferred<S> {
    async fn get(&self, key: &Key) -> Result<Option<Bytes>, StoreError> {
        self.store().await?.get(key).await
    }

    async fn set(&self, key: &Key, value: Vec<u8>) -> Result<(), StoreError> {
        self.store().await?.set(key, value).await
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.store().await?.delete(key).await
    }

    fn can_serve(&self) -> Result<(), String> {
        match self.inner.store.get() {
            Some(s) => s.can_serve(),
            None => Err(self.unavailable().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStore;

    fn key(k: &str) -> Key {
        crate::key::parse(k, None).unwrap()
    }

    #[tokio::test]
    async fn unavailable_until_filled_then_the_real_store() {
        let (store, slot) = deferred::<MemoryStore>("connecting");
        let k = key("a");
        slot.waiting("connection refused");
        assert_eq!(
            store.set(&k, b"v".to_vec()).await,
            Err(StoreError::Unavailable("connection refused".into()))
        );
        assert_eq!(
            store.delete(&k).await,
            Err(StoreError::Unavailable("connection refused".into()))
        );
        let why = store.can_serve().unwrap_err();
        assert!(why.contains("connection refused"), "{why}");

        slot.fill(MemoryStore::new());
        assert_eq!(store.can_serve(), Ok(()));
        assert_eq!(store.set(&k, b"v".to_vec()).await, Ok(()));
        assert_eq!(store.get(&k).await, Ok(Some(Bytes::from_static(b"v"))));
        // The real store's failures stay failures, not "unavailable".
        store.get_ref().unwrap().set_failing(true);
        assert!(matches!(store.get(&k).await, Err(StoreError::Failed(_))));
        assert!(store.can_serve().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn requests_wait_for_the_first_attempt_only() {
        // The first attempt succeeds while a request waits: it is served.
        let (store, slot) = deferred::<MemoryStore>("connecting");
        let store = Arc::new(store);
        let k = key("a");
        let waiting = tokio::spawn({
            let store = store.clone();
            let k = k.clone();
            async move { store.set(&k, b"v".to_vec()).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "waits for the first attempt");
        slot.fill(MemoryStore::new());
        assert_eq!(waiting.await.unwrap(), Ok(()));

        // A first attempt that takes too long: 503 after FIRST_ATTEMPT_WAIT.
        let (store, _slot) = deferred::<MemoryStore>("connecting");
        let t = tokio::time::Instant::now();
        assert!(matches!(
            store.get(&k).await,
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(t.elapsed(), FIRST_ATTEMPT_WAIT);

        // After a failed attempt: at once.
        let (store, slot) = deferred::<MemoryStore>("connecting");
        slot.waiting("refused");
        let t = tokio::time::Instant::now();
        assert!(store.delete(&k).await.is_err());
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
}
