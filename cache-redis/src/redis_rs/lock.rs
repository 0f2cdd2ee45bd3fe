//! The fleet lock, with the fred adapter's names and release script (so either adapter honours
//! the other's lock): `SET lock token NX PX`, a compare-and-delete script that announces the
//! release on a channel, and waits that listen on that channel when they can.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_core::{LockOutcome, Result, StoredEntry};
use futures_util::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::RedisRsBackend;
use crate::lock_key::lock_key;

/// First and largest pause between two looks while waiting, when no notification comes.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const LONGEST_PAUSE: Duration = Duration::from_millis(250);
/// Pause before the subscriber reconnects after losing its connection.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(50);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(2);

/// The release notifications of one backend: a task subscribed to the lock channel (started by
/// the first wait, when the backend has a client for it) forwards each released key here.
pub(crate) struct Subscriber {
    started: AtomicBool,
    released: broadcast::Sender<Vec<u8>>,
    /// Dropped with the backend: the subscriber task sees it and ends, closing its connection.
    alive: tokio::sync::watch::Sender<()>,
}

impl Default for Subscriber {
    fn default() -> Self {
        Subscriber {
            started: AtomicBool::new(false),
            released: broadcast::channel(256).0,
            alive: tokio::sync::watch::Sender::new(()),
        }
    }
}

pub(crate) async fn try_lock(
    backend: &RedisRsBackend,
    key: &str,
    token: &str,
    lifetime: Duration,
) -> Result<LockOutcome> {
    let px = u64::try_from(lifetime.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, crate::frame::MAX_PX_MS);
    let reply: Option<String> = backend
        .connection()
        .query(
            redis::cmd("SET")
                .arg(lock_key(key))
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(px),
        )
        .await
        .map_err(|e| backend.failure("try_lock", &e))?;
    Ok(if reply.is_some() {
        LockOutcome::Acquired
    } else {
        LockOutcome::Held
    })
}

pub(crate) async fn unlock(backend: &RedisRsBackend, key: &str, token: &str) -> Result<bool> {
    let inner = &backend.inner;
    let released: i64 = inner
        .unlock_script
        .key(lock_key(key))
        .arg(token)
        .arg(&inner.options.lock_channel)
        .arg(key)
        .invoke_async(&mut backend.connection().clone())
        .await
        .map_err(|e| backend.failure("unlock", &e))?;
    Ok(released == 1)
}

/// Waits for `key` to be written while its lock is held. Returns the entry when it appears,
/// `None` when the lock is gone without a value (the holder failed, or died and its lock
/// expired) or when `timeout` passes.
///
/// Each look is one `MGET key lock` (same slot). Between looks it waits for a release
/// notification, or at most a pause growing from 20 ms to 250 ms.
pub(crate) async fn wait_for_value(
    backend: &RedisRsBackend,
    key: &str,
    timeout: Duration,
) -> Result<Option<StoredEntry>> {
    // A caller may wait `Duration::MAX`: no deadline then, rather than an overflow.
    let deadline = Instant::now().checked_add(timeout);
    // Listen before the first look, so a release between the look and the pause is heard.
    let mut released = notifications(backend);
    let lock = lock_key(key);
    let mut pause = FIRST_PAUSE;
    loop {
        let found: Vec<Option<Vec<u8>>> = backend
            .connection()
            .query(redis::cmd("MGET").arg(key).arg(&lock))
            .await
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
                let now = Instant::now();
                if now >= deadline {
                    return Ok(None);
                }
                pause.min(deadline - now)
            }
            None => pause,
        };
        pause = (pause * 2).min(LONGEST_PAUSE);
        let _ = tokio::time::timeout(nap, async {
            loop {
                match released.recv().await {
                    Ok(message) if message == key.as_bytes() => return,
                    Ok(_) => continue,
                    // Missed messages may include ours: look again.
                    Err(RecvError::Lagged(_)) => return,
                    // Never while the backend lives (it holds the sender): just pause.
                    Err(RecvError::Closed) => std::future::pending().await,
                }
            }
        })
        .await;
    }
}

/// A receiver of released keys; the first call starts the subscriber task if the backend has a
/// client to subscribe with.
fn notifications(backend: &RedisRsBackend) -> broadcast::Receiver<Vec<u8>> {
    let subscriber = &backend.inner.subscriber;
    let receiver = subscriber.released.subscribe();
    if let Some(client) = &backend.inner.options.notifications {
        if !subscriber.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(subscribe(
                client.clone(),
                backend.inner.options.lock_channel.clone(),
                subscriber.released.clone(),
                subscriber.alive.subscribe(),
                backend.inner.redactor.clone(),
            ));
        }
    }
    receiver
}

/// Subscribes to `channel` and forwards each message to `released` until the backend is
/// dropped; reconnects with a backoff after a lost connection, and gives up (waits then poll)
/// when the server refuses the subscription (an ACL user without channel permission).
async fn subscribe(
    client: redis::Client,
    channel: String,
    released: broadcast::Sender<Vec<u8>>,
    mut alive: tokio::sync::watch::Receiver<()>,
    redactor: crate::secret::Redactor,
) {
    let mut backoff = RESUBSCRIBE_MIN;
    loop {
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            _ = alive.changed() => return,
        };
        match outcome {
            Ok(pubsub) => {
                backoff = RESUBSCRIBE_MIN;
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            // No receiver (no wait in progress) is fine.
                            Some(message) => { let _ = released.send(message.get_payload_bytes().to_vec()); }
                            None => break,
                        },
                        _ = alive.changed() => return,
                    }
                }
                tracing::debug!("lock notifications lost; resubscribing");
            }
            Err(err) if err.code().is_some() => {
                // The server answered with an error (NOPERM…): retrying will not help.
                tracing::debug!(error = %redactor.clean(&err.to_string()), "lock notifications unavailable; waiting by polling");
                return;
            }
            Err(err) => {
                tracing::debug!(error = %redactor.clean(&err.to_string()), "lock notifications unavailable for now");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = alive.changed() => return,
        }
        backoff = (backoff * 2).min(RESUBSCRIBE_MAX);
    }
}
