//! The versioned entry envelope: a value and the metadata the refresh policy needs.
//!
//! Under the default JSON codec an entry reads well in `redis-cli`:
//! `{"v":1,"ttl_ms":60000,"grace_ms":30000,"delta_us":152000,"stored_at_ms":1764000000000,"id":9071…,"value":…}`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use crate::time_model::EntryTiming;

/// The envelope format this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// A cached value with its metadata, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Format version ([`ENVELOPE_VERSION`]).
    #[serde(rename = "v")]
    pub version: u32,
    /// Logical lifetime in milliseconds: the entry is fresh this long after it was written.
    pub ttl_ms: u64,
    /// Grace period in milliseconds: how long the entry stays servable as stale after its TTL.
    pub grace_ms: u64,
    /// Δ: how long the computation of this value took, in microseconds (X-Fetch's input).
    pub delta_us: u64,
    /// Writer's wall-clock time in Unix milliseconds. Diagnostics only: freshness decisions use
    /// the backend's clock, never this field.
    pub stored_at_ms: u64,
    /// Write identity: random per write, so no two writes encode to the same bytes and a
    /// conditional write can tell "the entry I read" from a newer one
    /// ([`Payload::same_entry`](crate::Payload::same_entry)). Entries written before it
    /// existed read as 0.
    #[serde(default)]
    pub id: u64,
    /// The cached value.
    pub value: T,
}

impl<T> Envelope<T> {
    /// A new envelope stamped with the current wall-clock time and a fresh write id.
    pub fn new(value: T, ttl: Duration, grace: Duration, delta: Duration) -> Self {
        Self::with_timing(value, EntryTiming { ttl, grace, delta })
    }

    /// A new envelope with the timing [`EntryTiming::fitted`] planned for its store.
    pub fn with_timing(value: T, timing: EntryTiming) -> Self {
        Envelope {
            version: ENVELOPE_VERSION,
            ttl_ms: duration_ms(timing.ttl),
            grace_ms: duration_ms(timing.grace),
            delta_us: u64::try_from(timing.delta.as_micros()).unwrap_or(u64::MAX),
            stored_at_ms: unix_ms_now(),
            id: rand::random(),
            value,
        }
    }

    /// The timing metadata the refresh policy reads.
    pub fn timing(&self) -> EntryTiming {
        EntryTiming {
            ttl: Duration::from_millis(self.ttl_ms),
            grace: Duration::from_millis(self.grace_ms),
            delta: Duration::from_micros(self.delta_us),
        }
    }

    /// The physical lifetime a backend must keep this entry: `ttl + grace`.
    pub fn lifetime(&self) -> Duration {
        self.timing().physical()
    }
}

use crate::time_model::millis as duration_ms;

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_ms)
        .unwrap_or(0)
}
