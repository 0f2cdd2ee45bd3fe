//! [`RedisRsBackend`]: the shared state, its constructors, and the [`CacheBackend`] operations.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Buf;
use cache_core::{
    Bytes, CacheBackend, CacheError, ConditionalWrites, LockOutcome, Payload, Result, StoredEntry,
};
use futures_util::future::try_join_all;
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Value};

use super::connection::Connection;
use super::lock::Subscriber;
use super::options::RedisRsOptions;
use super::topology;
use crate::clock::ServerClock;
use crate::frame::{self, Header};
use crate::scripts::UNLOCK;
use crate::secret::Redactor;

/// The name in logs, errors and [`CacheBackend::name`].
pub(crate) const NAME: &str = "redis-rs";

/// A [`CacheBackend`] on a redis-rs connection: a standalone [`ConnectionManager`] or a
/// cluster [`ClusterConnection`]. Cheap to clone (one shared connection).
///
/// It writes the same stored format and takes the same fleet lock as the fred adapter, so
/// both can serve one Redis (see the [module docs](super)).
#[derive(Clone)]
pub struct RedisRsBackend {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) connection: Connection,
    pub(crate) clock: ServerClock,
    pub(crate) options: RedisRsOptions,
    pub(crate) redactor: Redactor,
    /// What `Debug` shows: the redacted URL, or the kind of connection handed in.
    pub(crate) description: String,
    /// The response timeout this adapter configured (connections it opened itself).
    pub(crate) response_timeout: Option<Duration>,
    pub(crate) unlock_script: redis::Script,
    /// Compare-and-set / compare-and-delete.
    pub(crate) scripts: super::conditional::Scripts,
    pub(crate) subscriber: Subscriber,
}

impl fmt::Debug for RedisRsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRsBackend")
            .field("connection", &self.inner.description)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl RedisRsBackend {
    /// A backend on the standalone connection the service already has. Settings at their
    /// defaults; see [`with_options`](Self::with_options).
    ///
    /// No command is sent here: each server's clock is measured in the background on first
    /// use (until then reads ask `PTTL`, and the first write measures it first).
    pub fn new(connection: ConnectionManager) -> Self {
        Self::build(
            Connection::Standalone(connection),
            RedisRsOptions::default(),
            "redis-rs ConnectionManager".into(),
            Redactor::default(),
            None,
        )
    }

    /// A backend on the cluster connection the service already has (see [`new`](Self::new)).
    pub fn cluster(connection: ClusterConnection) -> Self {
        Self::build(
            Connection::Cluster(connection),
            RedisRsOptions::default(),
            "redis-rs ClusterConnection".into(),
            Redactor::default(),
            None,
        )
    }

    /// The same connection with other settings (lock channel, `SCAN` page size, clock sync,
    /// a client for lock-release notifications).
    pub fn with_options(self, options: RedisRsOptions) -> Self {
        let inner = &self.inner;
        Self::build(
            inner.connection.clone(),
            options,
            inner.description.clone(),
            inner.redactor.clone(),
            inner.response_timeout,
        )
    }

    pub(crate) fn build(
        connection: Connection,
        options: RedisRsOptions,
        description: String,
        redactor: Redactor,
        response_timeout: Option<Duration>,
    ) -> Self {
        RedisRsBackend {
            inner: Arc::new(Inner {
                clock: ServerClock::unknown(options.clock_sync_interval),
                connection,
                options,
                redactor,
                description,
                response_timeout,
                unlock_script: redis::Script::new(UNLOCK),
                scripts: super::conditional::Scripts::default(),
                subscriber: Subscriber::default(),
            }),
        }
    }

    /// The settings in use.
    pub fn options(&self) -> &RedisRsOptions {
        &self.inner.options
    }

    /// The error bound of the current server-clock estimate (half the best `TIME` round trip);
    /// zero while the clock has not been measured.
    pub fn clock_uncertainty(&self) -> Duration {
        self.inner.clock.uncertainty()
    }

    /// Measures the server clocks now (a backend built from a connection otherwise does it in
    /// the background on first use).
    pub async fn sync_clock(&self) -> Result<()> {
        let table = topology::measure_clocks(&self.inner.connection)
            .await
            .map_err(|e| self.failure("measuring the server clock", &e))?;
        self.inner.clock.install(table);
        Ok(())
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.inner.connection
    }

    /// A redis-rs error as a [`CacheError`], with secrets removed.
    pub(crate) fn failure(&self, operation: &'static str, err: &RedisError) -> CacheError {
        if err.is_timeout() {
            if let Some(after) = self.inner.response_timeout {
                return CacheError::Timeout { operation, after };
            }
        }
        if err.code() == Some("WRONGTYPE") {
            return CacheError::Corrupt(format!(
                "{operation}: the key holds a non-string Redis value"
            ));
        }
        CacheError::Unavailable {
            backend: NAME,
            message: self.inner.redactor.clean(&format!("{operation}: {err}")),
        }
    }

    /// Re-measures the server clocks in the background if a sync is due at `now` (and none
    /// running).
    fn spawn_clock_sync(&self, now: Instant) {
        if self.inner.clock.claim_sync_at(now) {
            let backend = self.clone();
            tokio::spawn(async move {
                let table = topology::measure_clocks(&backend.inner.connection).await;
                if let Err(err) = &table {
                    tracing::debug!(error = %backend.failure("clock sync", err), "redis clock sync failed");
                }
                backend.inner.clock.finish(table.ok());
            });
        }
    }

    /// Measures the server clocks now if they never were, so that a write can state its
    /// deadline on the server's clock.
    pub(crate) async fn ensure_clock(&self) -> Result<()> {
        if self.inner.clock.is_known() {
            return Ok(());
        }
        self.sync_clock().await
    }

    /// An entry from stored bytes: framed values carry their deadline (judged on the server's
    /// clock, or by `PTTL` until that clock is measured); others ask `PTTL`.
    pub(crate) async fn entry_from(
        &self,
        key: &str,
        stored: Vec<u8>,
    ) -> Result<Option<StoredEntry>> {
        let stored = Bytes::from(stored);
        if let Some((header, payload)) = frame::decode(&stored) {
            // The reply itself past its header: no copy, and no allocation (a slice of a
            // `Bytes` made from a `Vec` first allocates a shared owner for the two of them).
            let header_len = stored.len() - payload.len();
            let mut payload = stored;
            payload.advance(header_len);
            // One read of the local clock serves both.
            let now = Instant::now();
            self.spawn_clock_sync(now);
            if let Some(server_now) = self.inner.clock.server_ms_at(key.as_bytes(), now) {
                return Ok(Some(StoredEntry {
                    payload: Payload::Bytes(payload),
                    remaining: Some(header.remaining(server_now)),
                }));
            }
            return self.entry_with_pttl(key, payload).await;
        }
        self.entry_with_pttl(key, stored).await
    }

    /// An entry whose remaining lifetime is the server's `PTTL` of `key`.
    async fn entry_with_pttl(&self, key: &str, payload: Bytes) -> Result<Option<StoredEntry>> {
        let pttl: i64 = self
            .connection()
            .query(redis::cmd("PTTL").arg(key))
            .await
            .map_err(|e| self.failure("pttl", &e))?;
        let remaining = match pttl {
            -2 => return Ok(None), // expired between the GET and the PTTL
            ms if ms < 0 => None,  // no expiry
            ms => Some(Duration::from_millis(ms.unsigned_abs())),
        };
        Ok(Some(StoredEntry {
            payload: Payload::Bytes(payload),
            remaining,
        }))
    }

    /// The stored form of `payload` for `key` (header with the deadline on the owning
    /// server's clock, then the bytes) and its `PX`. Callers run `ensure_clock` first.
    pub(crate) fn framed(
        &self,
        key: &str,
        payload: &Payload,
        lifetime: Duration,
    ) -> Result<(Vec<u8>, u64)> {
        let Payload::Bytes(bytes) = payload else {
            return Err(CacheError::Unsupported(
                "object payloads (Redis stores bytes)",
            ));
        };
        let px = frame::lifetime_ms(lifetime);
        let Some(now) = self.inner.clock.server_now_ms(key.as_bytes()) else {
            return Err(CacheError::Unavailable {
                backend: NAME,
                message: "the server clock is not measured yet".into(),
            });
        };
        Ok((frame::encode(Header::for_write(now, px), bytes), px))
    }

    /// Hash slot → indexes of `keys` in that slot (one group off a cluster): multi-key
    /// commands must stay within a slot on a cluster.
    pub(crate) fn group_by_slot<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
    ) -> Vec<Vec<usize>> {
        if !self.connection().is_cluster() {
            return vec![keys.enumerate().map(|(i, _)| i).collect()];
        }
        crate::slot::group_by_slot(keys)
    }

    async fn set_framed(
        &self,
        operation: &'static str,
        key: &str,
        stored: Vec<u8>,
        px: u64,
    ) -> Result<()> {
        self.connection()
            .query::<()>(redis::cmd("SET").arg(key).arg(stored).arg("PX").arg(px))
            .await
            .map_err(|e| self.failure(operation, &e))
    }
}

#[async_trait]
impl CacheBackend for RedisRsBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    /// `false`: while a `ConnectionManager` reconnects, its commands wait for the new
    /// connection rather than for the response timeout, so the cache keeps its own
    /// per-operation timeout.
    fn bounds_own_latency(&self) -> bool {
        false
    }

    /// ~31 700 years: keeps the deadline in the header and Redis's overflow checks far from
    /// the edge (the fred adapter's bound too).
    fn max_lifetime(&self) -> Duration {
        Duration::from_millis(frame::MAX_PX_MS)
    }

    /// On a cluster, the primary that owns the key (from the clock's slot table), so the cache
    /// keeps one breaker per primary.
    fn failure_domain(&self, key: &str) -> u64 {
        self.inner.clock.owner_of(key.as_bytes())
    }

    /// The fred adapter's scripts ([`crate::scripts`]): one per call, on the key alone.
    fn conditional(&self) -> Option<&dyn ConditionalWrites> {
        Some(self)
    }

    async fn get(&self, key: &str) -> Result<Option<StoredEntry>> {
        let stored: Option<Vec<u8>> = self
            .connection()
            .query(redis::cmd("GET").arg(key))
            .await
            .map_err(|e| self.failure("get", &e))?;
        match stored {
            Some(stored) => self.entry_from(key, stored).await,
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()> {
        self.ensure_clock().await?;
        let (stored, px) = self.framed(key, &payload, lifetime)?;
        self.set_framed("set", key, stored, px).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let removed: i64 = self
            .connection()
            .query(redis::cmd("UNLINK").arg(key))
            .await
            .map_err(|e| self.failure("delete", &e))?;
        Ok(removed > 0)
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        super::invalidate::invalidate_pattern(self, pattern).await
    }

    async fn ping(&self) -> Result<()> {
        let reply: Value = self
            .connection()
            .query(&redis::cmd("PING"))
            .await
            .map_err(|e| self.failure("ping", &e))?;
        match reply {
            Value::SimpleString(_) | Value::Okay | Value::BulkString(_) => Ok(()),
            other => Err(CacheError::Unavailable {
                backend: NAME,
                message: format!("ping answered {other:?}"),
            }),
        }
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let groups = self.group_by_slot(keys.iter().map(|k| k.as_bytes()));
        let answers = try_join_all(groups.iter().map(|group| {
            let mut mget = redis::cmd("MGET");
            for &i in group {
                mget.arg(keys[i]);
            }
            async move { self.connection().query::<Vec<Option<Vec<u8>>>>(&mget).await }
        }))
        .await
        .map_err(|e| self.failure("get_many", &e))?;
        let stored = crate::slot::ungroup(keys.len(), &groups, answers).map_err(|message| {
            CacheError::Unavailable {
                backend: NAME,
                message,
            }
        })?;
        let mut out = Vec::with_capacity(keys.len());
        for (key, value) in keys.iter().zip(stored) {
            out.push(match value {
                Some(value) => self.entry_from(key, value).await?,
                None => None,
            });
        }
        Ok(out)
    }

    async fn set_many(&self, entries: &[(&str, Payload, Duration)]) -> Result<()> {
        // Concurrent commands share the multiplexed connection (one per server on a cluster):
        // they are pipelined without MULTI, as fred does.
        self.ensure_clock().await?;
        try_join_all(entries.iter().map(|(key, payload, lifetime)| async move {
            let (stored, px) = self.framed(key, payload, *lifetime)?;
            self.set_framed("set_many", key, stored, px).await
        }))
        .await?;
        Ok(())
    }

    async fn try_lock(&self, key: &str, token: &str, lifetime: Duration) -> Result<LockOutcome> {
        super::lock::try_lock(self, key, token, lifetime).await
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<bool> {
        super::lock::unlock(self, key, token).await
    }

    async fn wait_for_value(&self, key: &str, timeout: Duration) -> Result<Option<StoredEntry>> {
        super::lock::wait_for_value(self, key, timeout).await
    }
}
