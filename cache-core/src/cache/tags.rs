//! Tags and `clear()` (see [`crate::tag`]): reading and creating version keys, stamping what is
//! written, checking what is read.
//!
//! A missing version key is created with a plain `set` of a fresh random value followed by a
//! re-read, not with `SET NX` (the port has no "set if absent"). That is safe because the only
//! write that could wrongly validate an entry is one that *restores* a version some entry
//! recorded, and a fresh random value never does: two writers creating the same key at once
//! leave one winner (the re-read makes both record it, unless they interleave exactly, in
//! which case one entry is invalid for nothing — a spurious miss, never a stale hit); an
//! invalidation racing a creation is overwritten by a value that the creator's compute, which
//! starts after it, records — entries recorded before either still differ from it. Within one
//! process creators take turns and re-read first, so they create a key once and agree on it:
//! the interleaving above is left to writers in different processes (without the turns, the
//! keys of one batch, each stamped side by side, lost half their entries to it).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use super::gateway::{Found, Read};
use super::l1::TagCheck;
use super::{Inner, SmartCache};
use crate::backend::Payload;
use crate::codec::Codec;
use crate::envelope::{Envelope, TagVersions};
use crate::error::Result;
use crate::hit_clock::HitTime;
use crate::moment::Moment;
use crate::stats::Stats;
use crate::tag::{CLEAR_KEY, TagVersion, validate_tag, version_key};

/// What a write records: the namespace version and its tags' versions, read before its value
/// was computed.
#[derive(Clone)]
pub(crate) struct Stamp {
    ns: TagVersion,
    tags: Option<Arc<TagVersions>>,
}

impl Stamp {
    /// `env` with this stamp.
    pub(crate) fn apply<T>(self, env: Envelope<T>) -> Envelope<T> {
        env.stamped(self.ns, self.tags)
    }
}

/// The namespace version this process trusts, and until when.
pub(crate) struct Namespace {
    /// How long a version read is trusted (`clear_check_interval`); zero: never.
    interval: Duration,
    version: AtomicU64,
    /// Until when `version` is used without reading it again, as [`Moment`] nanoseconds
    /// (`NEVER_READ`: never read). A deadline rather than the time of the read, so that a hit
    /// compares it with its clock reading and does no arithmetic on time.
    trusted_until: AtomicI64,
    /// Held while the version is re-read or replaced, so a re-read that started before this
    /// process's own `clear()` cannot bring the old version back after it.
    turn: tokio::sync::Mutex<()>,
    /// Held while this process creates missing version keys (of tags or of the namespace), so
    /// that its concurrent creators of one key — a batch's keys, computes of entries sharing a
    /// new tag — create it once and all record that one version (see the module docs).
    creating: tokio::sync::Mutex<()>,
}

impl Namespace {
    /// A namespace whose versions are trusted for `interval` after they were read.
    pub(crate) fn new(interval: Duration) -> Self {
        Namespace {
            interval,
            version: AtomicU64::new(0),
            trusted_until: AtomicI64::new(NEVER_READ),
            turn: tokio::sync::Mutex::new(()),
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// The version, if it was read less than the check interval ago — less a hit clock's
    /// slack (at most half the interval): renewed that early, a trust interval is not cut short
    /// for the hits, whose clock may read up to the slack ahead (see `hit_clock.rs`).
    fn current(&self) -> Option<TagVersion> {
        // The clock first: it may find Tokio's clock paused, and the slack then zero.
        let now = Moment::now();
        let early = crate::hit_clock::slack().min(self.interval / 2);
        self.current_at(now.saturating_add(early))
    }

    /// The version, if it was read less than the check interval before `now`. Never with a
    /// zero interval, even for a `now` read before the version was: every read reads it.
    #[inline]
    fn current_at(&self, now: Moment) -> Option<TagVersion> {
        if self.interval.is_zero() {
            return None;
        }
        let until = self.trusted_until.load(Ordering::Acquire);
        (now.as_nanos() < until).then(|| TagVersion(self.version.load(Ordering::Acquire)))
    }

    /// The version last read, however old.
    fn known(&self) -> Option<TagVersion> {
        (self.trusted_until.load(Ordering::Acquire) != NEVER_READ)
            .then(|| TagVersion(self.version.load(Ordering::Acquire)))
    }

    /// `version`, just read or written: trusted for the interval (one beyond what a
    /// [`Moment`] holds: for good).
    fn record(&self, version: TagVersion) {
        self.version.store(version.0, Ordering::Release);
        let until = Moment::now().saturating_add(self.interval);
        self.trusted_until
            .store(until.as_nanos(), Ordering::Release);
    }
}

/// `Namespace::trusted_until` before the first read (below every moment a clock reads).
const NEVER_READ: i64 = i64::MIN;

/// Whether `env` was written under the namespace version `ns` (entries from builds before
/// `clear()` carry none, and are valid until their TTL ends).
fn written_under<T>(env: &Envelope<T>, ns: TagVersion) -> bool {
    env.ns.is_none_or(|written| written == ns)
}

fn version_payload(version: TagVersion) -> Payload {
    Payload::Bytes(bytes::Bytes::copy_from_slice(&version.to_hex()))
}

fn parse_version(payload: &Payload) -> Option<TagVersion> {
    match payload {
        Payload::Bytes(bytes) => TagVersion::parse(bytes),
        Payload::Object(_) => None,
    }
}

impl<C: Codec> Inner<C> {
    /// The current versions under the version keys `keys` (tags' keys from
    /// [`version_key`], or [`CLEAR_KEY`]); `None` for a key that is missing or garbled — both
    /// mean "invalidated". Every read of a version goes through here: one `get_many` (one
    /// `MGET` per cluster slot on Redis).
    ///
    /// With an L1, versions are kept there like values, coherent the same way (a version key is
    /// a key like any other: its change is reported by the feed), so a tagged L1 hit does no
    /// I/O; only the versions the L1 does not hold are read, in one `get_many`.
    pub(crate) async fn tag_versions(&self, keys: &[&str]) -> Result<Vec<Option<TagVersion>>> {
        let Some(l1) = &self.l1 else {
            return self.tag_versions_l2(keys).await;
        };
        let mut versions: Vec<Option<TagVersion>> = keys.iter().map(|k| l1.version(k)).collect();
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| versions[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(versions);
        }
        let missing_keys: Vec<&str> = missing.iter().map(|&i| keys[i]).collect();
        let tickets: Vec<_> = missing_keys.iter().map(|k| l1.ticket(k)).collect();
        let entries = self.get_many(&missing_keys).await?;
        for ((&i, ticket), entry) in missing.iter().zip(tickets).zip(entries) {
            let Some(entry) = entry else { continue };
            let Some(version) = parse_version(&entry.payload) else {
                continue;
            };
            let lifetime = entry.remaining.unwrap_or(self.max_lifetime);
            l1.fill_version(keys[i], ticket, version, lifetime).await;
            versions[i] = Some(version);
        }
        Ok(versions)
    }

    /// [`tag_versions`](Self::tag_versions) from the backend alone.
    async fn tag_versions_l2(&self, keys: &[&str]) -> Result<Vec<Option<TagVersion>>> {
        let entries = self.get_many(keys).await?;
        Ok(entries
            .into_iter()
            .map(|entry| entry.and_then(|entry| parse_version(&entry.payload)))
            .collect())
    }

    /// The versions under `keys`, creating the missing ones (see the module docs).
    async fn versions_or_create(&self, keys: &[&str]) -> Result<Vec<TagVersion>> {
        let mut versions = self.tag_versions(keys).await?;
        let mut missing: Vec<usize> = (0..keys.len()).filter(|&i| versions[i].is_none()).collect();
        let _creating = if missing.is_empty() {
            None
        } else {
            let creating = self.namespace.creating.lock().await;
            // Another creator of this process may have written them while we waited.
            let missing_keys: Vec<&str> = missing.iter().map(|&i| keys[i]).collect();
            let reread = self.tag_versions(&missing_keys).await?;
            for (&i, now) in missing.iter().zip(reread) {
                versions[i] = now;
            }
            missing.retain(|&i| versions[i].is_none());
            Some(creating)
        };
        if !missing.is_empty() {
            let created: Vec<TagVersion> = missing.iter().map(|_| TagVersion::random()).collect();
            let writes: Vec<(&str, Payload, Duration)> = missing
                .iter()
                .zip(&created)
                .map(|(&i, &v)| (keys[i], version_payload(v), self.max_lifetime))
                .collect();
            let written = self.set_many(&writes).await;
            missing.iter().for_each(|&i| self.forget(keys[i]));
            written?;
            let missing_keys: Vec<&str> = missing.iter().map(|&i| keys[i]).collect();
            let reread = self.tag_versions(&missing_keys).await?;
            for ((&i, mine), now) in missing.iter().zip(created).zip(reread) {
                // Gone again at once (evicted): keep ours; the entry will read as invalidated.
                versions[i] = Some(now.unwrap_or(mine));
            }
        }
        Ok(versions.into_iter().flatten().collect())
    }

    /// The namespace version: the one this process read less than `clear_check_interval` ago,
    /// or a fresh read (creating it when missing). While one reader re-reads an expired
    /// version, the others go on with the one they have, so at most one read per interval
    /// pays the round trip; a process that has none yet waits for the first read.
    async fn namespace_version(&self) -> Result<TagVersion> {
        let ns = &self.namespace;
        let interval = self.config.clear_check_interval;
        if let Some(version) = ns.current() {
            return Ok(version);
        }
        // With no interval every read reads for itself: no queue behind one lock.
        let _turn = if interval.is_zero() {
            None
        } else {
            let turn = match ns.turn.try_lock() {
                Ok(turn) => turn,
                Err(_) => match ns.known() {
                    Some(version) => return Ok(version), // being re-read right now
                    None => ns.turn.lock().await,
                },
            };
            if let Some(version) = ns.current() {
                return Ok(version); // re-read while we waited for the turn
            }
            Some(turn)
        };
        let version = self.versions_or_create(&[CLEAR_KEY]).await?[0];
        ns.record(version);
        Ok(version)
    }

    /// What a write about to compute (or, for `set`, to store) records.
    pub(crate) async fn stamp(&self, tags: &[String]) -> Result<Stamp> {
        let ns = self.namespace_version().await?;
        if tags.is_empty() {
            return Ok(Stamp { ns, tags: None });
        }
        let keys: Vec<String> = tags.iter().map(|tag| version_key(tag)).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let versions = self.versions_or_create(&keys).await?;
        Ok(Stamp {
            ns,
            tags: Some(Arc::new(tags.iter().cloned().zip(versions).collect())),
        })
    }

    /// [`stamp_holds`](Self::stamp_holds) when it needs no I/O (`now` the read's clock): the
    /// namespace version was read less than the check interval ago, and the L1 holds the
    /// versions of the entry's tags — or, for an L1 entry (`check`), no version changed since
    /// they were last found to hold. `None` when a version must be read.
    pub(crate) fn stamp_holds_now<T>(
        &self,
        env: &Envelope<T>,
        now: Moment,
        check: Option<TagCheck<'_>>,
    ) -> Option<bool> {
        let ns = self.namespace.current_at(now)?;
        if env.ns.is_some_and(|written| written != ns) {
            return Some(false);
        }
        // An L1 entry keeps its tags beside the check state, not in its header.
        let Some(tags) = env
            .tags
            .as_deref()
            .or(check.as_ref().and_then(TagCheck::versions))
        else {
            return Some(true);
        };
        let l1 = self.l1.as_ref()?;
        if check.as_ref().is_some_and(TagCheck::still_holds) {
            return Some(true);
        }
        let counters = check.as_ref().map(TagCheck::start);
        for (tag, recorded) in tags.iter() {
            if l1.version_at(&version_key(tag), now)? != *recorded {
                return Some(false);
            }
        }
        if let (Some(check), Some(counters)) = (check, counters) {
            check.held(counters);
        }
        Some(true)
    }

    /// Whether `env` is still valid: written under the current namespace version, and each of
    /// its tags still at the version it recorded.
    pub(crate) async fn stamp_holds<T>(&self, env: &Envelope<T>) -> Result<bool> {
        let ns = self.namespace_version().await?;
        if !written_under(env, ns) {
            return Ok(false);
        }
        let Some(tags) = &env.tags else {
            return Ok(true);
        };
        let keys: Vec<String> = tags.keys().map(|tag| version_key(tag)).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let current = self.tag_versions(&keys).await?;
        Ok(tags
            .values()
            .zip(current)
            .all(|(recorded, now)| now == Some(*recorded)))
    }

    /// Whether `env`'s stamp holds without a lookup or a nested future (the common case: the
    /// namespace version trusted now, and no tag needing a lookup); when not, [`admit`](Self::admit)
    /// settles it. On the hit's clock: a "no" it gives too early only costs that lookup.
    pub(crate) fn holds_now<T>(&self, env: &Envelope<T>) -> bool {
        self.stamp_holds_now(env, HitTime::read().moment(), None) == Some(true)
    }

    /// [`stamp_holds`](Self::stamp_holds) with the versions of `tags` read beside the entry
    /// (`versions[i]` the version of `tags[i]`), where that settles it: `None` when the entry
    /// carries a tag whose version was not read, and when a version differs — read beside the
    /// entry, it may predate the entry's write, so [`admit`](Self::admit) reads it again after
    /// the entry before calling the entry invalidated.
    pub(crate) async fn holds_with<T>(
        &self,
        env: &Envelope<T>,
        tags: &[String],
        versions: Result<Vec<Option<TagVersion>>>,
    ) -> Option<Result<bool>> {
        let ns = match self.namespace_version().await {
            Ok(ns) => ns,
            Err(err) => return Some(Err(err)),
        };
        if !written_under(env, ns) {
            return Some(Ok(false));
        }
        let Some(recorded) = &env.tags else {
            return Some(Ok(true));
        };
        let named: Vec<usize> = recorded
            .keys()
            .map(|tag| tags.iter().position(|expected| expected == tag))
            .collect::<Option<_>>()?;
        let versions = match versions {
            Ok(versions) => versions,
            Err(err) => return Some(Err(err)),
        };
        let unchanged = recorded
            .values()
            .zip(named)
            .all(|(version, at)| versions.get(at) == Some(&Some(*version)));
        unchanged.then_some(Ok(true))
    }

    /// A decoded entry as the read path may use it: itself while its stamp holds; absent (a
    /// counted miss, and no stale or fail-safe value either: its data was invalidated) when it
    /// does not; unavailable when the versions cannot be read (the entry then backs fail-safe
    /// only, as the L1's copy does while the store is down).
    pub(crate) async fn admit<T>(&self, key: &str, found: Found<T>) -> Read<T> {
        let holds = self.stamp_holds(&found.env).await;
        self.admitted(key, found, holds)
    }

    /// [`admit`](Self::admit) for the entries a batch found, `(index in keys, entry)`: the
    /// namespace version once, and the versions of the union of their tags in **one**
    /// [`tag_versions`](Self::tag_versions) read (one `MGET` per slot on Redis; none for what
    /// the L1 holds) — not one read per tagged entry. An untagged batch reads no tag version.
    pub(crate) async fn admit_many<T>(
        &self,
        keys: &[&str],
        found: Vec<(usize, Found<T>)>,
    ) -> Vec<(usize, Read<T>)> {
        if found.is_empty() {
            return Vec::new();
        }
        let ns = self.namespace_version().await;
        // The distinct tags of the entries still valid under the namespace, first seen first,
        // and where each is in that list.
        let mut tags: Vec<&str> = Vec::new();
        let mut index: HashMap<&str, usize, foldhash::fast::RandomState> = HashMap::default();
        if let Ok(ns) = ns {
            for (_, entry) in &found {
                let Some(recorded) = entry.env.tags.as_ref() else {
                    continue;
                };
                if !written_under(&entry.env, ns) {
                    continue;
                }
                for tag in recorded.keys() {
                    index.entry(tag).or_insert_with(|| {
                        tags.push(tag);
                        tags.len() - 1
                    });
                }
            }
        }
        let current = if tags.is_empty() {
            Ok(Vec::new())
        } else {
            let version_keys: Vec<String> = tags.iter().map(|tag| version_key(tag)).collect();
            let version_keys: Vec<&str> = version_keys.iter().map(String::as_str).collect();
            self.tag_versions(&version_keys).await
        };
        let holds = |env: &Envelope<T>| -> Result<bool> {
            let ns = ns.clone()?;
            if !written_under(env, ns) {
                return Ok(false);
            }
            let Some(recorded) = &env.tags else {
                return Ok(true);
            };
            let current = current.as_ref().map_err(Clone::clone)?;
            Ok(recorded.iter().all(|(tag, version)| {
                // `index` holds every tag of this entry.
                let now = index
                    .get(tag.as_str())
                    .and_then(|&i| current.get(i).copied().flatten());
                now == Some(*version)
            }))
        };
        let verdicts: Vec<Result<bool>> =
            found.iter().map(|(_, entry)| holds(&entry.env)).collect();
        found
            .into_iter()
            .zip(verdicts)
            .map(|((i, entry), holds)| (i, self.admitted(keys[i], entry, holds)))
            .collect()
    }

    /// What the read path gets of `found` once its stamp was checked (see [`admit`](Self::admit)).
    pub(crate) fn admitted<T>(&self, key: &str, found: Found<T>, holds: Result<bool>) -> Read<T> {
        match holds {
            Ok(true) => Read::Found(found),
            Ok(false) => {
                Stats::bump(&self.stats.tag_invalidated);
                tracing::debug!(key, "entry invalidated by a tag or clear(): a miss");
                Read::Absent
            }
            // Unverifiable, not known invalid: like any copy held while the store is down, it
            // may back fail-safe but is never served as fresh.
            Err(_) => Read::Unavailable {
                last_good: Some(found),
            },
        }
    }

    /// Writes new versions under `keys`: one write per key, in one batch.
    async fn replace_versions(&self, keys: &[&str]) -> Result<()> {
        let writes: Vec<(&str, Payload, Duration)> = keys
            .iter()
            .map(|&key| {
                (
                    key,
                    version_payload(TagVersion::random()),
                    self.max_lifetime,
                )
            })
            .collect();
        let written = self.set_many(&writes).await;
        keys.iter().for_each(|key| self.forget(key));
        written
    }
}

impl<C: Codec> SmartCache<C> {
    /// Invalidates every entry tagged `tag` (see [`EntryOptions::tags`](crate::EntryOptions::tags)),
    /// on every instance sharing the store: one write (a new random version for the tag),
    /// whatever the number of entries. Entries whose compute was running meanwhile are invalid
    /// too: they recorded the version from before their compute.
    ///
    /// A flight of this process that is computing a tagged value when the tag is invalidated
    /// still hands its value to the callers waiting on it (as a `delete` does); its entry is
    /// rejected by the next read.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidTag`](crate::CacheError::InvalidTag) for an empty or huge tag; the
    /// backend's error when the write failed (the tag is then *not* invalidated).
    pub async fn invalidate_tag(&self, tag: &str) -> Result<()> {
        self.invalidate_tags([tag]).await
    }

    /// [`invalidate_tag`](Self::invalidate_tag) for several tags, in one batch of writes.
    ///
    /// # Errors
    ///
    /// As [`invalidate_tag`](Self::invalidate_tag); on an error some of the tags may have been
    /// invalidated.
    pub async fn invalidate_tags<I, S>(&self, tags: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys = tags
            .into_iter()
            .map(|tag| validate_tag(tag.as_ref()).map(|()| version_key(tag.as_ref())))
            .collect::<Result<Vec<String>>>()?;
        if keys.is_empty() || !self.inner.uses_store() {
            return Ok(());
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.inner.replace_versions(&keys).await
    }

    /// Makes everything this cache wrote invalid, on every instance sharing the store: one write
    /// (a new random namespace version under [`CLEAR_KEY`], which every entry records
    /// implicitly), whatever the number of entries. Flights of this process stop being
    /// joinable and do not store their values.
    ///
    /// This process sees its own `clear()` at once. Another instance sees it within
    /// [`CacheConfig::clear_check_interval`](crate::CacheConfig::clear_check_interval) (100 ms by
    /// default) plus the duration of one read of the store (at most the operation timeout):
    /// each process re-reads the namespace version once it is older than the interval, one
    /// reader paying the round trip while the others go on with the version they have. That
    /// keeps the check off the hot path: an untagged hit pays no extra round trip. Caches that share a store share the namespace: `clear()` on one clears them all.
    /// Entries written by builds before `clear()` existed carry no namespace version and are
    /// not cleared (they expire with their TTL).
    ///
    /// # Errors
    ///
    /// The backend's error when the write failed (nothing is cleared then).
    pub async fn clear(&self) -> Result<()> {
        let inner = &self.inner;
        if !inner.uses_store() {
            return Ok(());
        }
        inner.flights.invalidate(|_| true);
        let _turn = inner.namespace.turn.lock().await;
        let version = TagVersion::random();
        let write = inner
            .backend
            .set(CLEAR_KEY, version_payload(version), inner.max_lifetime);
        inner.call("set", Some(CLEAR_KEY), write).await?;
        inner.namespace.record(version);
        inner.forget_all();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_interval_never_trusts_a_version_even_for_an_earlier_read() {
        let before = Moment::from_nanos(Moment::now().as_nanos() - 1_000_000);
        let ns = Namespace::new(Duration::ZERO);
        ns.record(TagVersion(7));
        assert_eq!(ns.current_at(before), None);
        assert_eq!(ns.current(), None);
        assert_eq!(ns.known(), Some(TagVersion(7)));
    }

    #[test]
    fn a_version_is_trusted_for_the_interval_then_read_again() {
        let ns = Namespace::new(Duration::from_secs(60));
        assert_eq!(ns.current(), None, "never read");
        ns.record(TagVersion(7));
        let now = Moment::now();
        assert_eq!(ns.current_at(now), Some(TagVersion(7)));
        let later = |secs| now.saturating_add(Duration::from_secs(secs));
        assert_eq!(ns.current_at(later(61)), None);
        let forever = Namespace::new(Duration::MAX);
        forever.record(TagVersion(8));
        assert_eq!(forever.current_at(later(3600)), Some(TagVersion(8)));
    }
}
