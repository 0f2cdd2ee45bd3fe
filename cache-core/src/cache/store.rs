//! The cache's side of the backend: guarded calls (breaker + timeout), encoding and decoding.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Inner;
use crate::backend::{ObjectPayload, Payload, PayloadKind};
use crate::codec::Codec;
use crate::envelope::Envelope;
use crate::error::{CacheError, Result};
use crate::stats::Stats;

/// An entry read from the backend.
pub(crate) struct Found<T> {
    pub env: Arc<Envelope<T>>,
    pub remaining: Option<Duration>,
}

/// What a read found.
pub(crate) enum Read<T> {
    Found(Found<T>),
    /// Nothing usable (absent, or undecodable and counted).
    Absent,
    /// The backend failed or the breaker is open.
    Unavailable,
}

/// Takes the value out of an envelope, cloning only when the envelope is shared.
pub(crate) fn into_value<T: Clone>(env: Arc<Envelope<T>>) -> T {
    Arc::try_unwrap(env)
        .map(|e| e.value)
        .unwrap_or_else(|shared| shared.value.clone())
}

impl<C: Codec> Inner<C> {
    /// One backend operation through the circuit breaker and the per-operation timeout.
    pub(crate) async fn call<R>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<R>>,
    ) -> Result<R> {
        if !self.breaker.allow() {
            Stats::bump(&self.stats.breaker_rejections);
            return Err(CacheError::CircuitOpen);
        }
        let result = if self.bounds_own_latency {
            fut.await
        } else {
            match tokio::time::timeout(self.config.op_timeout, fut).await {
                Ok(result) => result,
                Err(_) => Err(CacheError::Timeout {
                    operation,
                    after: self.config.op_timeout,
                }),
            }
        };
        match &result {
            Err(err) if err.is_backend_failure() => {
                Stats::bump(&self.stats.backend_errors);
                self.breaker.on_failure();
                tracing::warn!(backend = self.backend.name(), operation, error = %err, "cache backend failed");
            }
            _ => self.breaker.on_success(),
        }
        result
    }

    /// Reads and decodes `key`. Undecodable entries are counted misses, never errors.
    pub(crate) async fn read<T>(&self, key: &str) -> Read<T>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        match self.call("get", self.backend.get(key)).await {
            Ok(Some(entry)) => match self.decode::<T>(entry.payload) {
                Ok(env) => Read::Found(Found {
                    env,
                    remaining: entry.remaining,
                }),
                Err(err) => {
                    Stats::bump(&self.stats.corrupt_entries);
                    tracing::warn!(key, error = %err, "undecodable cache entry treated as a miss");
                    Read::Absent
                }
            },
            Ok(None) => Read::Absent,
            Err(_) => Read::Unavailable,
        }
    }

    pub(crate) fn decode<T>(&self, payload: Payload) -> Result<Arc<Envelope<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        match payload {
            Payload::Object(object) => {
                object
                    .value
                    .downcast::<Envelope<T>>()
                    .map_err(|_| CacheError::TypeMismatch {
                        expected: std::any::type_name::<T>(),
                    })
            }
            Payload::Bytes(bytes) => self.codec.decode(&bytes).map(Arc::new),
        }
    }

    /// The payload to store for an envelope, in the form the backend wants; enforces the size
    /// limit.
    pub(crate) fn payload<T>(&self, env: Arc<Envelope<T>>) -> Result<Payload>
    where
        T: Serialize + Send + Sync + 'static,
    {
        let limit = self.config.max_value_bytes;
        let too_large = |size: usize| CacheError::ValueTooLarge { size, limit };
        match self.payload_kind {
            PayloadKind::Object => {
                let size = self.codec.encoded_len(&*env)?;
                if size > limit {
                    return Err(too_large(size));
                }
                Ok(Payload::Object(ObjectPayload { value: env, size }))
            }
            PayloadKind::Bytes => {
                let bytes = self.codec.encode(&*env)?;
                if bytes.len() > limit {
                    return Err(too_large(bytes.len()));
                }
                Ok(Payload::Bytes(bytes.into()))
            }
        }
    }

    /// Stores an envelope; failures are counted and logged, never returned (the caller already
    /// has its value).
    pub(crate) async fn store<T>(&self, key: &str, env: Envelope<T>)
    where
        T: Serialize + Send + Sync + 'static,
    {
        let lifetime = env.lifetime();
        match self.payload(Arc::new(env)) {
            Ok(payload) => {
                let _ = self
                    .call("set", self.backend.set(key, payload, lifetime))
                    .await;
            }
            Err(err) => {
                Stats::bump(&self.stats.store_skipped);
                tracing::warn!(key, error = %err, "computed value returned but not stored");
            }
        }
    }
}
