//! The one error type of the crate.

use std::sync::Arc;
use std::time::Duration;

/// A boxed error, as returned by a compute function.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed error from user code (a compute) or a backend driver, shareable between waiters.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in smartcache.
///
/// Variants are semantic (what happened), not per-backend. Cloneable so that one failed
/// computation can be handed to every caller that waited on it.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// The backend could not be reached or answered with an error.
    #[error("backend {backend} unavailable: {message}")]
    Unavailable {
        /// Backend name, e.g. `redis`.
        backend: &'static str,
        /// What the driver said (never contains a password).
        message: String,
    },
    /// A backend operation took longer than the per-operation timeout.
    #[error("backend operation `{operation}` timed out after {after:?}")]
    Timeout {
        /// Which operation (`get`, `set`, ...).
        operation: &'static str,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The circuit breaker is open: the backend is not called until the cooldown ends.
    #[error("circuit breaker open: backend calls are suspended")]
    CircuitOpen,
    /// Stored bytes could not be decoded as an entry envelope.
    #[error("corrupt cache entry: {0}")]
    Corrupt(String),
    /// The entry was written by a newer (or unknown) envelope format.
    #[error("unsupported envelope version {found} (this build reads versions up to {supported})")]
    UnsupportedVersion {
        /// Version found in the entry.
        found: u32,
        /// Highest version this build reads and writes.
        supported: u32,
    },
    /// The stored entry holds another type than the one requested.
    #[error("cached entry holds another type than `{expected}`")]
    TypeMismatch {
        /// The requested type.
        expected: &'static str,
    },
    /// A value could not be serialized.
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// The key is not acceptable (empty, too long, ...).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A tag is not acceptable (empty, too long, too many: see [`crate::tag`]).
    #[error("invalid tag: {0}")]
    InvalidTag(String),
    /// The encoded value exceeds the configured maximum size.
    #[error("value of {size} bytes exceeds the limit of {limit} bytes")]
    ValueTooLarge {
        /// Encoded size in bytes.
        size: usize,
        /// Configured limit in bytes.
        limit: usize,
    },
    /// A configuration value is malformed.
    #[error("invalid configuration {variable}={value:?}: expected {expected}")]
    Config {
        /// Variable or field name.
        variable: String,
        /// The offending value (redacted when it may hold a secret).
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The compute function returned an error (and no stale value could be served).
    #[error("compute failed: {0}")]
    Compute(SharedError),
    /// The compute did not finish within the hard timeout.
    #[error("compute timed out after {0:?}")]
    ComputeTimeout(Duration),
    /// The compute panicked; the key is not poisoned, the next call computes again.
    #[error("compute panicked")]
    ComputePanicked,
    /// The operation is not supported by this backend.
    #[error("operation `{0}` is not supported by this backend")]
    Unsupported(&'static str),
    /// A batch compute (see [`SmartCache::get_many_or_compute`](crate::SmartCache::get_many_or_compute))
    /// returned no value for this key, and no last good value could be served.
    #[error("the batch compute returned no value for key {key:?}")]
    MissingFromBatch {
        /// The key.
        key: String,
    },
}

impl CacheError {
    /// Wraps a driver error as [`CacheError::Unavailable`].
    pub fn unavailable(backend: &'static str, err: impl std::fmt::Display) -> Self {
        CacheError::Unavailable {
            backend,
            message: err.to_string(),
        }
    }

    /// True for errors that say the backend is unhealthy (they feed the circuit breaker).
    pub fn is_backend_failure(&self) -> bool {
        matches!(
            self,
            CacheError::Unavailable { .. } | CacheError::Timeout { .. }
        )
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = CacheError> = std::result::Result<T, E>;
