//! Keeping fred's connection tasks alive.
//!
//! Each pooled client runs a routing task that fred ends on some errors (it did on a failed
//! `ASK` redirect); fred does not restart it, and from then on every command of that client
//! fails. A supervisor per client awaits the task and, unless the backend is closing, logs
//! why it ended and starts a new one: no fault ever needs a restart of the application.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use fred::prelude::*;
use fred::types::ConnectHandle;

use crate::backend::Inner;

/// Supervises the connection task of every pooled client; `tasks[i]` is client `i`'s.
pub(crate) fn supervise(inner: &Arc<Inner>, tasks: Vec<ConnectHandle>) {
    for (index, task) in tasks.into_iter().enumerate() {
        let weak: Weak<Inner> = Arc::downgrade(inner);
        tokio::spawn(async move {
            let mut task = task;
            loop {
                let ended = task.await;
                let Some(inner) = weak.upgrade() else { break };
                if inner.closing.load(Ordering::Relaxed) {
                    break;
                }
                let Some(client) = inner.pool.clients().get(index).cloned() else {
                    break;
                };
                let why = match ended {
                    Ok(Ok(())) => "it stopped".to_owned(),
                    Ok(Err(err)) => inner.redactor.clean(&err.to_string()),
                    Err(join) => format!("it panicked or was cancelled ({join})"),
                };
                tracing::warn!(
                    url = %inner.config.redacted_url(),
                    error = %why,
                    "redis connection task ended; starting a new one"
                );
                // A short pause, so a task that ends at once does not spin.
                tokio::time::sleep(inner.config.reconnect.min).await;
                task = client.connect();
                // A new task announces a first connection, not a reconnection: count it here.
                let limit = inner.config.connect_timeout.saturating_mul(3);
                if let Ok(Ok(())) = tokio::time::timeout(limit, client.wait_for_connect()).await {
                    inner.epoch.fetch_add(1, Ordering::Relaxed);
                    inner.refresh_domains();
                }
            }
        });
    }
}
