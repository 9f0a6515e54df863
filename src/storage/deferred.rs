//! A store that exists before its database answers: kask listens and
//! answers at once, and the daemon connects in the background. Until the
//! real store is [`Slot::fill`]ed, every operation fails at once with
//! [`StoreError::Unavailable`] (the HTTP layer's 503), without trying;
//! afterwards each one goes to the real store, whose own failures stay
//! what they were (500 within the query timeout).

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

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

struct Inner<S> {
    store: OnceLock<S>,
    /// Why there is no store yet (the last connection error).
    waiting: Mutex<String>,
}

/// An empty store and the slot that fills it.
pub fn deferred<S>(waiting: impl Into<String>) -> (Deferred<S>, Slot<S>) {
    let inner = Arc::new(Inner {
        store: OnceLock::new(),
        waiting: Mutex::new(waiting.into()),
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
    }

    /// From now on, requests go to `store`. A second store is dropped.
    pub fn fill(&self, store: S) {
        let _ = self.inner.store.set(store);
    }
}

impl<S> Deferred<S> {
    /// The real store, once there is one.
    pub fn get_ref(&self) -> Option<&S> {
        self.inner.store.get()
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
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send {
        let store = self.inner.store.get();
        let missing = store.is_none().then(|| self.unavailable());
        async move {
            match (store, missing) {
                (Some(s), _) => s.get(key).await,
                (None, e) => Err(e.unwrap_or(StoreError::Unavailable(String::new()))),
            }
        }
    }

    fn set(
        &self,
        key: &Key,
        value: Vec<u8>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let store = self.inner.store.get();
        let missing = store.is_none().then(|| self.unavailable());
        async move {
            match (store, missing) {
                (Some(s), _) => s.set(key, value).await,
                (None, e) => Err(e.unwrap_or(StoreError::Unavailable(String::new()))),
            }
        }
    }

    fn delete(&self, key: &Key) -> impl Future<Output = Result<(), StoreError>> + Send {
        let store = self.inner.store.get();
        let missing = store.is_none().then(|| self.unavailable());
        async move {
            match (store, missing) {
                (Some(s), _) => s.delete(key).await,
                (None, e) => Err(e.unwrap_or(StoreError::Unavailable(String::new()))),
            }
        }
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
        assert_eq!(
            store.get(&k).await,
            Err(StoreError::Unavailable("connecting".into()))
        );
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
}
