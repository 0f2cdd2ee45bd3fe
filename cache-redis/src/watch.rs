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

    /// Records a failed attempt. One warning per outage: the first failure after a success;
    /// the other messages of the same outage (the pool's connections each report theirs —
    /// reset, closed, refused — and a server that stays down is retried every half second)
    /// go to debug. A misconfiguration is an error whenever its message is new.
    ///
    /// `started`: whether `connect` has returned the backend. Before that, a rejection fails
    /// `connect` itself (the caller decides what to do), so the log must not promise serving.
    pub(crate) fn failed(&self, url: &str, message: String, misconfigured: bool, started: bool) {
        let mut last = self.lock();
        let first = last.is_none();
        let new = last.as_deref() != Some(message.as_str());
        if misconfigured && new && !started {
            tracing::error!(url, error = %message, "redis rejects the connection: check the settings; connecting fails with this error");
        } else if misconfigured && new {
            tracing::error!(url, error = %message, "redis rejects the connection: check the settings; serving without the store and retrying in the background until it accepts");
        } else if first {
            tracing::warn!(url, error = %message, "redis unreachable; serving without the store and reconnecting in the background");
        } else if new {
            tracing::debug!(url, error = %message, "redis still unreachable");
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
        ErrorKind::Auth | ErrorKind::Config | ErrorKind::Url
    ) || is_tls_failure(err)
        || err.details().starts_with("WRONGPASS")
        || err.details().starts_with("NOAUTH")
}

/// Whether a connection error is a failed TLS handshake (a build without TLS has none).
pub(crate) fn is_tls_failure(err: &Error) -> bool {
    #[cfg(feature = "tls")]
    if matches!(err.kind(), ErrorKind::Tls) {
        return true;
    }
    err.details().contains("Certificate")
}

/// Subscribes to every pooled client's events now (so that a connection made right after this
/// call is seen) and follows them in background tasks that end with the backend.
pub(crate) fn watch(inner: &Arc<Inner>) {
    for (index, client) in inner.pool.clients().iter().enumerate() {
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
                            Some(inner) => {
                                inner.liveness.reconnected(index);
                                on_connected(&inner)
                            }
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
                            Some(inner) => {
                                if !inner.clustered && *err.kind() == ErrorKind::IO {
                                    inner.liveness.lost(index);
                                }
                                on_error(&inner, &err)
                            }
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::ConnectionLog;

    /// The log lines written while `f` runs, at INFO and above.
    fn lines_of(f: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    fn count(lines: &[String], level: &str) -> usize {
        lines.iter().filter(|l| l.contains(level)).count()
    }

    #[test]
    fn one_warning_per_outage_whatever_the_connections_report() {
        let log = ConnectionLog::default();
        let lines = lines_of(|| {
            for message in ["reset by peer", "connection closed", "refused", "refused"] {
                log.failed("redis://h", message.into(), false, true);
            }
            log.connected("redis://h");
            log.failed("redis://h", "refused".into(), false, true);
        });
        assert_eq!(count(&lines, " WARN "), 2, "{lines:#?}");
        assert_eq!(count(&lines, " INFO "), 1, "{lines:#?}");
    }

    #[test]
    fn a_misconfiguration_is_an_error_each_time_it_changes() {
        let log = ConnectionLog::default();
        let lines = lines_of(|| {
            log.failed("redis://h", "refused".into(), false, true);
            log.failed("redis://h", "WRONGPASS".into(), true, true);
            log.failed("redis://h", "WRONGPASS".into(), true, true);
            log.failed("redis://h", "refused".into(), false, true);
            log.failed("redis://h", "WRONGPASS".into(), true, true);
        });
        assert_eq!(count(&lines, " WARN "), 1, "{lines:#?}");
        assert_eq!(count(&lines, " ERROR "), 2, "{lines:#?}");
    }
}
