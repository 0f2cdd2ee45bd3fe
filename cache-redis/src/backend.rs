//! [`RedisBackend`]: the connection, and the [`CacheBackend`] operations.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Buf;
use cache_core::{
    CacheBackend, CacheError, ChangeSink, ConditionalWrites, FeedHandle, FeedOptions, LockOutcome,
    Payload, Result, StoredEntry,
};
use fred::bytes::Bytes;
use fred::clients::{Pool, SubscriberClient, WithOptions};
use fred::prelude::*;
use fred::types::Expiration;
use fred::types::config::Options;
use fred::types::scripts::Script;
use futures_util::future::try_join_all;
use tokio::sync::{Notify, OnceCell};

use crate::clock::{self, ClockTable, ServerClock};
use crate::config::RedisConfig;
use crate::connect;
use crate::frame::{self, Header};
use crate::secret::Redactor;
use crate::slot::SLOTS;
use crate::url::Topology;
use crate::watch::ConnectionLog;

/// Runs `$op` (a fred command on client `$c`, for `$key`) on a pooled connection. On a cluster,
/// if that fails while the cluster client is down, or because `$key`'s slot is migrating, it
/// runs once more on the direct connection to `$key`'s primary; if that primary answers `ASK`,
/// as `ASKING` + `$op` on the connection to the node it names ([`crate::ask`]). `$op` must
/// leave its reply type to the caller (no turbofish): the `ASKING` pipeline queues it as a
/// [`Value`].
///
/// The retries run in a boxed future of their own: inline, their states (three more fred
/// commands, the direct connections' waits) made every command's future ~9 KB, allocated and
/// copied on each hit; boxed, a command that succeeds at once carries one pointer for them.
/// `on_key!(@retry backend, key, err, |c| op)` is that part alone, for a caller that made the
/// first attempt itself (see `RedisBackend::read`).
macro_rules! on_key {
    ($backend:expr, $key:expr, |$c:ident| $op:expr) => {{
        let first = {
            let $c = $backend.client();
            $op.await
        };
        match first {
            Err(err) => crate::backend::on_key!(@retry $backend, $key, err, |$c| $op),
            ok => ok,
        }
    }};
    // The retries after the first attempt failed with `$err`.
    (@retry $backend:expr, $key:expr, $err:expr, |$c:ident| $op:expr) => {{
        let err = $err;
        ::std::boxed::Box::pin(async {
            match $backend.direct_for($key, &err).await {
                Some(direct) => {
                    let again = {
                        let $c = &direct;
                        $op.await
                    };
                    match again {
                        Err(err) => match $backend.asked_client(&err).await {
                            Some(target) => {
                                let $c = &crate::ask::asking(target).await;
                                let _queued: ::std::result::Result<
                                    ::fred::types::Value,
                                    ::fred::error::Error,
                                > = $op.await;
                                $c.last().await
                            }
                            None => Err(err),
                        },
                        ok => ok,
                    }
                }
                None => Err(err),
            }
        })
        .await
    }};
}
pub(crate) use on_key;

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
    /// The lock-release subscriber once its start ended: `None` if it failed (waits poll).
    pub(crate) subscriber: OnceCell<Option<SubscriberClient>>,
    /// Set by the first wait, which starts the subscriber (once per backend).
    pub(crate) subscriber_starting: AtomicBool,
    /// Wakes the waits that await the subscriber's start.
    pub(crate) subscriber_started: Notify,
    pub(crate) unlock_script: Script,
    /// Compare-and-set / compare-and-delete.
    pub(crate) scripts: crate::conditional::Scripts,
    pub(crate) connection: ConnectionLog,
    /// The pooled connections just seen dropping (standalone and sentinel).
    pub(crate) liveness: crate::liveness::Liveness,
    /// Moves on every successful (re)connection of any pooled connection.
    pub(crate) epoch: AtomicU64,
    /// Slot → primary, for `failure_domain`.
    pub(crate) domains: crate::domain::SlotDomains,
    /// One plain connection per cluster primary, for when the cluster client is down.
    pub(crate) direct: crate::direct::DirectClients,
    /// Dropped with the backend: the event watchers see their receivers close and end (fred
    /// does not close its event streams when a never-connected client quits).
    pub(crate) alive: tokio::sync::watch::Sender<()>,
    /// Set by `quit`: connection tasks that end are not restarted.
    pub(crate) closing: AtomicBool,
    /// Set once `connect` returns the backend (lazy or eager).
    pub(crate) started: AtomicBool,
    /// The L1 change feeds started from this backend, stopped by `quit`.
    pub(crate) feeds: crate::tracking::Feeds,
}

impl Inner {
    /// The shared state over an opened (or still connecting) pool.
    pub(crate) fn new(
        pool: Pool,
        config: RedisConfig,
        redactor: Redactor,
        clock: ServerClock,
    ) -> Arc<Self> {
        let fail_fast = Options {
            fail_fast: true,
            ..Options::default()
        };
        let data = pool
            .clients()
            .iter()
            .map(|c| c.with_options(&fail_fast))
            .collect();
        let clustered = matches!(config.topology, Topology::Cluster { .. });
        let liveness = crate::liveness::Liveness::new(pool.clients().len(), config.reconnect.min);
        Arc::new(Inner {
            clock,
            data,
            next: AtomicUsize::new(0),
            clustered,
            pool,
            redactor,
            config,
            subscriber: OnceCell::new(),
            subscriber_starting: AtomicBool::new(false),
            subscriber_started: Notify::new(),
            unlock_script: Script::from_lua(crate::scripts::UNLOCK),
            scripts: crate::conditional::Scripts::default(),
            connection: ConnectionLog::default(),
            liveness,
            epoch: AtomicU64::new(0),
            domains: crate::domain::SlotDomains::new(clustered),
            direct: crate::direct::DirectClients::default(),
            alive: tokio::sync::watch::Sender::new(()),
            closing: AtomicBool::new(false),
            started: AtomicBool::new(false),
            feeds: crate::tracking::Feeds::default(),
        })
    }

    /// Reads the routing fred holds now into the failure-domain table (cluster only).
    pub(crate) fn refresh_domains(&self) {
        if self.clustered {
            if let Some(routing) = self.pool.next().cached_cluster_state() {
                self.domains.update(&routing);
                if !self.closing.load(Ordering::Relaxed) {
                    self.direct.update(&routing, &self.config, &self.redactor);
                }
            }
        }
    }

    /// Re-measures the server clocks in the background if a sync is due (and none running).
    pub(crate) fn spawn_clock_sync(inner: &Arc<Self>) {
        Self::spawn_clock_sync_at(inner, Instant::now());
    }

    /// [`spawn_clock_sync`](Self::spawn_clock_sync) judged at `now`, an [`Instant`] the caller
    /// read (a hit reads the clock once).
    pub(crate) fn spawn_clock_sync_at(inner: &Arc<Self>, now: Instant) {
        if inner.clock.claim_sync_at(now) {
            let inner = Arc::clone(inner);
            tokio::spawn(async move {
                let table = measure_clocks(&inner.pool, inner.clustered).await;
                if let Err(err) = &table {
                    tracing::debug!(error = %inner.redactor.clean(&err.to_string()), "redis clock sync failed");
                }
                inner.clock.finish(table.ok());
            });
        }
    }

    /// Measures the server clocks now if they never were (lazy start), so that a write can
    /// state its deadline on the server's clock. Fails fast while disconnected.
    pub(crate) async fn ensure_clock(&self) -> Result<()> {
        if self.clock.is_known() {
            return Ok(());
        }
        if !self.pool.clients().iter().any(|c| c.is_connected()) {
            return Err(CacheError::Unavailable {
                backend: "redis",
                message: "not connected yet".into(),
            });
        }
        match measure_clocks(&self.pool, self.clustered).await {
            Ok(table) => {
                self.clock.install(table);
                Ok(())
            }
            Err(err) => Err(CacheError::Unavailable {
                backend: "redis",
                message: self
                    .redactor
                    .clean(&format!("measuring the server clock: {err}")),
            }),
        }
    }
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
            let _guard = runtime.enter();
            self.direct.close();
            let pool = self.pool.clone();
            let subscriber = self.subscriber.take().flatten();
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
    /// server (password redacted) and says what went wrong — unless
    /// [`lazy_connect`](RedisConfig::lazy_connect) is set: then an unreachable server gives a
    /// backend at once, whose commands fail fast with [`CacheError::Unavailable`] (so
    /// `SmartCache` computes, and its breaker opens) until the background reconnection
    /// succeeds. The first attempt is still awaited for up to
    /// [`connect_timeout`](RedisConfig::connect_timeout), so that a wrong password or a TLS
    /// failure from a server that is up is reported here in both modes; one seen only later is
    /// logged and kept in [`connection_error`](Self::connection_error).
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        config.validate()?;
        let redactor = Redactor::for_password(config.password.as_ref());
        let pool = connect::builder(&config, &redactor, config.lazy_connect)?
            .build_pool(config.pool_size)
            .map_err(|e| connect_error(&config, &redactor, &e))?;
        if config.lazy_connect {
            return crate::lazy::start(pool, config, redactor).await;
        }
        // fred bounds each attempt by `connect_timeout`; this bounds the whole handshake
        // (cluster discovery, sentinel lookup) as well.
        let limit = config.connect_timeout * 3;
        let tasks = pool.connect_pool();
        match tokio::time::timeout(limit, pool.wait_for_connect()).await {
            Ok(Ok(())) => {}
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
        let clock = ServerClock::new(table, config.clock_sync_interval);
        let inner = Inner::new(pool, config, redactor, clock);
        inner.epoch.store(1, Ordering::Relaxed);
        inner.refresh_domains();
        inner
            .direct
            .wait_connected(inner.config.connect_timeout)
            .await;
        crate::watch::watch(&inner);
        crate::supervise::supervise(&inner, tasks);
        inner.started.store(true, Ordering::Relaxed);
        tracing::debug!(url = %inner.config.redacted_url(), "connected to redis");
        Ok(RedisBackend { inner })
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

    /// The error bound of the current server-clock estimate (half the best `TIME` round trip);
    /// zero while the clock has not been measured (a lazy start before Redis came up).
    pub fn clock_uncertainty(&self) -> Duration {
        self.inner.clock.uncertainty()
    }

    /// Whether every pooled connection is up now.
    pub fn is_connected(&self) -> bool {
        self.inner.pool.clients().iter().all(|c| c.is_connected())
    }

    /// Why the last connection attempt failed (password redacted), or `None` once a connection
    /// has succeeded since. With [`lazy_connect`](RedisConfig::lazy_connect) this is where a
    /// wrong password shows up when the server was down at start; [`ping`] errors quote it.
    ///
    /// [`ping`]: cache_core::CacheBackend::ping
    pub fn connection_error(&self) -> Option<String> {
        self.inner.connection.last_error()
    }

    /// Closes every connection now (dropping the last handle does it in the background), and
    /// stops the change feeds started from this backend.
    pub async fn quit(&self) {
        self.inner.closing.store(true, Ordering::Relaxed);
        self.inner.feeds.stop_all();
        self.inner.direct.close();
        let _ = self.inner.pool.quit().await;
        if let Some(Some(subscriber)) = self.inner.subscriber.get() {
            let _ = subscriber.quit().await;
        }
    }

    /// A pooled connection for a data command: round robin over the connections that are up
    /// (all of them when none is). After an outage the connections come back one by one, each
    /// on its own backoff; a command sent to one still down fails at once (`fail_fast`), so
    /// plain round robin would fail every other command meanwhile, each failure after a
    /// success a new "fault" to the cache (a warning, a breaker that opens again).
    ///
    /// A connection just seen dropping counts as down at once (see [`crate::liveness`]); with
    /// none up, a handle that fails at once.
    pub(crate) fn client(&self) -> &WithOptions<Client> {
        let inner = &self.inner;
        let data = &inner.data;
        let first = inner.next.fetch_add(1, Ordering::Relaxed);
        (0..data.len())
            .map(|i| first.wrapping_add(i) % data.len())
            .find(|&i| data[i].is_connected() && inner.liveness.usable(i))
            .map_or_else(|| inner.liveness.closed(), |i| &data[i])
    }

    /// The direct connection to `key`'s primary, when this is a cluster and `err` came from
    /// the cluster client while it is down (that connection if up now), or as it gave up
    /// redirecting in a migrating slot (waiting up to the command timeout for that connection).
    /// See [`crate::direct`].
    pub(crate) async fn direct_for(&self, key: &str, err: &Error) -> Option<WithOptions<Client>> {
        let inner = &self.inner;
        if !inner.clustered {
            return None;
        }
        let domain = inner.domains.of(key.as_bytes());
        if crate::ask::redirects_ran_out(err) {
            return inner
                .direct
                .ready(domain, inner.config.command_timeout)
                .await;
        }
        if inner.pool.clients().iter().all(|c| c.is_connected()) {
            return None;
        }
        inner.direct.connected(domain)
    }

    /// A connection to the node an `ASK` error names (`None` for any other error).
    pub(crate) async fn asked_client(&self, err: &Error) -> Option<WithOptions<Client>> {
        let node = crate::ask::asked_node(err)?;
        let inner = &self.inner;
        let limit = inner.config.command_timeout;
        inner
            .direct
            .to(&node, &inner.config, &inner.redactor, limit)
            .await
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

    /// The remaining lifetime of a framed value, on the owning server's clock; `None` while
    /// that clock has not been measured.
    fn remaining(&self, key: &str, header: Header, now: Instant) -> Option<Duration> {
        Inner::spawn_clock_sync_at(&self.inner, now);
        let server_now = self.inner.clock.server_ms_at(key.as_bytes(), now)?;
        Some(header.remaining(server_now))
    }

    /// An entry from stored bytes: framed values carry their deadline (judged on the server's
    /// clock, or by `PTTL` until that clock is measured); others ask `PTTL`.
    pub(crate) async fn entry_from(&self, key: &str, stored: Bytes) -> Result<Option<StoredEntry>> {
        match self.framed_entry(key, stored, Instant::now()) {
            Ok(entry) => Ok(Some(entry)),
            Err(stored) => self.entry_by_pttl(key, stored).await,
        }
    }

    /// What [`framed_entry`](Self::framed_entry) could not judge: the payload (unframed, if
    /// framed) with the server's `PTTL` as its remaining lifetime.
    async fn entry_by_pttl(&self, key: &str, stored: Bytes) -> Result<Option<StoredEntry>> {
        let payload = match frame::decode(&stored) {
            Some((_, payload)) => stored.slice_ref(payload),
            None => stored,
        };
        self.entry_with_pttl(key, payload).await
    }

    /// The entry of a framed value, when the server's clock is known (every hit but those of
    /// a lazy start): no I/O. `Err`: the value as read, for [`entry_by_pttl`](Self::entry_by_pttl).
    fn framed_entry(&self, key: &str, stored: Bytes, now: Instant) -> Result<StoredEntry, Bytes> {
        let Some((header, payload)) = frame::decode(&stored) else {
            return Err(stored);
        };
        let Some(remaining) = self.remaining(key, header, now) else {
            return Err(stored);
        };
        let header_len = stored.len() - payload.len();
        // The reply itself past its header: no copy, and no second handle on the reply.
        let mut payload = stored;
        payload.advance(header_len);
        Ok(StoredEntry {
            payload: Payload::Bytes(payload),
            remaining: Some(remaining),
        })
    }

    /// An entry whose remaining lifetime is the server's `PTTL` of `key`.
    async fn entry_with_pttl(&self, key: &str, payload: Bytes) -> Result<Option<StoredEntry>> {
        let pttl: i64 =
            on_key!(self, key, |c| c.pttl(key)).map_err(|e| self.failure("pttl", &e))?;
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

    /// The stored form of `payload` for `key`: header (deadline on the server clock) + bytes.
    pub(crate) fn framed(
        &self,
        key: &str,
        payload: &Payload,
        lifetime: Duration,
    ) -> Result<(Bytes, i64)> {
        let Payload::Bytes(bytes) = payload else {
            return Err(CacheError::Unsupported(
                "object payloads (Redis stores bytes)",
            ));
        };
        let px = frame::lifetime_ms(lifetime);
        // Callers run `ensure_clock` first; a clock still unknown is a store that is not ready.
        let Some(now) = self.inner.clock.server_now_ms(key.as_bytes()) else {
            return Err(CacheError::Unavailable {
                backend: "redis",
                message: "the server clock is not measured yet".into(),
            });
        };
        // `px` ≤ MAX_PX_MS fits an i64.
        Ok((
            Bytes::from(frame::encode(Header::for_write(now, px), bytes)),
            i64::try_from(px).unwrap_or(i64::MAX),
        ))
    }

    /// One `GET`, and the entry it found.
    #[inline(always)] // so `Recycled::new` writes the future straight into its block
    async fn read(&self, key: &str) -> Result<Option<StoredEntry>> {
        // The first attempt written out, with its reply type: through `on_key!`'s generic
        // match, the optimiser moved the reply bit by bit (~900 instructions on every hit,
        // counted with callgrind).
        let first: std::result::Result<Option<Bytes>, Error> = self.client().get(key).await;
        let stored = match first {
            Ok(stored) => stored,
            Err(err) => on_key!(@retry self, key, err, |c| c.get(key))
                .map_err(|e| self.failure("get", &e))?,
        };
        let Some(stored) = stored else {
            return Ok(None);
        };
        match self.framed_entry(key, stored, Instant::now()) {
            Ok(entry) => Ok(Some(entry)),
            // A `PTTL` round trip, in a future of its own: kept out of this one, whose every
            // state a hit pays for.
            Err(stored) => Box::pin(self.entry_by_pttl(key, stored)).await,
        }
    }

    /// The stored values of `keys`, in key order: one `MGET` off a cluster (no regrouping),
    /// one per hash slot on a cluster.
    async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let client = self.client();
        let unavailable = |message| CacheError::Unavailable {
            backend: "redis",
            message,
        };
        if !self.inner.clustered {
            let values: Vec<Option<Bytes>> = client
                .mget(keys.to_vec())
                .await
                .map_err(|e| self.failure("get_many", &e))?;
            return match values.len() == keys.len() {
                true => Ok(values),
                false => Err(unavailable(crate::slot::miscounted(
                    keys.len(),
                    values.len(),
                ))),
            };
        }
        let groups = crate::slot::group_by_slot(keys.iter().map(|k| k.as_bytes()));
        let answers = try_join_all(groups.iter().map(|group| async move {
            let batch: Vec<&str> = group.iter().map(|&i| keys[i]).collect();
            client.mget::<Vec<Option<Bytes>>, _>(batch).await
        }))
        .await
        .map_err(|e| self.failure("get_many", &e))?;
        crate::slot::ungroup(keys.len(), &groups, answers).map_err(unavailable)
    }

    /// Hash slot → indexes of `keys` in that slot (one group off a cluster).
    pub(crate) fn group_by_slot<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
    ) -> Vec<Vec<usize>> {
        if !self.inner.clustered {
            return vec![keys.enumerate().map(|(i, _)| i).collect()];
        }
        crate::slot::group_by_slot(keys)
    }
}

pub(crate) fn connect_error(config: &RedisConfig, redactor: &Redactor, err: &Error) -> CacheError {
    let hint = match err.kind() {
        ErrorKind::Auth => " (check the user name and password)",
        _ if crate::watch::is_tls_failure(err) => " (check the TLS setting and the CA certificate)",
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
pub(crate) async fn measure_clocks(pool: &Pool, clustered: bool) -> Result<ClockTable, Error> {
    let client = pool.next_connected();
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

    /// Redis's own bound on `PX` is far larger than any useful lifetime; this one (~31 700
    /// years) keeps the deadline in the header and Redis's overflow checks far from the edge.
    fn max_lifetime(&self) -> Duration {
        Duration::from_millis(frame::MAX_PX_MS)
    }

    /// Client-side tracking in broadcast mode on a dedicated RESP3 connection per primary,
    /// proven alive by a canary heartbeat (see the crate docs, "L1 coherence"). Returns at
    /// once; the feed connects in the background and reports
    /// [`FeedState::Unavailable`](cache_core::FeedState::Unavailable) if the server refuses
    /// tracking. Fails only outside a Tokio runtime, or when the settings give no client.
    fn watch_changes(&self, sink: Arc<dyn ChangeSink>, options: FeedOptions) -> Result<FeedHandle> {
        let inner = &self.inner;
        crate::tracking::start(&inner.config, &inner.redactor, &inner.feeds, sink, options)
    }

    /// Closes the connections and stops the change feeds ([`quit`](Self::quit)).
    async fn close(&self) -> Result<()> {
        self.quit().await;
        Ok(())
    }

    /// On a cluster, the primary serving the key's slot now (from fred's routing table, kept
    /// current as fred re-syncs it: after a failover the key moves to its new primary's
    /// domain); 0 on a standalone or sentinel server.
    fn failure_domain(&self, key: &str) -> u64 {
        self.inner.domains.of(key.as_bytes())
    }

    /// Moves on every successful (re)connection of a pooled connection (fred's reconnect
    /// events); 1 once `connect` has returned connected, 0 while a lazy start waits.
    fn connection_epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Relaxed)
    }

    /// One Lua script per call, on the key alone (see [`crate::scripts`]).
    fn conditional(&self) -> Option<&dyn ConditionalWrites> {
        Some(self)
    }

    // The future lives in a block its thread recycles (see `crate::recycled`): fred's command
    // futures are ~5 KB, and a fresh block that size per hit cost the allocator's arena locks
    // under concurrency.
    fn get<'s, 'k, 'f>(
        &'s self,
        key: &'k str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<StoredEntry>>> + Send + 'f>>
    where
        's: 'f,
        'k: 'f,
        Self: 'f,
    {
        Box::pin(crate::recycled::Recycled::new(|| self.read(key)))
    }

    async fn set(&self, key: &str, payload: Payload, lifetime: Duration) -> Result<()> {
        self.inner.ensure_clock().await?;
        let (stored, px) = self.framed(key, &payload, lifetime)?;
        on_key!(self, key, |c| c.set(
            key,
            stored.clone(),
            Some(Expiration::PX(px)),
            None,
            false
        ))
        .map_err(|e| self.failure("set", &e))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let removed: i64 =
            on_key!(self, key, |c| c.unlink(key)).map_err(|e| self.failure("delete", &e))?;
        Ok(removed > 0)
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        crate::invalidate::invalidate_pattern(self, pattern).await
    }

    /// Fails while disconnected; the error then quotes why connecting failed last (so a wrong
    /// password reaches `SmartCache::health` even after a lazy start).
    async fn ping(&self) -> Result<()> {
        let reply: std::result::Result<String, Error> = self.client().ping(None).await;
        match reply {
            Ok(_) => Ok(()),
            Err(err) => Err(
                match (self.failure("ping", &err), self.connection_error()) {
                    (CacheError::Unavailable { backend, message }, Some(cause)) => {
                        CacheError::Unavailable {
                            backend,
                            message: format!("{message} (last connection error: {cause})"),
                        }
                    }
                    (other, _) => other,
                },
            ),
        }
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let stored = self.mget(keys).await?;
        // One clock read for the whole batch (the replies arrived together), read again after
        // a `PTTL` round trip.
        let mut now = Instant::now();
        let mut out = Vec::with_capacity(keys.len());
        for (key, value) in keys.iter().zip(stored) {
            out.push(match value {
                Some(value) => match self.framed_entry(key, value, now) {
                    Ok(entry) => Some(entry),
                    Err(value) => {
                        let entry = self.entry_by_pttl(key, value).await?;
                        now = Instant::now();
                        entry
                    }
                },
                None => None,
            });
        }
        Ok(out)
    }

    async fn set_many(&self, entries: &[(&str, Payload, Duration)]) -> Result<()> {
        // Concurrent commands on one connection are pipelined by fred (and routed per slot on a
        // cluster): one round trip per server, without MULTI.
        self.inner.ensure_clock().await?;
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
