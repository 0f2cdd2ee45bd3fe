//! An estimate of each Redis server's clock, so a read needs no second command to learn how
//! long a value still lives.
//!
//! NTP-style: `TIME` is sent a few times; the sample with the shortest round trip wins, and the
//! server's time at the midpoint of that round trip is remembered together with a *monotonic*
//! [`Instant`]. From then on, the server's time is `sample + elapsed`: the reader's wall clock is
//! never consulted, so a reader whose clock is off by hours still judges entries by the server's
//! time. The error is at most half the round trip of the best sample (tens of microseconds on a
//! LAN) plus monotonic drift until the next sync (a few ppm: microseconds per sync interval).
//!
//! On a cluster, every primary has a sample of its own and a slot table says which primary
//! owns a key, so that each key is judged on the clock of the server that will expire it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[cfg(feature = "fred")]
use fred::prelude::*;
#[cfg(feature = "fred")]
use fred::types::{ClusterHash, CustomCommand};

use arc_swap::ArcSwap;

use crate::slot::key_slot;

/// One measurement of a server's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Our monotonic time at the midpoint of the round trip.
    at: Instant,
    /// The server's Unix time in milliseconds, at `at`.
    server_ms: f64,
    /// The round trip of the measurement (its error bound is half of it).
    rtt: Duration,
}

impl Sample {
    /// A sample saying that the server's clock read `server_ms` at `at`.
    #[cfg(test)]
    pub(crate) fn new(at: Instant, server_ms: f64, rtt: Duration) -> Self {
        Sample { at, server_ms, rtt }
    }

    /// The server's time at `now`, in Unix milliseconds.
    fn ms_at(&self, now: Instant) -> f64 {
        self.server_ms + now.saturating_duration_since(self.at).as_secs_f64() * 1000.0
    }
}

/// The samples of every server, and which server owns each hash slot (empty off a cluster).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClockTable {
    /// `slot_owner[slot]` is an index into `samples` (cluster only).
    pub(crate) slot_owner: Vec<u16>,
    /// One sample per server.
    pub(crate) samples: Vec<Sample>,
}

/// The shared estimate, re-measured every `interval` by whoever reads it after that.
#[derive(Debug)]
pub(crate) struct ServerClock {
    /// Read on every hit: a lock-free load (a read lock's two atomic writes to one shared
    /// cache line showed under many concurrent hits); replaced whole by a sync.
    table: ArcSwap<ClockTable>,
    base: Instant,
    /// Nanoseconds after `base` when the next sync is due.
    next_sync_ns: AtomicU64,
    syncing: AtomicBool,
    interval: Duration,
}

/// After a failed sync, wait this long before the next try (the old estimate stays in use).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

impl ServerClock {
    pub(crate) fn new(table: ClockTable, interval: Duration) -> Self {
        let clock = ServerClock {
            table: ArcSwap::from_pointee(table),
            base: Instant::now(),
            next_sync_ns: AtomicU64::new(0),
            syncing: AtomicBool::new(false),
            interval,
        };
        clock.schedule(interval);
        clock
    }

    /// A clock not measured yet (a lazy connection to a server that is down): reads fall back
    /// to `PTTL` and writes measure first, until a sync installs a table.
    pub(crate) fn unknown(interval: Duration) -> Self {
        let clock = Self::new(ClockTable::default(), interval);
        clock.schedule(Duration::ZERO);
        clock
    }

    /// Whether a measurement has been installed.
    pub(crate) fn is_known(&self) -> bool {
        let table = self.table.load();
        !table.samples.is_empty()
    }

    /// Makes the next [`claim_sync_at`](Self::claim_sync_at) succeed (after a reconnection the server
    /// may be another machine, with another clock).
    #[cfg_attr(not(feature = "fred"), allow(dead_code))] // redis-rs gives no reconnection event
    pub(crate) fn sync_now(&self) {
        self.schedule(Duration::ZERO);
    }

    /// The server's time now, in Unix milliseconds, on the server that owns `key`; `None` until
    /// the clock has been measured.
    pub(crate) fn server_now_ms(&self, key: &[u8]) -> Option<f64> {
        self.server_ms_at(key, Instant::now())
    }

    /// The server's time at `now` (an [`Instant`] the caller read, so that a hit reads the
    /// clock once), in Unix milliseconds, on the server that owns `key`; `None` until the clock
    /// has been measured.
    pub(crate) fn server_ms_at(&self, key: &[u8], now: Instant) -> Option<f64> {
        let table = self.table.load();
        let index = match table.slot_owner.len() {
            0 => 0,
            n => table
                .slot_owner
                .get(usize::from(key_slot(key)) % n)
                .copied()
                .unwrap_or(0),
        };
        table
            .samples
            .get(usize::from(index))
            .or(table.samples.first())
            .map(|sample| sample.ms_at(now))
    }

    /// The index of the server that owns `key` (0 off a cluster, or before a measurement).
    #[cfg_attr(not(feature = "redis-rs"), allow(dead_code))] // fred's failure domains: not yet
    pub(crate) fn owner_of(&self, key: &[u8]) -> u64 {
        let table = self.table.load();
        match table.slot_owner.len() {
            0 => 0,
            n => table
                .slot_owner
                .get(usize::from(key_slot(key)) % n)
                .map_or(0, |&owner| u64::from(owner)),
        }
    }

    /// Whether a sync is due at `now` (an [`Instant`] the caller read, so that a hit reads the
    /// clock once); if so the caller owns it and must call [`finish`](Self::finish).
    pub(crate) fn claim_sync_at(&self, now: Instant) -> bool {
        let since_base = now.saturating_duration_since(self.base);
        let now = u64::try_from(since_base.as_nanos()).unwrap_or(u64::MAX);
        now >= self.next_sync_ns.load(Ordering::Relaxed)
            && self
                .syncing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Ends a sync claimed with [`claim_sync_at`](Self::claim_sync_at), installing its table if it
    /// succeeded.
    pub(crate) fn finish(&self, table: Option<ClockTable>) {
        let next = match table {
            Some(table) => {
                self.install(table);
                self.interval
            }
            None => RETRY_AFTER_FAILURE,
        };
        self.schedule(next);
        self.syncing.store(false, Ordering::Release);
    }

    /// Installs a measurement (a sync's, or one taken by a writer that found the clock unknown).
    pub(crate) fn install(&self, table: ClockTable) {
        if !table.samples.is_empty() {
            self.table.store(Arc::new(table));
        }
    }

    fn schedule(&self, after: Duration) {
        let at = self.base.elapsed() + after;
        self.next_sync_ns.store(
            u64::try_from(at.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The largest error bound (half round trip) among the current samples.
    pub(crate) fn uncertainty(&self) -> Duration {
        let table = self.table.load();
        table
            .samples
            .iter()
            .map(|s| s.rtt / 2)
            .max()
            .unwrap_or_default()
    }
}

/// How many `TIME` round trips one measurement takes (the fastest one wins).
pub(crate) const PROBES: usize = 3;

/// A sample from one `TIME` round trip sent at `sent` and answered after `rtt`, whose reply
/// was `secs` and `micros`: the server's time is placed at the midpoint of the round trip.
pub(crate) fn time_sample(sent: Instant, rtt: Duration, secs: u64, micros: u64) -> Sample {
    Sample {
        at: sent + rtt / 2,
        server_ms: secs as f64 * 1000.0 + micros as f64 / 1000.0,
        rtt,
    }
}

/// The sample with the shortest round trip.
pub(crate) fn fastest(samples: impl IntoIterator<Item = Sample>) -> Option<Sample> {
    samples.into_iter().min_by_key(|s| s.rtt)
}

/// Measures the clock of the server `client` sends to.
#[cfg(feature = "fred")]
pub(crate) async fn measure<C: ClientLike>(client: &C) -> Result<Sample, Error> {
    let mut samples = Vec::with_capacity(PROBES);
    for _ in 0..PROBES {
        samples.push(probe(client).await?);
    }
    fastest(samples).ok_or_else(|| Error::new(ErrorKind::Unknown, "no TIME sample"))
}

#[cfg(feature = "fred")]
async fn probe<C: ClientLike>(client: &C) -> Result<Sample, Error> {
    let time = CustomCommand::new_static("TIME", ClusterHash::Random, false);
    let sent = Instant::now();
    let reply: Vec<String> = client.custom(time, Vec::<String>::new()).await?;
    let rtt = sent.elapsed();
    let parse = |i: usize| reply.get(i).and_then(|s| s.parse::<u64>().ok());
    let (Some(secs), Some(micros)) = (parse(0), parse(1)) else {
        return Err(Error::new(ErrorKind::Protocol, "malformed TIME reply"));
    };
    Ok(time_sample(sent, rtt, secs, micros))
}

#[cfg(test)]
fn unix_ms_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_follows_the_sample_not_the_local_wall_clock() {
        // A server whose clock is a year behind ours.
        let year_ago = unix_ms_now() - 365.0 * 86_400_000.0;
        let table = ClockTable {
            slot_owner: vec![],
            samples: vec![Sample::new(Instant::now(), year_ago, Duration::ZERO)],
        };
        let clock = ServerClock::new(table, Duration::from_secs(10));
        let estimate = clock.server_now_ms(b"any").unwrap();
        assert!(
            (estimate - year_ago).abs() < 5_000.0,
            "estimate {estimate} vs server {year_ago}"
        );
    }

    #[test]
    fn cluster_keys_use_their_owner_sample() {
        let now = Instant::now();
        let samples = vec![
            Sample::new(now, 1_000_000.0, Duration::ZERO),
            Sample::new(now, 9_000_000.0, Duration::ZERO),
        ];
        // Slots below 8192 on server 0, the rest on server 1.
        let slot_owner = (0..16_384u32).map(|s| u16::from(s >= 8192)).collect();
        let clock = ServerClock::new(
            ClockTable {
                slot_owner,
                samples,
            },
            Duration::from_secs(10),
        );
        for key in ["a", "b", "c", "user:1", "{tag}x"] {
            let slot = key_slot(key.as_bytes());
            let expected = if slot >= 8192 {
                9_000_000.0
            } else {
                1_000_000.0
            };
            let got = clock.server_now_ms(key.as_bytes()).unwrap();
            assert!(
                (got - expected).abs() < 5_000.0,
                "{key} (slot {slot}): {got}"
            );
        }
    }

    #[test]
    fn one_sync_at_a_time_and_retry_after_failure() {
        let clock = ServerClock::new(ClockTable::default(), Duration::ZERO);
        assert!(clock.claim_sync_at(Instant::now()));
        assert!(
            !clock.claim_sync_at(Instant::now()),
            "a second claim while syncing"
        );
        clock.finish(None);
        assert!(
            !clock.claim_sync_at(Instant::now()),
            "a failed sync waits before retrying"
        );
        clock.sync_now();
        assert!(
            clock.claim_sync_at(Instant::now()),
            "a reconnection asks for a sync at once"
        );
    }

    #[test]
    fn an_unknown_clock_gives_no_time_until_measured() {
        let clock = ServerClock::unknown(Duration::from_secs(10));
        assert!(!clock.is_known());
        assert_eq!(clock.server_now_ms(b"k"), None);
        assert!(
            clock.claim_sync_at(Instant::now()),
            "an unknown clock is due for a sync at once"
        );
        let server_ms = unix_ms_now() - 3_600_000.0;
        clock.finish(Some(ClockTable {
            slot_owner: vec![],
            samples: vec![Sample::new(Instant::now(), server_ms, Duration::ZERO)],
        }));
        assert!(clock.is_known());
        let now = clock.server_now_ms(b"k").unwrap();
        assert!((now - server_ms).abs() < 5_000.0, "{now} vs {server_ms}");
        // An empty table (a failed measurement) never replaces a known one.
        clock.install(ClockTable::default());
        assert!(clock.is_known());
    }
}
