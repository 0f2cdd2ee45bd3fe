//! Lazy start: a backend returned while Redis may still be down.
//!
//! The pool is built to retry its first connection with the reconnection backoff, like a
//! dropped one. The first outcome is awaited for at most `connect_timeout`: a server that
//! answers but rejects the settings (password, TLS) fails the start as in eager mode; a server
//! that is down, or silent, gives a backend at once whose commands fail fast until fred
//! connects. The server clock is then measured on the first connection (see [`crate::watch`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use cache_core::Result;
use fred::clients::Pool;
use fred::prelude::*;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::Instant;

use crate::backend::{Inner, RedisBackend, connect_error, measure_clocks};
use crate::clock::ServerClock;
use crate::config::RedisConfig;
use crate::secret::Redactor;
use crate::watch::{self, is_misconfiguration};

/// How often the first outcome is looked at while waiting for it.
const POLL: Duration = Duration::from_millis(5);

/// What the first connection attempt of every pooled client came to.
enum FirstOutcome {
    /// Every client is connected.
    Connected,
    /// A client failed to connect.
    Failed(Error),
    /// No answer within `connect_timeout` (a silent host): carry on lazily.
    NoAnswer,
}

/// Starts `pool` (built with `retry_first_connection`) and returns the backend without waiting
/// for Redis to be up.
pub(crate) async fn start(
    pool: Pool,
    config: RedisConfig,
    redactor: Redactor,
) -> Result<RedisBackend> {
    let clock = ServerClock::unknown(config.clock_sync_interval);
    let inner = Inner::new(pool, config, redactor, clock);
    // Subscribed before connecting, so that no first outcome is missed.
    let mut errors: Vec<_> = inner.pool.clients().iter().map(|c| c.error_rx()).collect();
    watch::watch(&inner);
    let tasks = inner.pool.connect_pool();
    crate::supervise::supervise(&inner, tasks);

    let deadline = Instant::now() + inner.config.connect_timeout;
    let outcome = loop {
        if inner.pool.clients().iter().all(|c| c.is_connected()) {
            break FirstOutcome::Connected;
        }
        if let Some(err) = errors.iter_mut().find_map(|rx| match rx.try_recv() {
            Ok((err, _server)) => Some(err),
            Err(TryRecvError::Empty | TryRecvError::Lagged(_) | TryRecvError::Closed) => None,
        }) {
            break FirstOutcome::Failed(err);
        }
        if Instant::now() >= deadline {
            break FirstOutcome::NoAnswer;
        }
        tokio::time::sleep(POLL).await;
    };

    let url = inner.config.redacted_url();
    match outcome {
        FirstOutcome::Connected => {
            // As in eager mode, the clock is known when `connect` returns; if measuring fails
            // the first read uses PTTL and the first write measures again.
            if let Ok(table) = measure_clocks(&inner.pool, inner.clustered).await {
                inner.clock.install(table);
            }
            tracing::debug!(%url, "connected to redis");
        }
        FirstOutcome::Failed(err) if is_misconfiguration(&err) => {
            inner.closing.store(true, Ordering::Relaxed);
            let _ = inner.pool.quit().await;
            return Err(connect_error(&inner.config, &inner.redactor, &err));
        }
        // The watcher has logged the failure; say once what the service does about it.
        FirstOutcome::Failed(_) | FirstOutcome::NoAnswer => {
            tracing::warn!(%url, "redis is not reachable yet: starting without the store; commands fail fast until the background reconnection succeeds");
        }
    }
    inner.started.store(true, Ordering::Relaxed);
    Ok(RedisBackend { inner })
}

#[cfg(test)]
mod tests {
    use cache_core::{CacheBackend, Payload};
    use fred::types::Expiration;

    use super::*;
    use crate::frame::{self, Header};

    /// A backend over a connected pool whose server clock is not measured yet.
    async fn with_unknown_clock(server: &redis_harness::RedisServer) -> RedisBackend {
        let config = RedisConfig::from_url(&server.url()).unwrap();
        let redactor = Redactor::default();
        let pool = crate::connect::builder(&config, &redactor, false)
            .unwrap()
            .build_pool(1)
            .unwrap();
        pool.init().await.unwrap();
        let clock = ServerClock::unknown(config.clock_sync_interval);
        RedisBackend {
            inner: Inner::new(pool, config, redactor, clock),
        }
    }

    // Current-thread runtime: the clock sync that a read starts cannot run before the read has
    // decided how to judge the entry.
    #[tokio::test(flavor = "current_thread")]
    async fn reads_use_pttl_until_the_clock_is_measured_and_writes_measure_it() {
        let server = redis_harness::RedisServer::start().unwrap();
        let backend = with_unknown_clock(&server).await;
        // A header whose deadline is long past, on a key that lives 60 s more: only a reader
        // that trusts an unmeasured clock would call it expired — or, with a made-up clock,
        // anything else.
        let header = Header {
            expires_at_ms: 1,
            lifetime_ms: 60_000,
        };
        let stored = frame::encode(header, b"payload");
        let _: () = backend
            .fred_pool()
            .set("k", stored, Some(Expiration::PX(60_000)), None, false)
            .await
            .unwrap();
        let entry = backend.get("k").await.unwrap().unwrap();
        let remaining = entry.remaining.unwrap();
        assert!(
            remaining > Duration::from_secs(50) && remaining <= Duration::from_secs(60),
            "{remaining:?}"
        );
        match &entry.payload {
            Payload::Bytes(b) => assert_eq!(&b[..], b"payload"),
            other => panic!("{other:?}"),
        }

        // A write measures the clock first, so its deadline is on the server's clock.
        let payload = Payload::Bytes(cache_core::Bytes::from_static(b"v"));
        backend
            .set("w", payload, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(backend.inner.clock.is_known());
        // From now on the header decides: the first key's deadline has passed.
        let entry = backend.get("k").await.unwrap().unwrap();
        assert_eq!(entry.remaining, Some(Duration::ZERO));
        let fresh = backend.get("w").await.unwrap().unwrap().remaining.unwrap();
        assert!(
            fresh > Duration::from_secs(25) && fresh <= Duration::from_secs(30),
            "{fresh:?}"
        );
    }
}
