//! The Redis backends of smartcache: `RedisBackend` on fred (feature `fred`, on by default)
//! and `RedisRsBackend` on redis-rs (feature `redis-rs`, see the `redis_rs` module). Both support
//! standalone servers, clusters, ACL users and a fleet-wide refresh lock, and both store the
//! same format, so they can share one Redis.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::{EntryOptions, SmartCache};
//! # #[cfg(feature = "fred")]
//! use cache_redis::{RedisBackend, RedisConfig};
//!
//! # #[cfg(not(feature = "fred"))] fn main() {}
//! # #[cfg(feature = "fred")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = redis_harness::RedisServer::start()?;
//! # let url = server.url();
//! // In an application: `RedisBackend::from_env().await?` reads REDIS_URL and friends.
//! let backend = RedisBackend::connect(RedisConfig::from_url(&url)?).await?;
//! let cache = SmartCache::builder(backend).fleet_lock(true).build();
//! let opts = EntryOptions::new().ttl(Duration::from_secs(60));
//! let answer = cache.get_with("answer", &opts, || async { 42u64 }).await?;
//! assert_eq!(*answer, 42);
//! # Ok(())
//! # }
//! ```
//!
//! # Which adapter
//!
//! Use the one whose client the service already runs; a fleet may mix them while it migrates
//! (the `mixed_clients` test: each reads the other's entries as hits with the right remaining
//! lifetime, and each honours and hears the other's lock).
//!
//! | | `RedisBackend` (fred) | `RedisRsBackend` (redis-rs 1.x) |
//! |---|---|---|
//! | built from | a URL, the environment or a [`RedisConfig`] | the service's `ConnectionManager` or `ClusterConnection`, or a URL / [`RedisConfig`] |
//! | standalone, cluster | yes | yes |
//! | sentinel | yes | no (build a `ConnectionManager` from redis-rs' sentinel client) |
//! | TLS, ACL users | ACL yes; TLS with feature `tls` (rustls, ring) | ACL yes; TLS with feature `redis-rs-tls` |
//! | stored format, server-clock reads, fleet lock | yes | yes (the same) |
//! | lock release heard at once (pub/sub) | yes | from a URL, or with `RedisRsOptions::notifications`; else the waits poll (20 → 250 ms) |
//! | batched reads and writes, `SCAN` invalidation on every primary | yes | yes |
//! | connection pool | `pool_size` fred clients | one multiplexed connection per server |
//! | lazy start (service up while Redis is down) | yes ([`RedisConfig::lazy_connect`]) | from a connection: redis-rs' own (`ConnectionManager::new_lazy_with_config`); from a URL: no |
//! | bounds its own latency (the cache skips its timer) | yes (command timeout, fail fast while down) | no: a reconnecting `ConnectionManager` makes commands wait, so the cache keeps its timer |
//! | clock re-measured on reconnection | yes (and every 10 s) | every 10 s |
//! | conditional writes (fail-safe extension, undo after invalidation) | yes ([`scripts`]) | yes (the same scripts) |
//! | one breaker per cluster primary (`failure_domain`) | yes | yes |
//! | a reconnection ends the breaker's cooldown (`connection_epoch`) | yes | no: redis-rs reports no reconnection, the cooldown runs |
//! | L1 coherence: a change feed for an in-process tier ([`watch_changes`](cache_core::CacheBackend::watch_changes)) | yes (client-side tracking, see below) | no |
//!
//! # Connecting
//!
//! [`RedisConfig`] comes from a URL ([`url`] lists the forms: `redis://`, `rediss://`,
//! `redis-cluster://h1:p1,h2:p2`, `redis-sentinel://h:p/service`), from the environment
//! ([`RedisConfig::from_env`]: `REDIS_URL`, `REDIS_POOL_SIZE`, `REDIS_CONNECT_TIMEOUT`,
//! `REDIS_COMMAND_TIMEOUT`, `REDIS_TLS_CA_FILE`, `REDIS_TRACKING_PREFIXES`), or from code. The
//! defaults fail fast, as a cache should: a command times out after 250 ms, and while a
//! connection is down commands fail at once instead of queueing, so `SmartCache` computes and
//! its breaker opens; fred reconnects in the background (50 ms to 500 ms backoff) and the cache
//! recovers by itself.
//!
//! `connect` fails when Redis is down — unless [`RedisConfig::lazy_connect`] is set
//! (`REDIS_LAZY_CONNECT=true`), for a service that must start during a Redis restart: the
//! backend is then returned without a connection, its commands fail fast with
//! `CacheError::Unavailable` (so `SmartCache` computes, as [`Source::Bypass`]), and once fred's
//! background reconnection succeeds the cache serves hits again. A server that answers but
//! rejects the settings (wrong password, TLS) still fails `connect` in both modes; in lazy mode
//! a rejection seen only later is logged and kept in [`RedisBackend::connection_error`], which
//! failing pings quote. The server clock (below) is measured on every (re)connection; until it
//! is known a read takes the remaining lifetime from `PTTL` and a write measures it first.
//!
//! [`Source::Bypass`]: cache_core::Source::Bypass
//! A password never appears in `Debug` output, error messages or logs ([`Password`]).
//!
//! # Stored format, and whose clock decides
//!
//! A value is stored as a 19-byte header and the envelope bytes (under the default codec, a
//! compact binary header of about 30 bytes, then the value as JSON; see `cache_core::codec`):
//!
//! ```text
//! \xfdsc | exp = 1764000123456 (u64 LE) | px = 90000 (u64 LE)
//! \xfe\x01\xe0\xd4\x03…{"home":"Arsenal",…}
//! ```
//!
//! (the two lines are one value) and written with `SET key value PX 90000` (layout and
//! history: [`frame`]). `exp` is the expiry deadline in Unix milliseconds *on the Redis
//! server's clock*. Each client keeps an estimate of each server's clock (NTP-style: the
//! fastest of three `TIME` round trips, re-measured every 10 s, then advanced with the client's
//! monotonic clock — never its wall clock), so a read is one plain `GET` and the remaining
//! lifetime is `exp − server_now`, within about half a round trip of what `PTTL` would say.
//! Decisions therefore use the server's clock: a reader whose own clock is hours off, or an
//! envelope whose `stored_at_ms` is far in the past or future, changes nothing. On a cluster
//! each primary has its own estimate, looked up by the key's hash slot. Values without the
//! header (written by other tools) are read too, with a `PTTL` for their lifetime.
//!
//! Why not `GET` and `PTTL` in one script? A read must stay one ordinary command so that fred
//! pipelines concurrent reads; measured on this machine, an `EVALSHA` returning
//! `{GET, PTTL}` reached 0.76× the throughput of a plain `GET`, and an explicit `GET`+`PTTL`
//! pipeline 0.44×, against the ≥ 0.9× target. The `redis_hit` benchmark measures both in one
//! run; its paired rounds (same load for every kind) gave, on a busy 2-core machine:
//! `RedisBackend::get` 0.93× the latency and 0.89× the 64-task throughput of a raw fred `GET`,
//! `EVALSHA {GET, PTTL}` 1.08× and 0.57×.
//!
//! # Invalidation
//!
//! [`invalidate_pattern`](cache_core::CacheBackend::invalidate_pattern) runs `SCAN MATCH COUNT`
//! on every primary (never `KEYS`) and `UNLINK`s each page before the next one, grouped by hash
//! slot on a cluster; it returns how many keys `UNLINK` removed. Batched reads are `MGET`s
//! grouped by slot; batched writes are concurrent `SET`s that fred pipelines per server.
//!
//! # Conditional writes
//!
//! [`ConditionalWrites`](cache_core::ConditionalWrites) (compare-and-set, compare-and-delete)
//! run one Lua script each ([`scripts`]), on `KEYS[1]` alone, so they are slot-safe in a
//! cluster. The script compares the stored value's envelope bytes (after the frame header)
//! with the expected ones; every envelope carries a random write id, so equal bytes mean the
//! same write. Compare-and-set writes the new frame with `PX`, like `set`.
//!
//! # Faults, failure domains, recovery
//!
//! - Commands fail fast while their connection is down, also those in flight when it drops,
//!   and pattern invalidation does too.
//! - [`failure_domain`](cache_core::CacheBackend::failure_domain): on a cluster, the primary
//!   serving the key's slot, read from fred's routing table and updated on every re-sync
//!   (after a failover, a key moves to the promoted replica's domain); 0 otherwise.
//! - [`connection_epoch`](cache_core::CacheBackend::connection_epoch) moves on every
//!   successful (re)connection, so the cache probes at once when Redis is back.
//! - `MOVED` and `ASK` redirects are followed (up to 3 per command). fred's connection task
//!   for a client, should it end on an error, is restarted by a supervisor, with a WARN line.
//! - fred reconnects a cluster client as a whole: while a dead primary is retried, its
//!   commands fail fast for every key. So the backend also keeps one plain connection per
//!   primary, and a command that failed while the cluster client is down is sent once more on
//!   the connection to its key's primary: keys on healthy primaries keep working. The dead
//!   primary's keys come back once its replica is promoted and fred re-syncs (measured: about
//!   0.5 s after the promotion).
//! - A slot in migration: its old owner answers `ASK` for the keys it no longer holds. fred
//!   10.1 sends `ASKING` to the new node but then routes the command to the old owner again,
//!   until it gives up; the backend then sends the command itself, as `ASKING` + the command
//!   back to back on one connection to the node the `ASK` names. Reads, writes, deletes, the
//!   conditional scripts and the lock (which shares the key's slot) are served mid-migration
//!   (the `cluster_faults` test). Batched reads and the lock's wait (`MGET` of several keys)
//!   are not: a slot whose keys are split between the two nodes answers `TRYAGAIN` to them
//!   anyway, an error (the cache computes instead).
//!
//! # L1 coherence: the change feed
//!
//! [`watch_changes`](cache_core::CacheBackend::watch_changes) starts a feed that tells an
//! in-process tier (L1) which keys changed in Redis, whoever wrote them (another instance,
//! another service, `redis-cli`), and proves by a heartbeat that it is still hearing them.
//!
//! - **Broadcast-mode tracking on a client of its own.** Reads go through a pool, and
//!   default-mode tracking would have to be enabled and redirected on every pooled
//!   connection, again after each reconnection. Instead the feed opens one RESP3 connection
//!   per primary and sends it `CLIENT TRACKING ON BCAST [PREFIX …]`: it hears every write
//!   under the prefixes ([`RedisConfig::tracking_prefixes`], `REDIS_TRACKING_PREFIXES`; empty:
//!   every key), including this backend's own. The cost: each write under the prefixes is
//!   pushed to every instance — fine for a cache, whose writes are computes.
//! - **Every reconnection, new primary (failover, resharding), lagging reader or flush**
//!   gives `changed_all()` once tracking is on again, before the next `alive`: fred enables
//!   nothing again by itself, and it drops Redis's invalidation for `FLUSHALL`/`FLUSHDB`.
//! - **Heartbeat.** Every [`FeedOptions::heartbeat`](cache_core::FeedOptions) the feed takes
//!   `as_of`, then on each primary writes this instance's canary key (`smartcache:canary:…`,
//!   in a slot that primary serves) with `SET … GET` on the tracking connection. Its
//!   invalidation comes back after every earlier one from that primary, so once every
//!   primary's has come, `alive(as_of)`; a canary that lost its value means a flush:
//!   `changed_all()`. The staleness bound is the heartbeat plus the command timeout; a beat not
//!   confirmed within the timeout leaves the feed `Down`, and a few in a row reconnect it.
//! - **Unavailable.** Redis < 6.2, an ACL user without `CLIENT` (or `SET` on the canaries), or
//!   a server refusing RESP3: the feed reports `FeedState::Unavailable` with one warning, and
//!   the cache runs without an L1 — never with an incoherent one.
//! - A known limit of Redis Cluster: after a *forced* failover the old primary accepts
//!   writes (and confirms beats) until gossip tells it that it was replaced; the feed, like the
//!   pool, follows the cluster's view.
//!
//! [`close`](cache_core::CacheBackend::close) (or [`RedisBackend::quit`]) stops the feeds
//! started from a backend; dropping a feed's last handle stops that one.
//!
//! # The fleet lock
//!
//! - `try_lock`: `SET lock token NX PX lifetime`. The lock key lives in the cache key's hash
//!   slot: `{T}:lock:KEY`, where `T` is the key's hash tag, or the key itself when it holds no
//!   `}`, or else a short string chosen to hash to the key's slot (wrapping a key that holds
//!   braces, such as `{}x` or `a}b`, would change its slot).
//! - `unlock`: a script deletes the lock only if it still holds the caller's token (a holder
//!   whose lock expired never releases someone else's), then publishes the key on
//!   [`RedisConfig::lock_channel`].
//! - `wait_for_value`: one `MGET key lock` per look; between looks it waits for that
//!   notification or a pause growing from 20 ms to 250 ms. It returns the value once written,
//!   and `None` as soon as the lock is gone without a value (the holder failed, or died and its
//!   lock expired) or the wait is over — so a dead holder blocks nobody past its lock's lifetime.
#![warn(missing_docs)]
// Without an adapter feature only the shared format code is left, and nothing uses it.
#![cfg_attr(not(any(feature = "fred", feature = "redis-rs")), allow(dead_code))]

// Shared by every adapter: the stored format, the server clock, lock names and scripts,
// settings, URLs.
mod clock;
pub mod config;
pub mod frame;
mod lock_key;
pub mod scripts;
mod secret;
mod slot;
pub mod url;

// The fred adapter.
#[cfg(feature = "fred")]
mod ask;
#[cfg(feature = "fred")]
mod backend;
#[cfg(feature = "fred")]
mod conditional;
#[cfg(feature = "fred")]
mod connect;
#[cfg(feature = "fred")]
mod direct;
#[cfg(feature = "fred")]
mod domain;
#[cfg(feature = "fred")]
mod invalidate;
#[cfg(feature = "fred")]
mod lazy;
#[cfg(feature = "fred")]
mod liveness;
#[cfg(feature = "fred")]
mod lock;
#[cfg(feature = "fred")]
mod recycled;
#[cfg(feature = "fred")]
mod supervise;
#[cfg(feature = "fred")]
mod tracking;
#[cfg(feature = "fred")]
mod watch;

// The redis-rs adapter.
#[cfg(feature = "redis-rs")]
pub mod redis_rs;

#[cfg(feature = "fred")]
pub use backend::RedisBackend;
pub use config::{Backoff, RedisConfig};
#[cfg(feature = "redis-rs")]
pub use redis_rs::{RedisRsBackend, RedisRsOptions};
pub use secret::Password;
pub use url::Topology;
