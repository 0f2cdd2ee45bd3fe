//! The versioned entry envelope: a value and the metadata the refresh policy needs.
//!
//! Its fields, as serde sees them (the all-JSON form earlier builds stored, and any
//! self-describing codec writes):
//! `{"v":1,"ttl_ms":60000,"grace_ms":30000,"delta_us":152000,"stored_at_ms":1764000000000,"id":9071…,"ns":"5f0c…","value":…}`.
//! The default [`JsonCodec`](crate::JsonCodec) stores the same fields as a compact binary
//! header followed by the value as JSON (see [`crate::codec`]).
//!
//! Tags and [`clear`](crate::SmartCache::clear) (see [`crate::tag`]) add two optional fields:
//! `ns`, the namespace version the entry was written under (on every entry this build writes),
//! and `tags`, the versions of the entry's tags (`{"competition:pl":"9f3a…"}`), only on tagged
//! entries. A tagged entry is format version [`TAGGED_ENVELOPE_VERSION`] (2), so a reader that
//! knows version 1 only rejects it (a counted miss) instead of serving it without checking its
//! tags. Both fields are left out when absent, so a codec must be self-describing (JSON,
//! MessagePack, CBOR), as it already had to be for entries written before `id` existed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use crate::tag::TagVersion;
pub use crate::time_model::EntryTiming;

/// The envelope format of untagged entries (this build writes and reads it).
pub const ENVELOPE_VERSION: u32 = 1;

/// The envelope format of tagged entries: version 1 plus a `tags` section (this build writes
/// and reads it; builds before tags reject it).
pub const TAGGED_ENVELOPE_VERSION: u32 = 2;

/// The tags of an entry with the versions they had before its value was computed.
pub type TagVersions = BTreeMap<String, TagVersion>;

/// A cached value with its metadata, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Format version ([`ENVELOPE_VERSION`], or [`TAGGED_ENVELOPE_VERSION`] with tags).
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
    /// The namespace version (see [`SmartCache::clear`](crate::SmartCache::clear)) this entry
    /// was written under. Entries written by builds without `clear` have none, and are valid
    /// until their TTL ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<TagVersion>,
    /// The entry's tags and their versions as read before its value was computed; present
    /// exactly when `version` is [`TAGGED_ENVELOPE_VERSION`]. Shared, so that copying the
    /// metadata (an in-process store's hit does) never copies the tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Arc<TagVersions>>,
    /// The cached value.
    pub value: T,
}

impl<T> Envelope<T> {
    /// The same envelope around `f(value)`.
    pub fn map_value<U>(self, f: impl FnOnce(T) -> U) -> Envelope<U> {
        Envelope {
            version: self.version,
            ttl_ms: self.ttl_ms,
            grace_ms: self.grace_ms,
            delta_us: self.delta_us,
            stored_at_ms: self.stored_at_ms,
            id: self.id,
            ns: self.ns,
            tags: self.tags,
            value: f(self.value),
        }
    }

    /// This envelope's metadata, without the value (what an in-process store keeps beside the
    /// value: [`ObjectPayload::header`](crate::ObjectPayload::header)).
    pub fn header(&self) -> Envelope<()> {
        Envelope {
            version: self.version,
            ttl_ms: self.ttl_ms,
            grace_ms: self.grace_ms,
            delta_us: self.delta_us,
            stored_at_ms: self.stored_at_ms,
            id: self.id,
            ns: self.ns,
            tags: self.tags.clone(),
            value: (),
        }
    }

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
            ns: None,
            tags: None,
            value,
        }
    }

    /// Records the namespace version and the tag versions read before the value was computed
    /// (an empty `tags` leaves the entry untagged: format version 1).
    pub fn stamped(mut self, ns: TagVersion, tags: Option<Arc<TagVersions>>) -> Self {
        self.ns = Some(ns);
        self.tags = tags.filter(|tags| !tags.is_empty());
        self.version = if self.tags.is_some() {
            TAGGED_ENVELOPE_VERSION
        } else {
            ENVELOPE_VERSION
        };
        self
    }

    /// This envelope with `other`'s stamp (format version, namespace and tag versions): for a
    /// rewrite of the same value, which stays exactly as valid as it was.
    pub fn with_stamp_of<U>(mut self, other: &Envelope<U>) -> Self {
        self.version = other.version;
        self.ns = other.ns;
        self.tags = other.tags.clone();
        self
    }

    /// Whether the format version and the tag section agree, and the tag section is within
    /// bounds ([`MAX_TAGS`](crate::tag::MAX_TAGS) valid tags). A decoder that finds otherwise
    /// reports the entry corrupt.
    pub fn tag_section_is_consistent(&self) -> bool {
        match (&self.tags, self.version) {
            (None, ENVELOPE_VERSION) => true,
            (Some(tags), TAGGED_ENVELOPE_VERSION) => {
                !tags.is_empty()
                    && tags.len() <= crate::tag::MAX_TAGS
                    && tags.keys().all(|tag| crate::tag::validate_tag(tag).is_ok())
            }
            _ => false,
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
