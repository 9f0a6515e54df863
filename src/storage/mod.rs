//! Storage: where values live.
//!
//! The [`Store`] trait exists so that the HTTP layer can be unit-tested with
//! [`memory::MemoryStore`]; it is not a plug-in point. The one real store is
//! [`cassandra::CassandraStore`], and only tests against a real Cassandra count
//! as evidence that storage works.
//!
//! Not-found is a value (`Ok(None)`), never an error: errors are failures of
//! the database, and the HTTP layer turns every one of them into a 500.

use std::fmt;
use std::future::Future;

use bytes::Bytes;

use crate::key::Key;

pub mod cassandra;
pub mod deferred;
pub mod memory;

/// The three operations of the API.
pub trait Store: Send + Sync + 'static {
    /// The value stored under `key`, or `None` if absent or expired.
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send;
    /// Stores `value` under `key` with the configured TTL; returns only
    /// after the database acknowledged the write.
    fn set(&self, key: &Key, value: Vec<u8>)
        -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes `key`; removing an absent key is not an error.
    fn delete(&self, key: &Key) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether requests can be expected to succeed now, from what the store
    /// already knows (no round trip: readiness probes call it every
    /// second). `Err` says why not.
    fn can_serve(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Which operation, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Get = 0,
    Set = 1,
    Delete = 2,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
        }
    }
}

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No answer within `cassandra.query_timeout_ms`.
    Timeout,
    /// The database or the driver reported an error.
    Failed(String),
    /// There is no connection to the database yet (kask started while it
    /// was unreachable): answered at once, without trying.
    Unavailable(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Timeout => f.write_str("Cassandra did not answer within the query timeout"),
            StoreError::Failed(m) => f.write_str(m),
            StoreError::Unavailable(m) => write!(f, "no connection to Cassandra yet: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A shared store is a store (the service keeps one handle for health
/// maintenance, the HTTP layer another).
impl<T: Store> Store for std::sync::Arc<T> {
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send {
        (**self).get(key)
    }
    fn set(
        &self,
        key: &Key,
        value: Vec<u8>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).set(key, value)
    }
    fn delete(&self, key: &Key) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).delete(key)
    }
    fn can_serve(&self) -> Result<(), String> {
        (**self).can_serve()
    }
}
