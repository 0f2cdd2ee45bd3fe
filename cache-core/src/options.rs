//! Per-call options and what a lookup reports back.

use std::sync::Arc;
use std::time::Duration;

use crate::config::CacheConfig;
use crate::policy::Freshness;

/// Per-call overrides of the [`CacheConfig`]; unset fields use the cache's configuration.
///
/// ```
/// use std::time::Duration;
/// use cache_core::EntryOptions;
/// let opts = EntryOptions::new().ttl(Duration::from_secs(60)).hard_timeout(Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryOptions {
    /// Logical lifetime.
    pub ttl: Option<Duration>,
    /// Stale-serving period after the TTL.
    pub grace: Option<Duration>,
    /// See [`CacheConfig::soft_timeout`].
    pub soft_timeout: Option<Duration>,
    /// See [`CacheConfig::hard_timeout`].
    pub hard_timeout: Option<Duration>,
    /// See [`CacheConfig::fail_safe`].
    pub fail_safe: Option<bool>,
    /// See [`CacheConfig::stale_while_revalidate`].
    pub stale_while_revalidate: Option<bool>,
    /// See [`CacheConfig::fleet_lock`].
    pub fleet_lock: Option<bool>,
    /// Δ for [`SmartCache::set`](crate::SmartCache::set): how long the value took to compute,
    /// so X-Fetch can refresh it early. Ignored by `get_or_compute`, which measures Δ itself.
    pub compute_time: Option<Duration>,
    /// The entry's tags (sorted, without duplicates): see [`EntryOptions::tags`].
    pub tags: Arc<[String]>,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl EntryOptions {
            $($(#[$doc])* pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = Some($name);
                self
            })*
        }
    };
}

setters! {
    /// Sets the logical lifetime.
    ttl: Duration,
    /// Sets the grace period.
    grace: Duration,
    /// Sets the soft compute timeout.
    soft_timeout: Duration,
    /// Sets the hard compute timeout.
    hard_timeout: Duration,
    /// Turns fail-safe on or off.
    fail_safe: bool,
    /// Turns stale-while-revalidate on or off.
    stale_while_revalidate: bool,
    /// Turns the fleet-wide refresh lock on or off.
    fleet_lock: bool,
    /// Sets Δ for [`SmartCache::set`](crate::SmartCache::set).
    compute_time: Duration,
}

impl EntryOptions {
    /// Options that defer everything to the cache's configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tags the entry, for [`SmartCache::invalidate_tag`](crate::SmartCache::invalidate_tag):
    /// by `get_or_compute` and by [`set`](crate::SmartCache::set) alike. The entry records
    /// each tag's version as it was before the value was computed (for `set`: before the
    /// write), and a read that finds a tag invalidated since treats the entry as absent — it is
    /// not served as stale, nor as a fail-safe value. Replaces tags given before; duplicates
    /// count once. Without an L1, each tag costs a read on a hit: one `MGET` per cluster slot
    /// for all of the tags named here, sent with the entry's `GET` (so a tagged hit takes one
    /// round trip; a tag the stored entry carries that these options do not name costs a
    /// second read). With an L1 a tagged hit reads nothing.
    ///
    /// A tag is any non-empty string of at most [`MAX_TAG_BYTES`](crate::tag::MAX_TAG_BYTES)
    /// bytes, at most [`MAX_TAGS`](crate::tag::MAX_TAGS) per entry; the call using these
    /// options returns [`CacheError::InvalidTag`](crate::CacheError::InvalidTag) otherwise.
    ///
    /// ```
    /// use cache_core::EntryOptions;
    /// let opts = EntryOptions::new().tags(["competition:premier-league", "team:42"]);
    /// assert_eq!(opts.tags.len(), 2);
    /// ```
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        tags.sort_unstable();
        tags.dedup();
        self.tags = tags.into();
        self
    }

    pub(crate) fn resolve(&self, c: &CacheConfig) -> Resolved {
        Resolved {
            ttl: self.ttl.unwrap_or(c.default_ttl),
            grace: self.grace.unwrap_or(c.grace),
            soft_timeout: self.soft_timeout.or(c.soft_timeout),
            hard_timeout: self.hard_timeout.or(c.hard_timeout),
            fail_safe: self.fail_safe.unwrap_or(c.fail_safe),
            stale_while_revalidate: self
                .stale_while_revalidate
                .unwrap_or(c.stale_while_revalidate),
            fleet_lock: self.fleet_lock.unwrap_or(c.fleet_lock),
            compute_time: self.compute_time.unwrap_or_default(),
            tags: self.tags.clone(),
        }
    }
}

/// Options with every default applied.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub ttl: Duration,
    pub grace: Duration,
    pub soft_timeout: Option<Duration>,
    pub hard_timeout: Option<Duration>,
    pub fail_safe: bool,
    pub stale_while_revalidate: bool,
    pub fleet_lock: bool,
    pub compute_time: Duration,
    pub tags: Arc<[String]>,
}

/// Where the value returned by [`get_or_compute_detailed`](crate::SmartCache::get_or_compute_detailed)
/// came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A fresh entry.
    Hit,
    /// A fresh entry; an early (X-Fetch) refresh was started in the background.
    EarlyRefresh,
    /// A stale entry, served while a refresh runs (or after the soft timeout).
    Stale,
    /// Computed by this caller.
    Miss,
    /// Computed by a concurrent caller (single-flight) or by another process (fleet lock).
    Coalesced,
    /// The compute failed; the last good value was served.
    FailSafe,
    /// Computed without the store: the cache is disabled or the backend is unavailable.
    Bypass,
}

impl Source {
    /// Lowercase name, e.g. for an `x-cache` response header.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Hit => "hit",
            Source::EarlyRefresh => "early-refresh",
            Source::Stale => "stale",
            Source::Miss => "miss",
            Source::Coalesced => "coalesced",
            Source::FailSafe => "fail-safe",
            Source::Bypass => "bypass",
        }
    }
}

/// Which tier of the cache answered a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The in-process tier in front of the backend: no I/O.
    L1,
    /// The backend.
    L2,
}

impl Tier {
    /// Lowercase name, e.g. for an `x-cache-tier` response header.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "l1",
            Tier::L2 => "l2",
        }
    }
}

/// A value with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup<T: 'static> {
    /// The value, shared: a hit never copies it.
    pub value: crate::Value<T>,
    /// Where it came from.
    pub source: Source,
    /// The tier whose entry was served (`None` when the value was computed or came from
    /// another caller's compute).
    pub tier: Option<Tier>,
    /// How long the compute took, when this call computed it.
    pub compute_time: Option<Duration>,
}

/// A value read by [`SmartCache::get`](crate::SmartCache::get), with its freshness.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached<T: 'static> {
    /// The value, shared: a hit never copies it.
    pub value: crate::Value<T>,
    /// [`Freshness::Fresh`] or [`Freshness::Stale`] (past its TTL, inside its grace period).
    pub freshness: Freshness,
}

impl<T: 'static> Cached<T> {
    /// True when the entry is past its TTL (the original API's `is_stale`).
    pub fn is_stale(&self) -> bool {
        self.freshness == Freshness::Stale
    }
}
