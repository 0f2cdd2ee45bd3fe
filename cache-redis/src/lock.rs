//! The fleet-wide refresh lock: `SET lock token NX PX`, released by a compare-and-delete script
//! ([`crate::scripts::UNLOCK`]) that also announces the release on a pub/sub channel, so
//! waiters need not poll hard.

use std::sync::atomic::Ordering;
use std::time::Duration;

use cache_core::{LockOutcome, Result, StoredEntry};
use fred::bytes::Bytes;
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::{Expiration, SetOptions};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::backend::RedisBackend;
use crate::lock_key::lock_key;

/// First and largest pause between two looks while waiting, when no notification comes.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const LONGEST_PAUSE: Duration = Duration::from_millis(250);

pub(crate) async fn try_lock(
    backend: &RedisBackend,
    key: &str,
    token: &str,
    lifetime: Duration,
) -> Result<LockOutcome> {
    let px = i64::try_from(lifetime.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let lock = lock_key(key);
    let reply: Option<String> = crate::backend::on_key!(backend, &lock, |c| c.set(
        lock.as_str(),
        token,
        Some(Expiration::PX(px)),
        Some(SetOptions::NX),
        false,
    ))
    .map_err(|e| backend.failure("try_lock", &e))?;
    Ok(if reply.is_some() {
        LockOutcome::Acquired
    } else {
        LockOutcome::Held
    })
}

pub(crate) async fn unlock(backend: &RedisBackend, key: &str, token: &str) -> Result<bool> {
    let inner = &backend.inner;
    let args = vec![
        Value::from(token),
        Value::from(inner.config.lock_channel.as_str()),
        Value::from(key),
    ];
    // Fails fast while the connection is down, like every data command.
    let released = backend
        .run_script(&inner.unlock_script, &lock_key(key), args)
        .await
        .map_err(|e| backend.failure("unlock", &e))?;
    Ok(released == 1)
}

/// Waits for `key` to be written while its lock is held. Returns the entry when it appears,
/// `None` when the lock is gone without a value (the holder failed, or died and its lock
/// expired) or when `timeout` passes.
///
/// Each look is one `MGET key lock` (same slot). Between looks it waits for a release
/// notification, or at most a pause growing from 20 ms to 250 ms, so a dead holder is noticed
/// soon after its lock expires without hammering Redis.
pub(crate) async fn wait_for_value(
    backend: &RedisBackend,
    key: &str,
    timeout: Duration,
) -> Result<Option<StoredEntry>> {
    // A user-supplied wait may be `Duration::MAX`: `None` is a deadline too far to represent.
    let deadline = Instant::now().checked_add(timeout);
    // Listen before the first look, so a release between the look and the wait is not missed.
    // Waiting for the subscriber to start (first waits only) counts against the wait too.
    let mut notifications = subscriber(backend, deadline).await.map(|s| s.message_rx());
    let lock = lock_key(key);
    let mut pause = FIRST_PAUSE;
    loop {
        let found: Vec<Option<Bytes>> = crate::backend::on_key!(backend, key, |c| c
            .mget(vec![key, lock.as_str()]))
        .map_err(|e| backend.failure("wait_for_value", &e))?;
        let mut found = found.into_iter();
        let (value, holder) = (found.next().flatten(), found.next().flatten());
        if let Some(value) = value {
            if let Some(entry) = backend.entry_from(key, value).await? {
                return Ok(Some(entry));
            }
        }
        if holder.is_none() {
            return Ok(None);
        }
        let nap = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                pause.min(left)
            }
            None => pause,
        };
        pause = (pause * 2).min(LONGEST_PAUSE);
        match notifications.as_mut() {
            Some(rx) => {
                let heard = tokio::time::timeout(nap, async {
                    loop {
                        match rx.recv().await {
                            Ok(message) if message.value.as_bytes() == Some(key.as_bytes()) => {
                                return true;
                            }
                            Ok(_) => continue,
                            // Missed messages may include ours: look again.
                            Err(RecvError::Lagged(_)) => return true,
                            Err(RecvError::Closed) => return false,
                        }
                    }
                })
                .await;
                if heard == Ok(false) {
                    notifications = None;
                }
            }
            None => tokio::time::sleep(nap).await,
        }
    }
}

/// The shared subscriber, or `None` if it is not ready by `deadline` (`None`: no deadline) or
/// could not start —
/// waiting then falls back to polling.
///
/// The first call starts it in a task of its own, so a caller's deadline never cancels a
/// half-made connection; the outcome, failure included, is kept for every later wait
/// (fred resubscribes by itself after a reconnect).
async fn subscriber(
    backend: &RedisBackend,
    deadline: Option<Instant>,
) -> Option<&SubscriberClient> {
    let inner = &backend.inner;
    // Registered before looking at the cell, so a start finishing in between is not missed.
    let started = inner.subscriber_started.notified();
    if let Some(outcome) = inner.subscriber.get() {
        return outcome.as_ref();
    }
    if !inner.subscriber_starting.swap(true, Ordering::AcqRel) {
        let backend = backend.clone();
        tokio::spawn(async move {
            let outcome = start_subscriber(&backend).await;
            let inner = &backend.inner;
            // The only writer: this task runs once per backend.
            let _ = inner.subscriber.set(outcome);
            inner.subscriber_started.notify_waiters();
        });
    }
    match deadline {
        Some(deadline) => {
            let _ = tokio::time::timeout_at(deadline, started).await;
        }
        // No deadline: still bounded, by the time a connection handshake may take.
        None => {
            let limit = inner.config.connect_timeout.saturating_mul(3);
            let _ = tokio::time::timeout(limit, started).await;
        }
    }
    inner.subscriber.get().and_then(Option::as_ref)
}

/// Connects and subscribes a client to the lock channel; on any failure after the client
/// exists it is quit (fred's connection task would otherwise keep it open).
async fn start_subscriber(backend: &RedisBackend) -> Option<SubscriberClient> {
    let inner = &backend.inner;
    let client =
        match crate::connect::builder(&inner.config, &inner.redactor, false).and_then(|b| {
            b.build_subscriber_client()
                .map_err(|e| backend.failure("subscribe", &e))
        }) {
            Ok(client) => client,
            Err(err) => {
                tracing::debug!(error = %err, "lock notifications unavailable; waiting by polling");
                return None;
            }
        };
    let subscribed = async {
        client.init().await?;
        client.subscribe(inner.config.lock_channel.as_str()).await
    }
    .await;
    match subscribed {
        Ok(()) => {
            let _resubscriber = client.manage_subscriptions();
            Some(client)
        }
        Err(err) => {
            let _ = client.quit().await;
            tracing::debug!(
                error = %backend.failure("subscribe", &err),
                "lock notifications unavailable; waiting by polling"
            );
            None
        }
    }
}
