//! Following fred's connection events for as long as a backend lives: every (re)connection
//! re-measures the server clock (the server may be another machine now, or was never measured
//! after a lazy start), and every failed attempt is remembered and logged, password redacted.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use fred::prelude::*;
use tokio::sync::broadcast::error::RecvError;

use crate::backend::Inner;

/// Why connecting failed last, until a connection succeeds again.
#[derive(Debug, Default)]
pub(crate) struct ConnectionLog {
    last_error: Mutex<Option<String>>,
}

impl ConnectionLog {
    /// The last failure (already redacted), if no connection succeeded since.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.lock().clone()
    }

    /// Records a failed attempt; logs it when it differs from the previous one, so that a
    /// server that stays down (retried every few seconds) fills no log.
    ///
    /// `started`: whether `connect` has returned the backend. Before that, a rejection fails
    /// `connect` itself (the caller decides what to do), so the log must not promise serving.
    pub(crate) fn failed(&self, url: &str, message: String, misconfigured: bool, started: bool) {
        let mut last = self.lock();
        if last.as_deref() != Some(message.as_str()) {
            if misconfigured && !started {
                tracing::error!(url, error = %message, "redis rejects the connection: check the settings; connecting fails with this error");
            } else if misconfigured {
                tracing::error!(url, error = %message, "redis rejects the connection: check the settings; serving without the store and retrying in the background until it accepts");
            } else {
                tracing::warn!(url, error = %message, "redis unreachable; serving without the store and reconnecting in the background");
            }
        }
        *last = Some(message);
    }

    /// Records a successful connection.
    pub(crate) fn connected(&self, url: &str) {
        if self.lock().take().is_some() {
            tracing::info!(url, "connected to redis again");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a connection error is a setting to fix (credentials, TLS, URL) rather than a server
/// that is down: retrying will not help, so an eager or first connect reports it.
pub(crate) fn is_misconfiguration(err: &Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::Auth | ErrorKind::Tls | ErrorKind::Config | ErrorKind::Url
    ) || err.details().contains("Certificate")
        || err.details().starts_with("WRONGPASS")
        || err.details().starts_with("NOAUTH")
}

/// Subscribes to every pooled client's events now (so that a connection made right after this
/// call is seen) and follows them in background tasks that end with the backend.
pub(crate) fn watch(inner: &Arc<Inner>) {
    for client in inner.pool.clients() {
        let mut reconnects = client.reconnect_rx();
        let mut errors = client.error_rx();
        let mut cluster_changes = client.cluster_change_rx();
        let mut alive = inner.alive.subscribe();
        let weak: Weak<Inner> = Arc::downgrade(inner);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    // Only fails once the backend is gone.
                    Err(_) = alive.changed() => break,
                    event = reconnects.recv() => match event {
                        Ok(_server) => match weak.upgrade() {
                            Some(inner) => on_connected(&inner),
                            None => break,
                        },
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                    event = cluster_changes.recv() => match event {
                        Ok(_) | Err(RecvError::Lagged(_)) => match weak.upgrade() {
                            Some(inner) => inner.refresh_domains(),
                            None => break,
                        },
                        Err(RecvError::Closed) => break,
                    },
                    event = errors.recv() => match event {
                        Ok((err, _server)) => match weak.upgrade() {
                            Some(inner) => on_error(&inner, &err),
                            None => break,
                        },
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                }
            }
        });
    }
}

fn on_connected(inner: &Arc<Inner>) {
    inner.epoch.fetch_add(1, Ordering::Relaxed);
    inner.refresh_domains();
    inner.connection.connected(&inner.config.redacted_url());
    inner.clock.sync_now();
    Inner::spawn_clock_sync(inner);
}

fn on_error(inner: &Inner, err: &Error) {
    // Command-level errors also arrive here; only connection failures concern the log.
    if matches!(err.kind(), ErrorKind::Canceled | ErrorKind::Timeout) {
        return;
    }
    let url = inner.config.redacted_url();
    let message = inner.redactor.clean(&format!("{err}"));
    let started = inner.started.load(Ordering::Relaxed);
    inner
        .connection
        .failed(&url, message, is_misconfiguration(err), started);
}
