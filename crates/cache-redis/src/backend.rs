//! [`RedisBackend`]: the connection, and the [`CacheBackend`] operations.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{CacheBackend, CacheError, LockOutcome, Payload, Result, StoredEntry};
use fred::bytes::Bytes;
use fred::clients::{Pool, SubscriberClient, WithOptions};
use fred::prelude::*;
use fred::types::Expiration;
use fred::types::config::Options;
use fred::types::scripts::Script;
use futures_util::future::try_join_all;
use tokio::sync::OnceCell;

use crate::clock::{self, ClockTable, ServerClock};
use crate::config::RedisConfig;
use crate::connect;
use crate::frame::{self, Header};
use crate::secret::Redactor;
use crate::url::Topology;

/// Largest `PX` written: ~31 700 years, far from Redis' overflow checks.
const MAX_PX_MS: u64 = 1_000_000_000_000_000;
const SLOTS: usize = 16_384;

/// A [`CacheBackend`] on Redis (standalone, cluster or sentinel), through a pool of fred
/// connections. Cheap to clone (one shared pool).
///
/// See the [crate docs](crate) for the stored format, the clock model and the lock.
#[derive(Clone)]
pub struct RedisBackend {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    /// One handle per pooled connection with `fail_fast` set: while a connection is down, data
    /// commands fail at once instead of queueing until the command timeout.
    data: Vec<WithOptions<Client>>,
    next: AtomicUsize,
    pub(crate) clustered: bool,
    pub(crate) clock: ServerClock,
    pub(crate) redactor: Redactor,
    pub(crate) config: RedisConfig,
    pub(crate) subscriber: OnceCell<SubscriberClient>,
    pub(crate) unlock_script: Script,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.inner.config.redacted_url())
            .field("pool_size", &self.inner.data.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Close the connections (and the subscriber) when the last handle goes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pool = self.pool.clone();
            let subscriber = self.subscriber.take();
            runtime.spawn(async move {
                let _ = pool.quit().await;
                if let Some(subscriber) = subscriber {
                    let _ = subscriber.quit().await;
                }
            });
        }
    }
}

impl RedisBackend {
    /// Connects with `config`: opens the pool, authenticates, and measures the server clock.
    ///
    /// A wrong password or an unreachable server fails here, with an error that names the
    /// server (password redacted) and says what went wrong.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        config.validate()?;
        let redactor = Redactor::for_password(config.password.as_ref());
        let pool = connect::builder(&config, &redactor)?
            .build_pool(config.pool_size)
            .map_err(|e| connect_error(&config, &redactor, &e))?;
        // fred bounds each attempt by `connect_timeout`; this bounds the whole handshake
        // (cluster discovery, sentinel lookup) as well.
        let limit = config.connect_timeout * 3;
        match tokio::time::timeout(limit, pool.init()).await {
            Ok(Ok(_task)) => {}
            Ok(Err(err)) => {
                let _ = pool.quit().await;
                return Err(connect_error(&config, &redactor, &err));
            }
            Err(_) => {
                let _ = pool.quit().await;
                return Err(CacheError::Unavailable {
                    backend: "redis",
                    message: format!(
                        "cannot connect to {}: no answer within {limit:?}",
                        config.redacted_url()
                    ),
                });
            }
        }
        let clustered = matches!(config.topology, Topology::Cluster { .. });
        let table = match measure_clocks(&pool, clustered).await {
            Ok(table) => table,
            Err(err) => {
                let _ = pool.quit().await;
                return Err(connect_error(&config, &redactor, &err));
            }
        };
        let fail_fast = Options {
            fail_fast: true,
            ..Options::default()
        };
        let data = pool
            .clients()
            .iter()
            .map(|c| c.with_options(&fail_fast))
            .collect();
        let inner = Inner {
            clock: ServerClock::new(table, config.clock_sync_interval),
            pool,
            data,
            next: AtomicUsize::new(0),
            clustered,
            redactor,
            config,
            subscriber: OnceCell::new(),
            unlock_script: Script::from_lua(crate::lock::UNLOCK_SCRIPT),
        };
        tracing::debug!(url = %inner.config.redacted_url(), "connected to redis");
        Ok(RedisBackend {
            inner: Arc::new(inner),
        })
    }

    /// Connects to `url` (see [`crate::url`]) with default settings.
    pub async fn from_url(url: &str) -> Result<Self> {
        Self::connect(RedisConfig::from_url(url)?).await
    }

    /// Connects with [`RedisConfig::from_env`].
    pub async fn from_env() -> Result<Self> {
        Self::connect(RedisConfig::from_env()?).await
    }

    /// The settings this backend was connected with.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// The underlying fred pool, for commands this crate does not wrap.
    pub fn fred_pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The error bound of the current server-clock estimate (half the best `TIME` round trip).
    pub fn clock_uncertainty(&self) -> Duration {
        self.inner.clock.uncertainty()
    }

    /// Closes every connection now (dropping the last handle does it in the background).
    pub async fn quit(&self) {
        let _ = self.inner.pool.quit().await;
        if let Some(subscriber) = self.inner.subscriber.get() {
            let _ = subscriber.quit().await;
        }
    }

    /// A pooled connection for a data command (round robin).
    pub(crate) fn client(&self) -> &WithOptions<Client> {
        let data = &self.inner.data;
        &data[self.inner.next.fetch_add(1, Ordering::Relaxed) % data.len()]
    }

    /// A fred error as a [`CacheError`], with secrets removed.
    pub(crate) fn failure(&self, operation: &'static str, err: &Error) -> CacheError {
        match err.kind() {
            ErrorKind::Timeout => CacheError::Timeout {
                operation,
                after: self.inner.config.command_timeout,
            },
            _ if err.details().starts_with("WRONGTYPE") => CacheError::Corrupt(format!(
                "{operation}: the key holds a non-string Redis value"
            )),
            _ => CacheError::Unavailable {
                backend: "redis",
                message: self.inner.redactor.clean(&format!("{operation}: {err}")),
            },
        }
    }

    /// Re-measures the server clocks in the background when the interval has passed.
    fn maybe_resync_clock(&self) {
        if self.inner.clock.claim_sync() {
            let inner = Arc::clone(&self.inner);
            tokio::spawn(async move {
                let table = measure_clocks(&inner.pool, inner.clustered).await;
                if let Err(err) = &table {
                    tracing::debug!(error = %inner.redactor.clean(&err.to_string()), "redis clock sync failed");
                }
                inner.clock.finish(table.ok());
            });
        }
    }

    /// The remaining lifetime of a framed value, on the owning server's clock.
    fn remaining(&self, key: &str, header: Header) -> Duration {
        self.maybe_resync_clock();
        let left_ms = header.expires_at_ms as f64 - self.inner.clock.server_now_ms(key.as_bytes());
        // Never more than it was written with, even if a re-sync moved the estimate.
        let left_ms = left_ms.clamp(0.0, header.lifetime_ms as f64);
        Duration::try_from_secs_f64(left_ms / 1000.0).unwrap_or_default()
    }

    /// An entry from stored bytes: framed values carry their deadline; others ask `PTTL`.
    pub(crate) async fn entry_from(&self, key: &str, stored: Bytes) -> Result<Option<StoredEntry>> {
        if let Some((header, payload)) = frame::decode(&stored) {
            return Ok(Some(StoredEntry {
                payload: Payload::Bytes(Arc::from(payload)),
                remaining: Some(self.remaining(key, header)),
            }));
        }
        let pttl: i64 = self
            .client()
            .pttl(key)
            .await
            .map_err(|e| self.failure("pttl", &e))?;
        let remaining = match pttl {
            -2 => return Ok(None), // expired between the GET and the PTTL
            ms if ms < 0 => None,  // no expiry
            ms => Some(Duration::from_millis(ms.unsigned_abs())),
        };
        Ok(Some(StoredEntry {
            payload: Payload::Bytes(Arc::from(&stored[..])),
            remaining,
        }))
    }

    /// The stored form of `payload` for `key`: header (deadline on the server clock) + bytes.
    fn framed(&self, key: &str, payload: &Payload, lifetime: Duration) -> Result<(Bytes, i64)> {
        let Payload::Bytes(bytes) = payload else {
            return Err(CacheError::Unsupported(
                "object payloads (Redis stores bytes)",
            ));
        };
        let px = lifetime_ms(lifetime);
        let now = self.inner.clock.server_now_ms(key.as_bytes()).max(0.0) as u64;
        let header = Header {
            expires_at_ms: now.saturating_add(px),
            lifetime_ms: px,
        };
        // `px` ≤ MAX_PX_MS fits an i64.
        Ok((
            Bytes::from(frame::encode(header, bytes)),
            i64::try_from(px).unwrap_or(i64::MAX),
        ))
    }

    /// Hash slot → indexes of `keys` in that slot (one group off a cluster).
    pub(crate) fn group_by_slot<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
    ) -> Vec<Vec<usize>> {
        if !self.inner.clustered {
            return vec![keys.enumerate().map(|(i, _)| i).collect()];
        }
        let mut groups: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, key) in keys.enumerate() {
            groups
                .entry(fred::util::redis_keyslot(key) % SLOTS as u16)
                .or_default()
                .push(i);
        }
        groups.into_values().collect()
    }
}

/// Whole milliseconds for `PX`: rounded up (a lifetime is never shortened), at least 1.
fn lifetime_ms(lifetime: Duration) -> u64 {
    let ms = lifetime.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).clamp(1, MAX_PX_MS)
}

fn connect_error(config: &RedisConfig, redactor: &Redactor, err: &Error) -> CacheError {
    let hint = match err.kind() {
        ErrorKind::Auth => " (check the user name and password)",
        ErrorKind::Tls => " (check the TLS setting and the CA certificate)",
        _ if err.details().contains("Certificate") => {
            " (check the TLS setting and the CA certificate)"
        }
        _ => "",
    };
    CacheError::Unavailable {
        backend: "redis",
        message: redactor.clean(&format!(
            "cannot connect to {}: {err}{hint}",
            config.redacted_url()
        )),
    }
}

/// Measures every primary's clock; on a cluster also maps each slot to its primary.
async fn measure_clocks(pool: &Pool, clustered: bool) -> Result<ClockTable, Error> {
    let client = pool.next();
    if !clustered {
        return Ok(ClockTable {
            slot_owner: Vec::new(),
            samples: vec![clock::measure(client).await?],
        });
    }
    let routing = client
        .cached_cluster_state()
        .ok_or_else(|| Error::new(ErrorKind::Cluster, "no cluster routing table yet"))?;
    let primaries = routing.unique_primary_nodes();
    let samples = try_join_all(primaries.iter().map(|server| async move {
        clock::measure(&client.with_cluster_node(server.clone())).await
    }))
    .await?;
    let mut slot_owner = vec![0u16; SLOTS];
    for range in routing.slots() {
        let owner = primaries
            .iter()
            .position(|p| *p == range.primary)
            .unwrap_or(0);
        let owner = u16::try_from(owner).unwrap_or(0);
        for slot in range.start..=range.end.min(SLOTS as u16 - 1) {
            slot_owner[usize::from(slot)] = owner;
        }
    }
    Ok(ClockTable {
        slot_owner,
        samples,
    })
}

#[async_trait]
impl CacheBackend for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    /// Every command carries fred's `default_command_timeout` (`REDIS_COMMAND_TIMEOUT`) and
    /// fails fast while a connection is down.
    fn bounds_own_latency(&self) -> bool {
        true
    }

    async fn get(&self, key: &str) -> Result<Option<StoredEntry>> {
        let stored: Option<Bytes> = self
            .client()
            .get(key)
            .await
            .map_err(|e| self.failure("get", &e))?;
        match stored {
            Some(stored) => self.entry_from(key, stored).await,
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()> {
        let (stored, px) = self.framed(key, &payload, lifetime)?;
        self.client()
            .set::<(), _, _>(key, stored, Some(Expiration::PX(px)), None, false)
            .await
            .map_err(|e| self.failure("set", &e))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let removed: i64 = self
            .client()
            .unlink(key)
            .await
            .map_err(|e| self.failure("delete", &e))?;
        Ok(removed > 0)
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        crate::invalidate::invalidate_pattern(self, pattern).await
    }

    async fn ping(&self) -> Result<()> {
        let _: String = self
            .client()
            .ping(None)
            .await
            .map_err(|e| self.failure("ping", &e))?;
        Ok(())
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client();
        let groups = self.group_by_slot(keys.iter().map(|k| k.as_bytes()));
        let answers = try_join_all(groups.iter().map(|group| async move {
            let batch: Vec<&str> = group.iter().map(|&i| keys[i]).collect();
            client.mget::<Vec<Option<Bytes>>, _>(batch).await
        }))
        .await
        .map_err(|e| self.failure("get_many", &e))?;
        let mut stored: Vec<Option<Bytes>> = vec![None; keys.len()];
        for (group, values) in groups.iter().zip(answers) {
            if values.len() != group.len() {
                return Err(CacheError::Unavailable {
                    backend: "redis",
                    message: format!(
                        "MGET of {} keys answered {} values",
                        group.len(),
                        values.len()
                    ),
                });
            }
            for (&i, value) in group.iter().zip(values) {
                stored[i] = value;
            }
        }
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
        // Concurrent commands on one connection are pipelined by fred (and routed per slot on a
        // cluster): one round trip per server, without MULTI.
        let client = self.client();
        try_join_all(entries.iter().map(|(key, payload, lifetime)| async move {
            let (stored, px) = self.framed(key, payload, *lifetime)?;
            client
                .set::<(), _, _>(*key, stored, Some(Expiration::PX(px)), None, false)
                .await
                .map_err(|e| self.failure("set_many", &e))
        }))
        .await?;
        Ok(())
    }

    async fn try_lock(&self, key: &str, token: &str, lifetime: Duration) -> Result<LockOutcome> {
        crate::lock::try_lock(self, key, token, lifetime).await
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<bool> {
        crate::lock::unlock(self, key, token).await
    }

    async fn wait_for_value(&self, key: &str, timeout: Duration) -> Result<Option<StoredEntry>> {
        crate::lock::wait_for_value(self, key, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::lifetime_ms;
    use std::time::Duration;

    #[test]
    fn lifetimes_round_up_to_whole_milliseconds() {
        assert_eq!(lifetime_ms(Duration::ZERO), 1);
        assert_eq!(lifetime_ms(Duration::from_micros(1)), 1);
        assert_eq!(lifetime_ms(Duration::from_micros(1500)), 2);
        assert_eq!(lifetime_ms(Duration::from_secs(60)), 60_000);
        assert_eq!(lifetime_ms(Duration::MAX), super::MAX_PX_MS);
    }
}
