//! An in-memory [`Store`] for HTTP unit tests. It is a test double: it
//! proves nothing about Cassandra. It can be told to fail, to exercise the
//! 500 paths.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use super::{Store, StoreError};
use crate::key::Key;

#[derive(Default)]
pub struct MemoryStore {
    values: Mutex<HashMap<Vec<u8>, Bytes>>,
    failing: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// While set, every operation fails as a database outage would.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Failed("memory store told to fail".into()))
        } else {
            Ok(())
        }
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Bytes>, StoreError> {
        self.check()?;
        Ok(self.values.lock().unwrap().get(key.as_bytes()).cloned())
    }

    async fn set(&self, key: &Key, value: Vec<u8>) -> Result<(), StoreError> {
        self.check()?;
        self.values
            .lock()
            .unwrap()
            .insert(key.as_bytes().to_vec(), value.into());
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.check()?;
        self.values.lock().unwrap().remove(key.as_bytes());
        Ok(())
    }

    fn can_serve(&self) -> Result<(), String> {
        self.check().map_err(|e| e.to_string())
    }
}
